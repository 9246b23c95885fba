"""Reductions: from one loss term per pair, triplet or anchor to a scalar.

Every loss of ``dml.losses`` computes a vector of terms (one per tuple) and
hands it to :func:`reduce_terms` with an explicit ``reduction``:

* ``"mean_nonzero"``  mean over the terms that are > 0 (pytorch-metric-
  learning's ``AvgNonZeroReducer``): with a hinge, most terms of a trained
  model are 0, and a plain mean would shrink the gradient as training goes;
* ``"mean"``          mean over all terms;
* ``"sum"``           sum of all terms;
* ``"none"``          the terms themselves.

pytorch-metric-learning's reducer objects for these four cases are here
too, under its names (``AvgNonZeroReducer``, ``MeanReducer``,
``SumReducer``, ``DoNothingReducer``): a loss takes either
``reduction="mean_nonzero"`` or ``reducer=AvgNonZeroReducer()``
(:func:`resolve_reducer`). Its other reducers (thresholds, class
weights, per-anchor, divisor) are not.

A batch without a single valid tuple gives ``embeddings.sum() * 0``: a zero
that keeps the autograd graph, so ``loss.backward()`` still works, and
never a NaN (the mean of nothing).

:func:`masked_logsumexp` is the other reduction the softmax-family losses
need: log sum_j w_ij exp(x_ij) over a subset of each row, computed stably.
"""
from __future__ import annotations

import math

import torch

from .._arrays import check_choice

__all__ = ["REDUCTIONS", "check_reduction", "reduce_terms", "zero_loss",
           "masked_logsumexp", "BaseReducer", "AvgNonZeroReducer",
           "MeanReducer", "SumReducer", "DoNothingReducer",
           "resolve_reducer"]

REDUCTIONS = ("mean_nonzero", "mean", "sum", "none")


def check_reduction(reduction: str, allowed=REDUCTIONS) -> str:
    """Return ``reduction`` if it is one of ``allowed``, else raise."""
    return check_choice(reduction, "reduction", allowed)


def zero_loss(reference: torch.Tensor) -> torch.Tensor:
    """A scalar 0 attached to ``reference``'s graph (its gradient is 0)."""
    return reference.sum() * 0.0


def reduce_terms(terms: torch.Tensor, reduction: str,
                 reference: torch.Tensor) -> torch.Tensor:
    """Reduce a 1-D tensor of loss terms.

    ``reference`` (usually the embeddings) provides the zero-with-gradient
    returned when there is no term, or, for ``"mean_nonzero"``, no term
    above 0. Half-precision terms (float16, bfloat16: autocast, or half
    embeddings) are summed in float32 and the result is float32: a
    bfloat16 sum of B terms keeps 8 bits and drops the small ones.
    """
    if reduction == "none":
        return terms
    if terms.dtype in (torch.float16, torch.bfloat16):
        terms = terms.float()
    if terms.numel() == 0:
        return zero_loss(reference)
    if reduction == "sum":
        return terms.sum()
    if reduction == "mean":
        return terms.mean()
    # no host sync (int(n) would wait for the device): a where() instead
    n_positive = (terms > 0).sum()
    total = terms.sum()
    return torch.where(n_positive > 0, total / n_positive.clamp_min(1),
                       total * 0.0)                     # zeros add nothing


class BaseReducer(torch.nn.Module):
    """A reduction as an object, pytorch-metric-learning's reducer names.

    ``reducer(terms, reference)`` is ``reduce_terms(terms,
    reducer.reduction, reference)``; ``reduction`` is the name it stands
    for ("mean_nonzero", "mean", "sum" or "none"). A loss built with ``reducer=`` keeps
    it as its ``reducer`` attribute, as in pml.
    """

    reduction = "mean"

    def forward(self, terms: torch.Tensor,
                reference: torch.Tensor) -> torch.Tensor:
        return reduce_terms(terms, self.reduction, reference)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class AvgNonZeroReducer(BaseReducer):
    """Mean over the terms > 0 (pml's ``AvgNonZeroReducer``); 0 if none."""

    reduction = "mean_nonzero"


class MeanReducer(BaseReducer):
    """Mean over all terms (pml's ``MeanReducer``)."""

    reduction = "mean"


class SumReducer(BaseReducer):
    """Sum of all terms (pml's ``SumReducer``)."""

    reduction = "sum"


class DoNothingReducer(BaseReducer):
    """The terms themselves (pml's ``DoNothingReducer``; pml returns its
    loss dictionary, dml the tensor of terms)."""

    reduction = "none"


_REDUCERS = {"mean_nonzero": AvgNonZeroReducer, "mean": MeanReducer,
             "sum": SumReducer, "none": DoNothingReducer}


def resolve_reducer(reducer=None, reduction: str | None = None,
                    default: str = "mean",
                    allowed=REDUCTIONS) -> BaseReducer:
    """The reducer object of a loss, from ``reducer=`` or ``reduction=``.

    ``reducer`` is one of the objects above, ``reduction`` one of the names
    of :data:`REDUCTIONS`; give at most one. Neither gives the loss's
    ``default`` (pml's default reducer of that loss). A reducer of
    pytorch-metric-learning itself, or one dml does not have, is refused
    with the list of what is accepted.
    """
    if reducer is not None and reduction is not None:
        raise ValueError("pass either reducer= (an object such as "
                         "AvgNonZeroReducer()) or reduction= (a name), not "
                         "both.")
    if reducer is None:
        name = check_reduction(default if reduction is None else reduction,
                               allowed)
        return _REDUCERS[name]()
    if not isinstance(reducer, BaseReducer):
        names = ", ".join(c.__name__ for c in _REDUCERS.values())
        raise ValueError(
            f"reducer must be a dml reducer ({names} from dml.reducers), "
            f"got {type(reducer).__module__}."
            f"{type(reducer).__name__}; pytorch-metric-learning's other "
            "reducers are not available.")
    check_reduction(reducer.reduction, allowed)
    return reducer


class _Log1pSumExp(torch.autograd.Function):
    """log(1 + sum_j exp(z_j)) over the last dimension, derivative by hand.

    Forward: m = max(0, max_j z_j); e_j = exp(max(z_j - m, floor));
    total = exp(-m) + sum_j e_j; value m + log(total). Backward:
    d value / d z_j = e_j / total (the soft-max weights). A few passes
    over z, in place, where autograd's chain of sub, clamp, exp and sum
    saves and revisits a (B, B) tensor at each step (1.6x slower for the
    multi-similarity loss at B = 4096). First derivatives only.
    """

    @staticmethod
    def forward(ctx, z, floor):
        m = z.amax(-1, keepdim=True).clamp_min(0.0)            # (..., 1)
        e = (z - m).clamp_min_(floor).exp_()
        total = e.sum(-1, keepdim=True).add_(torch.exp(-m))
        ctx.save_for_backward(e, total)
        return (m + total.log()).squeeze(-1)

    @staticmethod
    def backward(ctx, grad):
        e, total = ctx.saved_tensors
        return e * (grad[..., None] / total), None


def masked_logsumexp(x: torch.Tensor, mask: torch.Tensor, dim: int = -1,
                     add_one: bool = False) -> torch.Tensor:
    """log(sum_{j: mask_j} exp(x_j)) along ``dim``, stable and NaN-free.

    With ``add_one=True`` the sum starts at 1: log(1 + sum_j exp(x_j)), the
    form of the multi-similarity, proxy-anchor and lifted losses.

    An empty subset gives log(0): here the most negative finite number of
    the dtype (or exactly 0 with ``add_one``), so that softplus or logaddexp
    of it gives 0 with a zero gradient. torch.logsumexp of a row full of
    -inf would give a NaN gradient, which is why masked entries are set to
    a finite value (``masked_fill``, whose gradient there is 0).

    With ``add_one`` the "1 +" is exp(0) written into the stable sum:
    with m = max(0, max_j z_j),
        log(1 + sum_j exp(z_j)) = m + log(exp(-m) + sum_j exp(z_j - m)),
    m held constant for the gradient (the value does not depend on it).
    Each z_j - m is floored at log(tiny) + 7, about a thousand times the
    dtype's smallest normal number: an exp that would land among (or near)
    the subnormals, or underflow to 0, takes torch's vectorised CPU kernel
    a 4-15x slower path, and what the floor changes is a term below
    ~1e-35 (float32) next to a sum of at least 1.

    Half-precision inputs (float16, bfloat16) are summed in float32 and
    the result is float32: float16's floor would be log(tiny) + 7 = -2.7,
    which would raise every term more than 2.7 below the largest, and a
    half-precision sum of many terms loses the small ones.
    """
    if x.dtype in (torch.float16, torch.bfloat16):
        return masked_logsumexp(x.float(), mask, dim, add_one)
    info = torch.finfo(x.dtype)
    z = x.masked_fill(~mask, info.min)
    if add_one:
        floor = math.log(info.tiny) + 7.0
        return _Log1pSumExp.apply(z.movedim(dim, -1), floor)
    very_negative = info.min
    out = torch.logsumexp(z, dim=dim)
    if not add_one:
        empty = ~mask.any(dim=dim)
        out = torch.where(empty, torch.full_like(out, very_negative), out)
    return out
