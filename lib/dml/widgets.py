"""Interactive explorers for the chapters (ipywidgets + matplotlib).

Every explorer follows one pattern, so it can be tested without a browser:

* ``compute(**values) -> dict`` turns control values into numbers (pure);
* ``draw(state) -> Figure`` turns those numbers into a figure;
* ``show()`` displays the controls and the figure; moving a control
  recomputes and replaces the figure in place (an IPython display handle).

The figure is an ordinary image output, not a widget, so the static HTML
book shows the default figure even where no widget JavaScript runs; a note
under it tells the reader to run the notebook to move the sliders. Tests set
``explorer.controls[name].value`` and read ``explorer.state`` and
``explorer.figure``. Nothing else in ``dml`` imports this module.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from .datasets import drug_compounds, train_test_split
from .losses import contrastive_loss, triplet_loss
from .neighbors import knn_accuracy

__all__ = ["Explorer", "NoiseWeightExplorer", "LossLandscapeExplorer"]

LABEL_STYLE = {"description_width": "initial"}   # labels not cut off
STATIC_NOTE = ("(Static page: this is the default setting. Run the notebook "
               "to move the controls.)")


class Explorer:
    """Base class: holds controls, recomputes and redraws on every change."""

    def __init__(self, controls: dict):
        self.controls = controls
        self._handle = None
        for widget in controls.values():
            widget.observe(self._on_change, names="value")
        self.update()

    @property
    def values(self) -> dict:
        return {name: w.value for name, w in self.controls.items()}

    def compute(self, **values) -> dict:          # pragma: no cover
        raise NotImplementedError

    def draw(self, state: dict):                  # pragma: no cover
        raise NotImplementedError

    def update(self):
        """Recompute the state and redraw the figure from the controls."""
        self.state = self.compute(**self.values)
        self.figure = self.draw(self.state)
        # Closed at once: pyplot must not show it again at the end of some
        # later cell. A closed figure still renders through the handle.
        plt.close(self.figure)
        if self._handle is not None:
            self._handle.update(self.figure)

    def _on_change(self, _change):
        self.update()

    def show(self):
        """Display the controls, the figure and the static-page note."""
        import ipywidgets as widgets
        from IPython.display import Markdown, display
        display(widgets.VBox(list(self.controls.values())))
        self._handle = display(self.figure, display_id=True)
        display(Markdown(f"*{STATIC_NOTE}*"))


class NoiseWeightExplorer(Explorer):
    """Chapter 1: weigh the nine noise descriptors of the drug compounds.

    The metric is W = diag(1, 1, 1, w, ..., w): w = 1 is the Euclidean
    distance, w = 0 the oracle that keeps descriptors 0-2 only. The figure
    shows kNN accuracy against w (mean over ``n_seeds`` data sets and
    splits) with the current w marked, and the share of the squared
    distance that the noise descriptors supply at that w.
    """

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


class LossLandscapeExplorer(Explorer):
    """Chapter 3: the contrastive and triplet losses as the margin moves.

    Left: the contrastive loss of a similar and of a dissimilar pair as a
    function of their distance d (``dml.contrastive_loss``, variant
    ``form``). Right: the triplet loss over the plane (d_ap, d_an)
    (``dml.triplet_loss``, plain or squared distances, hinge or soft);
    the dashed line d_an = d_ap + m is where the hinge switches off, so
    every triplet above it costs nothing.
    """

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
        ax1.legend(fontsize=8)
        image = ax2.imshow(state["triplet_loss"], origin="lower",
                           extent=(d[0], d[-1], d[0], d[-1]),
                           cmap="viridis", aspect="auto")
        fig.colorbar(image, ax=ax2, label="triplet loss")
        if state["triplet"] == "plain":
            ax2.plot(d, d + m, "w--", lw=1.2, label="d_an = d_ap + m")
            ax2.legend(fontsize=8, loc="lower right")
        ax2.set(xlim=(d[0], d[-1]), ylim=(d[0], d[-1]),
                xlabel="d(a, p)", ylabel="d(a, n)",
                title=f"triplet ({state['triplet']}): "
                      f"{state['zero_fraction']:.0%} of the plane is free")
        fig.tight_layout()
        return fig
