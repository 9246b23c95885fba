"""What every miner shares: validation, the distance matrix, masks.

A miner looks at one batch of B embeddings with their labels and returns
index tuples:

* triplets ``(a, p, n)``: three int64 tensors of length T, anchor a,
  positive p (same label, p != a) and negative n (another label);
* pairs ``(a1, p, a2, n)``: positive pairs (a1[i], p[i]) and negative
  pairs (a2[j], n[j]), as in pytorch-metric-learning.

Called as ``miner(embeddings, labels, ref_emb=None, ref_labels=None)``
(pytorch-metric-learning's signature). Without ``ref_emb`` every index
points into the batch and a sample is never its own positive. With
``ref_emb`` (R, D) and ``ref_labels`` (R,), the anchors a, a1, a2 index
``embeddings`` and p, n index the reference set; every (anchor,
reference) pair counts, so a reference row equal to the anchor is a
positive like any other (there is no self pair to exclude). Passing the
batch's own tensors as ``ref_emb`` and ``ref_labels`` (the same objects)
means no reference, as in pytorch-metric-learning.

The indices live on the embeddings' device. Without ``ref_emb`` every
miner returns them as a :class:`dml._arrays.BoundedIndices`, a plain
tuple for every other
purpose, which tells a loss that the indices are in range for this batch,
so it skips its bounds check (a host synchronisation on a GPU). Mining
runs under ``torch.no_grad()`` on the (B, R) matrix of a *dissimilarity*
``d``, where smaller always means closer. ``distance`` is either a
:mod:`dml.distances` object (``LpDistance``, ``CosineSimilarity``,
``DotProductSimilarity``: pytorch-metric-learning's classes, with their
``is_inverted`` flag; d = -s for a similarity s) or one of the names

* ``"euclidean"``    d = ||x_a - x_b||_2
* ``"sqeuclidean"``  d = ||x_a - x_b||_2^2
* ``"cosine"``       d = -cos(x_a, x_b), the negated cosine similarity,

on the embeddings as given. The miners named after pytorch-metric-
learning's (``BatchHardMiner``, ``TripletMarginMiner``,
``DistanceWeightedMiner``, ``MultiSimilarityMiner``) default to its
default distance object; the others to ``"euclidean"``.

For a similarity the miner therefore compares similarities the other way
round: "d_an < d_ap" reads "s_an > s_ap" (the negative is *more* similar
than the positive), and a margin m on d is a margin m on the similarity
scale (s_an > s_ap - m). Negation is exact in floating point, so
d_an - d_ap = s_ap - s_an exactly: the same number pytorch-metric-learning
compares for its inverted (similarity) distances.

Tie rule of every miner: among equally good candidates (equal distances)
the one with the smallest index wins, as in :mod:`dml.neighbors`.
"""
from __future__ import annotations

import torch

from .._arrays import (BoundedIndices, check_choice, check_labels,
                       check_matrix, check_same_features, to_numpy,
                       to_tensor)
from ..distances import cosine_matrix, sq_euclidean_matrix

__all__ = ["DISTANCES", "check_distance", "check_margin",
           "dissimilarity_matrix", "is_distance_object",
           "label_masks", "auto_chunk", "Miner"]

DISTANCES = ("euclidean", "sqeuclidean", "cosine")


def is_distance_object(distance) -> bool:
    """True for a distance object: callable, with an ``is_inverted`` flag."""
    return callable(distance) and hasattr(distance, "is_inverted")


def check_distance(distance):
    """Require one of :data:`DISTANCES` or a distance object."""
    if is_distance_object(distance):
        return distance
    return check_choice(distance, "distance", DISTANCES, alternative=(
        " or a dml.distances object (LpDistance(), CosineSimilarity(), "
        "DotProductSimilarity())"))


def check_margin(margin, name: str = "margin", allow_none=False,
                 allow_negative=False):
    """Require a finite margin >= 0 (or None where that is allowed; any
    finite number with ``allow_negative``)."""
    if margin is None and allow_none:
        return None
    what = "number" if allow_negative else "number >= 0"
    try:
        value = float(margin)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a {what}, got "
                         f"{margin!r}.") from None
    low = float("-inf") if allow_negative else 0.0
    if not value >= low or abs(value) == float("inf"):
        raise ValueError(f"{name} must be a finite {what}, got "
                         f"{margin!r}.")
    return value


def dissimilarity_matrix(E: torch.Tensor, distance,
                         R: torch.Tensor | None = None) -> torch.Tensor:
    """(B, R) matrix d[a, b] between E and R (None: E), smaller = closer.

    ``distance`` is a name of :data:`DISTANCES` or a distance object; a
    similarity s (``is_inverted``) gives d = -s.
    """
    if is_distance_object(distance):
        mat = distance(E, R)                                  # (B, R)
        return -mat if distance.is_inverted else mat
    if distance == "euclidean":     # no autograd here: a plain sqrt will do
        return sq_euclidean_matrix(E, R).sqrt_()
    if distance == "sqeuclidean":
        return sq_euclidean_matrix(E, R)
    return -cosine_matrix(E, R)


def label_masks(labels: torch.Tensor, ref_labels: torch.Tensor | None = None):
    """Boolean (B, R) masks of positive and negative pairs.

    pos[a, b]: same label and, without ``ref_labels``, b != a;
    neg[a, b]: different labels. With ``ref_labels`` (R,) the columns are
    the reference samples and no pair is excluded.
    """
    if ref_labels is not None:
        same = labels[:, None] == ref_labels[None, :]           # (B, R)
        return same, ~same
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


def _as_float(E: torch.Tensor) -> torch.Tensor:
    """Detached; half precision raised to float32 (distances, order)."""
    E = E.detach()
    if E.dtype in (torch.float16, torch.bfloat16):
        E = E.float()
    return E


class Miner(torch.nn.Module):
    """Base class: validate the batch, then call ``mine`` without autograd.

    Subclasses implement ``mine(E, labels, R, ref_labels)`` on a detached
    float tensor E (B, D) and int64 labels (B,) on E's device; R (R, D)
    and ref_labels (R,) are the reference set, or both None (the batch is
    its own reference, self pairs excluded). They return index tensors.
    numpy embeddings give numpy index arrays back.
    """

    def __init__(self, distance="euclidean"):
        super().__init__()
        self.distance = check_distance(distance)

    def forward(self, embeddings, labels, ref_emb=None, ref_labels=None):
        E = check_matrix(to_tensor(embeddings, "embeddings"), "embeddings")
        y = check_labels(labels, E.shape[0], "labels", device=E.device)
        if ref_emb is embeddings and ref_labels is labels:
            ref_emb = ref_labels = None     # the batch itself, as in PML
        R, r = self._reference(E, ref_emb, ref_labels)
        E = _as_float(E)
        R = None if R is None else _as_float(R).to(E.dtype)
        # no autocast inside: it would compute the distances in half
        # precision again, and pick triplets from rounded distances
        with torch.no_grad(), torch.autocast(E.device.type, enabled=False):
            out = self.mine(E, y, R, r)
        if isinstance(embeddings, torch.Tensor):
            # the batch's own indices, in range by construction: a loss
            # skips its bounds check (a host sync on a GPU)
            return BoundedIndices(out, len(y)) if R is None else tuple(out)
        return tuple(to_numpy(t) for t in out)

    @staticmethod
    def _reference(E, ref_emb, ref_labels):
        """Validated (R, ref_labels) on E's device, or (None, None)."""
        if ref_emb is None:
            if ref_labels is not None:
                raise ValueError("ref_labels was given without ref_emb; "
                                 "pass both, or neither.")
            return None, None
        if ref_labels is None:
            raise ValueError("ref_emb was given without ref_labels; a miner "
                             "needs the labels of the reference set too.")
        R = check_matrix(to_tensor(ref_emb, "ref_emb"), "ref_emb")
        check_same_features(E, R, "embeddings", "ref_emb")
        r = check_labels(ref_labels, R.shape[0], "ref_labels",
                         device=E.device)
        return R.to(E.device), r

    def dissimilarity(self, E, R=None):
        """(B, R) dissimilarity of E to R (None: to E), smaller = closer."""
        return dissimilarity_matrix(E, self.distance, R)

    def mine(self, E, labels, R=None, ref_labels=None):  # pragma: no cover
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"distance={self.distance!r}"
