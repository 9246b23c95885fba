"""Cross-batch memory (Wang, Zhang, Huang & Scott, 2020).

Embeddings drift slowly once training has warmed up, so the embeddings of
the last few batches are still good stand-ins for what the network would
compute now. XBM keeps them, with their labels, in a ring buffer (a FIFO
queue of fixed size M) and computes a pair loss between the current batch
and the whole memory: with batch size B the loss sees B x M pairs per
step instead of B x B, at almost no cost (the memory is not
back-propagated through).

This module wraps any loss that accepts a reference set
(``loss(embeddings, labels, indices_tuple, ref_emb, ref_labels)``) with
pytorch-metric-learning 2.9's ``CrossBatchMemory`` signature and
behaviour.
"""
from __future__ import annotations

import torch

from .._arrays import check_labels, check_matrix, to_tensor
from ._tuples import all_pairs, pairs_to_triplets, triplets_to_pairs

__all__ = ["CrossBatchMemory", "remove_self_comparisons"]

#: The losses pytorch-metric-learning 2.9's CrossBatchMemory accepts.
SUPPORTED_LOSSES = (
    "AngularLoss", "CircleLoss", "ContrastiveLoss",
    "GeneralizedLiftedStructureLoss", "IntraPairVarianceLoss",
    "LiftedStructureLoss", "MarginLoss", "MultiSimilarityLoss", "NCALoss",
    "NTXentLoss", "SignalToNoiseRatioContrastiveLoss", "SupConLoss",
    "TripletMarginLoss", "TupletMarginLoss")


def remove_self_comparisons(indices_tuple, curr_batch_idx: torch.Tensor,
                            memory_size: int | None = None):
    """Drop the positive pairs (a, p) whose p is a's own memory slot.

    The current batch is in the memory too (at the slots
    ``curr_batch_idx``, (B,)), so every anchor a would be its own positive
    at slot curr_batch_idx[a], with distance 0. Those pairs go:

        keep (a, p)  iff  p != curr_batch_idx[a].

    Works on triplets (a, p, n) and on pairs (a1, p, a2, n) (the
    negative pairs are kept as they are). pytorch-metric-learning's
    ``loss_and_miner_utils.remove_self_comparisons``, vectorised;
    ``memory_size`` is accepted for its signature and not needed.
    """
    if len(indices_tuple) not in (3, 4):
        raise ValueError(f"indices_tuple must be triplets (a, p, n) or "
                         f"pairs (a1, p, a2, n), got {len(indices_tuple)} "
                         "tensors.")
    a, p = indices_tuple[0], indices_tuple[1]
    keep = p != curr_batch_idx[a]                               # (T,)
    if len(indices_tuple) == 3:
        return tuple(t[keep] for t in indices_tuple)
    return a[keep], p[keep], indices_tuple[2], indices_tuple[3]


class CrossBatchMemory(torch.nn.Module):
    r"""A loss between the batch and a memory of past embeddings (XBM).

    Wang, Zhang, Huang & Scott (2020), "Cross-Batch Memory for Embedding
    Learning". The memory M holds the last ``memory_size`` embeddings
    and labels (a ring buffer, oldest overwritten first). Each call
    first enqueues the batch (detached), then evaluates the wrapped
    loss with the batch as anchors and the memory as the reference set:

    .. math::

       \mathcal{L} = \ell\big(\{(x_i, y_i)\}_{i \le B};\
                       \{(\tilde x_j, \tilde y_j)\}_{j \in M}\big),

    where each x_i is compared with every memory entry tilde x_j (its
    own slot excluded, :func:`remove_self_comparisons`). Gradients flow
    into the batch only: the memory entries are constants.

    Signature, defaults and behaviour of pytorch-metric-learning 2.9's
    ``CrossBatchMemory(loss, embedding_size, memory_size=1024,
    miner=None)``: without a miner the loss gets every (batch, memory)
    pair; with one it gets ``miner(embeddings, labels, memory_emb,
    memory_labels)``; an ``indices_tuple`` given to the call (indices
    into batch and memory) is appended to those; ``enqueue_mask`` (B,)
    enqueues the marked rows only and uses the others as anchors (no
    self pairs to remove). Until the memory is full only its filled part
    is used.

    Parameters
    ----------
    loss : loss module
        One of pml's supported classes (``supported_losses()``), called as
        ``loss(embeddings, labels, indices_tuple, ref_emb, ref_labels)``.
    embedding_size : int
        D, the width of the embeddings.
    memory_size : int
        The number of embeddings kept, the size of M (pml's default 1024).
    miner : miner or None
        Called as ``miner(embeddings, labels, ref_emb, ref_labels)``.

    Attributes
    ----------
    embedding_memory
        (memory_size, D) buffer: the embeddings kept.
    label_memory
        (memory_size,) int64 buffer: their labels.
    queue_idx
        int: the next slot to write.
    has_been_filled
        bool: whether the ring has wrapped around once.
    curr_batch_idx
        (B,) tensor: the slots the last enqueued rows went to.
    """

    def __init__(self, loss, embedding_size: int, memory_size: int = 1024,
                 miner=None):
        super().__init__()
        self.check_loss_support(type(loss).__name__)
        for name, value in (("embedding_size", embedding_size),
                            ("memory_size", memory_size)):
            if isinstance(value, bool) or not isinstance(value, int) \
                    or value < 1:
                raise ValueError(f"{name} must be a positive integer, got "
                                 f"{value!r}.")
        self.loss = loss
        self.miner = miner
        self.embedding_size = embedding_size
        self.memory_size = memory_size
        self.reset_queue()

    @staticmethod
    def supported_losses():
        """The loss class names accepted (pml 2.9's list)."""
        return list(SUPPORTED_LOSSES)

    @classmethod
    def check_loss_support(cls, loss_name: str) -> None:
        """Raise a ValueError for a loss pml's CrossBatchMemory refuses."""
        if loss_name not in SUPPORTED_LOSSES:
            raise ValueError(f"CrossBatchMemory does not support "
                             f"{loss_name}; it needs a pair or triplet loss "
                             "that takes ref_emb, one of "
                             f"{', '.join(SUPPORTED_LOSSES)}.")

    def reset_queue(self) -> None:
        """Empty the memory: zeros, labels 0, next slot 0."""
        self.register_buffer("embedding_memory", torch.zeros(
            self.memory_size, self.embedding_size))
        self.register_buffer("label_memory", torch.zeros(
            self.memory_size, dtype=torch.int64))
        self.has_been_filled = False
        self.queue_idx = 0

    def forward(self, embeddings, labels, indices_tuple=None,
                enqueue_mask=None):
        E, y, enqueue_mask = self._check(embeddings, labels, indices_tuple,
                                         enqueue_mask)
        self.embedding_memory = self.embedding_memory.to(E.device, E.dtype)
        self.label_memory = self.label_memory.to(E.device)
        if enqueue_mask is not None:
            queue_E, queue_y = E[enqueue_mask], y[enqueue_mask]
            E, y = E[~enqueue_mask], y[~enqueue_mask]
        else:
            queue_E, queue_y = E, y
        self.add_to_memory(queue_E, queue_y, len(queue_E))
        filled = self.memory_size if self.has_been_filled else self.queue_idx
        E_mem = self.embedding_memory[:filled]                  # (M, D)
        L_mem = self.label_memory[:filled]                      # (M,)
        indices = self.create_indices_tuple(E, y, E_mem, L_mem,
                                            indices_tuple,
                                            enqueue_mask is None)
        return self.loss(E, y, indices, E_mem, L_mem)

    def _check(self, embeddings, labels, indices_tuple, enqueue_mask):
        if indices_tuple is not None and enqueue_mask is not None:
            raise ValueError("indices_tuple and enqueue_mask are mutually "
                             "exclusive; pass one of them.")
        E = check_matrix(to_tensor(embeddings, "embeddings"), "embeddings")
        if E.shape[1] != self.embedding_size:
            raise ValueError(f"embeddings have {E.shape[1]} columns but "
                             f"embedding_size={self.embedding_size}.")
        y = check_labels(labels, E.shape[0], "labels", device=E.device)
        if enqueue_mask is None:
            n_queue = E.shape[0]
        else:
            enqueue_mask = torch.as_tensor(enqueue_mask, device=E.device)
            if enqueue_mask.dtype != torch.bool or \
                    enqueue_mask.shape != (E.shape[0],):
                raise ValueError(f"enqueue_mask must be a bool tensor of "
                                 f"shape ({E.shape[0]},), one entry per "
                                 "embedding; got "
                                 f"{enqueue_mask.dtype} of shape "
                                 f"{tuple(enqueue_mask.shape)}.")
            n_queue = int(enqueue_mask.sum())
        if n_queue > self.memory_size:
            raise ValueError(f"{n_queue} embeddings to enqueue but "
                             f"memory_size={self.memory_size}; enqueue at "
                             "most memory_size per call.")
        return E, y, enqueue_mask

    def add_to_memory(self, embeddings, labels, batch_size: int) -> None:
        """Write the rows at the next ``batch_size`` slots of the ring."""
        self.curr_batch_idx = torch.arange(
            self.queue_idx, self.queue_idx + batch_size,
            device=labels.device) % self.memory_size            # (B,)
        self.embedding_memory[self.curr_batch_idx] = embeddings.detach()
        self.label_memory[self.curr_batch_idx] = labels.detach()
        previous = self.queue_idx
        self.queue_idx = (self.queue_idx + batch_size) % self.memory_size
        if not self.has_been_filled and self.queue_idx <= previous:
            self.has_been_filled = True

    def create_indices_tuple(self, embeddings, labels, E_mem, L_mem,
                             input_indices_tuple,
                             do_remove_self_comparisons: bool):
        """The (batch, memory) tuples the loss gets (pml's order).

        The miner's tuples (or every pair), without self pairs when the
        batch is in the memory, followed by ``input_indices_tuple``
        converted to the same kind (pairs or triplets).
        """
        if self.miner is not None:
            indices = tuple(self.miner(embeddings, labels, E_mem, L_mem))
        else:
            indices = all_pairs(labels, L_mem)
        if do_remove_self_comparisons:
            indices = remove_self_comparisons(indices, self.curr_batch_idx,
                                              self.memory_size)
        if input_indices_tuple is None:
            return indices
        extra = tuple(torch.as_tensor(t, device=labels.device)
                      for t in input_indices_tuple)
        if len(extra) == 3 and len(indices) == 4:
            extra = triplets_to_pairs(*extra)
        elif len(extra) == 4 and len(indices) == 3:
            extra = pairs_to_triplets(*extra)
        return tuple(torch.cat([x, z.to(x.device, x.dtype)])
                     for x, z in zip(indices, extra))

    def extra_repr(self) -> str:
        return (f"embedding_size={self.embedding_size}, "
                f"memory_size={self.memory_size}")
