"""Proxy-anchor loss (Kim, Kim, Cho & Kwak, 2020).

Each class c has a learnable proxy vector w_c. With s(x, w) the cosine
similarity, X_c^+ the batch samples of class c, X_c^- the others, P^+
the proxies with at least one sample in the batch and P all proxies:

    L = 1/#P^+ sum_{c in P^+} log(1 + sum_{x in X_c^+} E^+_xc)
      + 1/#P    sum_{c in P}   log(1 + sum_{x in X_c^-} E^-_xc)
    E^+_xc = exp(-alpha (s(x, w_c) - delta)),
    E^-_xc = exp( alpha (s(x, w_c) + delta))

delta is the margin, alpha the scale. Proxies are anchors: the cost is
O(B C), not O(B^2), and every sample interacts with every class through
its proxy. Values equal pytorch-metric-learning's ``ProxyAnchorLoss``
(same defaults and proxy initialisation, kaiming-normal with fan_out).
"""
from __future__ import annotations

import torch

from .._arrays import check_positive_int, to_device_of
from ..distances import CosineSimilarity
from ._base import BaseMetricLoss
from ._distance import orientation
from ._reduce import masked_logsumexp, zero_loss
from .margin_softmax import miner_weights

__all__ = ["proxy_anchor_terms", "proxy_anchor_loss", "ProxyAnchorLoss"]


def proxy_anchor_terms(cos, labels, margin: float = 0.1,
                       alpha: float = 32.0, log_weights=None):
    """Per-proxy positive and negative terms of the proxy-anchor loss.

    Parameters
    ----------
    cos : (B, C) tensor, s(x_b, w_c), cosine of samples to proxies.
    labels : (B,) int64 tensor with values in 0..C-1.
    margin, alpha : float, delta and alpha of the equation.
    log_weights : (B,) tensor, optional; added to every exponent of
        sample b, i.e. E_xc is multiplied by exp(log_weights[b])
        (pytorch-metric-learning's miner weights: w_b - 1, with w_b the
        sample's count in the miner's output over the largest count).

    Returns
    -------
    pos (C,), neg (C,) and has_pos (C,) bool (the proxies in P^+).
    """
    C = cos.shape[1]
    labels = to_device_of(labels, cos, "labels", dtype=torch.int64)
    pos_mask = labels[:, None] == torch.arange(C, device=cos.device)  # (B, C)
    neg_mask = ~pos_mask
    z_pos, z_neg = -alpha * (cos - margin), alpha * (cos + margin)
    if log_weights is not None:
        w = to_device_of(log_weights, cos, "log_weights")[:, None]  # (B, 1)
        z_pos, z_neg = z_pos + w, z_neg + w
    pos = masked_logsumexp(z_pos, pos_mask, 0, True)
    neg = masked_logsumexp(z_neg, neg_mask, 0, True)
    return pos, neg, pos_mask.any(0)


def proxy_anchor_loss(cos, labels, margin: float = 0.1, alpha: float = 32.0):
    r"""The proxy-anchor loss, a scalar.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`. Kim et al.
    (2020): with s(x, w) the cosine similarity, X_c^+ the samples of class c,
    X_c^- the others, P^+ the proxies with a sample in the batch and P all
    proxies,

    .. math::

       \mathcal{L} = {} & \frac{1}{\lvert P^+ \rvert} \sum_{c \in P^+}
           \log\Big(1 + \sum_{x \in X_c^+}
                 e^{-\alpha (s(x, w_c) - \delta)}\Big) \\
         & + \frac{1}{\lvert P \rvert} \sum_{c \in P}
           \log\Big(1 + \sum_{x \in X_c^-}
                 e^{\alpha (s(x, w_c) + \delta)}\Big).

    Parameters
    ----------
    cos : (B, C) tensor
        s(x_b, w_c), the cosine of samples to proxies.
    labels : (B,) int64 tensor
        Values in 0..C-1.
    margin, alpha : float
        delta and alpha of the equation.

    Returns
    -------
    0-d tensor
        The loss.
    """
    pos, neg, has_pos = proxy_anchor_terms(cos, labels, margin, alpha)
    return pos.sum() / has_pos.sum().clamp_min(1) + neg.mean()


class ProxyAnchorLoss(BaseMetricLoss):
    r"""Proxy-anchor loss with learnable proxies, a module.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`; Kim et al.
    (2020), the formula of :func:`proxy_anchor_loss`, with the proxies w_c
    the rows of ``proxies`` and pytorch-metric-learning 2.9's
    ``ProxyAnchorLoss`` defaults (margin 0.1, alpha 32,
    ``CosineSimilarity()``, proxies kaiming-normal with fan_out):

    .. math::

       s(x_b, w_c) = \frac{x_b \cdot w_c}
                          {\lVert x_b \rVert\, \lVert w_c \rVert}.

    Call it as ``loss(embeddings, labels, indices_tuple=None)``; labels
    must be 0..C-1; no ``ref_emb`` (as pml).

    Parameters
    ----------
    num_classes : int
        C, the number of classes (and proxies).
    embedding_size : int
        The dimension of embeddings and proxies.
    margin : float
        delta (0.1).
    alpha : float
        alpha (32).
    distance : None, str or dml.distances object
        Default ``CosineSimilarity()``; a distance d enters as s = -d with
        the margin negated (pml's ``distance.margin`` rule).
    reducer, reduction : {"mean", "sum", "none"}
        "mean" is the paper's (and pml's ``DivisorReducer``) 1/#P^+ and
        1/#P averages; "sum" adds all proxy terms; "none" returns
        pos + neg per proxy.

    Attributes
    ----------
    proxies
        (C, embedding_size) ``nn.Parameter``: give it to the optimiser
        (the paper uses a 100x larger learning rate for proxies).

    Notes
    -----
    With a miner's output each sample's exponents get log-weight w_b - 1,
    w_b its count in the output over the largest count (pml's rule: a
    sample the miner did not pick still counts, scaled by 1/e).
    """

    default_distance = CosineSimilarity
    reductions = ("mean", "sum", "none")

    def __init__(self, num_classes: int, embedding_size: int,
                 margin: float = 0.1, alpha: float = 32.0, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = check_positive_int(num_classes, "num_classes")
        size = check_positive_int(embedding_size, "embedding_size")
        self.proxies = torch.nn.Parameter(torch.empty(num_classes, size))
        torch.nn.init.kaiming_normal_(self.proxies, mode="fan_out")
        self.margin, self.alpha = margin, alpha

    def get_logits(self, embeddings):
        """(B, C) values of the distance between embeddings and proxies
        (the cosines by default), as pml's ``get_logits``."""
        return self.distance(embeddings,
                             self.proxies.to(embeddings.dtype))  # (B, C)

    def compute_loss(self, embeddings, labels, indices_tuple, ref_emb,
                     ref_labels):
        if ref_emb is not None:
            raise ValueError("ProxyAnchorLoss does not take ref_emb (nor "
                             "does pytorch-metric-learning's).")
        _check_class_labels(labels, self.num_classes)
        if len(labels) == 0:                           # an empty batch
            return zero_loss(embeddings)
        w = miner_weights(indices_tuple, len(labels), embeddings)  # (B,)
        log_w = None if w is None else w - 1
        sign = orientation(self.distance, "similarity")
        cos = sign * self.get_logits(embeddings)                # (B, C)
        pos, neg, has_pos = proxy_anchor_terms(cos, labels,
                                               sign * self.margin,
                                               self.alpha, log_w)
        if self.reduction == "none":
            return pos + neg
        if self.reduction == "sum":
            return pos.sum() + neg.sum()
        return pos.sum() / has_pos.sum().clamp_min(1) + neg.mean()

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, margin={self.margin}, "
                f"alpha={self.alpha}, " + super().extra_repr())


def _check_class_labels(labels, num_classes: int):
    """Require labels in 0..num_classes-1 (one host synchronisation)."""
    if len(labels) == 0:
        return
    lo, hi = (int(v) for v in torch.aminmax(labels))
    if lo < 0 or hi >= num_classes:
        raise ValueError("labels must lie in 0..num_classes-1 = 0.."
                         f"{num_classes - 1}; got values in {lo}..{hi}.")
