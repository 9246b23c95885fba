"""Chapter 1's explorer: weighing the drug compounds' noise descriptors."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..datasets import drug_compounds, train_test_split
from ..neighbors import knn_accuracy
from ._base import LABEL_STYLE, Explorer

__all__ = ["NoiseWeightExplorer"]


class NoiseWeightExplorer(Explorer):
    """Weigh the nine noise descriptors of the drug compounds.

    Taught in :doc:`chapter 1 </book/chapters/01_distances>`. The metric is W = diag(1, 1, 1, w, ..., w): w = 1 is the Euclidean
    distance, w = 0 the oracle that keeps descriptors 0-2 only. The figure
    shows kNN accuracy against w (mean over ``n_seeds`` data sets and
    splits) with the current w marked, and the share of the squared
    distance that the noise descriptors supply at that w.
    """

    # the static book: from the oracle (w = 0) to Euclidean (w = 1)
    STATIC_GRID = {"w": [0.0, 0.1, 0.25, 0.5, 0.75, 1.0], "k": [1, 5, 15]}

    def __init__(self, n_seeds: int = 5, grid: int = 11):
        import ipywidgets as widgets
        self.weights = np.linspace(0.0, 1.0, grid)
        self._splits = [train_test_split(*drug_compounds(seed=s)[:2], seed=s)
                        for s in range(n_seeds)]
        self.curve = {k: np.array([self._accuracy(w, k)
                                   for w in self.weights]) for k in (5,)}
        super().__init__({
            "w": widgets.FloatSlider(value=1.0, min=0.0, max=1.0, step=0.05,
                                     description="noise weight w",
                                     style=LABEL_STYLE),
            "k": widgets.IntSlider(value=5, min=1, max=15,
                                   description="k neighbours",
                                   style=LABEL_STYLE),
        })

    def _accuracy(self, w: float, k: int) -> float:
        W = np.diag(np.r_[np.ones(3), np.full(9, w)])
        return float(np.mean([knn_accuracy(Xtr, ytr, Xte, yte, k=k, W=W)
                              for Xtr, Xte, ytr, yte in self._splits]))

    def compute(self, w: float, k: int) -> dict:
        if k not in self.curve:
            self.curve[k] = np.array([self._accuracy(v, k)
                                      for v in self.weights])
        X = self._splits[0][0]
        var = X.var(0)                       # per-descriptor spread
        share = w**2 * var[3:].sum() / (var[:3].sum() + w**2 * var[3:].sum())
        return {"w": w, "k": k, "accuracy": self._accuracy(w, k),
                "curve": self.curve[k], "noise_share": float(share)}

    def draw(self, state: dict):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4),
                                       gridspec_kw={"width_ratios": [2, 1]})
        ax1.plot(self.weights, state["curve"], marker=".", color="0.5")
        ax1.plot([state["w"]], [state["accuracy"]], "o", color="C3", ms=9)
        ax1.set(xlabel="weight w of the noise descriptors",
                ylabel=f"kNN accuracy (k = {state['k']})", ylim=(0.5, 1.0),
                title=f"w = {state['w']:.2f}: accuracy "
                      f"{state['accuracy']:.1%}")
        share = state["noise_share"]
        ax2.bar(["signal (0-2)", "noise (3-11)"], [1 - share, share],
                color=["C2", "C7"])
        ax2.set(ylim=(0, 1), title="share of mean d²")
        fig.tight_layout()
        return fig
