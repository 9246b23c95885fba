"""Verification metrics: confusion counts, ROC, AUC, TPR@FPR, EER, pairs.

References: scikit-learn's roc_curve / roc_auc_score on scores rounded to
one decimal (many ties), plain loops over thresholds and pairs, and small
cases worked out by hand in the docstrings.
"""
import numpy as np
import pytest
import torch
from scipy.interpolate import interp1d
from scipy.optimize import brentq
from sklearn import metrics as skm

from dml.metrics import (auc, confusion_counts, equal_error_rate,
                         operating_point, pair_scores, roc_auc, roc_curve,
                         tpr_at_fpr, tpr_fpr, upper_pair_index)


def tied_scores(rng, n=300, p_same=0.4):
    """Scores rounded to 1 decimal (about 11 distinct values: ties)."""
    same = rng.random(n) < p_same
    scores = np.round(rng.random(n) * 0.7 + 0.3 * same, 1)
    return scores, same


# --------------------------------------------------------------- counts
def test_tpr_fpr_reproduces_course_page_numbers():
    """TP 85, FP 10, TN 180, FN 25: TPR = 85/110 = 0.7727...,
    FPR = 10/190 = 0.05263..."""
    tpr, fpr = tpr_fpr(85, 10, 180, 25)
    assert round(tpr, 3) == 0.773
    assert round(fpr, 4) == 0.0526


def test_confusion_counts_match_plain_loop_and_include_the_threshold(rng):
    scores, same = tied_scores(rng, 100)
    for tau in (0.0, 0.3, 0.5, 0.7, 1.1):
        tp = fp = tn = fn = 0
        for s, g in zip(scores, same):
            pred = s >= tau
            tp += pred and g
            fp += pred and not g
            tn += (not pred) and (not g)
            fn += (not pred) and g
        assert confusion_counts(scores, same, tau) == (tp, fp, tn, fn)


def test_confusion_counts_for_distances_accept_d_equal_threshold():
    """Distances [1, 2, 3, 4], same [T, T, F, F], tau = 2: pairs with
    d <= 2 are accepted -> TP 2, FP 0, TN 2, FN 0; tau = 3 -> FP 1."""
    d, same = np.array([1.0, 2, 3, 4]), np.array([1, 1, 0, 0])
    assert confusion_counts(d, same, 2, higher_is_similar=False) == \
        (2, 0, 2, 0)
    assert confusion_counts(d, same, 3, higher_is_similar=False) == \
        (2, 1, 1, 0)


@pytest.mark.parametrize("same", [np.ones(5, bool), np.zeros(5, bool)])
def test_all_genuine_or_all_impostor_pairs_raise(same):
    scores = np.linspace(0, 1, 5)
    for fn in (roc_curve, roc_auc, equal_error_rate):
        with pytest.raises(ValueError, match="all 5 pairs are"):
            fn(scores, same)
    with pytest.raises(ValueError, match="all 5 pairs are"):
        tpr_at_fpr(scores, same, 0.05)


def test_tpr_fpr_without_negatives_or_positives_raise():
    with pytest.raises(ValueError, match="no impostor pair"):
        tpr_fpr(3, 0, 0, 1)
    with pytest.raises(ValueError, match="no genuine pair"):
        tpr_fpr(0, 1, 4, 0)


def test_same_with_other_values_than_0_1_raises():
    with pytest.raises(ValueError, match="same must hold booleans"):
        roc_curve([0.1, 0.2], [0, 2])


# ------------------------------------------------------------------ ROC
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_curve_equals_sklearn_with_ties(seed):
    rng = np.random.default_rng(seed)
    scores, same = tied_scores(rng)
    ours = roc_curve(scores, same)
    ref = skm.roc_curve(same, scores, drop_intermediate=False)
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a, b)
    ours = roc_curve(scores, same, drop_intermediate=True)
    ref = skm.roc_curve(same, scores)                 # sklearn's default
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a, b)


def test_roc_curve_of_distances_equals_sklearn_on_negated_distances(rng):
    d, same = tied_scores(rng)
    d = 1.0 - d                                   # small = similar
    fpr, tpr, thr = roc_curve(d, same, higher_is_similar=False)
    fpr2, tpr2, thr2 = skm.roc_curve(same, -d, drop_intermediate=False)
    np.testing.assert_array_equal(fpr, fpr2)
    np.testing.assert_array_equal(tpr, tpr2)
    np.testing.assert_array_equal(thr, -thr2)     # thresholds as distances
    assert thr[0] == -np.inf and np.all(np.diff(thr) > 0)


@pytest.mark.parametrize("seed", [0, 1])
def test_auc_equals_roc_auc_score_and_pair_counting(seed):
    """AUC = P(s_genuine > s_impostor) + P(tie) / 2, counted over all
    genuine x impostor pairs by a plain loop."""
    rng = np.random.default_rng(seed)
    scores, same = tied_scores(rng, 120)
    pos, neg = scores[same], scores[~same]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    expected = wins / (len(pos) * len(neg))
    assert roc_auc(scores, same) == pytest.approx(expected, abs=1e-12)
    assert roc_auc(scores, same) == pytest.approx(
        skm.roc_auc_score(same, scores), abs=1e-12)
    fpr, tpr, _ = roc_curve(scores, same)
    assert auc(fpr, tpr) == pytest.approx(skm.auc(fpr, tpr), abs=1e-12)
    assert roc_auc(-scores, same, higher_is_similar=False) == \
        pytest.approx(expected, abs=1e-12)


def test_roc_curve_keeps_torch_kind_and_float64_rates():
    s = torch.tensor([0.9, 0.5, 0.5, 0.1], dtype=torch.float32)
    fpr, tpr, thr = roc_curve(s, torch.tensor([1, 1, 0, 0]))
    assert isinstance(fpr, torch.Tensor) and fpr.dtype == torch.float64
    assert thr.dtype == torch.float32
    torch.testing.assert_close(tpr, torch.tensor([0, .5, 1, 1],
                                                 dtype=torch.float64))


# ------------------------------------------------------- TPR@FPR, EER
def test_tpr_at_fpr_on_a_hand_checked_curve():
    """Scores [.9, .5, .5, .1], same [T, T, F, F]: the ROC points are
    (0, 0), (0, .5) at tau = .9, (.5, 1) at tau = .5, (1, 1).
    Target FPR .25: the best exact point is (0, .5), TPR .5 at tau .9;
    interpolated halfway along (0, .5)-(.5, 1): TPR .75.
    EER: FNR - FPR goes .5 -> -.5 on that segment, zero halfway: .25."""
    s, same = np.array([.9, .5, .5, .1]), np.array([1, 1, 0, 0])
    op = operating_point(s, same, 0.25)
    assert (op.tpr, op.fpr, op.threshold) == (0.5, 0.0, 0.9)
    assert tpr_at_fpr(s, same, 0.25, interpolate=True) == \
        pytest.approx(0.75)
    assert np.isnan(operating_point(s, same, .25, interpolate=True)
                    .threshold)
    assert tpr_at_fpr(s, same, 0.5) == 1.0
    assert equal_error_rate(s, same) == pytest.approx(0.25)


@pytest.mark.parametrize("target", [0.0, 0.01, 0.05, 0.2, 1.0])
def test_tpr_at_fpr_is_the_best_threshold_of_a_plain_loop(rng, target):
    scores, same = tied_scores(rng)
    best = 0.0
    for tau in np.r_[np.inf, np.unique(scores)]:
        tp = np.sum((scores >= tau) & same)
        fp = np.sum((scores >= tau) & ~same)
        if fp / np.sum(~same) <= target:
            best = max(best, tp / np.sum(same))
    assert tpr_at_fpr(scores, same, target) == best
    interp = tpr_at_fpr(scores, same, target, interpolate=True)
    assert interp >= best


def test_tpr_at_fpr_for_distances_matches_negated_similarity(rng):
    scores, same = tied_scores(rng)
    assert tpr_at_fpr(-scores, same, 0.1, higher_is_similar=False) == \
        tpr_at_fpr(scores, same, 0.1)
    op = operating_point(-scores, same, 0.1, higher_is_similar=False)
    tp, fp, tn, fn = confusion_counts(-scores, same, op.threshold,
                                      higher_is_similar=False)
    assert tpr_fpr(tp, fp, tn, fn) == (op.tpr, op.fpr)


def test_target_fpr_outside_unit_interval_raises():
    with pytest.raises(ValueError, match="target_fpr=5"):
        tpr_at_fpr([0.1, 0.9], [0, 1], 5)


def test_equal_error_rate_equals_the_brentq_recipe(rng):
    """The usual recipe: solve 1 - x - TPR(x) = 0 on the interpolated
    ROC curve (continuous scores: no tied FPR values)."""
    same = rng.random(400) < 0.5
    scores = rng.normal(size=400) + 1.2 * same
    fpr, tpr, _ = skm.roc_curve(same, scores, drop_intermediate=False)
    ref = brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0)
    assert equal_error_rate(scores, same) == pytest.approx(ref, abs=1e-9)


# ---------------------------------------------------------------- pairs
def test_upper_pair_index_enumerates_the_upper_triangle_row_by_row():
    n = 13
    i, j = upper_pair_index(n, np.arange(n * (n - 1) // 2))
    ti, tj = np.triu_indices(n, k=1)
    np.testing.assert_array_equal(i, ti)
    np.testing.assert_array_equal(j, tj)


def test_pair_scores_match_a_plain_loop_over_pairs(rng):
    X = rng.normal(size=(11, 3))
    y = rng.integers(0, 3, 11)
    out = pair_scores(X, y, chunk_size=4, return_index=True)
    d_ref, same_ref = [], []
    for i in range(11):
        for j in range(i + 1, 11):
            d_ref.append(np.linalg.norm(X[i] - X[j]))
            same_ref.append(y[i] == y[j])
    assert out.scores.dtype == np.float32 and len(out.scores) == 55
    np.testing.assert_allclose(out.scores, d_ref, rtol=1e-6)
    np.testing.assert_array_equal(out.same, same_ref)
    np.testing.assert_array_equal(out.i, np.triu_indices(11, 1)[0])


def test_pair_scores_do_not_depend_on_the_chunk_size(rng):
    X = rng.normal(size=(40, 5)).astype(np.float32)
    y = rng.integers(0, 4, 40)
    a = pair_scores(X, y, "cosine", chunk_size=7)
    b = pair_scores(X, y, "cosine", chunk_size=10_000)
    np.testing.assert_allclose(a.scores, b.scores, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(a.same, b.same)
    assert a.i is None


def test_sampled_pairs_are_distinct_seeded_and_agree_with_all_pairs(rng):
    X = rng.normal(size=(30, 4))
    y = rng.integers(0, 3, 30)
    full = pair_scores(X, y)
    s1 = pair_scores(X, y, max_pairs=50, seed=3, return_index=True)
    s2 = pair_scores(X, y, max_pairs=50, seed=3, return_index=True)
    np.testing.assert_array_equal(s1.i, s2.i)
    k = s1.i * (2 * 30 - s1.i - 1) // 2 + s1.j - s1.i - 1   # pair number
    assert len(np.unique(k)) == 50 and np.all(s1.i < s1.j)
    np.testing.assert_allclose(s1.scores, full.scores[k], rtol=1e-6)
    np.testing.assert_array_equal(s1.same, full.same[k])
    assert len(pair_scores(X, y, max_pairs=10**6).scores) == 435


def test_pair_scores_reject_a_single_row_and_mahalanobis():
    with pytest.raises(ValueError, match="N >= 2"):
        pair_scores(np.zeros((1, 2)), [0])
    with pytest.raises(ValueError, match="metric='mahalanobis'"):
        pair_scores(np.zeros((3, 2)), [0, 1, 0], "mahalanobis")


@pytest.mark.gpu
def test_verification_on_cuda_matches_cpu(rng):
    scores, same = tied_scores(rng)
    s = torch.tensor(scores)
    g = torch.tensor(same)
    for a, b in zip(roc_curve(s.cuda(), g.cuda()), roc_curve(s, g)):
        assert a.is_cuda
        torch.testing.assert_close(a.cpu(), b)
    assert tpr_at_fpr(s.cuda(), g.cuda(), 0.1) == tpr_at_fpr(s, g, 0.1)
    X = torch.tensor(rng.normal(size=(50, 4)))
    y = torch.tensor(rng.integers(0, 3, 50))
    a, b = pair_scores(X.cuda(), y.cuda()), pair_scores(X, y)
    torch.testing.assert_close(a.scores.cpu(), b.scores, rtol=1e-5,
                               atol=1e-6)
