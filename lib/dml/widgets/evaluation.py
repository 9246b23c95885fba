"""Chapter 6's explorer: a verification threshold on the ROC curve."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .._arrays import to_numpy
from ..metrics import confusion_counts, roc_curve, tpr_fpr
from ._base import LABEL_STYLE, Explorer

__all__ = ["ROCExplorer"]


class ROCExplorer(Explorer):
    """A verification threshold, its confusion counts and ROC.

    Taught in :doc:`chapter 6 </book/chapters/06_evaluation>`.
    ``distances`` and ``same`` are pair distances and genuine flags (e.g.
    from :func:`dml.pair_scores`). A pair is declared "same" when its
    distance is <= the threshold. Left: genuine and impostor histograms
    with the threshold; right: the ROC curve (:func:`dml.roc_curve`) with
    the operating point of this threshold; the title gives TP, FP, TN, FN.
    """

    def __init__(self, distances, same):
        import ipywidgets as widgets
        self.d = to_numpy(distances).astype(float)     # CUDA tensors too
        self.same = to_numpy(same).astype(bool)
        fpr, tpr, _ = roc_curve(self.d, self.same, higher_is_similar=False)
        self.fpr, self.tpr = np.asarray(fpr), np.asarray(tpr)
        lo, hi = float(self.d.min()), float(self.d.max())
        super().__init__({
            "threshold": widgets.FloatSlider(
                value=float(np.median(self.d)), min=lo, max=hi,
                step=(hi - lo) / 200, description="threshold on d",
                style=LABEL_STYLE, readout_format=".2f"),
        })

    def compute(self, threshold: float) -> dict:
        tp, fp, tn, fn = confusion_counts(self.d, self.same, threshold,
                                          higher_is_similar=False)
        tpr, fpr = tpr_fpr(tp, fp, tn, fn)
        return {"threshold": threshold, "tp": tp, "fp": fp, "tn": tn,
                "fn": fn, "tpr": tpr, "fpr": fpr,
                "accuracy": (tp + tn) / (tp + fp + tn + fn)}

    def draw(self, state: dict):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
        edges = np.histogram_bin_edges(self.d, bins=40)
        ax1.hist(self.d[self.same], bins=edges, alpha=0.6, color="C0",
                 label="genuine (same class)")
        ax1.hist(self.d[~self.same], bins=edges, alpha=0.6, color="C3",
                 label="impostor")
        ax1.axvline(state["threshold"], color="k", lw=1.5)
        ax1.set(xlabel="pair distance d", ylabel="pairs",
                title=f"TP {state['tp']}  FP {state['fp']}  "
                      f"TN {state['tn']}  FN {state['fn']}")
        ax1.legend(fontsize=9)
        ax2.plot(self.fpr, self.tpr, lw=2)
        ax2.plot([0, 1], [0, 1], "--", color="0.6", lw=1)
        ax2.plot([state["fpr"]], [state["tpr"]], "o", color="C3", ms=9)
        ax2.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="FPR", ylabel="TPR",
                title=f"TPR {state['tpr']:.3f} at FPR {state['fpr']:.3f}")
        fig.tight_layout()
        return fig
