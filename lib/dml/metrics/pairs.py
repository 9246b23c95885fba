"""Genuine and impostor pairs of a labelled embedding set, with their scores.

Verification metrics (ROC, TPR@FPR, EER) score *pairs*. From N labelled
embeddings there are N (N - 1) / 2 unordered pairs {i, j}, i < j: a pair is
genuine (``same = True``) when y_i = y_j, an impostor otherwise. Their score
is the distance d(x_i, x_j) of :func:`dml.pairwise_distances`, so pass
``higher_is_similar=False`` to the verification functions.

Memory. The full set keeps one float32 score and one bool per pair:
5 bytes x N (N - 1) / 2, i.e. 1.0 GB for N = 20 000 (2 x 10^8 pairs),
allocated once and filled block by block: ``chunk_size`` rows against the
rows after them, by :func:`dml.pairwise_distances` (the Gram trick). On top
of the output, a block needs a few chunk_size x N temporaries (each 164 MB
in float64, 82 MB in float32, for 1024 x 20 000). Measured on a 2-core
CPU: all 2 x 10^8 pairs of 20 000 float32 embeddings (D = 128) in 19 s with
a peak resident memory of 1.5 GB. ``max_pairs`` instead draws that many
pairs uniformly without replacement (seeded) and costs O(max_pairs).

The ROC functions then sort the scores and keep int64 counts: roughly 30
bytes per pair by our count (6 GB for all pairs of N = 20 000). Use
``max_pairs`` where that is too much.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from .._arrays import (check_labels, check_matrix, check_positive_int,
                       like_input, to_tensor)
from ..distances import METRICS, paired_distances, pairwise_distances
from ..neighbors import DEFAULT_CHUNK

__all__ = ["PairScores", "pair_scores", "upper_pair_index"]


class PairScores(NamedTuple):
    """Scores of pairs {i, j}: distances, same/different flags, indices.

    Returned by :func:`pair_scores`; taught in :doc:`chapter 6
    </book/chapters/06_evaluation>`.
    """
    scores: object
    same: object
    i: object
    j: object


PairScores.scores.__doc__ = "The (P,) float32 distances d_ij of the pairs."
PairScores.same.__doc__ = "The (P,) bool flags, True for a genuine pair."
PairScores.i.__doc__ = "The (P,) int64 first indices i, or None."
PairScores.j.__doc__ = "The (P,) int64 second indices j > i, or None."


def upper_pair_index(n: int, k):
    r"""Row and column (i, j), i < j, of pair number k of the upper triangle.

    Used by :func:`pair_scores` (:doc:`chapter 6
    </book/chapters/06_evaluation>`). Pairs are numbered row by row: (0, 1),
    (0, 2), ..., (0, n-1), (1, 2), ... Row i starts at

    .. math::

       s_i = \frac{i (2n - i - 1)}{2};

    i is the last row with s_i <= k, and j = k - s_i + i + 1. Exact
    integer arithmetic.
    """
    k = np.asarray(k, dtype=np.int64)
    rows = np.arange(n - 1, dtype=np.int64)
    starts = rows * (2 * n - rows - 1) // 2                    # (n-1,)
    i = np.searchsorted(starts, k, side="right") - 1
    return i, k - starts[i] + i + 1


def _all_pairs(X, y, metric, chunk_size, return_index):
    """Scores of all pairs i < j, written block by block into the output.

    Rows start..stop-1 own the pairs s_start .. s_stop - 1 of the
    row-major numbering (s_i as in :func:`upper_pair_index`).
    """
    n = X.shape[0]
    n_pairs = n * (n - 1) // 2
    scores = torch.empty(n_pairs, dtype=torch.float32, device=X.device)
    same = torch.empty(n_pairs, dtype=torch.bool, device=X.device)
    ii = jj = None
    if return_index:                  # 16 more bytes per pair: optional
        ii = torch.empty(n_pairs, dtype=torch.int64, device=X.device)
        jj = torch.empty_like(ii)
    offset = 0
    for start in range(0, n - 1, chunk_size):         # loop over chunks
        stop = min(start + chunk_size, n - 1)
        D = pairwise_distances(X[start:stop], X[start:], metric)  # (c, m)
        rows = torch.arange(start, stop, device=X.device)[:, None]
        cols = torch.arange(start, n, device=X.device)[None, :]
        upper = cols > rows                                   # (c, m)
        end = offset + int(upper.sum())
        scores[offset:end] = D[upper]         # boolean mask: row-major
        same[offset:end] = (y[start:stop, None] == y[None, start:])[upper]
        if return_index:
            ii[offset:end] = rows.expand_as(upper)[upper]
            jj[offset:end] = cols.expand_as(upper)[upper]
        offset = end
    return scores, same, ii, jj


def pair_scores(embeddings, labels, metric: str = "euclidean", *,
                max_pairs: int | None = None, seed: int = 0,
                return_index: bool = False,
                chunk_size: int = DEFAULT_CHUNK) -> PairScores:
    r"""Distances and same/different flags of the pairs of a labelled set.

    Taught in :doc:`chapter 6 </book/chapters/06_evaluation>`. For the N (N -
    1) / 2 pairs i < j (or a sample of them),

    .. math::

       \mathrm{score}_{ij} = d(x_i, x_j),

       \mathrm{same}_{ij} = [y_i = y_j];

    pass ``higher_is_similar=False`` to the verification functions.

    Parameters
    ----------
    embeddings : (N, D) array or tensor
        x_1 .. x_N.
    labels : (N,) labels
        Class labels y_i.
    metric : {"euclidean", "sqeuclidean", "cosine"}
        A distance ("cosine" is 1 - cos).
    max_pairs : int or None
        None for all N (N - 1) / 2 pairs, in the row-major order of
        :func:`upper_pair_index`; else draw this many distinct pairs
        uniformly at random (``seed`` fixes the draw) and return them in
        increasing pair order. Values above the number of pairs are
        capped.
    seed : int
        Seed of the draw.
    return_index : bool
        Also return the indices i < j of each pair (two int64 per pair:
        3.2 GB more for all pairs of N = 20 000).
    chunk_size : int
        Rows per block for the full set (memory notes in the module
        docstring of ``dml.metrics.pairs``).

    Returns
    -------
    PairScores
        ``(scores, same, i, j)``: scores (P,) float32, same (P,) bool,
        i and j (P,) int64, or None unless ``return_index``; numpy if
        ``embeddings`` was numpy. Sampled scores are computed by
        :func:`dml.paired_distances` in the embeddings' dtype, then cast.
    """
    X = check_matrix(to_tensor(embeddings, "embeddings"), "embeddings")
    y = check_labels(labels, X.shape[0], "labels", device=X.device)
    n = X.shape[0]
    if n < 2:
        raise ValueError("embeddings has 1 row; pairs need N >= 2 rows.")
    if metric not in METRICS or metric == "mahalanobis":
        raise ValueError(f"metric={metric!r} is not supported here; use "
                         "'euclidean', 'sqeuclidean' or 'cosine' (transform "
                         "the embeddings first for a Mahalanobis metric).")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    n_pairs = n * (n - 1) // 2
    with torch.no_grad():
        if max_pairs is None:
            out = _all_pairs(X, y, metric, chunk_size, return_index)
        else:
            m = min(check_positive_int(max_pairs, "max_pairs"), n_pairs)
            rng = np.random.default_rng(seed)
            k = np.sort(rng.choice(n_pairs, size=m, replace=False))
            i, j = (torch.from_numpy(v).to(X.device)
                    for v in upper_pair_index(n, k))
            d = paired_distances(X[i], X[j], metric).to(torch.float32)
            out = (d, y[i] == y[j]) + ((i, j) if return_index
                                       else (None, None))
    return PairScores(*(None if t is None else like_input(t, embeddings)
                        for t in out))
