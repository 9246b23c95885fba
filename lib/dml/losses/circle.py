"""Circle loss (Sun, Cheng, Zhang, Zhang, Zheng, Wang & Wei, 2020).

A pair loss on the similarities s_p of an anchor's positives and s_n of
its negatives (cosine, larger = closer) in which every similarity gets its
own weight: the further s is from its optimum, the larger the weight,

    alpha_p = [O_p - s_p]_+,        O_p = 1 + m,   Delta_p = 1 - m,
    alpha_n = [s_n - O_n]_+,        O_n = -m,      Delta_n = m,

    L = log(1 + sum_n exp( gamma alpha_n (s_n - Delta_n))
                * sum_p exp(-gamma alpha_p (s_p - Delta_p)))
      = softplus( logsumexp_n(...) + logsumexp_p(...) ).

The decision boundary alpha_n (s_n - Delta_n) = alpha_p (s_p - Delta_p)
is a circle in the (s_n, s_p) plane, centred at (0, 1) with radius
sqrt(2) m: m is the only margin parameter, gamma a scale. The weights
alpha are held constant for the gradient (a stop-gradient, as in the
authors' code and pytorch-metric-learning). The right-hand form is
evaluated, so the loss is finite for any gamma.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..distances import CosineSimilarity
from ._base import BaseMetricLoss, pair_masks_of
from ._reduce import masked_logsumexp
from ._tuples import check_pair_masks

__all__ = ["circle_loss", "CircleLoss"]


def circle_loss(S, pos_mask, neg_mask, m: float = 0.4, gamma: float = 80.0):
    r"""Circle loss of each anchor (row of S).

    Sun et al. (2020), with their self-paced weights alpha and margins
    Delta: for anchor i with positives P(i) and negatives N(i),

    .. math::

       L_i = \log\Big(1
           + \sum_{n \in N(i)} e^{\gamma \alpha_{in} (s_{in} - \Delta_n)}
             \sum_{p \in P(i)} e^{-\gamma \alpha_{ip} (s_{ip} - \Delta_p)}
           \Big),

       \alpha_{ip} = [1 + m - s_{ip}]_+, \quad
       \alpha_{in} = [s_{in} + m]_+, \quad
       \Delta_p = 1 - m, \quad \Delta_n = m,

    evaluated as softplus(logsumexp_n + logsumexp_p). alpha is held
    constant for the gradient (stop-gradient). Half-precision S is
    computed in float32 and the result is float32.

    Parameters
    ----------
    S : (B, R) tensor
        Similarities (cosines) between B anchors and R candidates.
    pos_mask, neg_mask : (B, R) bool tensors
        P(i) and N(i); disjoint.
    m : float
        The relaxation margin m (pytorch-metric-learning's ``m``).
    gamma : float
        The scale gamma.

    Returns
    -------
    (B,) tensor
        L_i; 0 for an anchor without a positive or without a negative.
    """
    pos_mask, neg_mask = check_pair_masks(S, pos_mask, neg_mask)
    return _circle_terms(S, pos_mask, neg_mask, m, gamma)


def _circle_terms(S, pos_mask, neg_mask, m, gamma):
    """:func:`circle_loss` on checked masks (no host synchronisation)."""
    if S.dtype in (torch.float16, torch.bfloat16):
        S = S.float()
    with torch.no_grad():
        alpha_p = (1.0 + m - S).clamp_min_(0.0)             # (B, R)
        alpha_n = (S + m).clamp_min_(0.0)                   # (B, R)
    logit_p = -gamma * alpha_p * (S - (1.0 - m))            # (B, R)
    logit_n = gamma * alpha_n * (S - m)                     # (B, R)
    lse_p = masked_logsumexp(logit_p, pos_mask, dim=1)      # (B,)
    lse_n = masked_logsumexp(logit_n, neg_mask, dim=1)      # (B,)
    both = pos_mask.any(1) & neg_mask.any(1)                # (B,)
    z = (lse_p + lse_n).masked_fill(~both, 0.0)
    return torch.where(both, F.softplus(z), torch.zeros_like(z))


class CircleLoss(BaseMetricLoss):
    r"""Circle loss over a batch, a module.

    Sun et al. (2020); the formula is that of :func:`circle_loss`, with s
    the cosine similarity and P(i), N(i) the positive and negative pairs
    of anchor i (all of the batch, or a miner's), averaged over the
    anchors whose L_i > 0:

    .. math::

       \mathcal{L} = \frac{1}{\lvert\{i : L_i > 0\}\rvert}
                     \sum_{i : L_i > 0} L_i .

    pytorch-metric-learning 2.9's ``CircleLoss``, with its defaults and
    values: m = 0.4 and gamma = 80 (the paper's setting for fine-grained
    image retrieval; it uses m = 0.25 with gamma = 256 for faces and 128
    for person re-identification), ``CosineSimilarity()`` (the only
    distance it accepts, as in pml: the optima O_p = 1 + m and O_n = -m
    are cosines), ``AvgNonZeroReducer()``.

    Parameters
    ----------
    m : float
        The relaxation margin m.
    gamma : float
        The scale gamma.
    distance : None, "cosine" or dml.distances.CosineSimilarity
        The default; anything else is refused.
    reducer, reduction
        ``AvgNonZeroReducer()`` / ``"mean_nonzero"`` by default (over
        anchors); ``MeanReducer()``, ``SumReducer()``,
        ``DoNothingReducer()`` or their names.

    Notes
    -----
    Called as ``loss(embeddings, labels, indices_tuple=None, ref_emb=None,
    ref_labels=None)``. With a miner's pairs, P(i) and N(i) are the listed
    pairs with anchor i (a pair listed twice counts once, as in pml); with
    ``ref_emb`` the anchors are the batch and the candidates ``ref_emb``.
    One departure from pml: given a miner's output of one positive
    pair and at most one negative pair, pml returns 0 (its
    ``GenericPairLoss`` skips index tensors of length <= 1); dml computes
    the loss of that pair.
    """

    default_distance = CosineSimilarity
    default_reduction = "mean_nonzero"
    labels_required = False

    def __init__(self, m: float = 0.4, gamma: float = 80.0, *,
                 distance=None, reducer=None, reduction: str | None = None):
        super().__init__(distance=distance, reducer=reducer,
                         reduction=reduction)
        if not isinstance(self.distance, CosineSimilarity):
            raise ValueError(
                "CircleLoss needs distance=CosineSimilarity() (its optima "
                "1 + m and -m are cosines), got "
                f"{type(self.distance).__name__}.")
        self.m, self.gamma = m, gamma

    def compute_loss(self, embeddings, labels, indices_tuple, ref_emb,
                     ref_labels):
        R = len(embeddings) if ref_emb is None else len(ref_emb)
        pos, neg = pair_masks_of(indices_tuple, labels, ref_labels, R)
        S = self.distance(embeddings, ref_emb)                  # (B, R)
        terms = _circle_terms(S, pos, neg, self.m, self.gamma)  # (B,)
        return self.reducer(terms, embeddings)

    def extra_repr(self) -> str:
        return f"m={self.m}, gamma={self.gamma}, {super().extra_repr()}"
