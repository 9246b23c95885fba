"""Chapter 2's explorer: LMNN's push weight and margin."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..datasets import drug_compounds, train_test_split
from ..linear import LMNN
from ..neighbors import knn_accuracy
from ._base import LABEL_STYLE, Explorer

__all__ = ["LMNNExplorer"]


class LMNNExplorer(Explorer):
    """What LMNN's push weight mu and margin do to the metric.

    Taught in :doc:`chapter 2 </book/chapters/02_linear>`. Fits :class:`dml.linear.LMNN` on one drug-compound split for the chosen
    (mu, margin) and shows how much weight the learned M gives each
    descriptor (its diagonal, normalised to sum 1: informative descriptors
    0-2 in green, noise in grey) and the held-out kNN accuracy (k = 5),
    against Euclidean kNN on the same split. Fits are cached per setting.
    """

    # the static book: 15 LMNN fits at build time
    STATIC_GRID = {"mu": [0.0, 0.25, 0.5, 0.75, 1.0],
                   "margin": [0.5, 1.0, 4.0]}

    def __init__(self, seed: int = 0, max_iter: int = 100):
        import ipywidgets as widgets
        X, y, _ = drug_compounds(seed=seed)
        self.split = train_test_split(X, y, seed=seed)
        X_tr, X_te, y_tr, y_te = self.split
        self.euclidean = knn_accuracy(X_tr, y_tr, X_te, y_te, k=5)
        self.seed, self.max_iter, self._fits = seed, max_iter, {}
        super().__init__({
            "mu": widgets.FloatSlider(value=0.5, min=0.0, max=1.0,
                                      step=0.1, description="push weight mu",
                                      style=LABEL_STYLE),
            "margin": widgets.FloatSlider(value=1.0, min=0.1, max=5.0,
                                          step=0.1, description="margin",
                                          style=LABEL_STYLE),
        })

    def compute(self, mu: float, margin: float) -> dict:
        key = (round(mu, 3), round(margin, 3))
        if key not in self._fits:
            X_tr, X_te, y_tr, y_te = self.split
            model = LMNN(mu=mu, margin=margin, max_iter=self.max_iter,
                         random_state=self.seed).fit(X_tr, y_tr)
            W = model.components_
            M = model.get_mahalanobis_matrix()
            self._fits[key] = {
                "accuracy": knn_accuracy(X_tr, y_tr, X_te, y_te, k=5, W=W),
                "weights": np.diag(M) / np.trace(M),
                "n_iter": int(model.n_iter_)}
        return {"mu": mu, "margin": margin, **self._fits[key]}

    def draw(self, state: dict):
        fig, ax = plt.subplots(figsize=(8, 3.4))
        w = state["weights"]
        colors = ["C2"] * 3 + ["0.6"] * (len(w) - 3)
        ax.bar(np.arange(len(w)), w, color=colors)
        ax.set(xticks=np.arange(len(w)), xlabel="descriptor",
               ylabel="share of trace(M)", ylim=(0, 1),
               title=f"mu = {state['mu']:.1f}, margin = "
                     f"{state['margin']:.1f}: kNN accuracy "
                     f"{state['accuracy']:.1%} (Euclidean "
                     f"{self.euclidean:.1%})")
        fig.tight_layout()
        return fig
