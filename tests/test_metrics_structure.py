"""Neighbourhood purity, graded nDCG and the context-sensitive loss.

References: plain loops, scikit-learn's ndcg_score (same gain and
discount), a walk up a scipy linkage tree, and hand-checked cases.
"""
import numpy as np
import pytest
import torch
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import cdist
from sklearn.metrics import ndcg_score

from dml.metrics import (context_sensitive_loss, lca_height_table, ndcg,
                         neighborhood_purity, precision_at_k)

LINE_X = np.array([[0.0], [1.0], [2.0], [3.0], [10.0]])
LINE_Y = np.array([0, 0, 1, 1, 1])


def blobs(rng, n=100, n_fine=6, dim=3, round_to=None):
    y = rng.integers(0, n_fine, n)
    X = rng.normal(size=(n_fine, dim))[y] + rng.normal(size=(n, dim))
    return (X if round_to is None else np.round(X, round_to)), y


# --------------------------------------------------------------- purity
def test_purity_on_five_points_on_a_line():
    """x = 0, 1, 2, 3, 10, labels 0, 0, 1, 1, 1 (ties -> smaller index).
    k = 1: neighbours 1, 0, 1, 2, 3 -> same label for all but x = 2: 4/5.
    k = 2: q0 {1, 2}, q1 {0, 2}, q2 {1, 3}, q3 {2, 1} score 1/2 each and
    q4 {3, 2} scores 1: (4 * .5 + 1) / 5 = 0.6."""
    assert neighborhood_purity(LINE_X, LINE_Y, k=1) == pytest.approx(0.8)
    assert neighborhood_purity(LINE_X, LINE_Y, k=2) == pytest.approx(0.6)


def test_purity_matches_a_plain_loop_and_counts_singletons_as_zero(rng):
    X, y = blobs(rng, round_to=0)
    y[0] = 77                                  # a class of one point
    k = 7
    D = cdist(X, X)
    total = 0.0
    for i in range(len(X)):
        ranked = sorted((j for j in range(len(X)) if j != i),
                        key=lambda j: (D[i, j], j))
        total += np.mean([y[j] == y[i] for j in ranked[:k]])
    expected = total / len(X)
    assert neighborhood_purity(X, y, k, chunk_size=9) == \
        pytest.approx(expected, abs=1e-12)
    whole = neighborhood_purity(X, y, k, chunk_size=10_000)
    with pytest.MonkeyPatch.context() as mp:     # blocks of 7 queries
        mp.setattr("dml.metrics._ranking.LIST_BUDGET", 7 * (k + 1))
        assert neighborhood_purity(X, y, k, chunk_size=7) == whole
    # Precision@k leaves the singleton out; purity counts it as 0
    assert precision_at_k(X, y, k=k) > neighborhood_purity(X, y, k)


def test_purity_k_too_large_raises():
    with pytest.raises(ValueError, match="k=5 is larger"):
        neighborhood_purity(LINE_X, LINE_Y, k=5)


# ----------------------------------------------------------------- nDCG
def test_ndcg_graded_relevance_by_hand():
    """Query x = 0 of fine class 0; gallery x = 1, 2, 5 of fine classes
    1, 2, 0 with fine -> coarse = [0, 0, 1]: relevances in distance order
    are 1/2 (class 1 shares coarse 0), 0, 1.
    DCG = .5/log2(2) + 0/log2(3) + 1/log2(4) = 1;
    IDCG (order 1, .5, 0) = 1 + .5/log2(3).
    k = 1: DCG@1 = .5, IDCG@1 = 1.
    Exponential gain g(.5) = sqrt(2) - 1 replaces .5 in both sums."""
    Xq, yq = np.array([[0.0]]), np.array([0])
    Xg, yg = np.array([[1.0], [2.0], [5.0]]), np.array([1, 2, 0])
    f2c = np.array([0, 0, 1])
    expected = 1.0 / (1.0 + 0.5 / np.log2(3))
    assert ndcg(Xq, yq, Xg, yg, fine_to_coarse=f2c) == \
        pytest.approx(expected)
    assert ndcg(Xq, yq, Xg, yg, k=1, fine_to_coarse=f2c) == \
        pytest.approx(0.5)
    h = np.sqrt(2) - 1
    assert ndcg(Xq, yq, Xg, yg, fine_to_coarse=f2c, gain="exponential") \
        == pytest.approx((h + 0.5) / (1.0 + h / np.log2(3)))
    # without a hierarchy only the class-0 item counts: DCG = 1/log2(4)
    assert ndcg(Xq, yq, Xg, yg) == pytest.approx(0.5)


@pytest.mark.parametrize("k", [None, 5])
def test_ndcg_equals_sklearn_ndcg_score(rng, k):
    """sklearn's ndcg_score uses the same linear gain, the 1/log2(i + 1)
    discount and the ideal order of the true relevances (continuous
    distances: no ties)."""
    X, y = blobs(rng, n=60)
    f2c = np.array([0, 0, 1, 1, 2, 2])
    D = cdist(X, X)
    rel = np.where(y[:, None] == y[None, :], 1.0,
                   np.where(f2c[y][:, None] == f2c[y][None, :], 0.5, 0.0))
    scores = []
    for q in range(len(X)):
        others = np.arange(len(X)) != q
        scores.append(ndcg_score(rel[q, others][None], -D[q, others][None],
                                 k=k))
    assert ndcg(X, y, k=k, fine_to_coarse=f2c, chunk_size=8) == \
        pytest.approx(np.mean(scores), abs=1e-12)


def test_ndcg_is_one_when_fine_classes_are_perfectly_nested():
    """Two coarse groups far apart, each holding two tight fine classes:
    every ranking lists same-fine, then same-coarse, then the rest."""
    centres = np.array([[0, 0], [3, 0], [100, 0], [103, 0]], float)
    y = np.repeat(np.arange(4), 3)
    X = centres[y] + 0.01 * np.arange(12)[:, None]
    assert ndcg(X, y, fine_to_coarse=[0, 0, 1, 1]) == pytest.approx(1.0)


def test_ndcg_errors_name_the_problem():
    with pytest.raises(ValueError, match="gain='log'"):
        ndcg(LINE_X, LINE_Y, gain="log")
    with pytest.raises(ValueError, match="outside 0..0"):
        ndcg(LINE_X, LINE_Y, fine_to_coarse=[0])


# ------------------------------------------------------------------ CSL
# Four fine classes: 0 and 1 merge at height 1, 2 and 3 at height 2, and
# the two groups at height 4 (the root).
Z4 = np.array([[0, 1, 1.0, 2], [2, 3, 2.0, 2], [4, 5, 4.0, 4]])


def lca_by_walking_the_tree(Z, a, b):
    """Height of the first merge whose cluster holds both leaves."""
    n = len(Z) + 1
    members = {i: {i} for i in range(n)}
    for t, (u, v, h, _) in enumerate(Z):
        members[n + t] = members[int(u)] | members[int(v)]
        if a in members[n + t] and b in members[n + t]:
            return h / Z[:, 2].max()
    raise AssertionError("leaves not in the tree")


def test_csl_from_a_linkage_by_hand():
    """Scaled heights: LCA(0, 1) = 1/4, LCA(2, 3) = 2/4, others 1.
    y = [0, 0, 2, 3], y_hat = [0, 1, 3, 0] -> losses 0, .25, .5, 1:
    mean 1.75 / 4; over the three mistakes 1.75 / 3."""
    y, y_hat = [0, 0, 2, 3], [0, 1, 3, 0]
    assert context_sensitive_loss(y, y_hat, Z4) == pytest.approx(1.75 / 4)
    assert context_sensitive_loss(y, y_hat, Z4, reduction="mistakes") == \
        pytest.approx(1.75 / 3)
    np.testing.assert_allclose(
        context_sensitive_loss(y, y_hat, Z4, reduction="none"),
        [0, .25, .5, 1])


def test_csl_table_matches_a_walk_up_a_random_linkage(rng):
    Z = linkage(rng.normal(size=(7, 3)), "average")
    T = lca_height_table(Z)
    for a in range(7):
        for b in range(7):
            expected = 0.0 if a == b else lca_by_walking_the_tree(Z, a, b)
            assert T[a, b] == pytest.approx(expected, abs=1e-12)
    y, y_hat = rng.integers(0, 7, 50), rng.integers(0, 7, 50)
    expected = np.mean([0.0 if a == b else lca_by_walking_the_tree(Z, a, b)
                        for a, b in zip(y, y_hat)])
    assert context_sensitive_loss(y, y_hat, Z) == pytest.approx(expected)


def test_two_level_map_equals_the_linkage_with_coarse_nodes_at_one_half():
    """fine -> coarse [0, 0, 1, 1] is the tree where 0, 1 and 2, 3 merge
    at height 1/2 and everything at 1: same fine 0, same coarse .5,
    else 1."""
    Z = np.array([[0, 1, 0.5, 2], [2, 3, 0.5, 2], [4, 5, 1.0, 4]])
    np.testing.assert_allclose(lca_height_table([0, 0, 1, 1]),
                               lca_height_table(Z))
    assert context_sensitive_loss(torch.tensor([0, 0, 2, 3]),
                                  torch.tensor([0, 1, 3, 0]),
                                  [0, 0, 1, 1]) == pytest.approx(2 / 4)


def test_csl_errors_name_the_problem():
    with pytest.raises(ValueError, match="labels outside 0..3"):
        context_sensitive_loss([0, 4], [0, 1], Z4)
    with pytest.raises(ValueError, match="not a scipy linkage"):
        context_sensitive_loss([0], [0], np.ones((3, 4)))
    with pytest.raises(ValueError, match="reduction='sum'"):
        context_sensitive_loss([0], [1], Z4, reduction="sum")
    with pytest.raises(ValueError, match="y_pred has 1 labels"):
        context_sensitive_loss([0, 1], [1], Z4)


@pytest.mark.gpu
def test_structure_metrics_on_cuda_match_cpu(rng):
    X, y = blobs(rng, round_to=0)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    assert neighborhood_purity(Xt.cuda(), yt.cuda(), 5) == \
        neighborhood_purity(Xt, yt, 5)
    f2c = [0, 0, 1, 1, 2, 2]
    assert ndcg(Xt.cuda(), yt.cuda(), k=10, fine_to_coarse=f2c) == \
        pytest.approx(ndcg(Xt, yt, k=10, fine_to_coarse=f2c), abs=1e-12)
