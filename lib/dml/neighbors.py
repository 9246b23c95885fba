"""Exact k-nearest neighbours, computed in chunks on the CPU or a GPU.

The query set is cut into chunks of ``chunk_size`` rows; for each chunk a
(chunk_size, N_gallery) distance block is built, its k smallest entries kept,
and the block freed. Peak memory is O(chunk_size * N_gallery), never
O(N_query * N_gallery), so 100 000 x 100 000 runs in a few hundred MB.

The block comes from the fast Gram trick (one matrix product), whose
round-off depends on the block's shape. So the candidates it finds (the k
nearest plus every entry within round-off of the k-th) are re-ranked with
distances computed directly from the coordinates. The results are exact
and do not depend on ``chunk_size`` or on the device's matrix kernels:
the round-off bound follows ``torch.get_float32_matmul_precision()``, so
TF32 products (``"high"``, common on GPUs) widen the candidate set
instead of losing true neighbours.

Ties are broken deterministically: among equal distances the gallery item
with the smaller index comes first (a stable order by (distance, index)).
"""
from __future__ import annotations

import numpy as np
import torch

from ._arrays import (check_choice, check_labels, check_matrix,
                      check_positive_int, check_psd, check_same_features,
                      like_input, to_tensor)
from .distances import METRICS

__all__ = ["nearest_neighbors", "knn_predict", "knn_accuracy"]

DEFAULT_CHUNK = 1024
#: Columns per block in the candidate search of :func:`_smallest` (32
#: float32 numbers: a width ``amin`` reduces with vector instructions).
BLOCK = 32


def _transform(Xt, W):
    if W is None:
        return Xt
    Wt = check_matrix(to_tensor(W, "W").to(Xt.device, Xt.dtype), "W")
    if Wt.shape[1] != Xt.shape[1]:
        raise ValueError(f"W has shape {tuple(Wt.shape)}; it must be "
                         f"(L, {Xt.shape[1]}) to map the features of X.")
    return Xt @ Wt.T


def _prepare(Q, G, metric, M):
    """Map both sets so that the metric becomes Euclidean or dot-product.

    Mahalanobis with M = V diag(lam) V^T becomes Euclidean after
    x -> diag(sqrt(lam)) V^T x; cosine works on unit vectors. Done once,
    before chunking, so every chunk sees the same numbers.
    """
    if metric == "mahalanobis":
        lam, V = torch.linalg.eigh(M)
        L = V * lam.clamp_min(0).sqrt()                 # (D, D), M = L L^T
        return Q @ L, G @ L, "sqeuclidean"
    if metric == "cosine":
        unit = lambda A: A / A.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return unit(Q), unit(G), "cosine"
    return Q, G, "sqeuclidean"        # euclidean is ranked in squared form


def _exact_budget(device: torch.device) -> int:
    """Numbers per slice of :meth:`_Gallery.exact`: ~2^22 on a CPU (16 MB
    of float32, cache- and mmap-friendly); 2^27 on a GPU, where a slice of
    one query row (m * D >= 2^22 with many near-ties) would launch a few
    kernels per row."""
    return 1 << 22 if device.type == "cpu" else 1 << 27


class _Gallery:
    """The gallery, prepared once for every chunk of queries.

    For ranking, the block of squared distances of a chunk is one matrix
    product, ``-2 Q G^T``, plus the two vectors of squared norms (the Gram
    trick), on coordinates centred on the gallery's mean so that the
    round-off stays small. The centred gallery, its norms and its largest
    norm are computed here, not per chunk.

    Every chunk's block is written into one reused (chunk, N) buffer. A
    fresh block per chunk (40 MB for 1 024 x 10 000) lies above glibc's
    mmap threshold, so each one would be mapped and page-faulted in anew:
    on a CPU that costs as much as the matrix product itself.

    The gallery is padded with zero rows up to a multiple of ``BLOCK``
    whose keys are +inf (a +inf bias in the product), so that a row of the
    block splits into whole blocks of ``BLOCK`` columns for
    :func:`_smallest`; padded columns are never selected.
    """

    def __init__(self, G, kind):
        self.G, self.kind = G, kind
        self.n = G.shape[0]
        self._buffer = self._rows = None
        if kind == "cosine":
            Gc, bias, self.g2_max = G, torch.zeros_like(G[:, 0]), 1.0
        else:
            self.mu = G.mean(0)
            Gc = G - self.mu                                    # (N, D)
            bias = (Gc * Gc).sum(1)                             # ||g||^2
            self.g2_max = bias.max()
        pad = -self.n % BLOCK
        self.Gc = torch.cat([Gc, Gc.new_zeros(pad, G.shape[1])])
        self.bias = torch.cat([bias, bias.new_full((pad,), float("inf"))])

    def _out(self, Q):
        """The (c, N) block to write into, valid until the next chunk."""
        c, N = Q.shape[0], self.Gc.shape[0]
        buf = self._buffer
        if buf is None or buf.shape[0] < c or buf.dtype != Q.dtype:
            buf = self._buffer = torch.empty(c, N, dtype=Q.dtype,
                                             device=Q.device)
        return buf[:c]                                  # leading rows

    def exact(self, Q, idx):
        """Distances from the coordinates, for candidate pairs only.

        Q (c, D), idx (c, m) -> (c, m): squared distances (1 - cos for
        cosine) of query row i and gallery item idx[i, j], computed
        directly from the differences, slice by slice of ~2^22 numbers.
        The gathered rows go into one reused buffer, for the same reason
        as the block (a fresh buffer costs ten times the gather).
        """
        c, m = idx.shape
        out = torch.empty((c, m), dtype=Q.dtype, device=Q.device)
        step = max(1, _exact_budget(Q.device) // max(1, m * Q.shape[1]))
        rows = self._rows
        if rows is None or rows.numel() < step * m * Q.shape[1] or \
                rows.dtype != Q.dtype:
            rows = self._rows = torch.empty(step * m * Q.shape[1],
                                            dtype=Q.dtype, device=Q.device)
        for s in range(0, c, step):                     # slices of rows
            i = idx[s:s + step].reshape(-1)
            g = torch.index_select(self.G, 0, i,
                                   out=rows[:len(i) * Q.shape[1]].view(
                                       len(i), Q.shape[1]))
            g = g.view(-1, m, Q.shape[1])                     # (r, m, D)
            q = Q[s:s + step, None, :]                        # (r, 1, D)
            if self.kind == "cosine":
                out[s:s + step] = 1.0 - g.mul_(q).sum(-1)
            else:
                out[s:s + step] = g.sub_(q).square_().sum(-1)
        return out

    def block(self, Q):
        """Ranking keys (c, N) and the round-off bound per row.

        Row i of the keys is the row of squared distances (of 1 - cos)
        minus a constant of that row: ||g||^2 - 2 q.g, without the
        ||q||^2 that every entry of the row shares (and without clamping
        at 0), which ranks the gallery the same and saves two passes over
        the block. Only differences within a row are used (the tolerance
        below, the re-rank afterwards). The block is overwritten by the
        next call.
        """
        out = self._out(Q)
        if self.kind == "cosine":                       # -cos
            D = torch.addmm(self.bias[None, :], Q, self.Gc.T, alpha=-1.0,
                            out=out)
            return D, 1.0
        Qc = Q - self.mu
        q2 = (Qc * Qc).sum(1, keepdim=True)                     # (c, 1)
        D = torch.addmm(self.bias[None, :], Qc, self.Gc.T, alpha=-2.0,
                        out=out)                                # (c, N)
        return D, q2 + self.g2_max


def _product_eps(dtype: torch.dtype, device: torch.device) -> float:
    """Relative error of the inputs of the block's matrix product.

    0 for full-precision products. A float32 product may run on reduced
    inputs: TF32 (10 mantissa bits, eps = 2^-10) under
    ``torch.set_float32_matmul_precision("high")`` or
    ``torch.backends.cuda.matmul.allow_tf32``, bfloat16 (eps = 2^-7)
    under ``"medium"``. Then q.g is off by up to ~2 eps ||q|| ||g||,
    whatever D, which the tolerance of :func:`_chunk_neighbors` adds.
    """
    if dtype != torch.float32:
        return 0.0
    precision = torch.get_float32_matmul_precision()
    if precision == "medium":
        return 2.0 ** -7
    if precision == "high" or (device.type == "cuda" and
                               torch.backends.cuda.matmul.allow_tf32):
        return 2.0 ** -10
    return 0.0


def _smallest(D: torch.Tensor, m: int):
    """Values (sorted) and columns of the m smallest entries of each row.

    The same values as ``torch.topk(D, m, largest=False)``; among equal
    values the columns may differ (the caller re-ranks). On a CPU
    ``topk`` costs ~2 ns per entry, a vectorised ``amin`` ~0.1 ns, so for
    wide rows the search is narrowed first:

    1. the minimum of every block of ``BLOCK`` columns;
    2. the m blocks with the smallest minima; t = the largest of those m
       minima. An entry below t lies in one of these blocks (its block's
       minimum is below t, so the block is among the m), and the m
       blocks hold at least m entries <= t;
    3. the entries <= t of those m blocks (~m + a few per row) are the
       candidates, and ``topk`` runs on them alone.

    About twice as fast as one ``topk`` for 1 024 x 10 000 and m = 77.
    Narrow rows (fewer than 4m blocks), a width that is not a multiple of
    ``BLOCK`` (the gallery block always is one) and GPUs use ``topk``.
    """
    c, width = D.shape
    n_blocks = width // BLOCK
    if n_blocks < 4 * m or width % BLOCK or not D.is_contiguous() or \
            D.device.type != "cpu":
        return torch.topk(D, m, dim=1, largest=False)
    blocks = D.view(c * n_blocks, BLOCK)                  # row-major blocks
    mins = blocks.amin(1).view(c, n_blocks)
    t, best = torch.topk(mins, m, dim=1, largest=False, sorted=False)
    t = t.amax(1, keepdim=True)                                 # (c, 1)
    first = torch.arange(c, device=D.device)[:, None] * n_blocks
    near = torch.index_select(blocks, 0, (first + best).view(-1))
    near = near.view(c, m * BLOCK)                 # the m blocks' entries
    r, j = (near <= t).nonzero(as_tuple=True)              # row-major
    counts = torch.bincount(r, minlength=c)                     # >= m
    place = torch.arange(len(r), device=D.device) - \
        (counts.cumsum(0) - counts)[r]                # position in its row
    vals = D.new_full((c, int(counts.max())), float("inf"))
    cols = torch.zeros(vals.shape, dtype=torch.int64, device=D.device)
    vals[r, place] = near[r, j]
    cols[r, place] = best[r, j // BLOCK] * BLOCK + j % BLOCK
    v, pick = torch.topk(vals, m, dim=1, largest=False)
    return v, cols.gather(1, pick)


def _chunk_neighbors(Q, gallery, k, self_index, spare=8):
    """k nearest gallery items of the queries Q, exact, ties by index.

    The fast block finds candidates: every item within round-off of the
    k-th smallest value. One search for the k + ``spare`` smallest
    usually holds them all (checked per row: its last value lies beyond
    the tolerance); rows with more near-ties get a second, larger
    ``topk``.
    """
    D, scale = gallery.block(Q)                         # (c, N + padding)
    if self_index is not None:
        D[torch.arange(len(Q), device=D.device), self_index] = float("inf")
    n_finite = gallery.n - (self_index is not None)     # selectable items
    eps = Q.shape[1] * torch.finfo(D.dtype).eps + \
        _product_eps(Q.dtype, Q.device)         # accumulation + inputs
    tol = 4 * eps * scale
    vals, cand = _smallest(D, min(n_finite, k + spare))
    limit = vals[:, k - 1:k] + tol                              # (c, 1)
    if vals.shape[1] < n_finite and not bool((vals[:, -1:] > limit).all()):
        m = int((D <= limit).sum(1).max())              # many near-ties
        cand = torch.topk(D, m, dim=1, largest=False).indices
    cand = cand.sort(1).values                          # by gallery index
    E = gallery.exact(Q, cand)                          # (c, m) exact
    if self_index is not None:
        E = E.masked_fill(cand == self_index[:, None], float("inf"))
    order = torch.sort(E, dim=1, stable=True).indices[:, :k]
    return E.gather(1, order), cand.gather(1, order)


def _neighbors(Q, G, k, metric, M, exclude_self, chunk_size):
    """Tensor core of :func:`nearest_neighbors` (inputs already checked)."""
    Q, G, kind = _prepare(Q, G, metric, M)
    gallery = _Gallery(G, kind)
    dists, idx = [], []
    for start in range(0, Q.shape[0], chunk_size):   # loop over chunks only
        stop = min(start + chunk_size, Q.shape[0])
        self_index = (torch.arange(start, stop, device=Q.device)
                      if exclude_self else None)
        d, i = _chunk_neighbors(Q[start:stop], gallery, k, self_index)
        dists.append(d)
        idx.append(i)
    d = torch.cat(dists)
    if metric in ("euclidean", "mahalanobis"):
        d = d.sqrt()
    return d, torch.cat(idx)


def nearest_neighbors(X_query, X_gallery=None, k: int = 5,
                      metric: str = "euclidean", *, M=None, W=None,
                      chunk_size: int = DEFAULT_CHUNK):
    r"""Exact k nearest gallery items of every query, in chunks.

    Taught in :doc:`chapter 1 </book/chapters/01_distances>`. For each
    query x the neighbours are the k gallery items of smallest distance,

    .. math::

       \mathcal{N}_k(x) = \operatorname*{arg\,min}_{S,\ |S| = k}
       \sum_{g \in S} d(x, g),

    ties broken by the smaller gallery index.

    Parameters
    ----------
    X_query : (N, D) array or tensor
        The queries, one per row.
    X_gallery : (G, D) array or tensor, optional
        When omitted, the gallery is X_query itself and each point is left
        out of its own neighbour list (leave-one-out).
    k : int
        Number of neighbours, 1 <= k <= G (G - 1 when leaving one out).
    metric : str
        A metric of :func:`dml.pairwise_distances`.
    M, W : array or tensor, optional
        A Mahalanobis matrix M (D, D), or a linear map W (L, D) applied to
        both sets first, d(x, x') = ||W x - W x'||; W works with any metric.
    chunk_size : int
        Query rows per block (memory ~ chunk_size * G numbers).

    Returns
    -------
    distances : (N, k) array or tensor
        Sorted distances to the neighbours; numpy if X_query was numpy.
    indices : (N, k) int64 array or tensor
        Gallery rows of the neighbours, in the same order.
    """
    Q = check_matrix(to_tensor(X_query, "X_query"), "X_query")
    loo = X_gallery is None
    if loo:
        G = Q
    else:
        G = check_matrix(to_tensor(X_gallery, "X_gallery"), "X_gallery")
        check_same_features(Q, G, "X_query", "X_gallery")
        dtype = torch.promote_types(Q.dtype, G.dtype)
        Q, G = Q.to(dtype), G.to(Q.device, dtype)
    check_choice(metric, "metric", METRICS)
    n_avail = G.shape[0] - 1 if loo else G.shape[0]
    k = check_positive_int(k, "k")
    if k > n_avail:
        raise ValueError(f"k={k} but the gallery has only {n_avail} "
                         f"candidate neighbour(s)"
                         f"{' (leaving each point out)' if loo else ''}; "
                         f"use k <= {n_avail}.")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    if metric == "mahalanobis":
        if (M is None) == (W is None):
            raise ValueError("metric='mahalanobis' needs exactly one of M "
                             "(a PSD (D, D) matrix) or W (an (L, D) map).")
        if W is not None:          # ||W x - W x'|| is Euclidean after W
            metric = "euclidean"
        else:
            M = check_psd(to_tensor(M, "M").to(Q.device, Q.dtype), "M")
            if M.shape[0] != Q.shape[1]:
                raise ValueError(f"M has shape {tuple(M.shape)}; it must be "
                                 f"({Q.shape[1]}, {Q.shape[1]}).")
    elif M is not None:
        raise ValueError("M is only used with metric='mahalanobis'.")
    with torch.no_grad():
        Q, G = _transform(Q, W), (None if loo else _transform(G, W))
        d, i = _neighbors(Q, Q if loo else G, k, metric, M, loo, chunk_size)
    return like_input(d, X_query), like_input(i, X_query)


def _vote(neighbor_labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Majority vote per row; ties go to the smallest class index.

    That is scikit-learn's rule for uniform weights (``weights='uniform'``).
    """
    counts = torch.zeros(neighbor_labels.shape[0], n_classes,
                         device=neighbor_labels.device)
    counts.scatter_add_(1, neighbor_labels,
                        torch.ones_like(neighbor_labels, dtype=counts.dtype))
    return counts.argmax(1)     # first maximum = smallest class index


def knn_predict(X_train, y_train, X_test=None, k: int = 5,
                metric: str = "euclidean", *, M=None, W=None,
                chunk_size: int = DEFAULT_CHUNK):
    r"""Predict labels by a majority vote of the k nearest training points.

    Taught in :doc:`chapter 1 </book/chapters/01_distances>`:

    .. math::

       \hat y(x) = \operatorname*{arg\,max}_c
       \sum_{j \in \mathcal{N}_k(x)} [y_j = c],

    ties going to the smallest class (scikit-learn's rule). With
    ``X_test=None`` every training point is predicted from the others
    (leave-one-out). Labels come back in the caller's label values.
    """
    Xt = check_matrix(to_tensor(X_train, "X_train"), "X_train")
    y = check_labels(y_train, Xt.shape[0], "y_train")
    classes, y_code = torch.unique(y, return_inverse=True)
    if X_test is None:                                   # leave-one-out
        query, gallery = Xt, None
    else:
        query, gallery = to_tensor(X_test, "X_test").to(Xt.device), Xt
    _, idx = nearest_neighbors(query, gallery, k, metric, M=M, W=W,
                               chunk_size=chunk_size)
    y_code = y_code.to(idx.device)
    pred = classes.to(idx.device)[_vote(y_code[idx], len(classes))]
    ref = X_train if X_test is None else X_test
    if not isinstance(ref, torch.Tensor) and not isinstance(y_train,
                                                            torch.Tensor):
        y_in = np.asarray(y_train)
        if y_in.dtype.kind in "USO":       # string labels back as strings
            return np.unique(y_in)[pred.cpu().numpy()]
    return like_input(pred, ref)


def knn_accuracy(X_train, y_train, X_test=None, y_test=None, k: int = 5,
                 metric: str = "euclidean", *, M=None, W=None,
                 chunk_size: int = DEFAULT_CHUNK) -> float:
    r"""Fraction of test points whose k-NN majority vote is their label.

    Taught in :doc:`chapter 1 </book/chapters/01_distances>`:

    .. math::

       \mathrm{acc} = \frac{1}{N} \sum_{i=1}^{N} [\hat y(x_i) = y_i],

    with the vote of :func:`dml.knn_predict`. Pass ``X_test`` and ``y_test``
    together, or neither for leave-one-out accuracy on the training set. A
    linear map ``W`` (a learned metric, M = W^T W) is applied to both sets
    first.
    """
    if (X_test is None) != (y_test is None):
        raise ValueError("pass X_test and y_test together (or neither, for "
                         "leave-one-out accuracy on the training set).")
    pred = knn_predict(X_train, y_train, X_test, k, metric, M=M, W=W,
                       chunk_size=chunk_size)
    truth = y_train if y_test is None else y_test
    pred = np.asarray(pred.cpu() if isinstance(pred, torch.Tensor) else pred)
    truth = np.asarray(truth.cpu() if isinstance(truth, torch.Tensor)
                       else truth)
    if truth.shape != pred.shape:
        raise ValueError(f"y_test has {truth.shape[0]} labels but X_test has "
                         f"{pred.shape[0]} rows; pass one label per row.")
    return float((pred == truth).mean())
