"""Reductions: from one loss term per pair, triplet or anchor to a scalar.

Every loss of ``dml.losses`` computes a vector of terms (one per tuple) and
hands it to :func:`reduce_terms` with an explicit ``reduction``:

* ``"mean_nonzero"``  mean over the terms that are > 0 (pytorch-metric-
  learning's ``AvgNonZeroReducer``): with a hinge, most terms of a trained
  model are 0, and a plain mean would shrink the gradient as training goes;
* ``"mean"``          mean over all terms;
* ``"sum"``           sum of all terms;
* ``"none"``          the terms themselves.

A batch without a single valid tuple gives ``embeddings.sum() * 0``: a zero
that keeps the autograd graph, so ``loss.backward()`` still works, and
never a NaN (the mean of nothing).

:func:`masked_logsumexp` is the other reduction the softmax-family losses
need: log sum_j w_ij exp(x_ij) over a subset of each row, computed stably.
"""
from __future__ import annotations

import torch

__all__ = ["REDUCTIONS", "check_reduction", "reduce_terms", "zero_loss",
           "masked_logsumexp"]

REDUCTIONS = ("mean_nonzero", "mean", "sum", "none")


def check_reduction(reduction: str, allowed=REDUCTIONS) -> str:
    """Return ``reduction`` if it is one of ``allowed``, else raise."""
    if reduction not in allowed:
        raise ValueError(f"reduction={reduction!r} is not supported; choose "
                         f"one of {', '.join(map(repr, allowed))}.")
    return reduction


def zero_loss(reference: torch.Tensor) -> torch.Tensor:
    """A scalar 0 attached to ``reference``'s graph (its gradient is 0)."""
    return reference.sum() * 0.0


def reduce_terms(terms: torch.Tensor, reduction: str,
                 reference: torch.Tensor) -> torch.Tensor:
    """Reduce a 1-D tensor of loss terms.

    ``reference`` (usually the embeddings) provides the zero-with-gradient
    returned when there is no term, or, for ``"mean_nonzero"``, no term
    above 0.
    """
    if reduction == "none":
        return terms
    if terms.numel() == 0:
        return zero_loss(reference)
    if reduction == "sum":
        return terms.sum()
    if reduction == "mean":
        return terms.mean()
    positive = terms > 0
    n_positive = int(positive.sum())
    if n_positive == 0:
        return terms.sum() * 0.0
    return terms.sum() / n_positive                     # zeros add nothing


def masked_logsumexp(x: torch.Tensor, mask: torch.Tensor, dim: int = -1,
                     add_one: bool = False) -> torch.Tensor:
    """log(sum_{j: mask_j} exp(x_j)) along ``dim``, stable and NaN-free.

    With ``add_one=True`` the sum starts at 1: log(1 + sum_j exp(x_j)), the
    form of the multi-similarity, proxy-anchor and lifted losses.

    An empty subset gives log(0): here the most negative finite number of
    the dtype (or exactly 0 with ``add_one``), so that softplus or logaddexp
    of it gives 0 with a zero gradient. torch.logsumexp of a row full of
    -inf would give a NaN gradient, which is why masked entries are set to
    a finite value and kept out of the graph with ``torch.where``.
    """
    very_negative = torch.finfo(x.dtype).min
    z = torch.where(mask, x, torch.full_like(x, very_negative))
    if add_one:
        zero = torch.zeros_like(z.narrow(dim, 0, 1))
        z = torch.cat([z, zero], dim=dim)
    out = torch.logsumexp(z, dim=dim)
    if not add_one:
        empty = ~mask.any(dim=dim)
        out = torch.where(empty, torch.full_like(out, very_negative), out)
    return out
