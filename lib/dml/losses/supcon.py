"""Supervised contrastive loss (Khosla et al., 2020).

NT-Xent with labels: every other sample of the anchor's class is a
positive, and the loss of anchor i averages the cross-entropy of picking
each positive p among all candidates A(i) (the "L_out" form of the
paper, the one it recommends):

    L_i = -1/|P(i)| sum_{p in P(i)} log( exp(s_ip / tau)
                                         / sum_{a in A(i)} exp(s_ia / tau) )
        = log sum_{a in A(i)} exp(s_ia / tau)
          - 1/|P(i)| sum_{p in P(i)} s_ip / tau

with s the similarity (cosine by default, larger = closer), P(i) the
positives of i, A(i) = P(i) u N(i) its positives and negatives. The
right-hand form is evaluated, with a masked logsumexp, so it is finite
for any tau. Values equal pytorch-metric-learning 2.9's ``SupConLoss``
(temperature 0.1, ``CosineSimilarity``, ``AvgNonZeroReducer``).
"""
from __future__ import annotations

import torch

from ..distances import CosineSimilarity
from ._base import BaseMetricLoss, pair_masks_of
from ._distance import orientation
from ._reduce import masked_logsumexp
from ._tuples import check_pair_masks

__all__ = ["supcon_loss", "SupConLoss"]


def supcon_loss(S, pos_mask, neg_mask, temperature: float = 0.1):
    r"""Supervised contrastive loss of each anchor (row of S).

    Khosla et al. (2020), their L^sup_out, with tau = ``temperature``,
    P(i) the positives and A(i) = P(i) u N(i) the candidates of anchor i:

    .. math::

       L_i = -\frac{1}{\lvert P(i) \rvert} \sum_{p \in P(i)}
             \log \frac{e^{s_{ip} / \tau}}{\sum_{a \in A(i)} e^{s_{ia} / \tau}}
           = \log \sum_{a \in A(i)} e^{s_{ia} / \tau}
             - \frac{1}{\lvert P(i) \rvert} \sum_{p \in P(i)} s_{ip} / \tau .

    The second form is evaluated (a masked logsumexp): finite for any
    similarity and temperature. Half-precision S is computed in float32
    and the result is float32.

    Parameters
    ----------
    S : (B, R) tensor
        Similarities s_ij between B anchors and R candidates, larger =
        closer (R = B for a batch against itself).
    pos_mask, neg_mask : (B, R) bool tensors
        P(i) and N(i); disjoint.
    temperature : float
        tau > 0.

    Returns
    -------
    (B,) tensor
        L_i; 0 for an anchor without positives (pytorch-metric-learning's
        convention), and 0 for an anchor whose only candidate is one
        positive.
    """
    if temperature <= 0:
        raise ValueError("temperature must be > 0 (tau divides the "
                         f"similarities), got {temperature}.")
    pos_mask, neg_mask = check_pair_masks(S, pos_mask, neg_mask)
    return _supcon_terms(S, pos_mask, neg_mask, temperature)


def _supcon_terms(S, pos_mask, neg_mask, temperature):
    """:func:`supcon_loss` on checked masks (no host synchronisation)."""
    if S.dtype in (torch.float16, torch.bfloat16):
        S = S.float()
    z = S / temperature                                     # (B, R)
    lse = masked_logsumexp(z, pos_mask | neg_mask, dim=1)   # (B,)
    n_pos = pos_mask.sum(1)                                 # (B,)
    mean_pos = z.masked_fill(~pos_mask, 0.0).sum(1) / n_pos.clamp_min(1)
    has_pos = n_pos > 0
    return torch.where(has_pos, lse.masked_fill(~has_pos, 0.0) - mean_pos,
                       torch.zeros_like(lse))               # (B,)


class SupConLoss(BaseMetricLoss):
    r"""Supervised contrastive loss over a batch, a module.

    Khosla et al. (2020); the formula is that of :func:`supcon_loss`, with
    s the ``distance`` (a distance d enters as s = -d), P(i) and N(i) the
    positive and negative pairs of anchor i (all of the batch, or a
    miner's), averaged over the anchors whose L_i > 0:

    .. math::

       \mathcal{L} = \frac{1}{\lvert\{i : L_i > 0\}\rvert}
                     \sum_{i : L_i > 0} L_i .

    pytorch-metric-learning 2.9's ``SupConLoss``, with its defaults and
    values: temperature 0.1, ``CosineSimilarity()``,
    ``AvgNonZeroReducer()``; a batch without a single positive pair or
    without a single negative pair gives 0.

    Parameters
    ----------
    temperature : float
        tau.
    distance : None, str or dml.distances object
        None: ``CosineSimilarity()``; ``LpDistance()`` etc. as in pml
        (``dml.losses.resolve_distance``).
    reducer, reduction
        ``AvgNonZeroReducer()`` / ``"mean_nonzero"`` by default (over
        anchors); ``MeanReducer()``, ``SumReducer()``,
        ``DoNothingReducer()`` or their names.
    normalize : bool or None
        Overrides the normalisation of a name or of the default.

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

    def __init__(self, temperature: float = 0.1, *, distance=None,
                 normalize: bool | None = None, reducer=None,
                 reduction: str | None = None):
        super().__init__(distance=distance, normalize=normalize,
                         reducer=reducer, reduction=reduction)
        if temperature <= 0:
            raise ValueError("temperature must be > 0 (tau divides the "
                             f"similarities), got {temperature}.")
        self.temperature = temperature

    def compute_loss(self, embeddings, labels, indices_tuple, ref_emb,
                     ref_labels):
        R = len(embeddings) if ref_emb is None else len(ref_emb)
        pos, neg = pair_masks_of(indices_tuple, labels, ref_labels, R)
        S = orientation(self.distance, "similarity") * \
            self.distance(embeddings, ref_emb)                  # (B, R)
        terms = _supcon_terms(S, pos, neg, self.temperature)    # (B,)
        # pml: no positive pair or no negative pair at all -> 0 (no sync)
        return self.reducer(terms * (pos.any() & neg.any()), embeddings)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, {super().extra_repr()}"
