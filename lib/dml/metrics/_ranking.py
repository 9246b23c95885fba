"""Ranked gallery lists, one chunk of queries at a time (shared helper).

Every retrieval and neighbourhood metric reads, for each query q, the labels
of its k nearest gallery items in order. For N = 100 000 queries and k up to
the largest class, the (N, k) list may not fit, so the metrics walk over
blocks of queries, call :func:`dml.nearest_neighbors` on the block (which
builds its distance blocks ``chunk_size`` queries at a time) and reduce the
block to one number per query before the next.

Leave-one-out (no gallery given): the gallery is the query set and q is not
its own neighbour. We ask for k + 1 neighbours of the block against the
whole set and drop q's own index where it appears (else the last column).
nearest_neighbors ranks by exact distances, then index, whatever the
chunking, so the lists are identical to ``nearest_neighbors(X, None, k)``.
"""
from __future__ import annotations

from typing import NamedTuple

import torch

from .._arrays import (check_labels, check_matrix, check_positive_int,
                       check_same_features, to_tensor)
from ..distances import METRICS
from ..neighbors import nearest_neighbors


class Retrieval(NamedTuple):
    """Validated query and gallery tensors, labels, and the setting."""
    Q: torch.Tensor
    yq: torch.Tensor
    G: torch.Tensor
    yg: torch.Tensor
    loo: bool
    metric: str
    chunk_size: int


def retrieval_setup(X_query, y_query, X_gallery, y_gallery, metric,
                    chunk_size) -> Retrieval:
    """Check the inputs of a retrieval metric; raise precise errors."""
    Q = check_matrix(to_tensor(X_query, "X_query"), "X_query")
    yq = check_labels(y_query, Q.shape[0], "y_query", device=Q.device)
    loo = X_gallery is None
    if loo:
        if y_gallery is not None:
            raise ValueError("y_gallery was given without X_gallery; pass "
                             "both, or neither for leave-one-out.")
        G, yg = Q, yq
        if Q.shape[0] < 2:
            raise ValueError("X_query has 1 row; leave-one-out needs >= 2.")
    else:
        if y_gallery is None:
            raise ValueError("X_gallery was given without y_gallery; pass "
                             "the gallery labels too.")
        G = check_matrix(to_tensor(X_gallery, "X_gallery"), "X_gallery")
        check_same_features(Q, G, "X_query", "X_gallery")
        dtype = torch.promote_types(Q.dtype, G.dtype)
        Q, G = Q.to(dtype), G.to(Q.device, dtype)
        yg = check_labels(y_gallery, G.shape[0], "y_gallery",
                          device=Q.device)
    if metric not in METRICS or metric == "mahalanobis":
        raise ValueError(f"metric={metric!r} is not supported here; use "
                         "'euclidean', 'sqeuclidean' or 'cosine' (apply a "
                         "learned map first: X @ W.T).")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    return Retrieval(Q, yq, G, yg, loo, metric, chunk_size)


def n_candidates(r: Retrieval) -> int:
    """Gallery items a query can retrieve (itself excluded in LOO)."""
    return r.G.shape[0] - int(r.loo)


def check_k(k, r: Retrieval, name: str = "k") -> int:
    """Require 1 <= k <= the number of candidates, naming ``k``."""
    k = check_positive_int(k, name)
    n = n_candidates(r)
    if k > n:
        raise ValueError(f"{name}={k} is larger than the gallery: each query "
                         f"has only {n} candidate(s)"
                         f"{' (itself left out)' if r.loo else ''}; use "
                         f"{name} <= {n}.")
    return k


def label_counts(yq: torch.Tensor, yg: torch.Tensor) -> torch.Tensor:
    """Number of gallery labels equal to each query label: (N,) int64."""
    classes, counts = torch.unique(yg, return_counts=True)        # (C,)
    pos = torch.searchsorted(classes, yq).clamp_max(len(classes) - 1)
    return torch.where(classes[pos] == yq, counts[pos],
                       torch.zeros_like(yq))


def relevant_counts(r: Retrieval) -> torch.Tensor:
    """R_q: gallery items sharing q's label (q itself not counted)."""
    return label_counts(r.yq, r.yg) - int(r.loo)


#: Most neighbour-list entries (queries x k) held at once: 2^22, i.e.
#: 64 MB for the float32 distances and int64 indices together.
LIST_BUDGET = 1 << 22


def ranked_chunks(r: Retrieval, k: int):
    """Yield (start, stop, d (c, k), idx (c, k)) for each block of queries.

    Row q of ``idx`` lists q's k nearest gallery items ordered by
    (distance, index); ``d`` holds their distances. A block has
    c = max(chunk_size, LIST_BUDGET // (k + 1)) queries, so its lists stay
    within LIST_BUDGET entries (or chunk_size x k); inside a block,
    :func:`dml.nearest_neighbors` builds its distance blocks chunk_size
    queries at a time. Fewer, larger calls save the per-call validation.
    """
    n = r.Q.shape[0]
    block = max(r.chunk_size, LIST_BUDGET // (k + 1))
    for start in range(0, n, block):                  # loop over blocks
        stop = min(start + block, n)
        Qb = r.Q[start:stop]
        if not r.loo:
            d, idx = nearest_neighbors(Qb, r.G, k, r.metric,
                                       chunk_size=r.chunk_size)
            yield start, stop, d, idx
            continue
        d, idx = nearest_neighbors(Qb, r.G, k + 1, r.metric,
                                   chunk_size=r.chunk_size)
        me = torch.arange(start, stop, device=idx.device)
        yield (start, stop) + drop_self(d, idx, me)


def drop_self(d, idx, self_index):
    """Remove each query's own index from its (k + 1)-long neighbour list.

    d, idx : (c, k + 1); self_index : (c,). Where the query is not in its
    list (k + 1 items of smaller index tie with it at distance 0), the last
    column goes. Returns d, idx of shape (c, k).
    """
    c, k1 = idx.shape
    drop = idx == self_index[:, None]                        # (c, k + 1)
    drop[:, -1] |= ~drop.any(1)
    keep = ~drop
    return d[keep].reshape(c, k1 - 1), idx[keep].reshape(c, k1 - 1)
