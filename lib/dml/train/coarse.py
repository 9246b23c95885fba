"""Training with coarse labels only (Chen & Verma, *Weak Metric Learning*,
section 3; chapter 7).

A classifier on the coarse labels with C >= #coarse output logits, its
loss augmented by the class-uniformity penalty (``dml.uniformity_penalty``)
so that the batch's average prediction spreads over all C logits.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._arrays import resolve_device, to_device_of, to_numpy, to_tensor
from ..losses import uniformity_penalty
from .models import MLPEmbedder

__all__ = ["train_coarse_classifier"]


def train_coarse_classifier(X, y_coarse, C: int, lam: float, *,
                            seed: int = 0, hidden=(32,), emb_dim: int = 8,
                            epochs: int = 200, lr: float = 1e-2,
                            label_smoothing: float = 0.0, X_embed=None,
                            device=None):
    r"""Fit body + linear head, L = CE + lam * L_uniform (Chen & Verma, Eq. 1).

    Taught in :doc:`chapter 7 </book/chapters/07_weak>`:

    .. math::

       \mathcal{L} = \mathrm{CE}(\text{logits}, y_\mathrm{coarse})
           + \lambda\, L_\mathrm{uniform}(\text{logits})

    (:func:`dml.uniformity_penalty`). Body: ``MLPEmbedder(D, hidden, emb_dim,
    normalize=False)``, then ReLU and a linear head to C logits (C >= number of
    coarse labels: the guessed number of true classes). Full-batch Adam for
    ``epochs`` steps. ``label_smoothing`` is passed to ``F.cross_entropy`` (a
    baseline that also keeps the softmax from saturating). Returns (Z, logits)
    as numpy arrays for the rows of ``X_embed`` (default: X, the training
    rows): Z (M, emb_dim) the penultimate layer (the embedding we measure),
    logits (M, C). ``device``: where to train (None: X's device, the CPU
    for numpy; "auto": CUDA when available).
    """
    dev = (X.device if device is None and isinstance(X, torch.Tensor)
           else resolve_device("cpu" if device is None else device))
    torch.manual_seed(seed)
    body = MLPEmbedder(X.shape[1], hidden, emb_dim, normalize=False).to(dev)
    head = nn.Linear(emb_dim, C).to(dev)
    opt = torch.optim.Adam([*body.parameters(), *head.parameters()], lr=lr)
    Xt = to_tensor(X, "X", device=dev, dtype=torch.float32)     # (N, D)
    yt = to_device_of(y_coarse, Xt, "y_coarse", dtype=torch.int64)  # (N,)
    for _ in range(epochs):                                     # Adam steps
        logits = head(torch.relu(body(Xt)))                     # (N, C)
        loss = F.cross_entropy(logits, yt,
                               label_smoothing=label_smoothing)
        if lam > 0:
            loss = loss + lam * uniformity_penalty(logits)
        opt.zero_grad()
        loss.backward()
        opt.step()
    if X_embed is not None:
        Xt = to_tensor(X_embed, "X_embed", device=dev,
                       dtype=torch.float32)                     # (M, D)
    with torch.no_grad():
        Z = body(Xt)                                            # (M, emb)
        logits = head(torch.relu(Z))                            # (M, C)
    return to_numpy(Z), to_numpy(logits)
