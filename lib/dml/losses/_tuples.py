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

from .._arrays import BoundedIndices, check_labels

__all__ = ["all_pairs", "pair_masks", "indices_to_masks",
           "triplets_to_pairs", "pairs_to_triplets", "all_triplets",
           "valid_triplet_count", "anchor_chunks",
           "positives_and_negative_mask", "as_pairs",
           "as_triplets", "check_batch"]


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


def pair_masks(labels: torch.Tensor):
    """Boolean (B, B) masks of positive pairs (same label, i != j) and of
    negative pairs (different labels)."""
    same = labels[:, None] == labels[None, :]           # (B, B)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    return same & ~eye, ~same


def all_pairs(labels: torch.Tensor):
    r"""All positive and negative pairs of a batch: ``(a1, p, a2, n)``.

    Taught in :doc:`chapter 4 </book/chapters/04_mining>`:

    .. math::

       P = \{(i, j) : y_i = y_j,\ i \ne j\},

       N = \{(i, j) : y_i \ne y_j\}.

    Ordered pairs, so (i, j) and (j, i) both appear, as in
    pytorch-metric-learning's ``get_all_pairs_indices``.
    """
    pos, neg = pair_masks(labels)
    a1, p = torch.where(pos)
    a2, n = torch.where(neg)
    return a1, p, a2, n


def indices_to_masks(a1, p, a2, n, batch_size: int):
    """(B, B) boolean masks holding the listed positive / negative pairs.

    Used by the losses that sum over the *set* of positives or negatives of
    an anchor (multi-similarity, NT-Xent's negatives, lifted structure):
    a pair listed twice counts once there.
    """
    device = a1.device
    pos = torch.zeros(batch_size, batch_size, dtype=torch.bool,
                      device=device)
    neg = torch.zeros_like(pos)
    pos[a1, p] = True
    neg[a2, n] = True
    return pos, neg


def positives_and_negative_mask(indices_tuple, labels: torch.Tensor):
    """Positive pairs (a1, p) and the (B, B) mask of negative pairs.

    Without a miner's output: every positive pair and every negative pair
    of the batch; with it: only the listed ones (pairs or triplets).
    """
    a1, p, a2, n = as_pairs(indices_tuple, labels)
    if indices_tuple is None:
        _, neg = pair_masks(labels)                             # (B, B)
    else:
        _, neg = indices_to_masks(a1, p, a2, n, len(labels))    # (B, B)
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


def _check_indices(indices_tuple, batch_size: int):
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
    if isinstance(indices_tuple, BoundedIndices) and \
            indices_tuple.batch_size == batch_size:
        return out          # a dml miner's indices of this batch: in range
    # one host synchronisation for all the bounds, not two per tensor
    bounds = [torch.stack(torch.aminmax(t)) for t in out if t.numel()]
    if bounds:
        lo_hi = torch.stack([b.to(bounds[0].device) for b in bounds])
        if bool(((lo_hi[:, 0] < 0) | (lo_hi[:, 1] >= batch_size)).any()):
            raise ValueError("indices_tuple holds an index outside "
                             f"0..{batch_size - 1}; indices refer to rows "
                             "of embeddings.")
    return out


def as_pairs(indices_tuple, labels: torch.Tensor):
    """Pairs (a1, p, a2, n) from a miner's output, or all pairs if None."""
    if indices_tuple is None:
        return all_pairs(labels)
    idx = [t.to(labels.device)
           for t in _check_indices(indices_tuple, len(labels))]
    return tuple(idx) if len(idx) == 4 else triplets_to_pairs(*idx)


def as_triplets(indices_tuple, labels: torch.Tensor):
    """Triplets (a, p, n) from a miner's output (pairs are matched by
    anchor). ``None`` is not accepted here: the losses handle "all
    triplets" in chunks without listing them."""
    idx = [t.to(labels.device)
           for t in _check_indices(indices_tuple, len(labels))]
    return tuple(idx) if len(idx) == 3 else pairs_to_triplets(*idx)
