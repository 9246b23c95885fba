"""Chapter 5's explorer: what the weights alpha, beta, gamma do to a sum."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..losses import dominant_by_gradient, multitask_loss
from ..losses.multitask import weighted_terms
from ._base import LABEL_STYLE, Explorer

__all__ = ["MultiTaskWeightExplorer"]

# the worked example of the book's 5.1 ("Metric Learning")
WORKED_LOSSES = {"cls": 2.5, "seg": 0.8, "triplet": 0.3}
_SYMBOLS = {"cls": "alpha", "seg": "beta", "triplet": "gamma"}


class MultiTaskWeightExplorer(Explorer):
    """The weights of L = alpha L_cls + beta L_seg + gamma L_triplet.

    Taught in :doc:`chapter 5 </book/chapters/05_multitask>`. The per-task losses L_t are fixed (default: the worked example of
    the book's 5.1, 2.5, 0.8, 0.3); three sliders set the weights w_t.
    Left: the weighted terms w_t L_t stacked into the total, with the
    largest term named in the title (the loss-size reading of "which
    task dominates", a heuristic). Right: each task's share w_t L_t / L
    of the total; or, when the per-task gradient norms ||g_t|| at the
    shared layer are given (``grad_norms``, e.g. measured with
    ``dml.task_gradient_norms``), the weighted gradient norms
    w_t ||g_t|| and the task that really dominates the update
    (``dml.dominant_by_gradient``). Nothing is trained on a slider move.

    ``state`` holds ``weights``, ``terms``, ``total``, ``shares``,
    ``largest_term``, and ``grad_terms`` / ``dominant`` (None without
    ``grad_norms``).
    """

    def __init__(self, losses: dict | None = None,
                 weights: tuple = (1.0, 2.0, 5.0), w_max: float = 10.0,
                 grad_norms: dict | None = None):
        import ipywidgets as widgets
        self.losses = dict(WORKED_LOSSES if losses is None else losses)
        if list(self.losses) != list(_SYMBOLS):
            raise ValueError("losses must name the tasks 'cls', 'seg', "
                             f"'triplet' in that order, got "
                             f"{list(self.losses)}.")
        if grad_norms is not None and set(grad_norms) != set(_SYMBOLS):
            raise ValueError("grad_norms must name the tasks 'cls', 'seg', "
                             f"'triplet', got {sorted(grad_norms)}.")
        if grad_norms is not None and min(grad_norms.values()) < 0:
            raise ValueError("grad_norms are norms ||g_t|| and must be "
                             ">= 0.")
        self.grad_norms = None if grad_norms is None else \
            {k: float(grad_norms[k]) for k in _SYMBOLS}
        super().__init__({
            name: widgets.FloatSlider(value=w, min=0.0, max=w_max,
                                      step=0.1, style=LABEL_STYLE,
                                      description=f"{_SYMBOLS[name]} "
                                                  f"({name})")
            for name, w in zip(_SYMBOLS, weights)})

    def compute(self, cls: float, seg: float, triplet: float) -> dict:
        weights = {"cls": cls, "seg": seg, "triplet": triplet}
        terms = weighted_terms(self.losses, weights)
        total = multitask_loss(self.losses, weights)
        shares = {k: (v / total if total > 0 else 0.0)
                  for k, v in terms.items()}
        state = {"weights": weights, "terms": terms, "total": total,
                 "shares": shares,
                 "largest_term": max(terms, key=terms.get),
                 "grad_terms": None, "dominant": None}
        if self.grad_norms is not None:
            # a norm ||g_t|| is the norm of the 1-vector [||g_t||]
            grads = {k: np.array([v]) for k, v in self.grad_norms.items()}
            state["grad_terms"] = {k: weights[k] * v
                                   for k, v in self.grad_norms.items()}
            state["dominant"] = dominant_by_gradient(grads, weights)
        return state

    def draw(self, state: dict):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
        names = list(state["terms"])
        bottom = 0.0
        for i, name in enumerate(names):
            value = state["terms"][name]
            ax1.bar([0], [value], bottom=bottom, color=f"C{i}", width=0.8,
                    label=f"{_SYMBOLS[name]} L_{name} = {value:.2f}")
            bottom += value
        ax1.set(ylabel="weighted loss", xlim=(-0.6, 2.0), xticks=[0],
                xticklabels=["total L"],
                ylim=(0, max(1.0, state["total"] * 1.15)),
                title=f"L = {state['total']:.2f}; "
                      f"largest term: {state['largest_term']}")
        ax1.legend(fontsize=9, loc="upper right")
        colors = [f"C{i}" for i in range(len(names))]
        if state["grad_terms"] is None:
            ax2.bar(names, [state["shares"][k] for k in names],
                    color=colors)
            ax2.set(ylim=(0, 1), ylabel="share of the total",
                    title="w_t L_t / L (loss-size reading)")
        else:
            values = [state["grad_terms"][k] for k in names]
            ax2.bar(names, values, color=colors)
            ax2.set(ylim=(0, max(1e-12, max(values)) * 1.15),
                    ylabel="w_t ||g_t|| at the shared layer",
                    title=f"gradient: dominant {state['dominant']}")
        fig.tight_layout()
        return fig
