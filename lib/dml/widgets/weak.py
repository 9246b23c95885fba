"""Chapter 7's explorer: what the uniformity penalty does to a classifier
trained on coarse labels (Chen & Verma, *Weak Metric Learning*, Eqs. 1-2)."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..datasets import merged_blobs
from ..losses import uniformity_penalty
from ..metrics import neighborhood_purity
from ..train import train_coarse_classifier
from ._base import LABEL_STYLE, Explorer

__all__ = ["UniformityExplorer"]


class UniformityExplorer(Explorer):
    """The uniformity weight lambda on merged_blobs, C logits.

    Taught in :doc:`chapter 7 </book/chapters/07_weak>`. For every lambda of ``lams`` a classifier is trained once, at
    construction (:func:`dml.train.train_coarse_classifier`, 4 coarse labels, C
    logits), so moving the slider only looks the fit up. Left: the batch
    average p_bar of the softmax against the uniform 1/C, with the penalty
    KL(p_bar || uniform). Right: the mean softmax of each fine blob,
    stacked by logit, so you see whether the spare logit picks out one
    sub-cluster (blob 3 or 4) or is shared by both; the title gives the
    fine-label neighbourhood purity (k = 10) of the penultimate layer.
    """

    def __init__(self, lams=(0.0, 0.5, 1.0, 2.0, 5.0), C: int = 5,
                 seed: int = 0, epochs: int = 200):
        import ipywidgets as widgets
        self.data = merged_blobs(seed=0)
        self.C = C
        self.lams = tuple(float(v) for v in lams)
        self.fits = {lam: train_coarse_classifier(
            self.data.X, self.data.y_coarse, C, lam, seed=seed,
            epochs=epochs) for lam in self.lams}
        super().__init__({
            "lam": widgets.SelectionSlider(
                options=self.lams, value=self.lams[0],
                description="uniformity weight λ", style=LABEL_STYLE),
        })

    def compute(self, lam: float) -> dict:
        Z, logits = self.fits[lam]
        p = torch.softmax(torch.as_tensor(logits), 1).numpy()   # (N, C)
        y = self.data.y
        per_blob = np.stack([p[y == f].mean(0)
                             for f in range(len(self.data.names))])
        return {"lam": lam, "logits": logits, "Z": Z,
                "p_bar": p.mean(0), "per_blob": per_blob,   # (C,), (5, C)
                "penalty": float(uniformity_penalty(logits)),
                "purity": neighborhood_purity(Z, y, k=10)}

    def draw(self, state: dict):
        C = self.C
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
        ax1.bar(np.arange(C), state["p_bar"], color="C0")
        ax1.axhline(1 / C, color="k", ls="--", lw=1, label="uniform 1/C")
        ax1.set(xlabel="logit i", ylabel=r"$\bar p_i$", ylim=(0, 0.5),
                xticks=range(C),
                title=f"λ = {state['lam']:g}: " r"KL($\bar p$ ‖ uniform) = "
                      f"{state['penalty']:.3f}")
        ax1.legend(fontsize=9)
        bottom = np.zeros(len(state["per_blob"]))
        for i in range(C):                         # one stacked layer/logit
            ax2.bar(np.arange(len(bottom)), state["per_blob"][:, i],
                    bottom=bottom, color=f"C{i}", label=f"logit {i}")
            bottom += state["per_blob"][:, i]
        ax2.set(xticks=range(len(bottom)), xticklabels=self.data.names,
                ylabel="mean softmax", ylim=(0, 1),
                title=f"fine-label purity (k = 10) = {state['purity']:.3f}")
        ax2.legend(fontsize=9, loc="center left", bbox_to_anchor=(1.0, 0.5))
        fig.tight_layout()
        return fig
