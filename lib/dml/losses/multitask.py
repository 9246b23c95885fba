"""Several losses, one objective: fixed weights or learned uncertainty.

Fixed weights (seed 003):

    L = alpha * L_cls + beta * L_seg + gamma * L_triplet = sum_t w_t L_t

Seed 003's question 3: 1.0 * 2.5 + 2.0 * 0.8 + 5.0 * 0.3 = 5.6; the
weighted classification term (2.5) is the largest, ahead of segmentation
(1.6) and triplet (1.5).

Learned uncertainty weights (Kendall, Gal & Cipolla, 2018):

    L = sum_t exp(-s_t) * L_t + s_t,     s_t = log sigma_t^2 learnable.

A task with a large loss learns a large sigma_t and is down-weighted; the
+ s_t term stops every sigma_t from growing without bound. (The paper
writes 1 / (2 sigma^2) for regression tasks and 1 / sigma^2 for
classification; like most code, we use the single form above.)
"""
from __future__ import annotations

import torch

__all__ = ["multitask_loss", "dominant_task", "weighted_terms",
           "MultiTaskLoss"]


def _check_names(losses: dict, weights: dict) -> None:
    if set(losses) != set(weights):
        missing = sorted(set(weights) - set(losses))
        extra = sorted(set(losses) - set(weights))
        raise ValueError("losses and weights must name the same tasks; "
                         f"missing losses for {missing}, no weight for "
                         f"{extra}.")


def _value(x) -> float:
    """A float from a Python number or a scalar tensor (detached)."""
    return float(x.detach()) if isinstance(x, torch.Tensor) else float(x)


def weighted_terms(losses: dict, weights: dict) -> dict:
    """{name: w_t * L_t}."""
    _check_names(losses, weights)
    return {name: weights[name] * losses[name] for name in weights}


def multitask_loss(losses: dict, weights: dict):
    """Weighted sum sum_t w_t L_t of named losses (floats or tensors).

    >>> multitask_loss({"cls": 2.5, "seg": 0.8, "triplet": 0.3},
    ...                {"cls": 1.0, "seg": 2.0, "triplet": 5.0})  # ~5.6
    """
    return sum(weighted_terms(losses, weights).values())


def dominant_task(losses: dict, weights: dict) -> str:
    """Name of the task with the largest weighted term w_t L_t."""
    terms = weighted_terms(losses, weights)
    return max(terms, key=lambda name: _value(terms[name]))


class MultiTaskLoss(torch.nn.Module):
    """Combine named scalar losses into one (module docstring).

    Parameters
    ----------
    weights : dict name -> float
        The tasks and, for ``weighting="fixed"``, their weights w_t. For
        ``"uncertainty"`` only the names are used; s_t starts at
        ``-log(w_t)`` so that exp(-s_t) = w_t at the start.
    weighting : {"fixed", "uncertainty"}

    ``forward(losses)`` takes a dict name -> scalar tensor and returns the
    total. The last weighted terms (floats, without the + s_t) are kept in
    ``last_terms`` for reporting; ``log_vars`` holds the learnable s_t.
    """

    def __init__(self, weights: dict, weighting: str = "fixed"):
        super().__init__()
        if weighting not in ("fixed", "uncertainty"):
            raise ValueError(f"weighting={weighting!r} is not supported; "
                             "choose 'fixed' or 'uncertainty'.")
        if not weights:
            raise ValueError("weights is empty; name at least one task, "
                             "e.g. {'cls': 1.0, 'triplet': 1.0}.")
        # a fixed weight of 0 switches a head off; uncertainty weighting
        # starts at s_t = -log(w_t), so its weights must be positive
        floor_ok = (lambda w: w >= 0) if weighting == "fixed" else \
            (lambda w: w > 0)
        bad = [k for k, w in weights.items() if not floor_ok(float(w))]
        if bad:
            sign = ">= 0" if weighting == "fixed" else "> 0 (s_t = -log w_t)"
            raise ValueError(f"weights must be {sign}; fix those of {bad}.")
        self.names = list(weights)
        self.weighting = weighting
        self.weights = {k: float(w) for k, w in weights.items()}
        self.log_vars = None
        if weighting == "uncertainty":
            s0 = torch.tensor([-torch.log(torch.tensor(w)).item()
                               for w in self.weights.values()])
            self.log_vars = torch.nn.Parameter(s0)             # (T,)
        self.last_terms = {}

    def forward(self, losses: dict):
        _check_names(losses, self.weights)
        if self.weighting == "fixed":
            terms = weighted_terms(losses, self.weights)
            total = sum(terms.values())
        else:
            s = self.log_vars
            terms = {k: torch.exp(-s[t]) * losses[k]
                     for t, k in enumerate(self.names)}
            total = sum(terms.values()) + s.sum()
        self.last_terms = {k: _value(v) for k, v in terms.items()}
        return total
