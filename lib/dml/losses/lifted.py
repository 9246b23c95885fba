"""Lifted structured loss (Oh Song, Xiang, Jegelka & Savarese, 2016).

Each positive pair (i, j) is compared with *all* the negatives of both of
its ends, through a smooth maximum (log-sum-exp):

    J_ij = log( sum_{k in N_i} exp(m - d_ik) + sum_{l in N_j} exp(m - d_jl) )
           + d_ij - m_pos
    L = 1 / (2 |P|) * sum_{(i, j) in P} [J_ij]_+^2

m is the margin for negatives (``margin``, pml's ``neg_margin``) and m_pos
(``pos_margin``) is 0 in the paper. Per anchor, the log-sum-exp over its
negatives is computed once, and J_ij = logaddexp(lse_i, lse_j) + d_ij -
m_pos: O(B^2) memory, where pytorch-metric-learning builds a (positive
pairs x negative pairs) matrix. With the same distance its values equal
pml's ``LiftedStructureLoss`` (P holds both (i, j) and (j, i), so the mean
of [J]_+^2 / 2 over P is the paper's normalisation).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .._arrays import to_device_of
from ._distance import DISTANCES, check_distance, distance_matrix
from ._reduce import check_reduction, masked_logsumexp, reduce_terms
from ._tuples import check_batch, positives_and_negative_mask

__all__ = ["lifted_structure_loss", "LiftedStructureLoss"]


def lifted_structure_loss(D, pos_pairs, neg_mask, margin: float = 1.0,
                          pos_margin: float = 0.0):
    r"""Lifted structured loss of each positive pair, [J_ij]_+^2 / 2.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`. Oh Song et al.
    (2016): each positive pair (i, j) is compared with all the negatives of
    both ends,

    .. math::

       J_{ij} = \log\Big(\sum_{k \in N_i} e^{m - d_{ik}}
                        + \sum_{l \in N_j} e^{m - d_{jl}}\Big)
                + d_{ij} - m_\mathrm{pos},

       \mathcal{L} = \frac{1}{2 \lvert P \rvert}
           \sum_{(i, j) \in P} [J_{ij}]_+^2 .

    Parameters
    ----------
    D : (B, B) tensor
        Distances d (smaller = closer).
    pos_pairs : pair of (P,) int64 tensors
        (i, j), the positive pairs.
    neg_mask : (B, B) bool tensor
        N_i, the negatives of each point i.
    margin, pos_margin : float
        m and m_pos of the equation.

    Returns
    -------
    (P,) tensor
        [J_ij]_+^2 / 2 per pair; a pair none of whose ends has a negative
        costs 0.
    """
    i, j = (to_device_of(t, D, "pos_pairs", dtype=torch.int64)
            for t in pos_pairs)
    neg_mask = to_device_of(neg_mask, D, "neg_mask", dtype=torch.bool)
    lse = masked_logsumexp(margin - D, neg_mask, dim=1)       # (B,)
    J = torch.logaddexp(lse[i], lse[j]) + D[i, j] - pos_margin  # (P,)
    return F.relu(J) ** 2 / 2


class LiftedStructureLoss(torch.nn.Module):
    r"""Lifted structured loss over a batch, a module.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`; the formula is
    that of :func:`lifted_structure_loss`, averaged over the positive pairs:

    .. math::

       \mathcal{L} = \frac{1}{\lvert P \rvert} \sum_{(i, j) \in P}
           \tfrac12 [J_{ij}]_+^2 .

    Parameters
    ----------
    margin : float
        m, for negatives (pml: ``neg_margin``, default 1).
    pos_margin : float
        m_pos (default 0, as pml).
    distance : {"euclidean", "sqeuclidean", "cosine"}
        d (smaller = closer). The paper uses the Euclidean distance.
    normalize : bool
        L2-normalise embeddings first. Default False; pml's default
        distance normalises.
    reduction : {"mean", "mean_nonzero", "sum", "none"}
        Over positive pairs. Default "mean" (the paper's and pml's).

    Notes
    -----
    With a miner's pairs, the terms are those of the listed positive pairs
    and N_i the listed negatives of i (a pair listed twice counts once;
    pml would count it twice, and gives a pair with no negative the
    value [d_ij - m_pos]_+^2 / 2 where the formula gives 0).
    """

    def __init__(self, margin: float = 1.0, *, pos_margin: float = 0.0,
                 distance: str = "euclidean", normalize: bool = False,
                 reduction: str = "mean"):
        super().__init__()
        self.margin, self.pos_margin = margin, pos_margin
        self.distance = check_distance(distance, DISTANCES)
        self.normalize = normalize
        self.reduction = check_reduction(reduction)

    def forward(self, embeddings, labels, indices_tuple=None):
        labels = check_batch(embeddings, labels)
        a1, p, neg = positives_and_negative_mask(indices_tuple, labels)
        D = distance_matrix(embeddings, self.distance, self.normalize)
        terms = lifted_structure_loss(D, (a1, p), neg, self.margin,
                                      self.pos_margin)
        return reduce_terms(terms, self.reduction, embeddings)
