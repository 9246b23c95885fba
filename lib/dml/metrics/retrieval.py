r"""Retrieval: rank the gallery by distance to each query, score the ranking.

Notation (chapter 6). For a query q, the gallery sorted by distance gives
rel_q(i) = 1 if the i-th item shares q's label, else 0; R_q is the number
of relevant gallery items (q itself excluded in leave-one-out), and
P_q(i) = (1/i) sum_{j<=i} rel_q(j) is the precision of the top i.

.. math::

   \begin{aligned}
   \text{Recall@}K &= \operatorname{mean}_q
       \Big[\textstyle\sum_{i \le K} \mathrm{rel}_q(i) \ge 1\Big] \\
   \text{Precision@}K &= \operatorname{mean}_q \tfrac{1}{K}
       \textstyle\sum_{i \le K} \mathrm{rel}_q(i) \\
   \text{R-precision} &= \operatorname{mean}_q \tfrac{1}{R_q}
       \textstyle\sum_{i \le R_q} \mathrm{rel}_q(i) \\
   \text{MAP@R} &= \operatorname{mean}_q \tfrac{1}{R_q}
       \textstyle\sum_{i \le R_q} P_q(i)\, \mathrm{rel}_q(i) \\
   \text{MAP} &= \operatorname{mean}_q \tfrac{1}{R_q}
       \textstyle\sum_{i \le G} P_q(i)\, \mathrm{rel}_q(i)
   \end{aligned}

MAP@R and R-precision are from Musgrave, Belongie & Lim (2020), "A Metric
Learning Reality Check". Recall@K is the retrieval literature's "R@K" (a hit
in the top K), not the information-retrieval recall.

Conventions, matching pytorch-metric-learning's ``AccuracyCalculator``
(its precision_at_1 = our Recall@1 = Precision@1, its r_precision and
mean_average_precision_at_r = ours, with the default avg_of_avgs=False):

* Ties in distance are broken by gallery index (dml.nearest_neighbors), so
  every query has one ranking. ``mean_average_precision(ties="group")``
  instead scores a tied run as scikit-learn's average_precision_score does.
* A query with no relevant gallery item (R_q = 0, pml's "lone" query) is
  left out of every mean; ``retrieval_report`` says how many were. If no
  query has a relevant item we raise a ValueError (pml returns 0 or NaN).
* Leave-one-out when no gallery is given: every point queries the others.

Memory: queries go by chunks of ``chunk_size``; a chunk needs a
chunk_size x G distance block and a chunk_size x k list, never N x G.
"""
from __future__ import annotations

import torch

from ..neighbors import DEFAULT_CHUNK, knn_accuracy
from ._ranking import (check_k, n_candidates, ranked_chunks,
                       relevant_counts, retrieval_setup)

__all__ = ["recall_at_k", "precision_at_k", "r_precision", "map_at_r",
           "mean_average_precision", "retrieval_report", "knn_accuracy"]


def _valid_queries(R):
    """Mask of queries with R_q >= 1; raise if there is none."""
    valid = R > 0
    if not bool(valid.any()):
        raise ValueError("no query has a relevant item in the gallery (every "
                         "query label is missing from y_gallery, or is "
                         "unique in leave-one-out); check the labels.")
    return valid


def _precision_curve(hits):
    """P_q(i) for i = 1..k: cumulative hits over rank. (c, k) float64."""
    rank = torch.arange(1, hits.shape[1] + 1, device=hits.device)
    return hits.cumsum(1).to(torch.float64) / rank                # (c, k)


def _per_query(hits, R, ks, with_r):
    """Per-query Recall@K, Precision@K (K in ks), R-precision, AP@R."""
    out = {}
    for K in ks:                                      # a few values of K
        out[f"recall@{K}"] = hits[:, :K].any(1).to(torch.float64)
        out[f"precision@{K}"] = hits[:, :K].sum(1).to(torch.float64) / K
    if not with_r:
        return out
    k = hits.shape[1]
    col = torch.arange(k, device=hits.device)[None, :]
    in_R = (col < R[:, None]) & hits                               # (c, k)
    Rc = R.clamp_min(1).to(torch.float64)
    out["r_precision"] = in_R.sum(1) / Rc
    out["map@r"] = (_precision_curve(hits) * in_R).sum(1) / Rc
    return out


def retrieval_report(X_query, y_query, X_gallery=None, y_gallery=None,
                     ks=(1, 10), metric: str = "euclidean", *,
                     chunk_size: int = DEFAULT_CHUNK) -> dict:
    """All ranking metrics of the module from one pass over the queries.

    Taught in :doc:`chapter 6 </book/chapters/06_evaluation>` (formulas in the
    module docstring above). The k-NN search runs once with k = max(max_q R_q,
    max(ks)) neighbours.

    Parameters
    ----------
    X_query : (N, D) array or tensor
        Query embeddings.
    y_query : (N,) labels
    X_gallery, y_gallery : (G, D) and (G,), optional
        The gallery; None for leave-one-out.
    ks : tuple of int
        The K of Recall@K and Precision@K.
    metric : {"euclidean", "sqeuclidean", "cosine"}
        The distance that ranks the gallery.
    chunk_size : int
        Queries per chunk.

    Returns
    -------
    dict
        "recall@K" and "precision@K" for K in ks, "r_precision", "map@r"
        (floats), "n_queries" (queries scored) and "n_excluded" (queries
        with R_q = 0, left out of every mean).
    """
    return _report(X_query, y_query, X_gallery, y_gallery, ks, metric,
                   chunk_size, with_r=True)


def _report(X_query, y_query, X_gallery, y_gallery, ks, metric,
            chunk_size, with_r):
    """retrieval_report; with_r=False skips the R-based metrics (k small)."""
    r = retrieval_setup(X_query, y_query, X_gallery, y_gallery, metric,
                        chunk_size)
    ks = tuple(check_k(K, r, "k") for K in ks)
    R = relevant_counts(r)                                        # (N,)
    valid = _valid_queries(R)
    k = max(max(ks, default=1), int(R.max()) if with_r else 1)
    k = min(k, n_candidates(r))
    per_q = {}               # name -> (N,) values, one per query
    with torch.no_grad():
        for start, stop, _, idx in ranked_chunks(r, k):
            hits = r.yg[idx] == r.yq[start:stop, None]           # (c, k)
            for name, v in _per_query(hits, R[start:stop], ks,
                                      with_r).items():
                if name not in per_q:
                    per_q[name] = v.new_zeros(len(R))
                per_q[name][start:stop] = v
    # one sum over the (N,) vector: the same result for any chunk size
    report = {name: float(v[valid].mean()) for name, v in per_q.items()}
    n = int(valid.sum())
    report["n_queries"] = n
    report["n_excluded"] = int((~valid).sum())
    return report


def _one(X_query, y_query, X_gallery, y_gallery, ks, metric, chunk_size,
         key):
    with_r = key in ("r_precision", "map@r")
    return _report(X_query, y_query, X_gallery, y_gallery, ks, metric,
                   chunk_size, with_r)[key]


def recall_at_k(X_query, y_query, X_gallery=None, y_gallery=None,
                k: int = 1, metric: str = "euclidean", *,
                chunk_size: int = DEFAULT_CHUNK) -> float:
    r"""Recall@K: share of queries with >= 1 same-class item in the top K.

    Taught in :doc:`chapter 6 </book/chapters/06_evaluation>`:

    .. math::

       \text{Recall@}K = \operatorname{mean}_q
           \Big[\sum_{i \le K} \mathrm{rel}_q(i) \ge 1\Big].

    Recall@1 = Precision@1 = pml's precision_at_1 (leave-one-out when no
    gallery is given). Queries with no relevant item are left out.
    """
    return _one(X_query, y_query, X_gallery, y_gallery, (k,), metric,
                chunk_size, f"recall@{k}")


def precision_at_k(X_query, y_query, X_gallery=None, y_gallery=None,
                   k: int = 1, metric: str = "euclidean", *,
                   chunk_size: int = DEFAULT_CHUNK) -> float:
    r"""Precision@K = mean_q (1/K) sum_{i<=K} rel_q(i).

    Taught in :doc:`chapter 6 </book/chapters/06_evaluation>`:

    .. math::

       \text{Precision@}K = \operatorname{mean}_q \frac{1}{K}
           \sum_{i \le K} \mathrm{rel}_q(i).

    Divides by K even when R_q < K (pml's precision_at_k does the same),
    so a perfect ranking scores min(R_q, K) / K for that query.
    """
    return _one(X_query, y_query, X_gallery, y_gallery, (k,), metric,
                chunk_size, f"precision@{k}")


def r_precision(X_query, y_query, X_gallery=None, y_gallery=None,
                metric: str = "euclidean", *,
                chunk_size: int = DEFAULT_CHUNK) -> float:
    r"""R-precision: Precision@R_q, R_q the query's number of relevant items.

    Taught in :doc:`chapter 6 </book/chapters/06_evaluation>` (Musgrave et al.,
    2020):

    .. math::

       \text{R-precision} = \operatorname{mean}_q \frac{1}{R_q}
           \sum_{i \le R_q} \mathrm{rel}_q(i).
    """
    return _one(X_query, y_query, X_gallery, y_gallery, (1,), metric,
                chunk_size, "r_precision")


def map_at_r(X_query, y_query, X_gallery=None, y_gallery=None,
             metric: str = "euclidean", *,
             chunk_size: int = DEFAULT_CHUNK) -> float:
    r"""MAP@R = mean_q (1/R_q) sum_{i=1..R_q} P_q(i) rel_q(i).

    Taught in :doc:`chapter 6 </book/chapters/06_evaluation>`:

    .. math::

       \text{MAP@R} = \operatorname{mean}_q \frac{1}{R_q}
           \sum_{i=1}^{R_q} P_q(i)\, \mathrm{rel}_q(i).

    Musgrave, Belongie & Lim (2020), "A Metric Learning Reality Check",
    section 3.2: like average precision, but only the top R_q ranks count
    and the sum is divided by R_q (not by the hits found), so a query is 1
    only if its R_q relevant items fill the top R_q places. Equals pml's
    mean_average_precision_at_r. Needs the top-max(R_q) lists: k = the
    largest class size, computed in query chunks.
    """
    return _one(X_query, y_query, X_gallery, y_gallery, (1,), metric,
                chunk_size, "map@r")


def _ap_grouped(d, hits, R):
    """AP with tied distances scored as one block (scikit-learn's rule).

    Every item of a tied run gets the precision at the run's end:
    AP_q = (1/R_q) sum_i rel_q(i) P_q(end(i)).
    """
    k = hits.shape[1]
    pos = torch.arange(k, device=d.device).expand_as(d)           # (c, k)
    is_end = torch.ones_like(hits)
    is_end[:, :-1] = d[:, 1:] != d[:, :-1]
    end = torch.where(is_end, pos, torch.full_like(pos, k))
    end = end.flip(1).cummin(1).values.flip(1)          # run end, (c, k)
    P_end = _precision_curve(hits).gather(1, end)
    return (P_end * hits).sum(1) / R.clamp_min(1)


def mean_average_precision(X_query, y_query, X_gallery=None,
                           y_gallery=None, metric: str = "euclidean", *,
                           ties: str = "rank",
                           chunk_size: int = DEFAULT_CHUNK) -> float:
    r"""MAP = mean_q AP_q, AP_q = (1/R_q) sum_{i=1..G} P_q(i) rel_q(i).

    Taught in :doc:`chapter 6 </book/chapters/06_evaluation>`:

    .. math::

       \mathrm{MAP} = \operatorname{mean}_q \mathrm{AP}_q,

       \mathrm{AP}_q = \frac{1}{R_q} \sum_{i=1}^{G} P_q(i)\,
           \mathrm{rel}_q(i).

    Every gallery item is ranked (k = G), so each chunk costs a
    chunk_size x G list. ``ties="rank"`` (default) uses the ranking with
    ties broken by index, as pml's mean_average_precision does with
    k = None. ``ties="group"`` gives every item of a run of equal distances
    the precision at the end of the run; then AP_q equals
    ``sklearn.metrics.average_precision_score(rel_q, -d_q)``.
    """
    if ties not in ("rank", "group"):
        raise ValueError(f"ties={ties!r}; use 'rank' (order by index) or "
                         "'group' (scikit-learn's tie rule).")
    r = retrieval_setup(X_query, y_query, X_gallery, y_gallery, metric,
                        chunk_size)
    R = relevant_counts(r)
    valid = _valid_queries(R)
    ap = torch.zeros(len(R), dtype=torch.float64, device=R.device)
    with torch.no_grad():
        for start, stop, d, idx in ranked_chunks(r, n_candidates(r)):
            hits = r.yg[idx] == r.yq[start:stop, None]           # (c, G)
            Rc = R[start:stop]
            if ties == "group":
                ap[start:stop] = _ap_grouped(d, hits, Rc)
            else:
                ap[start:stop] = (_precision_curve(hits) * hits).sum(1) / \
                    Rc.clamp_min(1)
    return float(ap[valid].mean())
