r"""Verification: is this pair the same identity? Scores, thresholds, ROC.

A verification system scores a pair (x, x') and calls it *similar* (same
class, "genuine") when the score passes a threshold tau. Two conventions:

* a similarity s (cosine, a classifier's probability): larger = closer,
  predicted similar iff s >= tau            (``higher_is_similar=True``);
* a distance d (Euclidean, 1 - cos): smaller = closer,
  predicted similar iff d <= tau            (``higher_is_similar=False``).

Counting the pairs gives the confusion matrix (TP, FP, TN, FN) and the rates
(book chapter 6, section 6.1; as defined in the "Metric Learning" course
notes)

.. math::

   \mathrm{TPR} = \frac{\mathrm{TP}}{\mathrm{TP} + \mathrm{FN}},

   \mathrm{FPR} = \frac{\mathrm{FP}}{\mathrm{FP} + \mathrm{TN}}.

Sweeping tau over every distinct score traces the ROC curve; its area (AUC)
is the probability that a random genuine pair outscores a random impostor
pair (ties count one half). ``roc_curve`` reproduces
``sklearn.metrics.roc_curve`` point for point, ties included.

Curves come back in the input's kind (numpy or tensor); single numbers
(AUC, TPR@FPR, EER) come back as Python floats.

Every function needs both kinds of pair: with only genuine or only impostor
pairs one of the rates is 0/0, and we raise a ValueError (scikit-learn
returns NaN with a warning).
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from .._arrays import check_vector, like_input, to_tensor

__all__ = ["confusion_counts", "tpr_fpr", "roc_curve", "auc", "roc_auc",
           "OperatingPoint", "operating_point", "tpr_at_fpr",
           "equal_error_rate"]


def _scores_and_same(scores, same, higher_is_similar=True):
    """Validate (scores, same); return s (similarity-oriented) and same.

    Distances are negated so that "larger = more similar" holds inside.
    """
    s = check_vector(to_tensor(scores, "scores"), "scores")
    g = to_tensor(same, "same", floating=False)
    if g.ndim != 1 or g.shape[0] != s.shape[0]:
        raise ValueError(f"same has shape {tuple(g.shape)} but scores has "
                         f"shape {tuple(s.shape)}; pass one boolean per "
                         "pair (True = same class, a genuine pair).")
    if g.dtype != torch.bool:
        if not bool(((g == 0) | (g == 1)).all()):
            raise ValueError("same must hold booleans or 0/1 (1 = genuine "
                             "pair, same class); got other values.")
        g = g != 0
    g = g.to(s.device)
    n_gen = int(g.sum())
    if n_gen == 0 or n_gen == g.shape[0]:
        kind = "impostor (same=False)" if n_gen == 0 else "genuine (same=True)"
        raise ValueError(f"all {g.shape[0]} pairs are {kind}; TPR and FPR "
                         "need at least one genuine and one impostor pair.")
    return (s if higher_is_similar else -s), g


def confusion_counts(scores, same, threshold: float,
                     higher_is_similar: bool = True):
    r"""Confusion matrix of a verification rule at one threshold.

    Taught in :doc:`chapter 6 </book/chapters/06_evaluation>` (section 6.1).
    Rule: a pair is predicted similar iff ``score >= threshold`` (a similarity,
    ``higher_is_similar=True``) or ``score <= threshold`` (a distance,
    ``higher_is_similar=False``). Then, with hat-y the prediction,

    .. math::

       \mathrm{TP} = \#\{\hat y = 1,\ \mathrm{same}\}, \quad
       \mathrm{FP} = \#\{\hat y = 1,\ \lnot\mathrm{same}\},

       \mathrm{TN} = \#\{\hat y = 0,\ \lnot\mathrm{same}\}, \quad
       \mathrm{FN} = \#\{\hat y = 0,\ \mathrm{same}\}.

    Parameters
    ----------
    scores : (P,) array or tensor
        Score of each pair (similarity s or distance d).
    same : (P,) bool array or tensor
        True for a genuine (same-class) pair.
    threshold : float
        tau in the rule above.
    higher_is_similar : bool
        True for similarities, False for distances.

    Returns
    -------
    tuple of int
        (TP, FP, TN, FN) as Python ints.
    """
    s, g = _scores_and_same(scores, same, higher_is_similar)
    tau = threshold if higher_is_similar else -threshold
    pred = s >= tau                                            # (P,)
    tp = int((pred & g).sum())
    fp = int((pred & ~g).sum())
    return tp, fp, int((~g).sum()) - fp, int(g.sum()) - tp


def tpr_fpr(tp, fp, tn, fn):
    r"""True and false positive rates from the four confusion counts.

    Taught in :doc:`chapter 6 </book/chapters/06_evaluation>`:

    .. math::

       \mathrm{TPR} = \frac{\mathrm{TP}}{\mathrm{TP} + \mathrm{FN}},

       \mathrm{FPR} = \frac{\mathrm{FP}}{\mathrm{FP} + \mathrm{TN}},

    the genuine pairs accepted (recall, sensitivity) and the impostor
    pairs wrongly accepted.

    The worked example of the "Metric Learning" course notes (book
    chapter 6): TP 85, FP 10, TN 180, FN 25 gives
    TPR = 85/110 = 0.773 and FPR = 10/190 = 0.0526.
    """
    for name, v in (("tp", tp), ("fp", fp), ("tn", tn), ("fn", fn)):
        if v < 0:
            raise ValueError(f"{name}={v} is negative; counts are >= 0.")
    if tp + fn == 0:
        raise ValueError("tp + fn = 0: there is no genuine pair, so TPR is "
                         "undefined; evaluate on data with genuine pairs.")
    if fp + tn == 0:
        raise ValueError("fp + tn = 0: there is no impostor pair, so FPR is "
                         "undefined; evaluate on data with impostor pairs.")
    return tp / (tp + fn), fp / (fp + tn)


def _roc_points(s, g):
    """Cumulative (FP, TP) counts and thresholds at every distinct score.

    Scores sorted in decreasing order; a threshold sits at the last item of
    each run of equal scores, so tied pairs enter the curve together (the
    curve joins them with one straight segment, as scikit-learn does).
    """
    s_sorted, order = torch.sort(s, descending=True, stable=True)  # (P,)
    g_sorted = g[order].to(torch.int64)
    last_of_run = torch.ones_like(g_sorted, dtype=torch.bool)
    last_of_run[:-1] = s_sorted[1:] != s_sorted[:-1]
    idx = last_of_run.nonzero()[:, 0]                          # (T,)
    tps = torch.cumsum(g_sorted, 0)[idx]
    fps = idx + 1 - tps
    return fps, tps, s_sorted[idx]


def _drop_intermediate(fps, tps):
    """Keep the corners of the curve (scikit-learn's rule).

    A point is dropped when it is collinear with both neighbours along a
    horizontal or vertical run: the second difference of FP and of TP is 0.
    The first and last points are always kept.
    """
    if fps.shape[0] <= 2:
        return torch.arange(fps.shape[0], device=fps.device)
    bend = (torch.diff(fps, n=2) != 0) | (torch.diff(tps, n=2) != 0)
    keep = torch.cat([bend.new_ones(1), bend, bend.new_ones(1)])
    return keep.nonzero()[:, 0]


def roc_curve(scores, same, *, higher_is_similar: bool = True,
              drop_intermediate: bool = False):
    r"""ROC curve: (FPR, TPR) at every distinct threshold, ties handled.

    Taught in :doc:`chapter 6 </book/chapters/06_evaluation>`:

    .. math::

       \{(\mathrm{FPR}(\tau), \mathrm{TPR}(\tau)) :
          \tau \in \{+\infty\} \cup \{s_p\}\}.

    For each distinct score tau (decreasing), with the rule of
    :func:`confusion_counts`, FPR(tau) = FP/(FP+TN), TPR(tau) = TP/(TP+FN).
    A first point (0, 0) is prepended with threshold +inf (nothing accepted).

    Equals ``sklearn.metrics.roc_curve(same, scores,
    drop_intermediate=False)``; ``drop_intermediate=True`` keeps only the
    corners, like scikit-learn's default. Departure: our default keeps every
    point, because chapters mark operating points on the curve.

    With ``higher_is_similar=False`` the scores are distances; the
    thresholds come back as distances in increasing order, starting at
    -inf, and the rule is d <= tau.

    Returns
    -------
    fpr, tpr : (T + 1,) float64
        Non-decreasing rates.
    thresholds : (T + 1,) array or tensor
        In the scores' dtype.
    """
    s, g = _scores_and_same(scores, same, higher_is_similar)
    fps, tps, thr = _roc_points(s, g)
    if drop_intermediate:
        keep = _drop_intermediate(fps, tps)
        fps, tps, thr = fps[keep], tps[keep], thr[keep]
    zero = fps.new_zeros(1)
    fps, tps = torch.cat([zero, fps]), torch.cat([zero, tps])
    thr = torch.cat([thr.new_full((1,), float("inf")), thr])
    fpr = fps.to(torch.float64) / fps[-1]
    tpr = tps.to(torch.float64) / tps[-1]
    thr = thr if higher_is_similar else -thr
    return (like_input(fpr, scores), like_input(tpr, scores),
            like_input(thr, scores))


def auc(fpr, tpr) -> float:
    r"""Area under a curve by the trapezoid rule.

    Taught in :doc:`chapter 6 </book/chapters/06_evaluation>`:

    .. math::

       \mathrm{AUC} = \sum_t (x_t - x_{t-1}) \frac{y_t + y_{t-1}}{2}.

    On the output of :func:`roc_curve` this equals
    ``sklearn.metrics.roc_auc_score``: a tied run of scores is a straight
    segment, which counts each tied genuine/impostor pair as one half.
    ``fpr`` must be monotonic (as a ROC curve is).
    """
    x = check_vector(to_tensor(fpr, "fpr"), "fpr").to(torch.float64)
    y = check_vector(to_tensor(tpr, "tpr"), "tpr").to(x)
    if x.shape != y.shape:
        raise ValueError(f"fpr has shape {tuple(x.shape)} and tpr "
                         f"{tuple(y.shape)}; they must match.")
    if x.shape[0] < 2:
        raise ValueError("fpr needs at least 2 points to compute an area.")
    dx = torch.diff(x)
    if bool((dx < 0).any()) and bool((dx > 0).any()):
        raise ValueError("fpr is not monotonic; pass the output of "
                         "roc_curve (sorted by threshold).")
    return float(torch.trapezoid(y, x).abs())


def roc_auc(scores, same, *, higher_is_similar: bool = True) -> float:
    r"""AUC of the ROC curve of (scores, same), as sklearn's roc_auc_score.

    Taught in :doc:`chapter 6 </book/chapters/06_evaluation>`. Equals
    scikit-learn's value (with ``-scores`` for distances) and the probability
    that a genuine pair outscores an impostor pair, ties counting one half:

    .. math::

       \mathrm{AUC} = P(s^+ > s^-) + \tfrac12 P(s^+ = s^-).
    """
    fpr, tpr, _ = roc_curve(scores, same,
                            higher_is_similar=higher_is_similar)
    return auc(fpr, tpr)


class OperatingPoint(NamedTuple):
    """A point of the ROC curve: its rates and the threshold that gives it.

    Returned by :func:`operating_point`; taught in :doc:`chapter 6
    </book/chapters/06_evaluation>`. ``threshold`` is NaN for an interpolated
    point (no single threshold gives it; a random mix of the two neighbouring
    thresholds does).
    """
    tpr: float
    fpr: float
    threshold: float


OperatingPoint.tpr.__doc__ = "True positive rate at this point."
OperatingPoint.fpr.__doc__ = "False positive rate at this point."
OperatingPoint.threshold.__doc__ = (
    "The threshold tau that gives it (NaN for an interpolated point).")


def operating_point(scores, same, target_fpr: float, *,
                    higher_is_similar: bool = True,
                    interpolate: bool = False) -> OperatingPoint:
    r"""The best operating point whose FPR does not exceed ``target_fpr``.

    Taught in :doc:`chapter 6 </book/chapters/06_evaluation>`:

    .. math::

       \tau^\star = \operatorname*{arg\,max}_{\tau:\
           \mathrm{FPR}(\tau) \le \mathrm{target}} \mathrm{TPR}(\tau).

    Rule (default): among the thresholds of the exact ROC curve (every
    distinct score), keep those with FPR <= target_fpr and return the one
    with the largest TPR (the (0, 0) point always qualifies, so TPR >= 0).
    Its threshold is a real score: deploying it keeps FPR <= target.

    ``interpolate=True``: read the piecewise-linear ROC curve at exactly
    FPR = target_fpr (linear interpolation between the two surrounding
    points). This is >= the default and is what "TPR at FPR = 5 %" means
    on a plotted curve; it is reached only by randomising between two
    thresholds, so ``threshold`` is NaN unless a point lies on the target.
    """
    if not 0.0 <= float(target_fpr) <= 1.0:
        raise ValueError(f"target_fpr={target_fpr} is outside [0, 1]; pass "
                         "a rate such as 0.05 for 5 %.")
    fpr, tpr, thr = (to_tensor(v, n) for v, n in zip(
        roc_curve(to_tensor(scores, "scores"), same,
                  higher_is_similar=higher_is_similar),
        ("fpr", "tpr", "thresholds")))
    i = int((fpr <= target_fpr).nonzero()[-1, 0])   # last = largest TPR
    if not interpolate or float(fpr[i]) == target_fpr or i == len(fpr) - 1:
        return OperatingPoint(float(tpr[i]), float(fpr[i]), float(thr[i]))
    t = (target_fpr - fpr[i]) / (fpr[i + 1] - fpr[i])    # in (0, 1)
    tpr_t = tpr[i] + t * (tpr[i + 1] - tpr[i])
    return OperatingPoint(float(tpr_t), float(target_fpr), float("nan"))


def tpr_at_fpr(scores, same, target_fpr: float, *,
               higher_is_similar: bool = True,
               interpolate: bool = False) -> float:
    r"""TPR@FPR: the largest TPR whose FPR does not exceed ``target_fpr``.

    Taught in :doc:`chapter 6 </book/chapters/06_evaluation>`:

    .. math::

       \mathrm{TPR@FPR} = \max_{\tau:\ \mathrm{FPR}(\tau) \le
           \mathrm{target}} \mathrm{TPR}(\tau).

    See :func:`operating_point` for the rule and the interpolated variant.
    "TPR@FPR = 5 %" (as in the "Metric Learning" course notes, book
    chapter 6) means: accept at most 5 % of impostor pairs, and report the
    share of genuine pairs accepted.
    """
    return operating_point(scores, same, target_fpr,
                           higher_is_similar=higher_is_similar,
                           interpolate=interpolate).tpr


def equal_error_rate(scores, same, *,
                     higher_is_similar: bool = True) -> float:
    r"""Equal error rate: the rate where FPR = FNR (= 1 - TPR).

    Taught in :doc:`chapter 6 </book/chapters/06_evaluation>`. Along the ROC
    curve FNR - FPR decreases from 1 to -1. We take the segment (t, t + 1)
    where it changes sign and intersect the straight segment with the line FPR
    = 1 - TPR:

    .. math::

       a = \frac{\mathrm{FNR}_t - \mathrm{FPR}_t}
                {(\mathrm{FNR}_t - \mathrm{FPR}_t)
                 - (\mathrm{FNR}_{t+1} - \mathrm{FPR}_{t+1})},

       \mathrm{EER} = \mathrm{FPR}_t + a\,(\mathrm{FPR}_{t+1}
                                             - \mathrm{FPR}_t).

    This is the value the usual ``brentq(lambda x: 1 - x - interp(x))``
    recipe finds, computed exactly.
    """
    fpr, tpr, _ = (to_tensor(v, "roc") for v in roc_curve(
        to_tensor(scores, "scores"), same,
        higher_is_similar=higher_is_similar))
    gap = (1.0 - tpr) - fpr                                    # (T,)
    t = int((gap >= 0).nonzero()[-1, 0])
    if float(gap[t]) == 0.0 or t == len(gap) - 1:
        return float(fpr[t])
    a = gap[t] / (gap[t] - gap[t + 1])
    return float(fpr[t] + a * (fpr[t + 1] - fpr[t]))
