"""Miners that enumerate tuples: all pairs, all triplets, triplets by type.

The set of all valid triplets of a batch is O(B^3) in size in the worst
case, so these miners first list the positive pairs (a, p), then cut them
into chunks: for a chunk of c pairs they build one (c, B) boolean block of
the negatives n to keep, take its entries and free it. Peak memory beyond
the output is O(chunk_size * B) and the work O(n_positive_pairs * B)
(about K * B^2 for a P x K batch, not B^3); ``chunk_size=None`` picks
about 2^24 entries. Triplets come out in lexicographic (a, p, n) order, the
order of pytorch-metric-learning's ``get_all_triplets_indices``.
"""
from __future__ import annotations

import torch

from .._arrays import check_choice
from ..distances import LpDistance
from ._base import Miner, auto_chunk, check_margin, label_masks

__all__ = ["AllPairsMiner", "AllTripletsMiner", "BatchAllMiner",
           "TripletMarginMiner", "TRIPLET_MARGIN_TYPES"]

TRIPLET_MARGIN_TYPES = ("all", "hard", "semihard", "easy")


def all_pairs_indices(labels: torch.Tensor,
                      ref_labels: torch.Tensor | None = None):
    """(a1, p, a2, n): every positive pair (a1 != p) and negative pair.

    With ``ref_labels`` p and n index the reference set and every pair
    with equal labels is positive (no self pair to exclude).
    """
    pos, neg = label_masks(labels, ref_labels)
    a1, p = pos.nonzero(as_tuple=True)
    a2, n = neg.nonzero(as_tuple=True)
    return a1, p, a2, n


def chunked_triplets(pos, neg, keep=None, D=None, chunk_size=None):
    """All (a, p, n) with pos[a, p], neg[a, n] and keep(d_ap, d_an) true.

    The positive pairs (a, p) are listed first (O(B^2)); then, for a chunk
    of c of them, a (c, B) block marks the negatives n of each. ``keep``
    receives d_ap (c, 1) and d_an (c, B) and returns a (c, B) boolean
    block (None keeps every valid triplet). Work is O(n_pos_pairs * B),
    not B^3, and memory beyond the output O(c * B).
    """
    chunk = auto_chunk(pos.shape[1], chunk_size, budget=2 ** 24)
    a_all, p_all = pos.nonzero(as_tuple=True)           # (P,), row-major
    out = []
    for start in range(0, len(a_all), chunk):      # loop over pair chunks
        a, p = a_all[start:start + chunk], p_all[start:start + chunk]
        valid = neg[a]                                      # (c, B)
        if keep is not None:
            valid = valid & keep(D[a, p][:, None], D[a])    # (c, B)
        i, n = valid.nonzero(as_tuple=True)
        out.append((a[i], p[i], n))
    if not out:
        empty = torch.empty(0, dtype=torch.int64, device=pos.device)
        return empty, empty, empty
    return tuple(torch.cat(t) for t in zip(*out))


class AllPairsMiner(Miner):
    r"""Every positive pair (a1, p), a1 != p, and every negative pair (a2, n).

    Taught in :doc:`chapter 4 </book/chapters/04_mining>`. With labels y,
    the positive pairs P and the negative pairs N of the batch:

    .. math::

       \begin{aligned}
       P &= \{(a_1, p) : y_{a_1} = y_p,\ a_1 \ne p\}, \\
       N &= \{(a_2, n) : y_{a_2} \ne y_n\}.
       \end{aligned}

    Returns pairs (a1, p, a2, n) in row-major order. O(B^2) output; the
    embeddings are only used for their batch size and device.
    """

    def mine(self, E, labels, R=None, ref_labels=None):
        return all_pairs_indices(labels, ref_labels)


class AllTripletsMiner(Miner):
    r"""Every valid triplet: y_a = y_p, p != a, y_n != y_a.

    Taught in :doc:`chapter 4 </book/chapters/04_mining>`. The triplets T
    and their number, at most B^3 / 4, with n_pos(a) positives and
    n_neg(a) negatives of anchor a:

    .. math::

       \begin{aligned}
       T &= \{(a, p, n) : y_a = y_p \ne y_n,\ a \ne p\}, \\
       \#T &= \textstyle\sum_a n_{pos}(a)\, n_{neg}(a).
       \end{aligned}

    The output is built in chunks of positive pairs: for a chunk of
    chunk_size pairs one (chunk_size, B) block marks their negatives, so
    peak memory beyond the output is O(chunk_size * B).
    """

    def __init__(self, chunk_size: int | None = None):
        super().__init__("euclidean")
        self.chunk_size = (None if chunk_size is None
                           else auto_chunk(1, chunk_size))

    def mine(self, E, labels, R=None, ref_labels=None):
        pos, neg = label_masks(labels, ref_labels)
        return chunked_triplets(pos, neg, chunk_size=self.chunk_size)


class BatchAllMiner(Miner):
    r"""Batch-all (Hermans, Beyer & Leibe, 2017): all valid triplets.

    Taught in :doc:`chapter 4 </book/chapters/04_mining>`. With
    ``margin=None`` this is :class:`AllTripletsMiner`. With a margin m
    only triplets with a non-zero hinge loss are kept,

    .. math::

       d_{ap} - d_{an} + m > 0,

    the hard and semi-hard ones (:func:`classify_triplets`), which is
    what the paper averages over ("batch all, non-zero").
    """

    def __init__(self, margin: float | None = None,
                 distance: str = "euclidean",
                 chunk_size: int | None = None):
        super().__init__(distance)
        self.margin = check_margin(margin, allow_none=True)
        self.chunk_size = (None if chunk_size is None
                           else auto_chunk(1, chunk_size))

    def mine(self, E, labels, R=None, ref_labels=None):
        pos, neg = label_masks(labels, ref_labels)
        if self.margin is None:
            return chunked_triplets(pos, neg, chunk_size=self.chunk_size)
        m = self.margin
        D = self.dissimilarity(E, R)                            # (B, R)
        return chunked_triplets(pos, neg, lambda ap, an: an < ap + m, D,
                                self.chunk_size)


class TripletMarginMiner(Miner):
    r"""All triplets of one type, with pytorch-metric-learning's semantics.

    Taught in :doc:`chapter 4 </book/chapters/04_mining>`. With
    delta = d_an - d_ap (for cosine, delta = s_ap - s_an) and margin m,
    type_of_triplets keeps the triplets with

    .. math::

       \begin{aligned}
       \text{"all":} \quad & \delta \le m, \\
       \text{"hard":} \quad & \delta \le \min(0, m), \\
       \text{"semihard":} \quad & 0 < \delta \le m, \\
       \text{"easy":} \quad & \delta > m.
       \end{aligned}

    Compared with :func:`classify_triplets`:

    * "all" is hard + semi-hard, plus delta = m;
    * "hard" is hard, plus the tie d_an = d_ap;
    * "semihard" is semi-hard, but d_an = d_ap is excluded and
      d_an = d_ap + m kept;
    * "easy" is easy, minus the tie delta = m.

    The boundaries (ties) follow pytorch-metric-learning 2.x, not
    :func:`dml.miners.classify_triplets`; they differ only on exact ties.
    Defaults are those of pytorch-metric-learning 2.9's
    ``TripletMarginMiner``: margin 0.2, "all", and its default distance
    ``LpDistance()``, the Euclidean distance between the L2-normalised
    embeddings (``distance=None``). ``distance="euclidean"`` uses the
    embeddings as given. A negative margin is allowed, as in pml ("all"
    then keeps only triplets with delta <= m < 0). Called as
    ``miner(embeddings, labels, ref_emb, ref_labels)``; with a reference
    set, p and n index it.
    The output is B^3-sized in the worst case; it is generated in chunks of
    positive pairs so that peak memory beyond it is O(chunk_size * B).
    """

    def __init__(self, margin: float = 0.2, type_of_triplets: str = "all",
                 distance=None, chunk_size: int | None = None):
        super().__init__(LpDistance() if distance is None else distance)
        self.margin = check_margin(margin, allow_negative=True)
        self.type_of_triplets = check_choice(
            type_of_triplets, "type_of_triplets", TRIPLET_MARGIN_TYPES)
        self.chunk_size = (None if chunk_size is None
                           else auto_chunk(1, chunk_size))

    def keep(self, d_ap, d_an):
        """Which n make (a, p, n) of the type: d_ap (c, 1), d_an (c, B)."""
        delta = d_an - d_ap                                   # (c, B)
        m = self.margin
        if self.type_of_triplets == "all":
            return delta <= m
        if self.type_of_triplets == "hard":
            return (delta <= m) & (delta <= 0)
        if self.type_of_triplets == "semihard":
            return (delta > 0) & (delta <= m)
        return delta > m

    def mine(self, E, labels, R=None, ref_labels=None):
        pos, neg = label_masks(labels, ref_labels)
        D = self.dissimilarity(E, R)                            # (B, R)
        return chunked_triplets(pos, neg, self.keep, D, self.chunk_size)

    def extra_repr(self) -> str:
        return (f"margin={self.margin}, type_of_triplets="
                f"{self.type_of_triplets!r}, distance={self.distance!r}")
