"""Multi-similarity pair mining (Wang, Han, Huang, Dong & Scott, 2019).

The mining half of the multi-similarity loss: a pair is kept when it is
informative relative to the anchor's hardest pair of the other kind
(the loss itself, taught in chapter 3, is
:class:`dml.losses.MultiSimilarityLoss`).
"""
from __future__ import annotations

import torch

from ..distances import CosineSimilarity
from ._base import Miner, check_margin, label_masks

__all__ = ["MultiSimilarityMiner", "multi_similarity_pairs"]


def multi_similarity_pairs(D: torch.Tensor, pos: torch.Tensor,
                           neg: torch.Tensor, epsilon: float):
    r"""The pairs kept by multi-similarity mining, on a dissimilarity d.

    Wang et al. (2019), Eq. 5 and 6, with similarities s and margin
    epsilon: a positive pair (a, p) is kept when it is less similar than
    the anchor's most similar negative plus epsilon, a negative pair (a, n)
    when it is more similar than the anchor's least similar positive minus
    epsilon,

    .. math::

       \begin{aligned}
       s_{ap} - \epsilon &< \max_{n:\ y_n \ne y_a} s_{an}, \\
       s_{an} + \epsilon &> \min_{p:\ y_p = y_a} s_{ap}.
       \end{aligned}

    On a dissimilarity d (smaller = closer; d = -s for a similarity) the
    same rules read d_ap + epsilon > min_n d_an and d_an - epsilon <
    max_p d_ap (negation is exact, so both give the same pairs). An anchor
    without a negative keeps no positive pair and one without a positive
    keeps no negative pair.

    Parameters
    ----------
    D : (B, R) tensor
        d[a, b], smaller = closer.
    pos, neg : (B, R) bool tensors
        Positive and negative pairs.
    epsilon : float
        epsilon in the equations.

    Returns
    -------
    (a1, p, a2, n)
        int64 tensors, pairs in row-major order.
    """
    inf = float("inf")
    d_an_min = D.masked_fill(~neg, inf).amin(1, keepdim=True)    # (B, 1)
    d_ap_max = D.masked_fill(~pos, -inf).amax(1, keepdim=True)   # (B, 1)
    keep_pos = pos & (D + epsilon > d_an_min)                    # (B, R)
    keep_neg = neg & (D - epsilon < d_ap_max)                    # (B, R)
    a1, p = keep_pos.nonzero(as_tuple=True)
    a2, n = keep_neg.nonzero(as_tuple=True)
    return a1, p, a2, n


class MultiSimilarityMiner(Miner):
    r"""Multi-similarity pair mining (Wang et al., 2019).

    The mining step of the multi-similarity loss (:doc:`chapter 3
    </book/chapters/03_deep_losses>`,
    :class:`dml.losses.MultiSimilarityLoss`), for any pair loss. Keeps
    the positive pairs (a, p) and negative pairs (a, n) that break the
    epsilon-margin against the anchor's hardest pair of the other kind
    (:func:`multi_similarity_pairs`):

    .. math::

       \begin{aligned}
       s_{ap} - \epsilon &< \max_{n:\ y_n \ne y_a} s_{an}, \\
       s_{an} + \epsilon &> \min_{p:\ y_p = y_a} s_{ap}.
       \end{aligned}

    Defaults are those of pytorch-metric-learning 2.9's
    ``MultiSimilarityMiner``: epsilon = 0.1 and ``CosineSimilarity()``
    (``distance=None``). For a distance (``LpDistance()``,
    ``"euclidean"``, ...) the inequalities are mirrored: d_ap + epsilon >
    min_n d_an and d_an - epsilon < max_p d_ap. The comparisons are
    strict, as in the paper and pml. O(B^2): two (B, R) masks, no sort
    (pml sorts each row; the pairs are the same, in row-major order here).

    Parameters
    ----------
    epsilon : float
        epsilon >= 0 in the equations (pml's ``epsilon``; the paper's
        epsilon, 0.1).
    distance : None, a name of ``dml.miners.DISTANCES`` or a
        :mod:`dml.distances` object.

    Called as ``miner(embeddings, labels, ref_emb=None, ref_labels=None)``
    it returns pairs (a1, p, a2, n); with a reference set, p and n index
    it.
    """

    def __init__(self, epsilon: float = 0.1, distance=None):
        super().__init__(CosineSimilarity() if distance is None
                         else distance)
        self.epsilon = check_margin(epsilon, "epsilon")

    def mine(self, E, labels, R=None, ref_labels=None):
        D = self.dissimilarity(E, R)                            # (B, R)
        pos, neg = label_masks(labels, ref_labels)
        return multi_similarity_pairs(D, pos, neg, self.epsilon)

    def extra_repr(self) -> str:
        return f"epsilon={self.epsilon}"
