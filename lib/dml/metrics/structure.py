"""Does the embedding keep the structure *inside* and *between* classes?

Chen & Verma (*Weak Metric Learning*) judge an embedding learned
from coarse labels by how well it keeps the fine classes apart:

* neighbourhood purity, the share of each point's k nearest neighbours
  N_k(i) (i excluded) with its label;
* nDCG with graded relevance: rel = 1 for the same fine class, 1/2 for
  another fine class of the same coarse class, 0 otherwise;
* the context-sensitive loss CSL(y, y_hat) = 0 if y = y_hat, else the
  height of the lowest common ancestor (LCA) of y and y_hat in a class
  dendrogram scaled to height 1: a near miss costs less than a far one.

Neighbour lists come from :func:`dml.nearest_neighbors` (ties broken by
index), in chunks of ``chunk_size`` queries.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.cluster.hierarchy import cophenet, is_valid_linkage
from scipy.spatial.distance import squareform

from .._arrays import check_labels, like_input, to_device_of, to_numpy
from ..neighbors import DEFAULT_CHUNK
from ._ranking import (check_k, label_counts, n_candidates, ranked_chunks,
                       retrieval_setup)

__all__ = ["neighborhood_purity", "ndcg", "lca_height_table",
           "context_sensitive_loss"]


def neighborhood_purity(X, y, k: int = 10, metric: str = "euclidean", *,
                        chunk_size: int = DEFAULT_CHUNK) -> float:
    r"""Mean share of each point's k nearest neighbours with its label.

    Taught in :doc:`chapter 7 </book/chapters/07_weak>` (Chen & Verma, section
    3.3):

    .. math::

       \mathrm{Purity} = \frac{1}{n} \sum_i \frac{1}{k}
           \sum_{j \in N_k(i)} [y_j = y_i],

    N_k(i) the k nearest neighbours of i, i excluded. Every point counts,
    including one whose class has no other member (it scores 0): unlike the
    retrieval metrics, no query is left out. It equals leave-one-out
    Precision@k when every class has >= 2 points. Chen & Verma note that
    merging x true classes into y labels should give a purity near y / x on the
    fine labels.

    Parameters
    ----------
    X : (n, D) array or tensor
        Embeddings.
    y : (n,) labels
        Fine labels, to measure how well sub-classes stay apart.
    k : int
        Neighbours per point, 1 <= k <= n - 1.
    metric : str
        The distance, as in :func:`dml.nearest_neighbors`.
    chunk_size : int
        Queries per chunk.
    """
    r = retrieval_setup(X, y, None, None, metric, chunk_size)
    k = check_k(k, r)
    n_same = torch.zeros(r.Q.shape[0], dtype=torch.int64,
                         device=r.Q.device)
    with torch.no_grad():
        for start, stop, _, idx in ranked_chunks(r, k):
            hits = r.yg[idx] == r.yq[start:stop, None]            # (c, k)
            n_same[start:stop] = hits.sum(1)
    return float(n_same.sum()) / (k * r.Q.shape[0])


def _coarse_of(y, fine_to_coarse, name):
    """Coarse labels fine_to_coarse[y], checking that y indexes the map."""
    if int(y.min()) < 0 or int(y.max()) >= len(fine_to_coarse):
        raise ValueError(f"{name} holds labels outside 0.."
                         f"{len(fine_to_coarse) - 1}, the classes of "
                         "fine_to_coarse; relabel the fine classes "
                         "0..C-1 or extend the map.")
    return fine_to_coarse[y]


def _gains(gain):
    """(gain of rel = 1, gain of rel = 1/2)."""
    if gain == "linear":          # g = rel            (graded gain)
        return 1.0, 0.5
    if gain == "exponential":     # g = 2^rel - 1      (Chen & Verma's DCG)
        return 1.0, 2.0 ** 0.5 - 1.0
    raise ValueError(f"gain={gain!r}; use 'linear' (rel) or 'exponential' "
                     "(2**rel - 1).")


def ndcg(X_query, y_query, X_gallery=None, y_gallery=None, k=None, *,
         fine_to_coarse=None, gain: str = "linear",
         metric: str = "euclidean",
         chunk_size: int = DEFAULT_CHUNK) -> float:
    r"""Normalised discounted cumulative gain with graded relevance.

    Taught in :doc:`chapter 7 </book/chapters/07_weak>` (Chen & Verma, section
    4.4). For a query q and its i-th nearest gallery item, rel_q(i) is 1 for
    the same fine label as q, 1/2 for another fine label of q's coarse class, 0
    otherwise, and

    .. math::

       \mathrm{DCG@}k_q = \sum_{i=1}^{k} \frac{g(\mathrm{rel}_q(i))}
                                              {\log_2(i + 1)},
       \quad g(r) = r,

       \mathrm{nDCG@}k = \operatorname{mean}_q
           \frac{\mathrm{DCG@}k_q}{\mathrm{IDCG@}k_q},

    IDCG@k_q the same sum over the gallery's relevances sorted in
    decreasing order (all 1s, then all 1/2s).

    Departures: Chen & Verma write the gain 2^rel - 1 (``gain="exponential"``;
    same for rel in {0, 1}) and sums over the whole list (``k=None``, the
    default); they print the discount as 1 / log2(i + 2), which is ours with
    i counted from 0. Queries with IDCG = 0 (nothing relevant in the
    gallery) are left out, as in the retrieval metrics.

    Parameters
    ----------
    X_query, y_query : (N, D) and (N,)
        Query embeddings and fine labels in 0..C-1.
    X_gallery, y_gallery : (G, D) and (G,), optional
        The gallery; None for leave-one-out.
    k : int or None
        List depth, None for the whole gallery.
    fine_to_coarse : (C,) int array or None
        Coarse label of each fine class; None gives binary relevance (1
        same class, 0 otherwise).
    gain : {"linear", "exponential"}
        g(r) = r or 2^r - 1.
    metric : str
        The distance that ranks the gallery.
    chunk_size : int
        Queries per chunk.
    """
    r = retrieval_setup(X_query, y_query, X_gallery, y_gallery, metric,
                        chunk_size)
    k = n_candidates(r) if k is None else check_k(k, r)
    g1, g_half = _gains(gain)
    R_fine = label_counts(r.yq, r.yg) - int(r.loo)                 # (N,)
    if fine_to_coarse is None:
        cq, cg = r.yq, r.yg
    else:
        f2c = to_device_of(fine_to_coarse, r.Q, "fine_to_coarse",
                           dtype=torch.int64)
        cq = _coarse_of(r.yq, f2c, "y_query")
        cg = cq if r.loo else _coarse_of(r.yg, f2c, "y_gallery")
    R_half = label_counts(cq, cg) - int(r.loo) - R_fine            # (N,)
    # the running sums on the host: a floating-point cumsum on CUDA has
    # no deterministic kernel (torch.use_deterministic_algorithms raises)
    disc_np = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))  # (k,)
    disc = torch.from_numpy(disc_np).to(r.Q.device)
    cum = torch.from_numpy(np.concatenate([[0.0], np.cumsum(disc_np)])
                           ).to(r.Q.device)                        # (k+1,)
    n_one = R_fine.clamp_max(k)
    n_any = (R_fine + R_half).clamp_max(k)
    idcg = g1 * cum[n_one] + g_half * (cum[n_any] - cum[n_one])    # (N,)
    valid = idcg > 0
    if not bool(valid.any()):
        raise ValueError("no query has a relevant gallery item (IDCG = 0 "
                         "for all); check the labels.")
    dcg = torch.zeros_like(idcg)                                   # (N,)
    with torch.no_grad():
        for start, stop, _, idx in ranked_chunks(r, k):
            fine = r.yg[idx] == r.yq[start:stop, None]             # (c, k)
            near = cg[idx] == cq[start:stop, None]
            zero = disc.new_zeros(())                  # no mask-index sync
            g = torch.where(fine, g1, torch.where(near, g_half, zero))
            dcg[start:stop] = (g * disc).sum(1)
    return float((dcg[valid] / idcg[valid]).mean())


def lca_height_table(hierarchy) -> np.ndarray:
    r"""(C, C) table of LCA heights on a dendrogram scaled to height 1.

    .. math::

       T_{ab} = \frac{h(\mathrm{LCA}(a, b))}{h(\mathrm{root})},

       T_{aa} = 0 .

    Taught in :doc:`chapter 7 </book/chapters/07_weak>`, for
    :func:`context_sensitive_loss`.

    ``hierarchy`` is either

    * a scipy linkage matrix Z, (C - 1, 4), over the C fine classes
      (leaves 0..C-1, e.g. ``scipy.cluster.hierarchy.linkage`` of the class
      means): the LCA height of a and b is the height at which they merge,
      i.e. the cophenetic distance, divided by the root's height; or
    * a fine -> coarse map, (C,): a two-level tree with the coarse classes
      at height 1/2 and the root at 1, so LCA = 0 (same fine class), 0.5
      (same coarse class) or 1 (different coarse classes).

    The diagonal is 0.
    """
    H = to_numpy(hierarchy)
    if H.ndim == 2:
        if H.shape[1] != 4 or not is_valid_linkage(H.astype(float)):
            raise ValueError(f"hierarchy has shape {H.shape} but is not a "
                             "scipy linkage matrix; pass the output of "
                             "scipy.cluster.hierarchy.linkage or a 1-D "
                             "fine -> coarse map.")
        top = float(H[:, 2].max())
        if top <= 0:
            raise ValueError("hierarchy's root has height 0; the heights "
                             "cannot be scaled to 1.")
        T = squareform(cophenet(H.astype(float))) / top           # (C, C)
        return T
    if H.ndim == 1 and H.size > 0:
        same_coarse = H[:, None] == H[None, :]                    # (C, C)
        T = np.where(same_coarse, 0.5, 1.0)
        np.fill_diagonal(T, 0.0)
        return T
    raise ValueError(f"hierarchy has shape {H.shape}; pass a linkage "
                     "matrix (C - 1, 4) or a fine -> coarse map (C,).")


def context_sensitive_loss(y_true, y_pred, hierarchy, *,
                           reduction: str = "mean"):
    r"""Context-sensitive loss: LCA height of (true, predicted) labels.

    Taught in :doc:`chapter 7 </book/chapters/07_weak>`:

    .. math::

       \mathrm{CSL}(y, \hat y) = \begin{cases}
           0 & y = \hat y \\
           \mathrm{LCA}(y, \hat y) & \text{otherwise,}
       \end{cases}

    LCA(y, y_hat) being the height of their lowest common ancestor in a class
    dendrogram of height 1 (Chen & Verma, section 4.4; see
    :func:`lca_height_table` for the two accepted forms of ``hierarchy``). A
    0-1 loss that gives partial credit.

    ``reduction``:

    * "mean" (default): mean over all samples, CSL = (1/n) sum_i
      CSL(y_i, y_hat_i). Chen & Verma call this the total CSL error;
    * "mistakes": mean over the misclassified samples only (our reading
      of Chen & Verma's "average CSL penalty"; 0 if there is no mistake);
    * "none": the (n,) per-sample values.

    Labels are fine classes 0..C-1 (C = number of leaves of hierarchy).
    """
    T = lca_height_table(hierarchy)
    C = T.shape[0]
    yt = check_labels(y_true, len(y_true), "y_true")
    yp = check_labels(y_pred, yt.shape[0], "y_pred")
    for name, v in (("y_true", yt), ("y_pred", yp)):
        if v.numel() == 0:
            raise ValueError(f"{name} is empty; pass at least one label.")
        if int(v.min()) < 0 or int(v.max()) >= C:
            raise ValueError(f"{name} holds labels outside 0..{C - 1}, the "
                             f"{C} classes of hierarchy; relabel them.")
    loss = torch.from_numpy(T)[yt.cpu(), yp.cpu()]                 # (n,)
    if reduction == "none":
        ref = y_true
        if isinstance(ref, torch.Tensor):
            return loss.to(ref.device)
        return like_input(loss, ref)
    if reduction == "mean":
        return float(loss.mean())
    if reduction == "mistakes":
        wrong = yt.cpu() != yp.cpu()
        return float(loss[wrong].mean()) if bool(wrong.any()) else 0.0
    raise ValueError(f"reduction={reduction!r}; use 'mean', 'mistakes' "
                     "or 'none'.")
