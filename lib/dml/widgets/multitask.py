"""Chapter 5's explorer: what the weights alpha, beta, gamma do to a sum."""
from __future__ import annotations

import matplotlib.pyplot as plt
from ..losses import dominant_task, multitask_loss
from ..losses.multitask import weighted_terms
from ._base import LABEL_STYLE, Explorer

__all__ = ["MultiTaskWeightExplorer"]

SEED_003_LOSSES = {"cls": 2.5, "seg": 0.8, "triplet": 0.3}
_SYMBOLS = {"cls": "alpha", "seg": "beta", "triplet": "gamma"}


class MultiTaskWeightExplorer(Explorer):
    """Chapter 5: L = alpha L_cls + beta L_seg + gamma L_triplet.

    The per-task losses L_t are fixed (default seed 003's question 3:
    2.5, 0.8, 0.3); three sliders set the weights w_t. Left: the
    weighted terms w_t L_t stacked into the total, with the dominant
    task (``dml.dominant_task``) named in the title. Right: each task's
    share w_t L_t / L of the total. Nothing is trained on a slider move.
    """

    def __init__(self, losses: dict | None = None,
                 weights: tuple = (1.0, 2.0, 5.0), w_max: float = 10.0):
        import ipywidgets as widgets
        self.losses = dict(SEED_003_LOSSES if losses is None else losses)
        if list(self.losses) != list(_SYMBOLS):
            raise ValueError("losses must name the tasks 'cls', 'seg', "
                             f"'triplet' in that order, got "
                             f"{list(self.losses)}.")
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
        return {"weights": weights, "terms": terms, "total": total,
                "shares": shares,
                "dominant": dominant_task(self.losses, weights)}

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
                      f"dominant: {state['dominant']}")
        ax1.legend(fontsize=8, loc="upper right")
        ax2.bar(names, [state["shares"][k] for k in names],
                color=[f"C{i}" for i in range(len(names))])
        ax2.set(ylim=(0, 1), ylabel="share of the total",
                title="w_t L_t / L")
        fig.tight_layout()
        return fig
