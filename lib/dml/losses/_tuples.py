"""Index tuples: the pairs and triplets of a batch, and conversions.

A miner (``dml.miners``) returns index tuples of int64 tensors, in the
convention of pytorch-metric-learning:

* triplets ``(a, p, n)``: anchor a, positive p (label of a), negative n
  (another label); each of shape (T,);
* pairs ``(a1, p, a2, n)``: positive pairs (a1[k], p[k]) and negative
  pairs (a2[k], n[k]); the two halves may have different lengths.

Losses accept either kind. A pair loss given triplets uses the pairs (a, p)
and (a, n) of every triplet; a triplet loss given pairs builds every
triplet (a, p, n) whose positive pair and negative pair share the anchor.

No function here builds a (B, B, B) tensor: the number of triplets of a
batch is counted in O(B^2) by :func:`valid_triplet_count`, and a loss over
all triplets iterates over chunks of anchors with :func:`anchor_chunks`.
"""
from __future__ import annotations

import torch

from .._arrays import BoundedIndices, check_labels, to_device_of

__all__ = ["all_pairs", "pair_masks", "indices_to_masks",
           "triplets_to_pairs", "pairs_to_triplets", "all_triplets",
           "valid_triplet_count", "anchor_chunks",
           "positives_and_negative_mask", "as_pairs",
           "as_triplets", "check_batch", "check_pair_masks"]


def check_batch(embeddings, labels):
    """Validate a batch: (B, D) float tensor and B integer labels."""
    if not isinstance(embeddings, torch.Tensor):
        raise ValueError("embeddings must be a torch tensor of shape (B, D), "
                         f"got {type(embeddings).__name__}; use "
                         "torch.as_tensor(x, dtype=torch.float32).")
    if embeddings.ndim != 2 or not embeddings.is_floating_point():
        raise ValueError("embeddings must be a 2-D float tensor (B, D), got "
                         f"shape {tuple(embeddings.shape)} and dtype "
                         f"{embeddings.dtype}.")
    return check_labels(labels, embeddings.shape[0], "labels",
                        device=embeddings.device)


def pair_masks(labels: torch.Tensor, ref_labels: torch.Tensor | None = None):
    """Boolean (B, R) masks of positive pairs (same label) and of negative
    pairs (different labels).

    Without ``ref_labels`` (R = B, the batch with itself) a sample is not
    its own positive (i != j). With ``ref_labels`` (pytorch-metric-
    learning's ``ref_emb``) every (query, reference) pair counts: there is
    no self pair to exclude.
    """
    if ref_labels is not None:
        same = labels[:, None] == ref_labels[None, :]   # (B, R)
        return same, ~same
    same = labels[:, None] == labels[None, :]           # (B, B)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def all_pairs(labels: torch.Tensor, ref_labels: torch.Tensor | None = None):
    r"""All positive and negative pairs of a batch: ``(a1, p, a2, n)``.

    Taught in :doc:`chapter 4 </book/chapters/04_mining>`:

    .. math::

       P = \{(i, j) : y_i = y_j,\ i \ne j\},

       N = \{(i, j) : y_i \ne y_j\}.

    Ordered pairs, so (i, j) and (j, i) both appear, as in
    pytorch-metric-learning's ``get_all_pairs_indices``. With
    ``ref_labels``, i indexes the batch and j the reference set, and
    i = j is allowed (``pair_masks``).
    """
    pos, neg = pair_masks(labels, ref_labels)
    a1, p = torch.where(pos)
    a2, n = torch.where(neg)
    return a1, p, a2, n


def indices_to_masks(a1, p, a2, n, batch_size: int,
                     ref_size: int | None = None):
    """(B, R) boolean masks holding the listed positive / negative pairs
    (R = ``ref_size``, B by default).

    Used by the losses that sum over the *set* of positives or negatives of
    an anchor (multi-similarity, NT-Xent's negatives, lifted structure):
    a pair listed twice counts once there.
    """
    device = a1.device
    R = batch_size if ref_size is None else ref_size
    pos = torch.zeros(batch_size, R, dtype=torch.bool, device=device)
    neg = torch.zeros_like(pos)
    pos[a1, p] = True
    neg[a2, n] = True
    return pos, neg


def positives_and_negative_mask(indices_tuple, labels: torch.Tensor,
                                ref_labels: torch.Tensor | None = None):
    """Positive pairs (a1, p) and the (B, R) mask of negative pairs.

    Without a miner's output: every positive pair and every negative pair
    of the batch (against ``ref_labels`` if given); with it: only the
    listed ones (pairs or triplets).
    """
    a1, p, a2, n = as_pairs(indices_tuple, labels, ref_labels)
    if indices_tuple is None:
        _, neg = pair_masks(labels, ref_labels)                 # (B, R)
    else:
        R = len(labels) if ref_labels is None else len(ref_labels)
        _, neg = indices_to_masks(a1, p, a2, n, len(labels), R)  # (B, R)
    return a1, p, neg


def triplets_to_pairs(a, p, n):
    r"""Triplets (a, p, n) -> pairs (a, p, a, n), duplicates kept.

    As pytorch-metric-learning's ``convert_to_pairs``. Taught in
    :doc:`chapter 4 </book/chapters/04_mining>`:

    .. math::

       (a, p, n) \mapsto (a, p) \in P,\ (a, n) \in N .
    """
    return a, p, a, n


def pairs_to_triplets(a1, p, a2, n):
    r"""Pairs -> every triplet (a, p, n) with (a, p) and (a, n) listed.

    Taught in :doc:`chapter 4 </book/chapters/04_mining>`:

    .. math::

       T = \{(a, p, n) : (a, p) \in P,\ (a, n) \in N\}.

    For each positive pair (a1[k], p[k]) this takes every negative pair
    whose anchor a2 equals a1[k]. The order is that of pytorch-metric-
    learning's ``convert_to_triplets`` (positive pair by positive pair,
    negatives in their listed order), but memory is O(P + N + T) rather
    than a (P, N) comparison matrix.
    """
    order = torch.argsort(a2, stable=True)
    a2_sorted, n_sorted = a2[order], n[order]
    a1 = a1.contiguous()            # a miner's view; searchsorted copies
    start = torch.searchsorted(a2_sorted, a1)                    # (P,)
    stop = torch.searchsorted(a2_sorted, a1, right=True)         # (P,)
    counts = stop - start                                        # (P,)
    which = torch.repeat_interleave(
        torch.arange(len(a1), device=a1.device), counts)        # (T,)
    first = torch.cumsum(counts, 0) - counts                     # (P,)
    offset = torch.arange(len(which), device=a1.device) - first[which]
    return a1[which], p[which], n_sorted[start[which] + offset]


def all_triplets(labels: torch.Tensor):
    r"""Every valid triplet of the batch as explicit indices (a, p, n).

    Taught in :doc:`chapter 4 </book/chapters/04_mining>`:

    .. math::

       T = \{(a, p, n) : y_a = y_p \ne y_n,\ a \ne p\},

       \lvert T \rvert = \sum_a \lvert P(a) \rvert
                                   \lvert N(a) \rvert .

    The output itself has T = sum_a #P(a) #N(a) entries, up to ~B^3 / 2:
    use it for small batches; losses over all triplets use
    :func:`anchor_chunks` instead and never list them.
    """
    return pairs_to_triplets(*all_pairs(labels))


def valid_triplet_count(labels: torch.Tensor) -> int:
    """Number of valid triplets, sum_a #P(a) * #N(a), in O(B^2)."""
    pos, neg = pair_masks(labels)
    return int((pos.sum(1) * neg.sum(1)).sum())


def anchor_chunks(batch_size: int, max_elements: int = 2 ** 22):
    r"""Slices of anchors whose (chunk, B, B) block fits ``max_elements``.

    .. math::

       \mathrm{chunk} = \max\big(1,\ \lfloor \mathrm{max\_elements} / B^2
           \rfloor\big).

    16 MiB of float32 by default; one anchor at a time beyond B = 2048. Used
    for the all-triplets losses of :doc:`chapter 3
    </book/chapters/03_deep_losses>` and the miners of :doc:`chapter 4
    </book/chapters/04_mining>`.
    """
    step = max(1, max_elements // max(1, batch_size * batch_size))
    for start in range(0, batch_size, step):
        yield slice(start, min(start + step, batch_size))


def _check_indices(indices_tuple, batch_size: int,
                   ref_size: int | None = None):
    if len(indices_tuple) not in (3, 4):
        raise ValueError("indices_tuple must be triplets (a, p, n) or pairs "
                         f"(a1, p, a2, n), got {len(indices_tuple)} "
                         "tensors.")
    out = []
    for t in indices_tuple:
        t = torch.as_tensor(t).to(torch.int64)
        if t.ndim != 1:
            raise ValueError("each tensor of indices_tuple must be 1-D, got "
                             f"shape {tuple(t.shape)}.")
        out.append(t)
    if ref_size is None and isinstance(indices_tuple, BoundedIndices) \
            and indices_tuple.batch_size == batch_size:
        return out          # a dml miner's indices of this batch: in range
    R = batch_size if ref_size is None else ref_size
    # anchors (a, or a1 and a2) index embeddings; p and n the reference
    sizes = [batch_size, R, R] if len(out) == 3 else \
        [batch_size, R, batch_size, R]
    # one host synchronisation for all the bounds, not two per tensor
    bounds = [torch.stack(torch.aminmax(t)) for t in out if t.numel()]
    if bounds:
        lo_hi = torch.stack([b.to(bounds[0].device) for b in bounds])
        hi = torch.tensor([s for s, t in zip(sizes, out) if t.numel()],
                          device=lo_hi.device)
        bad = (lo_hi[:, 0] < 0) | (lo_hi[:, 1] >= hi)
        if bool(bad.any()):
            k = int(bad.nonzero()[0, 0])
            which = [i for i, t in enumerate(out) if t.numel()][k]
            rows = "ref_emb" if (ref_size is not None
                                 and which % 2 == 1) else "embeddings"
            raise ValueError(f"indices_tuple[{which}] holds an index "
                             f"outside 0..{int(hi[k]) - 1}; indices refer "
                             f"to rows of {rows}.")
    return out


def as_pairs(indices_tuple, labels: torch.Tensor,
             ref_labels: torch.Tensor | None = None):
    """Pairs (a1, p, a2, n) from a miner's output, or all pairs if None.

    With ``ref_labels`` the anchors a1, a2 index the batch and p, n the
    reference set.
    """
    if indices_tuple is None:
        return all_pairs(labels, ref_labels)
    R = None if ref_labels is None else len(ref_labels)
    idx = [t.to(labels.device)
           for t in _check_indices(indices_tuple, len(labels), R)]
    return tuple(idx) if len(idx) == 4 else triplets_to_pairs(*idx)


def as_triplets(indices_tuple, labels: torch.Tensor,
                ref_labels: torch.Tensor | None = None):
    """Triplets (a, p, n) from a miner's output (pairs are matched by
    anchor). ``None`` is not accepted here: the losses handle "all
    triplets" in chunks without listing them. With ``ref_labels``, a
    indexes the batch and p, n the reference set."""
    R = None if ref_labels is None else len(ref_labels)
    idx = [t.to(labels.device)
           for t in _check_indices(indices_tuple, len(labels), R)]
    return tuple(idx) if len(idx) == 3 else pairs_to_triplets(*idx)


def check_pair_masks(S, pos_mask, neg_mask):
    """Validate (B, R) pair masks against the similarity matrix ``S``:
    boolean, S's shape and device, positive and negative disjoint."""
    if S.ndim != 2:
        raise ValueError("S must be a 2-D (anchors x candidates) matrix of "
                         f"similarities, got shape {tuple(S.shape)}.")
    pos_mask = to_device_of(pos_mask, S, "pos_mask", dtype=torch.bool)
    neg_mask = to_device_of(neg_mask, S, "neg_mask", dtype=torch.bool)
    for name, mask in (("pos_mask", pos_mask), ("neg_mask", neg_mask)):
        if mask.shape != S.shape:
            raise ValueError(f"{name} must have the shape of S, "
                             f"{tuple(S.shape)}; got {tuple(mask.shape)}.")
    if bool((pos_mask & neg_mask).any()):
        raise ValueError("pos_mask and neg_mask overlap: a pair is either "
                         "positive or negative.")
    return pos_mask, neg_mask
