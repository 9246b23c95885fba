"""O(B^2) miners that pick one partner per anchor or per positive pair.

Each works on the (B, B) dissimilarity matrix d of the batch (smaller =
closer; cosine uses d = -cos) and never forms a (B, B, B) tensor.
Ties: among equally distant candidates the smallest batch index wins
(``torch.max`` / ``torch.min`` along a row return the first extremum).
"""
from __future__ import annotations

import math

import torch

from .._arrays import check_choice
from ..distances import LpDistance
from ._base import Miner, check_margin, dissimilarity_matrix, label_masks

__all__ = ["BatchHardMiner", "SemiHardMiner", "HardestNegativeMiner",
           "hardest_negatives", "semihard_negatives", "row_argmin",
           "FALLBACKS",
           "SEMIHARD_METHODS"]

FALLBACKS = ("hardest", "skip")


def row_argmin(key: torch.Tensor):
    """Each row's minimum and the first column that holds it.

    Returns (values (R,), indices (R,)), the same as ``key.min(1)``
    (whose index is the first minimum), but 2-3x faster on a CPU, where
    ``min`` with indices, ``where`` and bool-to-float casts are not
    vectorised while ``amin``, add and a comparison written into a float
    tensor are: the index is the ``amin`` of "column, or column + n where
    the entry is not the row's minimum". Half-precision keys are compared
    in float32, where the column numbers are exact.
    """
    if key.dtype in (torch.float16, torch.bfloat16):
        # column numbers must be exact: bfloat16 holds integers only up to
        # 256, float16 up to 2 048
        key = key.float()
    value = key.amin(1, keepdim=True)                         # (R, 1)
    n = key.shape[1]
    col = torch.arange(n, dtype=key.dtype, device=key.device)
    not_min = torch.ne(key, value, out=torch.empty_like(key))  # 1.0 / 0.0
    index = not_min.mul_(n).add_(col).amin(1)
    return value.squeeze(1), index.long()


def hardest_negatives(D: torch.Tensor, neg: torch.Tensor):
    """Per anchor: n*(a) = argmin_{n: neg[a, n]} d[a, n] and that distance.

    Returns (n_idx (B,), d_an (B,), has_neg (B,)); rows without a negative
    have d_an = +inf. Ties go to the smallest index (:func:`row_argmin`).
    """
    d_an, n_idx = row_argmin(_negatives_only(D, neg))
    return n_idx, d_an, d_an < float("inf")      # distances are finite


def _negatives_only(D, neg):
    """D with every entry that is not a negative pair set to +inf."""
    return D.masked_fill(~neg, float("inf"))


def _semihard_grid(D, D_neg, neg, margin):
    """The "sort" search for every (a, b) of the (B, B) grid at once.

    Sorts each anchor's negatives once (stable: ties keep the smallest
    index first) and locates every d[a, b] in its row with
    ``torch.searchsorted``: (B, B) tensors only, and no host
    synchronisation (no pair list, whose length the host would need).
    Returns (n_semi, is_semi), both (B, B); only the entries of positive
    pairs mean anything.
    """
    s, order = torch.sort(D_neg, dim=1, stable=True)          # (B, R)
    n_neg = neg.sum(1, keepdim=True)                          # (B, 1)
    j = torch.searchsorted(s, D, right=False)                 # (B, B)
    found = j < n_neg                      # a negative with d_an >= d_ab
    j = j.clamp_(max=D.shape[1] - 1)
    is_semi = found & (s.gather(1, j) < D + margin)
    return order.gather(1, j), is_semi


def _semihard_by_sort(D, D_neg, pos, neg, margin):
    """Sort each anchor's negatives once; searchsorted every d_ap."""
    n_semi, is_semi = _semihard_grid(D, D_neg, neg, margin)   # (B, B)
    a, p = pos.nonzero(as_tuple=True)                         # (P,)
    return a, p, n_semi[a, p], is_semi[a, p]


def _semihard_by_scan(D, D_neg, pos, neg, margin, budget=2 ** 22):
    """Scan each positive pair's row of negatives, in chunks of pairs."""
    a, p = pos.nonzero(as_tuple=True)                         # (P,)
    d_ap = D[a, p]                                            # (P,)
    n_semi = torch.zeros_like(a)
    is_semi = torch.zeros_like(a, dtype=torch.bool)
    big = torch.finfo(D.dtype).max
    chunk = max(1, budget // D.shape[1])
    for start in range(0, len(a), chunk):          # loop over pair chunks
        sl = slice(start, start + chunk)
        rows = D_neg[a[sl]]                                   # (c, B)
        # candidates: d_an >= d_ap; the others get +big, so they lose
        closer = torch.lt(rows, d_ap[sl, None],
                          out=torch.empty_like(rows))         # 1.0 / 0.0
        d_an, n = row_argmin(closer.mul_(big).add_(rows))     # (c,) each
        n_semi[sl] = n                    # first minimum: smallest index
        is_semi[sl] = (d_an < big) & (d_an < d_ap[sl] + margin)
    return a, p, n_semi, is_semi


SEMIHARD_METHODS = ("auto", "sort", "scan")


def semihard_negatives(D: torch.Tensor, pos: torch.Tensor,
                       neg: torch.Tensor, margin: float,
                       method: str = "auto"):
    """For every positive pair (a, p): the nearest n with d_ap <= d_an.

    FaceNet's semi-hard choice (Schroff, Kalenichenko & Philbin, 2015):
        n*(a, p) = argmin { d[a, n] : neg[a, n], d[a, p] <= d[a, n] }
    and it is semi-hard when also d[a, n*] < d[a, p] + margin (the book's
    boundaries, see :func:`dml.classify_triplets`). Two exact methods,
    both O(B^2) memory and neither forming a (B, B, B) tensor:

    * ``"sort"``: sort each anchor's negative distances once (a stable
      (B, B) sort: ties keep the smallest index first) and locate every
      d[a, b] of the (B, B) matrix in its row with
      ``torch.searchsorted``. O(B^2 log B) time, and no host
      synchronisation before the pairs are listed.
    * ``"scan"``: for chunks of positive pairs, mask the anchor's row of
      distances to the negatives with d_an >= d_ap and take its minimum.
      O(P B) time for P positive pairs: cheaper than a sort when every
      class has few samples in the batch (P = (K - 1) B for P x K
      batches), dearer when there are few classes.
    * ``"auto"``: "sort" (counting P to choose would cost a host
      synchronisation on a GPU). :class:`SemiHardMiner` chooses "scan"
      on the CPU when P <= B log2(B), where that count costs nothing.

    Returns (a, p, n_semi, is_semi): the positive pairs (a, p) in
    row-major order, their candidate negative and whether it is semi-hard
    (a candidate exists and d_an < d_ap + margin).
    """
    check_choice(method, "method", SEMIHARD_METHODS)
    return _semihard(D, _negatives_only(D, neg), pos, neg, margin, method)


def _semihard(D, D_neg, pos, neg, margin, method):
    """:func:`semihard_negatives` given D_neg = :func:`_negatives_only`."""
    if method == "scan":
        return _semihard_by_scan(D, D_neg, pos, neg, margin)
    return _semihard_by_sort(D, D_neg, pos, neg, margin)


class BatchHardMiner(Miner):
    r"""Batch-hard mining (Hermans, Beyer & Leibe, 2017).

    Taught in :doc:`chapter 4 </book/chapters/04_mining>`. For every anchor
    a: the hardest positive and the hardest negative,

    .. math::

       \begin{aligned}
       p^*(a) &= \operatorname*{arg\,max}_{p:\ y_p = y_a,\ p \ne a} d_{ap},
       \\
       n^*(a) &= \operatorname*{arg\,min}_{n:\ y_n \ne y_a} d_{an},
       \end{aligned}

    giving one triplet per anchor; anchors without a positive or without a
    negative are skipped. Defaults are those of pytorch-metric-learning
    2.9's ``BatchHardMiner``: ``distance=None`` is its ``LpDistance()``,
    the Euclidean distance between L2-normalised embeddings;
    ``distance="euclidean"`` uses the embeddings as given (and ranks by
    d^2: the same order, without the square root). For a similarity
    (``CosineSimilarity()``, ``"cosine"``) d = -s, so p* is the least
    similar positive and n* the most similar negative. Called as
    ``miner(embeddings, labels, ref_emb, ref_labels)``; with a reference
    set, p and n index it. Returns (a, p, n).
    """

    def __init__(self, distance=None):
        super().__init__(LpDistance() if distance is None else distance)

    def mine(self, E, labels, R=None, ref_labels=None):
        # only the order of d matters: rank Euclidean distances by d^2
        # (for LpDistance(p=2), of the rows it would normalise)
        distance = self.distance
        if isinstance(distance, LpDistance) and distance.p == 2:
            E = distance.maybe_normalize(E)
            R = None if R is None else distance.maybe_normalize(R)
            distance = "sqeuclidean"
        elif distance == "euclidean":
            distance = "sqeuclidean"
        D = dissimilarity_matrix(E, distance, R)                # (B, R)
        pos, neg = label_masks(labels, ref_labels)
        p = D.masked_fill(~pos, float("-inf")).max(1).indices   # (B,)
        n, _, has_neg = hardest_negatives(D, neg)
        a = torch.nonzero(pos.any(1) & has_neg, as_tuple=True)[0]
        return (a, p[a], n[a])


class SemiHardMiner(Miner):
    r"""Semi-hard mining (Schroff et al., 2015), one negative per (a, p).

    Taught in :doc:`chapter 4 </book/chapters/04_mining>`. For every
    positive pair (a, p) the nearest negative that is not closer than the
    positive and lies inside the margin m, n ranging over the negatives of
    a (y_n != y_a):

    .. math::

       \begin{aligned}
       n^*(a, p) &= \operatorname*{arg\,min}_{n \in S} d_{an}, \\
       S &= \{n : d_{ap} \le d_{an} < d_{ap} + m\}.
       \end{aligned}

    ``fallback`` says what happens to a pair without such a negative:

    * ``"hardest"`` (default, the rule of the drug-compound case study's
      miner): take the hardest negative argmin_n d_an instead (a hard
      triplet, or an easy one when every negative is beyond the margin);
    * ``"skip"``: drop the pair.

    Anchors without a negative are always skipped. A tie d_an = d_ap counts
    as semi-hard (the book's convention); FaceNet writes a strict
    d_ap^2 < d_an^2 (on squared distances). Departure from TensorFlow
    Addons' ``triplet_semihard_loss``: there, the fallback is the
    *farthest* negative closer than the positive.
    ``method`` picks the algorithm of ``semihard_negatives`` (all give
    the same triplets; O(B^2) memory). "sort" decides on the (B, B)
    grid and lists the triplets with one ``nonzero``: with the finite
    check of the embeddings, two host synchronisations per batch on a
    GPU. "scan" needs the pair list first (one more), but is faster on a
    CPU when each class has few samples in the batch. "auto" is "sort"
    on a GPU and picks the faster of the two on the CPU.
    Returns (a, p, n) with the (a, p) in row-major order.
    """

    def __init__(self, margin: float = 0.2, distance="euclidean",
                 fallback: str = "hardest", method: str = "auto"):
        super().__init__(distance)
        self.margin = check_margin(margin)
        self.fallback = check_choice(fallback, "fallback", FALLBACKS)
        self.method = check_choice(method, "method", SEMIHARD_METHODS)

    def mine(self, E, labels, R=None, ref_labels=None):
        D = self.dissimilarity(E, R)                            # (B, R)
        pos, neg = label_masks(labels, ref_labels)
        D_neg = _negatives_only(D, neg)            # shared by both searches
        d_an, n_hard = row_argmin(D_neg)        # the hardest, per anchor
        has_neg = d_an < float("inf")
        if self._method(D, pos) == "scan":
            a, p, n_semi, is_semi = _semihard_by_scan(
                D, D_neg, pos, neg, self.margin)                # (P,) each
            keep = is_semi if self.fallback == "skip" else has_neg[a]
            n = torch.where(is_semi, n_semi, n_hard[a])
            i = keep.nonzero(as_tuple=True)[0]   # one sync, not three
            return (a[i], p[i], n[i])
        # "sort"/"auto": decide on the (B, B) grid, list the pairs once
        n_semi, is_semi = _semihard_grid(D, D_neg, neg, self.margin)
        keep = pos & (is_semi if self.fallback == "skip"
                      else has_neg[:, None])                    # (B, B)
        n = torch.where(is_semi, n_semi, n_hard[:, None])       # (B, B)
        a, p = keep.nonzero(as_tuple=True)     # row-major, as pos.nonzero
        return (a, p, n[a, p])

    def _method(self, D, pos) -> str:
        """"auto": "sort" on a GPU (no host synchronisation); on the CPU,
        where counting the positive pairs P costs nothing, "scan" when
        P <= B log2(B) (few samples per class: 4-5x faster there)."""
        if self.method != "auto":
            return self.method
        if D.device.type != "cpu":
            return "sort"
        B = D.shape[0]
        few = int(pos.sum()) <= B * max(1.0, math.log2(B))
        return "scan" if few else "sort"

    def extra_repr(self) -> str:
        return (f"margin={self.margin}, distance={self.distance!r}, "
                f"fallback={self.fallback!r}")


class HardestNegativeMiner(Miner):
    r"""For every positive pair (a, p): the hardest negative, if it counts.

    Taught in :doc:`chapter 4 </book/chapters/04_mining>`. The hardest
    negative of anchor a,

    .. math::

       n^*(a) = \operatorname*{arg\,min}_{n:\ y_n \ne y_a} d_{an},

    is kept for (a, p) when d_an* < d_ap + m (the triplet has a non-zero hinge loss: it
    is hard or semi-hard, see :func:`dml.classify_triplets`). With
    ``margin=None`` every (a, p) whose anchor has a negative is kept
    (FaceNet's "all anchor-positive pairs, hardest negative").
    O(B^2). Returns (a, p, n).
    """

    def __init__(self, margin: float | None = 0.2,
                 distance="euclidean"):
        super().__init__(distance)
        self.margin = check_margin(margin, allow_none=True)

    def mine(self, E, labels, R=None, ref_labels=None):
        D = self.dissimilarity(E, R)                            # (B, R)
        pos, neg = label_masks(labels, ref_labels)
        n, d_an, has_neg = hardest_negatives(D, neg)
        keep = pos & has_neg[:, None]                           # (B, B)
        if self.margin is not None:
            keep &= d_an[:, None] < D + self.margin
        a, p = keep.nonzero(as_tuple=True)
        return (a, p, n[a])

    def extra_repr(self) -> str:
        return f"margin={self.margin}, distance={self.distance!r}"
