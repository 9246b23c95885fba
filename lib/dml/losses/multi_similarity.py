"""Multi-similarity loss (Wang, Han, Huang, Dong & Scott, 2019).

For anchor i with positives P_i and negatives N_i, similarities S_ij
(larger = closer, cosine by default):

    L_i = 1/alpha * log(1 + sum_{p in P_i} exp(-alpha (S_ip - lambda)))
        + 1/beta  * log(1 + sum_{n in N_i} exp( beta  (S_in - lambda)))

Each pair is weighted by how it compares with the others of its anchor
(soft-max-like weights): hard positives (small S_ip) and hard negatives
(large S_in) dominate. lambda (``base``) is the similarity where the two
parts balance. Both sums are log-sum-exps, so the loss is finite for any
similarity. The paper's pair mining step is not part of the loss: use
``dml.miners``' multi-similarity miner, as in pytorch-metric-learning,
whose ``MultiSimilarityLoss`` this equals (same defaults, mean over the B
anchors).
"""
from __future__ import annotations

import torch

from .._arrays import to_device_of
from ..distances import CosineSimilarity
from ._base import BaseMetricLoss, pair_masks_of
from ._distance import orientation
from ._reduce import masked_logsumexp

__all__ = ["multi_similarity_loss", "MultiSimilarityLoss"]


def multi_similarity_loss(S, pos_mask, neg_mask, alpha: float = 2.0,
                          beta: float = 50.0, base: float = 0.5):
    r"""Multi-similarity loss of each anchor (row of S).

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`. Wang et al.
    (2019), with lambda = ``base``:

    .. math::

       L_i = {} & \frac{1}{\alpha} \log\Big(1 + \sum_{p \in P_i}
                 e^{-\alpha (S_{ip} - \lambda)}\Big) \\
           & + \frac{1}{\beta} \log\Big(1 + \sum_{n \in N_i}
                 e^{\beta (S_{in} - \lambda)}\Big).

    Parameters
    ----------
    S : (B, B) tensor
        Similarities S_ij, larger = closer.
    pos_mask, neg_mask : (B, B) bool tensors
        P_i and N_i: the positives and the negatives of each anchor i.
    alpha, beta : float
        The scales of the positive and the negative part.
    base : float
        lambda, the similarity margin.

    Returns
    -------
    (B,) tensor
        L_i, 0 for an anchor without positives and negatives.
    """
    pos_mask = to_device_of(pos_mask, S, "pos_mask", dtype=torch.bool)
    neg_mask = to_device_of(neg_mask, S, "neg_mask", dtype=torch.bool)
    # -alpha (S - base) and beta (S - base), one new (B, B) tensor each
    pos = masked_logsumexp(S.mul(-alpha).add_(alpha * base), pos_mask, 1,
                           add_one=True)
    neg = masked_logsumexp(S.mul(beta).sub_(beta * base), neg_mask, 1,
                           add_one=True)
    return pos / alpha + neg / beta                      # (B,)


class MultiSimilarityLoss(BaseMetricLoss):
    r"""Multi-similarity loss over a batch, a module.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`; Wang et al.
    (2019), the formula of :func:`multi_similarity_loss`, averaged over the
    anchors, with pytorch-metric-learning 2.9's ``MultiSimilarityLoss``
    defaults (alpha 2, beta 50, base 0.5, ``CosineSimilarity()``):

    .. math::

       \mathcal{L} = \frac{1}{B} \sum_{i=1}^{B} L_i .

    Parameters
    ----------
    alpha, beta, base : float
        alpha, beta and lambda of the equation.
    distance : None, str or dml.distances object
        Default ``CosineSimilarity()``. A distance d enters as S = -d with
        lambda = -base: pml's ``distance.margin`` rule, so ``base`` means
        what it means in pml (a distance there).
    reducer, reduction
        Over the B anchors. Default ``MeanReducer()`` / "mean", as pml.

    Notes
    -----
    With a miner's pairs, P_i and N_i are the listed pairs with anchor i
    (a pair listed twice counts once, as in pml). With ``ref_emb`` they
    are taken from the reference set.
    """

    default_distance = CosineSimilarity
    labels_required = False     # pml: labels or indices_tuple

    def __init__(self, alpha: float = 2.0, beta: float = 50.0,
                 base: float = 0.5, **kwargs):
        super().__init__(**kwargs)
        self.alpha, self.beta, self.base = alpha, beta, base

    def compute_loss(self, embeddings, labels, indices_tuple, ref_emb,
                     ref_labels):
        sign = orientation(self.distance, "similarity")
        S = sign * self.distance(embeddings, ref_emb)           # (B, R)
        pos, neg = pair_masks_of(indices_tuple, labels, ref_labels,
                                 S.shape[1])                   # (B, R)
        if not bool((pos | neg).any()):                # no pair: zero
            return self.reducer(S.new_zeros(0), embeddings)
        terms = multi_similarity_loss(S, pos, neg, self.alpha, self.beta,
                                      sign * self.base)
        return self.reducer(terms, embeddings)

    def extra_repr(self) -> str:
        return (f"alpha={self.alpha}, beta={self.beta}, base={self.base}, "
                + super().extra_repr())
