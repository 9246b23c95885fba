"""Retrieval metrics: Recall@K, Precision@K, R-precision, MAP@R, MAP.

References: a plain loop over queries (scipy distances, ranking by
(distance, index), the formulas of Musgrave et al. 2020), scikit-learn's
average_precision_score and KNeighborsClassifier, a hand-checked line of
five points, and pytorch-metric-learning where it is installed.
"""
import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from sklearn.metrics import average_precision_score
from sklearn.neighbors import KNeighborsClassifier

import dml
from dml.metrics import (knn_accuracy, map_at_r, mean_average_precision,
                         precision_at_k, r_precision, recall_at_k,
                         retrieval_report)

# Five points on a line, two classes (used by several tests).
LINE_X = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]])
LINE_Y = np.array([0, 0, 1, 1, 1])


def loop_reference(Xq, yq, Xg=None, yg=None, ks=(1, 5)):
    """Plain loop: rank the gallery by (distance, index), apply the
    formulas query by query; queries with R = 0 are left out."""
    loo = Xg is None
    Xg, yg = (Xq, yq) if loo else (Xg, yg)
    D = cdist(Xq, Xg)
    sums, n = {}, 0
    for q in range(len(Xq)):
        cand = [j for j in range(len(Xg)) if not (loo and j == q)]
        ranked = sorted(cand, key=lambda j: (D[q, j], j))
        rel = [int(yg[j] == yq[q]) for j in ranked]
        R = sum(rel)
        if R == 0:
            continue
        n += 1
        vals = {}
        for K in ks:
            vals[f"recall@{K}"] = float(sum(rel[:K]) > 0)
            vals[f"precision@{K}"] = sum(rel[:K]) / K
        vals["r_precision"] = sum(rel[:R]) / R
        ap_r = ap = 0.0
        for i in range(len(rel)):
            if rel[i]:
                prec = sum(rel[:i + 1]) / (i + 1)
                ap += prec / R
                if i < R:
                    ap_r += prec / R
        vals["map@r"], vals["map"] = ap_r, ap
        for key, v in vals.items():
            sums[key] = sums.get(key, 0.0) + v
    return {key: v / n for key, v in sums.items()}, n


def clustered(rng, n=120, n_classes=6, dim=4, round_to=None):
    y = rng.integers(0, n_classes, n)
    X = rng.normal(size=(n_classes, dim))[y] + 0.8 * rng.normal(size=(n,
                                                                      dim))
    if round_to is not None:
        # integer coordinates: many exactly tied distances
        X = np.round(X, round_to)
    return X, y


# ------------------------------------------------------------ hand cases
def test_map_at_r_on_five_points_on_a_line():
    """x = 0, 1, 2, 3, 10 with labels 0, 0, 1, 1, 1 (leave-one-out).
    Ties go to the smaller index.
    q0: R=1, list 1 (hit)                          AP@R = 1
    q1: R=1, list 0 (d 1, hit) before 2 (d 1)      AP@R = 1
    q2: R=2, list 1 (d 1, miss), 3 (d 1, hit)      AP@R = (0 + 1/2)/2
    q3: R=2, list 2 (hit), 1 (miss)                AP@R = (1 + 0)/2
    q4: R=2, list 3, 2 (hits)                      AP@R = 1
    MAP@R = (1 + 1 + .25 + .5 + 1) / 5 = 0.75; R-precision =
    (1 + 1 + .5 + .5 + 1) / 5 = 0.8; Recall@1 = 4/5 (q2 misses)."""
    assert map_at_r(LINE_X, LINE_Y) == pytest.approx(0.75)
    assert r_precision(LINE_X, LINE_Y) == pytest.approx(0.8)
    assert recall_at_k(LINE_X, LINE_Y, k=1) == pytest.approx(0.8)
    assert recall_at_k(LINE_X, LINE_Y, k=2) == 1.0
    assert precision_at_k(LINE_X, LINE_Y, k=2) == pytest.approx(
        (0.5 + 0.5 + 0.5 + 0.5 + 1.0) / 5)


def test_mean_average_precision_on_the_line_with_both_tie_rules():
    """Full rankings (leave-one-out), AP = (1/R) sum P(i) rel(i):
    q0 [1 hit, 2, 3, 4]            AP 1
    q1 [0 hit, 2 (tie d=1), 3, 4]  rank: 1; group: the tied run {0, 2}
                                   ends at rank 2, P = 1/2 -> AP 1/2
    q2 [1, 3 hit, 0, 4 hit]        (1/2 + 2/4)/2 = 1/2 (both rules: the
                                   tied run {1, 3} ends at rank 2)
    q3 [2 hit, 1, 0, 4 hit]        (1 + 2/4)/2 = 3/4
    q4 [3 hit, 2 hit, 1, 0]        1
    rank: (1 + 1 + .5 + .75 + 1)/5 = 0.85; group: (1 + .5 + .5 + .75 +
    1)/5 = 0.75."""
    assert mean_average_precision(LINE_X, LINE_Y) == pytest.approx(0.85)
    assert mean_average_precision(LINE_X, LINE_Y, ties="group") == \
        pytest.approx(0.75)


def test_a_query_with_no_relevant_item_is_left_out_and_counted():
    """Add a sixth point of a new class 2 at x = 20: it has R = 0, so the
    means stay those of the five-point line and n_excluded = 1."""
    X = np.vstack([LINE_X, [[20.0]]])
    y = np.r_[LINE_Y, 2]
    rep = retrieval_report(X, y, ks=(1,))
    assert rep["n_excluded"] == 1 and rep["n_queries"] == 5
    assert rep["map@r"] == pytest.approx(0.75)
    assert rep["recall@1"] == pytest.approx(0.8)


def test_no_query_with_a_relevant_item_raises():
    with pytest.raises(ValueError, match="no query has a relevant item"):
        map_at_r(np.eye(3), [0, 1, 2])
    with pytest.raises(ValueError, match="no query has a relevant item"):
        recall_at_k(np.eye(2), [0, 1], np.eye(2), [2, 3])


def test_k_larger_than_the_gallery_raises_naming_k():
    with pytest.raises(ValueError, match=r"k=5 is larger than the gallery"
                                         r".*k <= 4"):
        recall_at_k(LINE_X, LINE_Y, k=5)
    with pytest.raises(ValueError, match="k=6 is larger"):
        precision_at_k(LINE_X[:2], [0, 1], LINE_X, LINE_Y, k=6)


def test_bad_arguments_raise_precise_errors():
    with pytest.raises(ValueError, match="y_gallery was given"):
        map_at_r(LINE_X, LINE_Y, None, LINE_Y)
    with pytest.raises(ValueError, match="X_gallery was given"):
        map_at_r(LINE_X, LINE_Y, LINE_X)
    with pytest.raises(ValueError, match="ties='x'"):
        mean_average_precision(LINE_X, LINE_Y, ties="x")
    with pytest.raises(ValueError, match="y_query has 4 labels"):
        map_at_r(LINE_X, LINE_Y[:4])


# ------------------------------------------------------ plain-loop checks
@pytest.mark.parametrize("round_to", [None, 0])
def test_leave_one_out_metrics_match_the_plain_loop(rng, round_to):
    X, y = clustered(rng, round_to=round_to)
    ref, n = loop_reference(X, y)
    rep = retrieval_report(X, y, ks=(1, 5), chunk_size=16)
    assert rep["n_queries"] == n
    for key in ("recall@1", "recall@5", "precision@1", "precision@5",
                "r_precision", "map@r"):
        assert rep[key] == pytest.approx(ref[key], abs=1e-12), key
    assert mean_average_precision(X, y) == pytest.approx(ref["map"],
                                                         abs=1e-12)


def test_query_vs_gallery_metrics_match_the_plain_loop(rng):
    X, y = clustered(rng, n=150, round_to=0)
    Xq, yq, Xg, yg = X[:40], y[:40], X[40:], y[40:]
    yq = yq.copy()
    yq[0] = 99                         # a query whose class is not there
    ref, n = loop_reference(Xq, yq, Xg, yg, ks=(1, 3))
    rep = retrieval_report(Xq, yq, Xg, yg, ks=(1, 3))
    assert rep["n_queries"] == n == 39 and rep["n_excluded"] == 1
    for key in ("recall@1", "recall@3", "precision@3", "r_precision",
                "map@r"):
        assert rep[key] == pytest.approx(ref[key], abs=1e-12), key


def test_grouped_average_precision_equals_sklearn_with_ties(rng):
    """ties='group': AP_q = average_precision_score(rel_q, -d_q)."""
    X, y = clustered(rng, n=80, round_to=0)
    D = cdist(X, X)
    aps = []
    for q in range(len(X)):
        others = np.arange(len(X)) != q
        aps.append(average_precision_score(y[others] == y[q],
                                           -D[q, others]))
    assert mean_average_precision(X, y, ties="group", chunk_size=9) == \
        pytest.approx(np.mean(aps), abs=1e-12)


def test_chunked_and_unchunked_results_are_identical(rng, monkeypatch):
    X, y = clustered(rng, n=90, round_to=0)

    def everything(chunk_size):
        return (retrieval_report(X, y, ks=(1, 10), chunk_size=chunk_size),
                [mean_average_precision(X, y, ties=t, chunk_size=chunk_size)
                 for t in ("rank", "group")])

    whole = everything(10_000)
    # lists of at most 50 entries: blocks of 7 queries in the metrics too
    monkeypatch.setattr("dml.metrics._ranking.LIST_BUDGET", 50)
    assert everything(7) == whole


def test_torch_input_and_cosine_metric_agree_with_numpy(rng):
    X, y = clustered(rng)
    a = retrieval_report(X, y, metric="cosine")
    b = retrieval_report(torch.tensor(X), torch.tensor(y), metric="cosine")
    assert a == b
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    # on the unit sphere Euclidean and cosine rank neighbours alike
    c = retrieval_report(Xn, y, metric="euclidean")
    assert c["map@r"] == pytest.approx(a["map@r"], abs=1e-12)


# --------------------------------------------------- kNN and reference libs
def test_knn_accuracy_is_the_neighbors_function_and_matches_sklearn(rng):
    assert knn_accuracy is dml.neighbors.knn_accuracy
    X, y = clustered(rng, n=200)
    clf = KNeighborsClassifier(n_neighbors=5).fit(X[:150], y[:150])
    expected = clf.score(X[150:], y[150:])
    assert knn_accuracy(X[:150], y[:150], X[150:], y[150:], k=5) == \
        pytest.approx(expected)


def test_values_equal_pytorch_metric_learning_when_installed(rng):
    """Leave-one-out: pml's precision_at_1, r_precision and
    mean_average_precision_at_r (k = "max_bin_count")."""
    pml = pytest.importorskip("pytorch_metric_learning.utils."
                              "accuracy_calculator")
    X, y = clustered(rng, n=200)
    calc = pml.AccuracyCalculator(
        include=("precision_at_1", "r_precision",
                 "mean_average_precision_at_r"), k="max_bin_count")
    Xt = torch.tensor(X, dtype=torch.float32)
    theirs = calc.get_accuracy(Xt, torch.tensor(y))
    ours = retrieval_report(Xt, y, ks=(1,))
    assert ours["recall@1"] == pytest.approx(theirs["precision_at_1"])
    assert ours["r_precision"] == pytest.approx(theirs["r_precision"])
    assert ours["map@r"] == pytest.approx(
        theirs["mean_average_precision_at_r"])


@pytest.mark.gpu
def test_retrieval_on_cuda_matches_cpu(rng):
    X, y = clustered(rng, n=200, round_to=0)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    gpu = retrieval_report(Xt.cuda(), yt.cuda(), chunk_size=7)
    cpu = retrieval_report(Xt, yt, chunk_size=7)
    assert gpu.keys() == cpu.keys()
    for key, value in cpu.items():        # same lists; sums may round
        assert gpu[key] == pytest.approx(value, abs=1e-12), key
    for ties in ("rank", "group"):
        assert mean_average_precision(Xt.cuda(), yt.cuda(), ties=ties) == \
            pytest.approx(mean_average_precision(Xt, yt, ties=ties),
                          abs=1e-12)
