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
from ..distances import cosine_matrix
from ._reduce import check_reduction, masked_logsumexp
from ._tuples import as_pairs, check_batch

__all__ = ["proxy_anchor_terms", "proxy_anchor_loss", "ProxyAnchorLoss"]


def proxy_anchor_terms(cos, labels, margin: float = 0.1,
                       alpha: float = 32.0, sample_mask=None):
    """Per-proxy positive and negative terms of the proxy-anchor loss.

    Parameters
    ----------
    cos : (B, C) tensor, s(x_b, w_c), cosine of samples to proxies.
    labels : (B,) int64 tensor with values in 0..C-1.
    margin, alpha : float, delta and alpha of the equation.
    sample_mask : (B,) bool tensor, optional; samples that take part.

    Returns
    -------
    pos (C,), neg (C,) and has_pos (C,) bool (the proxies in P^+).
    """
    C = cos.shape[1]
    labels = to_device_of(labels, cos, "labels", dtype=torch.int64)
    is_pos = labels[:, None] == torch.arange(C, device=cos.device)  # (B, C)
    if sample_mask is not None:
        keep = to_device_of(sample_mask, cos, "sample_mask",
                            dtype=torch.bool)[:, None]      # (B, 1)
        pos_mask, neg_mask = is_pos & keep, ~is_pos & keep
    else:
        pos_mask, neg_mask = is_pos, ~is_pos
    pos = masked_logsumexp(-alpha * (cos - margin), pos_mask, 0, True)
    neg = masked_logsumexp(alpha * (cos + margin), neg_mask, 0, True)
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


class ProxyAnchorLoss(torch.nn.Module):
    r"""Proxy-anchor loss with learnable proxies, a module.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`; the formula is
    that of :func:`proxy_anchor_loss`, with the proxies w_c the rows of
    ``proxies``:

    .. math::

       s(x_b, w_c) = \frac{x_b \cdot w_c}
                          {\lVert x_b \rVert\, \lVert w_c \rVert}.

    Call it as ``loss(embeddings, labels,
    indices_tuple=None)``; labels must be 0..C-1.

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
    reduction : {"mean", "sum", "none"}
        "mean" is the paper's (and pml's) 1/#P^+ and 1/#P averages;
        "sum" adds all proxy terms; "none" returns pos + neg per proxy.

    Attributes
    ----------
    proxies
        (C, embedding_size) ``nn.Parameter``: give it to the optimiser
        (the paper uses a 100x larger learning rate for proxies).

    Notes
    -----
    With a miner's output only the samples that occur in it take part
    (pml instead lowers the others' exponents by 1).
    """

    def __init__(self, num_classes: int, embedding_size: int,
                 margin: float = 0.1, alpha: float = 32.0, *,
                 reduction: str = "mean"):
        super().__init__()
        self.num_classes = check_positive_int(num_classes, "num_classes")
        size = check_positive_int(embedding_size, "embedding_size")
        self.proxies = torch.nn.Parameter(torch.empty(num_classes, size))
        torch.nn.init.kaiming_normal_(self.proxies, mode="fan_out")
        self.margin, self.alpha = margin, alpha
        self.reduction = check_reduction(reduction, ("mean", "sum", "none"))

    def forward(self, embeddings, labels, indices_tuple=None):
        labels = check_batch(embeddings, labels)
        if int(labels.min()) < 0 or int(labels.max()) >= self.num_classes:
            raise ValueError("labels must lie in 0..num_classes-1 = 0.."
                             f"{self.num_classes - 1}; got values in "
                             f"{int(labels.min())}..{int(labels.max())}.")
        mask = None
        if indices_tuple is not None:
            mask = torch.zeros(len(labels), dtype=torch.bool,
                               device=labels.device)
            for idx in as_pairs(indices_tuple, labels):
                mask[idx] = True
        W = self.proxies.to(embeddings.dtype)
        cos = cosine_matrix(embeddings, W)               # (B, C)
        pos, neg, has_pos = proxy_anchor_terms(cos, labels, self.margin,
                                               self.alpha, mask)
        if self.reduction == "none":
            return pos + neg
        if self.reduction == "sum":
            return pos.sum() + neg.sum()
        return pos.sum() / has_pos.sum().clamp_min(1) + neg.mean()
