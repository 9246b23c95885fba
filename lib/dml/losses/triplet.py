"""Triplet loss (Weinberger & Saul, 2009; Schroff et al., 2015).

    L(a, p, n) = [d(a, p) - d(a, n) + m]_+                 (book, chapter 3)

The anchor a must be closer to its positive p than to its negative n by at
least the margin m; triplets that already are cost nothing. Conventions
differ between the seeds: seeds 000 and 002 write squared distances,
d(a, p)^2 - d(a, n)^2 + m (``squared=True``), seed 003 plain distances
(``squared=False``, the default here and in pytorch-metric-learning).

The soft-margin version (Hermans, Beyer & Leibe, 2017) replaces the hinge
by softplus, log(1 + exp(d_ap - d_an + m)): no flat region, so every
triplet keeps a gradient. Hermans et al. drop the margin (m = 0); like
pytorch-metric-learning's ``smooth_loss``, we keep it inside.

Worked example (seed 003): d(a, p) = 0.5, d(a, n) = 0.6, m = 0.2 gives
[0.5 - 0.6 + 0.2]_+ = 0.1, a semi-hard triplet.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .._arrays import like_input, to_tensor
from ._distance import (DISTANCES, check_distance, distance_matrix,
                        tuple_distances)
from ._reduce import check_reduction, reduce_terms, zero_loss
from ._tuples import anchor_chunks, as_triplets, check_batch, pair_masks

__all__ = ["triplet_loss", "TripletMarginLoss"]


def triplet_loss(d_ap, d_an, margin: float = 0.2, *, squared: bool = False,
                 soft: bool = False):
    """Triplet loss of each triplet, elementwise (broadcasting).

    Parameters
    ----------
    d_ap, d_an : tensors
        Anchor-positive and anchor-negative distances, d(a, p) and d(a, n).
    margin : float
        m in the equation (seed 003 uses 0.2; pml's default is 0.05).
    squared : bool
        Use d(a, p)^2 - d(a, n)^2 (seeds 000, 002) instead of plain
        distances (seed 003).
    soft : bool
        softplus instead of the hinge [.]_+.
    """
    reference = d_ap
    d_ap, d_an = to_tensor(d_ap, "d_ap"), to_tensor(d_an, "d_an")
    if squared:
        d_ap, d_an = d_ap * d_ap, d_an * d_an
    violation = d_ap - d_an + margin
    loss = F.softplus(violation) if soft else F.relu(violation)
    return like_input(loss, reference)


class TripletMarginLoss(torch.nn.Module):
    """Triplet loss over the triplets of a batch (module docstring).

    Parameters
    ----------
    margin : float
        m. Default 0.2 (seed 003); pytorch-metric-learning's is 0.05.
    squared : bool
        Square the distances (seeds 000, 002). Default False, as in pml.
    soft : bool
        Soft margin, softplus(d_ap - d_an + m) (pml: ``smooth_loss``).
    distance : {"euclidean", "sqeuclidean", "cosine"}
        d; "cosine" is 1 - cos. Because only d_ap - d_an enters, this is
        exactly pml's loss with ``CosineSimilarity`` and the same margin.
    normalize : bool
        L2-normalise the embeddings first. Default False; pml's default
        distance normalises.
    reduction : {"mean_nonzero", "mean", "sum", "none"}
        Default "mean_nonzero", as pml's ``AvgNonZeroReducer``.

    ``forward(embeddings, labels, indices_tuple=None)``: without indices
    every valid triplet (y_a = y_p != y_n, a != p) is used, in
    lexicographic (a, p, n) order. There are ~B^3 / 2 of them, so they are
    evaluated in chunks of anchors, each chunk under
    ``torch.utils.checkpoint``: memory stays O(B^2) plus one chunk,
    forward and backward. With a miner's triplets (a, p, n) exactly those
    are used; pairs (a1, p, a2, n) are matched by anchor into triplets.
    """

    def __init__(self, margin: float = 0.2, *, squared: bool = False,
                 soft: bool = False, distance: str = "euclidean",
                 normalize: bool = False, reduction: str = "mean_nonzero"):
        super().__init__()
        if squared and distance == "sqeuclidean":
            raise ValueError("squared=True with distance='sqeuclidean' "
                             "would square twice; use distance='euclidean'"
                             " with squared=True.")
        self.margin, self.squared, self.soft = margin, squared, soft
        self.distance = check_distance(distance, DISTANCES)
        self.normalize = normalize
        self.reduction = check_reduction(reduction)

    def _terms(self, d_ap, d_an):
        return triplet_loss(d_ap, d_an, self.margin, squared=self.squared,
                            soft=self.soft)

    def forward(self, embeddings, labels, indices_tuple=None):
        labels = check_batch(embeddings, labels)
        if indices_tuple is not None:
            a, p, n = as_triplets(indices_tuple, labels)
            d_ap, d_an = tuple_distances(embeddings, [(a, p), (a, n)],
                                         self.distance, self.normalize)
            terms = self._terms(d_ap, d_an)                  # (T,)
            return reduce_terms(terms, self.reduction, embeddings)
        D = distance_matrix(embeddings, self.distance, self.normalize)
        return self._all_triplets(D, labels, embeddings)

    def _chunk(self, D_c, pos_c, neg_c):
        """Sum and number of positive terms of one chunk of anchors."""
        valid = pos_c[:, :, None] & neg_c[:, None, :]       # (c, B, B)
        block = self._terms(D_c[:, :, None], D_c[:, None, :])  # (c, B, B)
        block = torch.where(valid, block, torch.zeros_like(block))
        return block.sum(), (block > 0).sum()

    def _all_triplets(self, D, labels, embeddings):
        pos, neg = pair_masks(labels)                       # (B, B) each
        if self.reduction == "none":                       # all T terms
            parts = []
            for s in anchor_chunks(len(D)):
                valid = pos[s][:, :, None] & neg[s][:, None, :]  # (c, B, B)
                block = self._terms(D[s][:, :, None], D[s][:, None, :])
                parts.append(block[valid])
            return torch.cat(parts)
        n_valid = int((pos.sum(1) * neg.sum(1)).sum())
        if n_valid == 0:
            return zero_loss(embeddings)
        total, n_positive = D.new_zeros(()), 0
        for s in anchor_chunks(len(D)):
            if D.requires_grad and torch.is_grad_enabled():
                part, count = checkpoint(self._chunk, D[s], pos[s], neg[s],
                                         use_reentrant=False)
            else:
                part, count = self._chunk(D[s], pos[s], neg[s])
            total, n_positive = total + part, n_positive + int(count)
        if self.reduction == "sum":
            return total
        if self.reduction == "mean":
            return total / n_valid
        return total / n_positive if n_positive else total * 0.0
