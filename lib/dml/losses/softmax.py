"""Softmax over one positive and many negatives: N-pairs, InfoNCE, NT-Xent.

For an anchor with similarity s_p to its positive and s_k to negatives k,

    L = -log( exp(s_p / tau) / (exp(s_p / tau) + sum_k exp(s_k / tau)) )
      = softplus( logsumexp_k(s_k / tau) - s_p / tau )

the cross-entropy of picking the positive among all candidates.

* N-pairs (Sohn, 2016): s = dot product of the embeddings, tau = 1
  (the drug-compound case study normalises the embeddings first). With
  one negative it is the logistic loss log(1 + exp(s_n - s_p)).
* InfoNCE (van den Oord et al., 2018): the same cross-entropy over one
  positive and many negatives, with a learned score; NT-Xent (Chen et
  al., 2020, SimCLR): s = cosine similarity, temperature tau (0.07 to
  0.5).

The right-hand form is evaluated with logsumexp and softplus, so it stays
finite for any logits (cosine / tau with tau = 0.01, or logits of 1e4).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .._arrays import like_input, to_device_of, to_tensor
from ..distances import CosineSimilarity, DotProductSimilarity
from ._base import BaseMetricLoss
from ._distance import orientation
from ._reduce import masked_logsumexp
from ._tuples import as_pairs, positives_and_negative_mask

__all__ = ["info_nce_loss", "npairs_loss", "NTXentLoss", "NPairsLoss"]


def _softmax_terms(z_pos, lse_neg):
    """-log softmax of the positive: softplus(log sum_k e^{z_k} - z_p)."""
    return F.softplus(lse_neg - z_pos)


def info_nce_loss(logits_pos, logits_neg, tau: float, neg_mask=None):
    r"""InfoNCE loss of each anchor.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`. van den Oord,
    Li & Vinyals (2018): the cross-entropy of picking the positive among
    all candidates, with temperature tau,

    .. math::

       \begin{aligned}
       \ell &= -\log \frac{e^{s_p / \tau}}
                           {e^{s_p / \tau} + \sum_k e^{s_k / \tau}} \\
            &= \operatorname{softplus}\Big(\log \sum_k e^{s_k / \tau}
                 - s_p / \tau\Big).
       \end{aligned}

    The second form is the one evaluated (logsumexp, softplus): it stays
    finite for any logits.

    Parameters
    ----------
    logits_pos : (N,) tensor
        s_p, each anchor's similarity to its positive.
    logits_neg : (N, K) tensor
        s_k, each anchor's similarity to K negatives.
    tau : float
        Temperature; the logits are divided by it.
    neg_mask : (N, K) bool tensor, optional
        Which negatives count (for anchors with fewer than K).

    Returns
    -------
    (N,) tensor
        The loss of each anchor.
    """
    if tau <= 0:
        raise ValueError(f"tau must be > 0 (a temperature), got {tau}.")
    z_pos = to_tensor(logits_pos, "logits_pos") / tau  # (N,)
    z_neg = to_tensor(logits_neg, "logits_neg").to(z_pos.device) / tau
    if z_neg.ndim != 2 or z_pos.shape != z_neg.shape[:1]:
        raise ValueError("logits_pos must be (N,) and logits_neg (N, K); "
                         f"got {tuple(z_pos.shape)} and "
                         f"{tuple(z_neg.shape)}.")
    if neg_mask is None:
        neg_mask = torch.ones_like(z_neg, dtype=torch.bool)
    neg_mask = to_device_of(neg_mask, z_neg, "neg_mask", dtype=torch.bool)
    lse_neg = masked_logsumexp(z_neg, neg_mask, dim=1)        # (N,)
    return like_input(_softmax_terms(z_pos, lse_neg), logits_pos)


def npairs_loss(anchor, positive, negatives=None):
    r"""N-pairs loss with dot-product logits (Sohn, 2016).

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`. For an
    anchor a, its positive p and negatives n_k, the softmax cross-entropy
    of the dot products (:func:`info_nce_loss` with tau = 1):

    .. math::

       \ell = \log\Big(1 + \sum_k e^{a \cdot n_k - a \cdot p}\Big).

    Shapes:

    * one anchor: ``anchor`` (D,), ``positive`` (D,), ``negatives`` (K, D)
      -> a scalar;
    * batched: (N, D), (N, D), (N, K, D) -> (N,) losses;
    * ``negatives=None`` with (N, D) inputs: Sohn's N-pair batch, where
      the negatives of anchor i are the positives of the other N - 1
      anchors (one anchor-positive pair per class) -> (N,) losses.

    Normalise the embeddings first to get the cosine version of the
    drug-compound case study.
    """
    reference = anchor
    anchor = to_tensor(anchor, "anchor")
    positive = to_tensor(positive, "positive").to(anchor.device,
                                                   anchor.dtype)
    if negatives is None:
        logits = anchor @ positive.T                    # (N, N)
        target = torch.arange(len(anchor), device=anchor.device)
        loss = F.cross_entropy(logits, target, reduction="none")
        return like_input(loss, reference)
    negatives = to_tensor(negatives, "negatives").to(anchor.device,
                                                     anchor.dtype)
    single = anchor.ndim == 1
    if single:
        anchor, positive = anchor[None], positive[None]
        negatives = negatives[None]
    s_p = (anchor * positive).sum(-1)                   # (N,)
    s_n = torch.einsum("nd,nkd->nk", anchor, negatives)  # (N, K)
    loss = info_nce_loss(s_p, s_n, tau=1.0)
    return like_input(loss[0] if single else loss, reference)


class NTXentLoss(BaseMetricLoss):
    r"""NT-Xent / InfoNCE over the B x B similarity matrix of a batch.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`. Chen et al.
    (2020, SimCLR), with pytorch-metric-learning 2.9's ``NTXentLoss``
    defaults (temperature 0.07, ``CosineSimilarity()``, mean over the
    positive pairs): for each positive pair (a, p), with N(a) the
    negatives of a and temperature tau,

    .. math::

       \ell_{ap} = -\log \frac{e^{s_{ap} / \tau}}
           {e^{s_{ap} / \tau} + \sum_{n \in N(a)} e^{s_{an} / \tau}}.

    log sum_n exp(s_an / tau) is computed once per anchor, so memory is
    O(B^2); pytorch-metric-learning expands a (positive pairs x negative
    pairs) matrix instead, O(B^4) entries: tens of GiB at B = 1024.

    Parameters
    ----------
    temperature : float
        tau.
    distance : None, str or dml.distances object
        Default ``CosineSimilarity()``; a distance d enters as s = -d.
    reducer, reduction
        Over positive pairs. Default ``MeanReducer()`` / "mean", as pml.

    Notes
    -----
    With a miner's pairs, the terms are those of the listed positive pairs,
    and N(a) is the set of listed negative pairs with anchor a (a pair
    listed twice counts once; pml would count it twice). With ``ref_emb``
    the positives and negatives of a come from the reference set.
    """

    default_distance = CosineSimilarity
    labels_required = False     # pml: labels or indices_tuple

    def __init__(self, temperature: float = 0.07, **kwargs):
        super().__init__(**kwargs)
        if temperature <= 0:
            raise ValueError("temperature must be > 0, got "
                             f"{temperature}.")
        self.temperature = temperature

    def compute_loss(self, embeddings, labels, indices_tuple, ref_emb,
                     ref_labels):
        a1, p, neg = positives_and_negative_mask(indices_tuple, labels,
                                                 ref_labels)
        sign = orientation(self.distance, "similarity")
        S = self.distance(embeddings, ref_emb)                  # (B, R)
        Z = S * (sign / self.temperature)                       # (B, R)
        lse_neg = masked_logsumexp(Z, neg, dim=1)               # (B,)
        terms = _softmax_terms(Z[a1, p], lse_neg[a1])           # (P,)
        return self.reducer(terms, embeddings)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}, " + super().extra_repr()


class NPairsLoss(BaseMetricLoss):
    r"""Multi-class N-pair loss (Sohn, 2016) on a labelled batch.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`. From the
    positive pairs of the batch (or of a miner's output) one pair
    (a_c, p_c) is kept per class c, the first listed; each anchor's
    negatives are the positives of the other classes, and the loss of
    class c is the cross-entropy over the pairs,

    .. math::

       \ell_c = -\log \frac{e^{s(a_c, p_c)}}{\sum_{c'} e^{s(a_c, p_{c'})}}.

    As in pytorch-metric-learning 2.9's ``NPairsLoss``: mean over classes,
    a miner's negative pairs are ignored, no ``ref_emb``, and Sohn's L2
    penalty on the embeddings is left to the user (add lambda *
    embeddings.pow(2).sum(1).mean()). The default similarity is pml's
    ``DotProductSimilarity()``, which normalises the embeddings (so it is
    the cosine); Sohn's raw dot product is ``distance="dot"``
    (``DotProductSimilarity(normalize_embeddings=False)``).

    Parameters
    ----------
    distance : None, str or dml.distances object
        The similarity s; a distance d enters as s = -d.
    reducer, reduction
        Over classes. Default ``MeanReducer()`` / "mean", as pml.
    """

    default_distance = DotProductSimilarity

    def compute_loss(self, embeddings, labels, indices_tuple, ref_emb,
                     ref_labels):
        if ref_emb is not None:
            raise ValueError("NPairsLoss does not take ref_emb (nor does "
                             "pytorch-metric-learning's).")
        a1, p = as_pairs(indices_tuple, labels)[:2]
        classes, which = torch.unique(labels[a1], return_inverse=True)
        order = torch.arange(len(a1), device=a1.device)
        first = torch.full((len(classes),), len(a1), device=a1.device)
        first = first.scatter_reduce(0, which, order, "amin")  # (C,)
        a, p = a1[first], p[first]
        sign = orientation(self.distance, "similarity")
        logits = sign * self.distance(embeddings[a], embeddings[p])  # (C, C)
        target = torch.arange(len(a), device=a.device)
        terms = F.cross_entropy(logits, target, reduction="none")
        return self.reducer(terms, embeddings)
