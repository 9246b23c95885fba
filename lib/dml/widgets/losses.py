"""Chapter 3's explorer: contrastive and triplet losses against the margin."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..losses import contrastive_loss, triplet_loss
from ._base import LABEL_STYLE, Explorer

__all__ = ["LossLandscapeExplorer"]


class LossLandscapeExplorer(Explorer):
    """The contrastive and triplet losses as the margin moves.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`. Left: the contrastive loss of a similar and of a dissimilar pair as a
    function of their distance d (``dml.contrastive_loss``, variant
    ``form``). Right: the triplet loss over the plane (d_ap, d_an)
    (``dml.triplet_loss``, plain or squared distances, hinge or soft);
    the dashed line d_an = d_ap + m is where the hinge switches off, so
    every triplet above it costs nothing.
    """

    # the static book: 4 margins x 3 contrastive forms x 3 triplet losses
    STATIC_GRID = {"margin": [0.0, 0.5, 1.0, 1.5]}

    def __init__(self, d_max: float = 2.0, n_grid: int = 201):
        import ipywidgets as widgets
        self.d = np.linspace(0.0, d_max, n_grid)
        super().__init__({
            "margin": widgets.FloatSlider(value=0.5, min=0.0, max=1.5,
                                          step=0.05, description="margin m",
                                          style=LABEL_STYLE),
            "form": widgets.Dropdown(
                options=["hadsell", "margin_on_d2", "linear"],
                value="hadsell", description="contrastive form",
                style=LABEL_STYLE),
            "triplet": widgets.Dropdown(
                options=["plain", "squared", "soft"], value="plain",
                description="triplet loss", style=LABEL_STYLE),
        })

    def compute(self, margin: float, form: str, triplet: str) -> dict:
        d = self.d
        ones, zeros = np.ones_like(d), np.zeros_like(d)
        pos = contrastive_loss(d, ones, margin, form=form)      # (n,)
        neg = contrastive_loss(d, zeros, margin, form=form)     # (n,)
        d_ap, d_an = np.meshgrid(d, d)                          # (n, n)
        L = triplet_loss(d_ap, d_an, margin, squared=triplet == "squared",
                         soft=triplet == "soft")                # (n, n)
        return {"margin": margin, "form": form, "triplet": triplet,
                "pos": pos, "neg": neg, "triplet_loss": L,
                "zero_fraction": float((L == 0).mean())}

    def draw(self, state: dict):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.8))
        d, m = self.d, state["margin"]
        ax1.plot(d, state["pos"], label="similar pair (y = 1)")
        ax1.plot(d, state["neg"], label="dissimilar pair (y = 0)")
        ax1.axvline(m, color="0.5", ls="--", lw=1)
        ax1.set(xlabel="distance d", ylabel="loss",
                title=f"contrastive ({state['form']}), m = {m:.2f}",
                ylim=(0, max(1.0, float(state["neg"].max()) * 1.05)))
        ax1.legend(fontsize=9)
        image = ax2.imshow(state["triplet_loss"], origin="lower",
                           extent=(d[0], d[-1], d[0], d[-1]),
                           cmap="viridis", aspect="auto")
        fig.colorbar(image, ax=ax2, label="triplet loss")
        if state["triplet"] == "plain":
            ax2.plot(d, d + m, "w--", lw=1.2, label="d_an = d_ap + m")
            ax2.legend(fontsize=9, loc="lower right")
        ax2.set(xlim=(d[0], d[-1]), ylim=(d[0], d[-1]),
                xlabel="d(a, p)", ylabel="d(a, n)",
                title=f"triplet ({state['triplet']}): "
                      f"{state['zero_fraction']:.0%} of the plane is free")
        fig.tight_layout()
        return fig
