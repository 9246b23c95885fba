"""Triplet loss (Weinberger & Saul, 2009; Schroff et al., 2015).

    L(a, p, n) = [d(a, p) - d(a, n) + m]_+                 (book, chapter 3)

The anchor a must be closer to its positive p than to its negative n by at
least the margin m; triplets that already are cost nothing. Two
conventions are in use. Weinberger & Saul's LMNN hinge (2009) and
FaceNet (Schroff et al., 2015, on L2-normalised embeddings, margin alpha)
use squared distances, d(a, p)^2 - d(a, n)^2 + m (``squared=True``); the
online notes "Metric Learning" and pytorch-metric-learning's
``TripletMarginLoss`` use plain distances (``squared=False``, the
default here).

The soft-margin version (Hermans, Beyer & Leibe, 2017) replaces the hinge
by softplus, log(1 + exp(d_ap - d_an + m)): no flat region, so every
triplet keeps a gradient. Hermans et al. drop the margin (m = 0); like
pytorch-metric-learning's ``smooth_loss``, we keep it inside.

Worked example (from the online notes "Metric Learning"): d(a, p) = 0.5,
d(a, n) = 0.6, m = 0.2 gives [0.5 - 0.6 + 0.2]_+ = 0.1, a semi-hard
triplet; the squared form gives 0.25 - 0.36 + 0.2 = 0.09.
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
    r"""Triplet loss of each triplet, elementwise (broadcasting).

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`. With
    d_ap = d(a, p), d_an = d(a, n) and margin m, the hinge, its squared
    form (LMNN, FaceNet: Schroff et al., 2015) and the soft margin
    (Hermans, Beyer & Leibe, 2017):

    .. math::

       \begin{aligned}
       \ell &= [d_{ap} - d_{an} + m]_+, \\
       \ell_{\text{squared}} &= [d_{ap}^2 - d_{an}^2 + m]_+, \\
       \ell_{\text{soft}} &= \log\big(1 + e^{d_{ap} - d_{an} + m}\big).
       \end{aligned}

    Parameters
    ----------
    d_ap, d_an : tensors
        Anchor-positive and anchor-negative distances, d(a, p) and d(a, n).
    margin : float
        m in the equation (0.2 here, FaceNet's alpha; pml's default is
        0.05).
    squared : bool
        Use d(a, p)^2 - d(a, n)^2 (LMNN, FaceNet) instead of plain
        distances (the "Metric Learning" notes, pml).
    soft : bool
        softplus instead of the hinge [.]_+.

    Returns
    -------
    tensor
        The loss of each triplet, of the broadcast shape of d_ap and d_an
        (numpy for a numpy d_ap).
    """
    reference = d_ap
    d_ap = to_tensor(d_ap, "d_ap")
    d_an = to_tensor(d_an, "d_an").to(d_ap.device)
    if squared:
        d_ap, d_an = d_ap * d_ap, d_an * d_an
    violation = d_ap - d_an + margin
    loss = F.softplus(violation) if soft else F.relu(violation)
    return like_input(loss, reference)


class TripletMarginLoss(torch.nn.Module):
    r"""Triplet loss over the triplets of a batch, a module.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`. Schroff,
    Kalenichenko & Philbin (2015): with T the valid triplets of the batch
    (y_a = y_p != y_n, a != p) and d_ap = d(a, p), d_an = d(a, n),

    .. math::

       \mathcal{L} = \operatorname{mean}_{(a, p, n) \in T}
           [d_{ap} - d_{an} + m]_+,

    the mean taken over the nonzero terms (reduction="mean_nonzero").
    squared=True and soft=True change each term as in :func:`triplet_loss`.

    Parameters
    ----------
    margin : float
        m. Default 0.2 (FaceNet's alpha); pytorch-metric-learning's is
        0.05.
    squared : bool
        Square the distances (LMNN, FaceNet). Default False, as in pml.
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

    Notes
    -----
    Call it as ``loss(embeddings, labels, indices_tuple=None)``. Without
    indices_tuple every valid triplet (y_a = y_p != y_n, a != p) is used,
    in lexicographic (a, p, n) order. There are about B^3 / 2 of them, so
    they are evaluated in chunks of anchors, each chunk under
    ``torch.utils.checkpoint``: memory stays O(B^2) plus one
    chunk, forward and backward. With a miner's triplets (a, p, n) exactly
    those are used; pairs (a1, p, a2, n) are matched by anchor into
    triplets.
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
        # summed in float32 at least (half-precision terms), no host sync
        return block.sum(dtype=torch.promote_types(block.dtype,
                                                   torch.float32)), \
            (block > 0).sum()

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
        total = D.new_zeros((), dtype=torch.promote_types(D.dtype,
                                                          torch.float32))
        n_positive = D.new_zeros((), dtype=torch.int64)   # on the device
        for s in anchor_chunks(len(D)):
            if D.requires_grad and torch.is_grad_enabled():
                part, count = checkpoint(self._chunk, D[s], pos[s], neg[s],
                                         use_reentrant=False)
            else:
                part, count = self._chunk(D[s], pos[s], neg[s])
            total, n_positive = total + part, n_positive + count
        if self.reduction == "sum":
            return total
        if self.reduction == "mean":
            return total / n_valid
        return torch.where(n_positive > 0,
                           total / n_positive.clamp_min(1), total * 0.0)
