"""Which distance (or similarity) a loss sees, from a name.

Distance-based losses (contrastive, triplet, lifted structure) use a
distance d, *smaller = closer*:

* ``"euclidean"``    d = ||x_i - x_j||_2
* ``"sqeuclidean"``  d = ||x_i - x_j||_2^2
* ``"cosine"``       d = 1 - cos(x_i, x_j), in [0, 2]; on L2-normalised
  embeddings d = ||x_i - x_j||^2 / 2.

Similarity-based losses (N-pairs, NT-Xent, multi-similarity) use a
similarity s, *larger = closer*:

* ``"cosine"``  s = cos(x_i, x_j) (the embeddings are L2-normalised);
* ``"dot"``     s = x_i . x_j;
* ``"euclidean"`` / ``"sqeuclidean"``  s = -d.

pytorch-metric-learning calls the similarities "inverted" distances and
flips the sign of each margin inside the loss instead; a triplet margin
means the same thing in both conventions, because only d_ap - d_an enters.
"""
from __future__ import annotations

import torch

from .._arrays import check_choice
from ..distances import (cosine_matrix, euclidean_matrix, l2_normalize,
                         safe_sqrt, sq_euclidean_matrix)

__all__ = ["DISTANCES", "SIMILARITIES", "check_distance",
           "distance_matrix", "similarity_matrix", "tuple_distances"]

DISTANCES = ("euclidean", "sqeuclidean", "cosine")
SIMILARITIES = ("cosine", "dot", "euclidean", "sqeuclidean")


def check_distance(distance: str, allowed=DISTANCES) -> str:
    """Return ``distance`` if it is one of ``allowed``, else raise."""
    return check_choice(distance, "distance", allowed)


def _maybe_normalize(X: torch.Tensor, normalize: bool) -> torch.Tensor:
    return l2_normalize(X) if normalize else X


def distance_matrix(X: torch.Tensor, distance: str = "euclidean",
                    normalize: bool = False) -> torch.Tensor:
    """(B, B) distances d(x_i, x_j) of a batch, smaller = closer.

    ``normalize=True`` first scales every embedding to unit length (the
    default of pytorch-metric-learning's ``LpDistance``).
    """
    X = _maybe_normalize(X, normalize)
    if distance == "euclidean":
        return euclidean_matrix(X)                      # (B, B)
    if distance == "sqeuclidean":
        return sq_euclidean_matrix(X)                   # (B, B)
    D = 1.0 - cosine_matrix(X)                          # (B, B)
    eye = torch.eye(len(X), dtype=torch.bool, device=X.device)
    return D.masked_fill(eye, 0.0)


def similarity_matrix(X: torch.Tensor, distance: str = "cosine",
                      normalize: bool = False) -> torch.Tensor:
    """(B, B) similarities s(x_i, x_j) of a batch, larger = closer."""
    if distance == "cosine":
        return cosine_matrix(X)                         # (B, B)
    X = _maybe_normalize(X, normalize)
    if distance == "dot":
        return X @ X.T                                  # (B, B)
    return -distance_matrix(X, distance)


def tuple_distances(X: torch.Tensor, pairs, distance: str = "euclidean",
                    normalize: bool = False):
    """Distances d(x_i, x_j) of given index pairs only, smaller = closer.

    ``pairs`` is a list of (i, j) index tensors, e.g. [(a, p), (a, n)] for
    the triplets a miner returned. When the pairs are few the distances
    come straight from the rows, x_i - x_j, and the (B, B) matrix with its
    gradient is never built: batch-hard mining needs 2B distances, not
    B^2. Otherwise the matrix is cheaper and is used. The rule compares
    measured costs (CPU, float32, forward + backward): about 2.5 ns per
    gathered number (T * D of them) against, for the matrix, 0.07 ns per
    multiply-add of the Gram product (B^2 D) plus 13 ns per matrix entry
    for the elementwise passes (sqrt, masks) and their backward. E.g.
    B = 256 with the 768 triplets of a 4-per-class semi-hard miner: rows,
    0.6 ms for D = 128 (matrix 1.4 ms) and 1.4 ms for D = 512 (3.2 ms).
    Rows are gathered with ``index_select``, once per index tensor (the
    anchors of [(a, p), (a, n)] once): its backward is a plain
    ``index_add``, several times faster than that of ``X[i]``.
    Returns one (T,) tensor per pair of index tensors.
    """
    B, D = X.shape
    T = sum(len(i) for i, _ in pairs)
    if 2.5 * T * D >= B * B * (0.07 * D + 13.0):
        M = distance_matrix(X, distance, normalize)            # (B, B)
        return [M[i, j] for i, j in pairs]
    X = _maybe_normalize(X, normalize)
    if distance == "cosine":
        X = l2_normalize(X)
    gathered = {}                           # one gather per index tensor

    def rows(idx):
        if id(idx) not in gathered:
            gathered[id(idx)] = (idx, X.index_select(0, idx))   # (T, D)
        return gathered[id(idx)][1]

    out = []
    for i, j in pairs:                                  # 2 pairs at most
        if distance == "cosine":
            cos = (rows(i) * rows(j)).sum(1).clamp(-1.0, 1.0)
            out.append(1.0 - cos)
            continue
        d2 = (rows(i) - rows(j)).square().sum(1)                # (T,)
        out.append(d2 if distance == "sqeuclidean" else safe_sqrt(d2))
    return out
