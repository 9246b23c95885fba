"""What every miner shares: validation, the batch distance matrix, masks.

A miner looks at one batch of B embeddings with their labels and returns
index tuples into that batch:

* triplets ``(a, p, n)``: three int64 tensors of length T, anchor a,
  positive p (same label, p != a) and negative n (another label);
* pairs ``(a1, p, a2, n)``: positive pairs (a1[i], p[i]) and negative
  pairs (a2[j], n[j]), as in pytorch-metric-learning.

The indices live on the embeddings' device. The miners of
:mod:`dml.miners.hard` return them as a :class:`dml._arrays.BoundedIndices`,
a plain tuple for every other purpose, which tells a loss that the indices
are in range for this batch, so it skips its bounds check (a host
synchronisation on a GPU). Mining runs under
``torch.no_grad()`` on the (B, B) matrix of a *dissimilarity* ``d``, where
smaller always means closer:

* ``"euclidean"``    d = ||x_a - x_b||_2
* ``"sqeuclidean"``  d = ||x_a - x_b||_2^2
* ``"cosine"``       d = -cos(x_a, x_b), the negated cosine similarity.

For cosine the miner therefore compares similarities the other way round:
"d_an < d_ap" reads "s_an > s_ap" (the negative is *more* similar than the
positive), and a margin m on d is a margin m on the similarity scale
(s_an > s_ap - m). Negation is exact in floating point, so
d_an - d_ap = s_ap - s_an exactly: the same number pytorch-metric-learning
compares for its inverted (similarity) distances.

Tie rule of every miner: among equally good candidates (equal distances)
the one with the smallest batch index wins, as in :mod:`dml.neighbors`.
"""
from __future__ import annotations

import torch

from .._arrays import (check_choice, check_labels, check_matrix, to_numpy,
                       to_tensor)
from ..distances import cosine_matrix, sq_euclidean_matrix

__all__ = ["DISTANCES", "check_distance", "check_margin",
           "dissimilarity_matrix",
           "label_masks", "auto_chunk", "Miner"]

DISTANCES = ("euclidean", "sqeuclidean", "cosine")


def check_distance(distance: str) -> str:
    """Require one of :data:`DISTANCES`."""
    return check_choice(distance, "distance", DISTANCES)


def check_margin(margin, name: str = "margin", allow_none=False):
    """Require a finite margin >= 0 (or None where that is allowed)."""
    if margin is None and allow_none:
        return None
    try:
        value = float(margin)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number >= 0, got "
                         f"{margin!r}.") from None
    if not value >= 0.0 or value == float("inf"):
        raise ValueError(f"{name} must be a finite number >= 0, got "
                         f"{margin!r}.")
    return value


def dissimilarity_matrix(E: torch.Tensor, distance: str) -> torch.Tensor:
    """(B, B) matrix d[a, b], smaller = closer (cosine: d = -cos)."""
    if distance == "euclidean":     # no autograd here: a plain sqrt will do
        return sq_euclidean_matrix(E).sqrt_()
    if distance == "sqeuclidean":
        return sq_euclidean_matrix(E)
    return -cosine_matrix(E)


def label_masks(labels: torch.Tensor):
    """Boolean (B, B) masks of positive and negative pairs.

    pos[a, b]: same label and b != a; neg[a, b]: different labels.
    """
    same = labels[:, None] == labels[None, :]                   # (B, B)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def auto_chunk(B: int, chunk_size=None, budget: int = 2 ** 24) -> int:
    """Rows per chunk so that a (chunk, B) block holds ~budget items."""
    if chunk_size is not None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) \
                or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer or "
                             f"None (automatic), got {chunk_size!r}.")
        return chunk_size
    return max(1, budget // max(B, 1))


class Miner(torch.nn.Module):
    """Base class: validate the batch, then call ``mine`` without autograd.

    Subclasses implement ``mine(E, labels)`` on a detached float tensor E
    (B, D) and int64 labels (B,) on E's device and return index tensors.
    numpy embeddings give numpy index arrays back.
    """

    def __init__(self, distance: str = "euclidean"):
        super().__init__()
        self.distance = check_distance(distance)

    def forward(self, embeddings, labels):
        E = check_matrix(to_tensor(embeddings, "embeddings"), "embeddings")
        y = check_labels(labels, E.shape[0], "labels", device=E.device)
        E = E.detach()
        if E.dtype in (torch.float16, torch.bfloat16):
            E = E.float()          # distances and their order in float32
        # no autocast inside: it would compute the distances in half
        # precision again, and pick triplets from rounded distances
        with torch.no_grad(), torch.autocast(E.device.type, enabled=False):
            out = self.mine(E, y)
        if isinstance(embeddings, torch.Tensor):
            return out
        return tuple(to_numpy(t) for t in out)

    def mine(self, E, labels):  # pragma: no cover - abstract
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"distance={self.distance!r}"
