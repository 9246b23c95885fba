"""Lifted structured loss (Oh Song, Xiang, Jegelka & Savarese, 2016).

Each positive pair (i, j) is compared with *all* the negatives of both of
its ends, through a smooth maximum (log-sum-exp):

    J_ij = log( sum_{k in N_i} exp(m - d_ik) + sum_{l in N_j} exp(m - d_jl) )
           + d_ij - m_pos
    L = 1 / (2 |P|) * sum_{(i, j) in P} [J_ij]_+^2

m is the margin for negatives (``margin``; the class's ``neg_margin``) and
m_pos (``pos_margin``) is 0 in the paper. Per anchor, the log-sum-exp over its
negatives is computed once, and J_ij = logaddexp(lse_i, lse_j) + d_ij -
m_pos: O(B^2) memory, where pytorch-metric-learning builds a (positive
pairs x negative pairs) matrix. With the same arguments its values equal
pml's ``LiftedStructureLoss`` (P holds both (i, j) and (j, i), so the mean
of [J]_+^2 / 2 over P is the paper's normalisation).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .._arrays import to_device_of
from ._base import BaseMetricLoss
from ._distance import orientation
from ._reduce import masked_logsumexp
from ._tuples import positives_and_negative_mask

__all__ = ["lifted_structure_loss", "LiftedStructureLoss"]


def lifted_structure_loss(D, pos_pairs, neg_mask, margin: float = 1.0,
                          pos_margin: float = 0.0, both_ends: bool = True):
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
    both_ends : bool
        True (the paper): the negatives of i and of j. False: of i only,
        for a D of queries against a reference set (R != B), whose
        reference rows have no negatives listed.

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
    lse_ij = torch.logaddexp(lse[i], lse[j]) if both_ends else lse[i]
    J = lse_ij + D[i, j] - pos_margin                          # (P,)
    return F.relu(J) ** 2 / 2


class LiftedStructureLoss(BaseMetricLoss):
    r"""Lifted structured loss over a batch, a module.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`; Oh Song et
    al. (2016), the formula of :func:`lifted_structure_loss`, averaged
    over the positive pairs, with pytorch-metric-learning 2.9's
    ``LiftedStructureLoss`` defaults (its arguments, in its order):

    .. math::

       \mathcal{L} = \frac{1}{\lvert P \rvert} \sum_{(i, j) \in P}
           \tfrac12 [J_{ij}]_+^2 .

    Parameters
    ----------
    neg_margin : float
        m, for negatives (1).
    pos_margin : float
        m_pos (0).
    distance : None, str or dml.distances object
        Default ``LpDistance()`` (pml's: Euclidean on L2-normalised
        embeddings; the paper uses the raw Euclidean distance,
        ``distance="euclidean"``). With a similarity the margins are
        similarities (pml's ``distance.margin`` rule).
    normalize : bool or None
        Override the normalisation of the default or of a name.
    reducer, reduction
        Over positive pairs. Default ``MeanReducer()`` / "mean" (the
        paper's and pml's).

    Notes
    -----
    With a miner's pairs, the terms are those of the listed positive pairs
    and N_i the listed negatives of i (a pair listed twice counts once;
    pml would count it twice, and gives a pair with no negative the
    value [d_ij - m_pos]_+^2 / 2 where the formula gives 0). With
    ``ref_emb`` only the negatives of the anchor i count (pml indexes the
    batch with the reference index j there).
    """

    labels_required = False     # pml: labels or indices_tuple

    def __init__(self, neg_margin: float = 1.0, pos_margin: float = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.neg_margin, self.pos_margin = neg_margin, pos_margin

    def compute_loss(self, embeddings, labels, indices_tuple, ref_emb,
                     ref_labels):
        a1, p, neg = positives_and_negative_mask(indices_tuple, labels,
                                                 ref_labels)
        sign = orientation(self.distance, "distance")
        D = sign * self.distance(embeddings, ref_emb)           # (B, R)
        terms = lifted_structure_loss(D, (a1, p), neg,
                                      sign * self.neg_margin,
                                      sign * self.pos_margin,
                                      both_ends=ref_emb is None)
        return self.reducer(terms, embeddings)

    def extra_repr(self) -> str:
        return (f"neg_margin={self.neg_margin}, pos_margin="
                f"{self.pos_margin}, " + super().extra_repr())
