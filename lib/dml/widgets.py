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
from .distances import euclidean_matrix
from .linear import LMNN
from .losses import all_triplets, contrastive_loss, triplet_loss
from .miners import (TRIPLET_TYPES, BatchHardMiner, SemiHardMiner,
                     TripletMarginMiner, triplet_type_codes)
from .metrics import confusion_counts, roc_curve, tpr_fpr
from .neighbors import knn_accuracy

__all__ = ["Explorer", "NoiseWeightExplorer", "LMNNExplorer",
           "LossLandscapeExplorer", "MiningExplorer", "ROCExplorer"]

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


class LMNNExplorer(Explorer):
    """Chapter 2: what LMNN's push weight mu and margin do to the metric.

    Fits :class:`dml.linear.LMNN` on one drug-compound split for the chosen
    (mu, margin) and shows how much weight the learned M gives each
    descriptor (its diagonal, normalised to sum 1: informative descriptors
    0-2 in green, noise in grey) and the held-out kNN accuracy (k = 5),
    against Euclidean kNN on the same split. Fits are cached per setting.
    """

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


TYPE_COLORS = {"hard": "#d62728", "semi-hard": "#ff7f0e", "easy": "#2ca02c"}


class MiningExplorer(Explorer):
    """Chapter 4: which triplets of a batch each mining strategy picks.

    The batch is P classes x K drug compounds (raw descriptors, so many
    triplets are hard). Every valid triplet is a point (d(a,p), d(a,n)),
    coloured by its type under the current margin (seed 000's table,
    :func:`dml.miners.classify_triplets`); the triplets the chosen miner
    returns are ringed in black. The bar chart counts the types.
    """

    STRATEGIES = {
        "all triplets": lambda m: None,
        "semi-hard (FaceNet)": lambda m: SemiHardMiner(margin=m,
                                                       fallback="skip"),
        "batch-hard": lambda m: BatchHardMiner(),
        "hard only": lambda m: TripletMarginMiner(m, "hard"),
        "easy only": lambda m: TripletMarginMiner(m, "easy"),
    }

    def __init__(self, P: int = 4, K: int = 6, seed: int = 0):
        import ipywidgets as widgets
        import torch
        X, y, _ = drug_compounds(seed=seed)
        rng = np.random.default_rng(seed)
        idx = np.concatenate([rng.choice(np.flatnonzero(y == c), K,
                                         replace=False) for c in range(P)])
        self.E = torch.as_tensor(X[idx])                         # (B, D)
        self.labels = torch.as_tensor(y[idx])                    # (B,)
        a, p, n = all_triplets(self.labels)
        D = euclidean_matrix(self.E)                             # (B, B)
        self.triplets = (a, p, n)
        self.d_ap, self.d_an = D[a, p].numpy(), D[a, n].numpy()  # (T,)
        self._D = D
        super().__init__({
            "margin": widgets.FloatSlider(value=1.0, min=0.0, max=4.0,
                                          step=0.1, description="margin m",
                                          style=LABEL_STYLE),
            "strategy": widgets.Dropdown(options=list(self.STRATEGIES),
                                         value="all triplets",
                                         description="miner",
                                         style=LABEL_STYLE),
        })

    def compute(self, margin: float, strategy: str) -> dict:
        codes = triplet_type_codes(self.d_ap, self.d_an, margin)    # (T,)
        counts = {name: int((codes == c).sum())
                  for c, name in enumerate(TRIPLET_TYPES)}
        miner = self.STRATEGIES[strategy](margin)
        if miner is None:
            mined = np.ones(len(codes), dtype=bool)
        else:
            a, p, n = (t.numpy() for t in miner(self.E, self.labels))
            B = len(self.labels)
            key = lambda a, p, n: (a * B + p) * B + n           # noqa: E731
            mined = np.isin(key(*(t.numpy() for t in self.triplets)),
                            key(a, p, n))
        return {"margin": margin, "strategy": strategy, "codes": codes,
                "counts": counts, "mined": mined,
                "mined_counts": {name: int(((codes == c) & mined).sum())
                                 for c, name in enumerate(TRIPLET_TYPES)}}

    def draw(self, state: dict):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4),
                                       gridspec_kw={"width_ratios": [3, 2]})
        codes, mined, m = state["codes"], state["mined"], state["margin"]
        for c, name in enumerate(TRIPLET_TYPES):
            sel = codes == c
            ax1.scatter(self.d_ap[sel], self.d_an[sel], s=6, alpha=0.35,
                        color=TYPE_COLORS[name], label=name)
        if not mined.all():
            ax1.scatter(self.d_ap[mined], self.d_an[mined], s=22,
                        facecolors="none", edgecolors="k", lw=0.7,
                        label="mined")
        top = float(max(self.d_ap.max(), self.d_an.max())) * 1.05
        line = np.array([0.0, top])
        ax1.plot(line, line, "k--", lw=0.8)
        ax1.plot(line, line + m, "k:", lw=0.8)
        ax1.set(xlim=(0, top), ylim=(0, top), xlabel="d(a, p)",
                ylabel="d(a, n)", title=f"{state['strategy']}: "
                f"{int(mined.sum())} of {len(mined)} triplets")
        ax1.legend(fontsize=8, loc="lower right")
        names = list(TRIPLET_TYPES)
        ax2.bar(names, [state["counts"][k] for k in names],
                color=[TYPE_COLORS[k] for k in names], alpha=0.4,
                label="in the batch")
        ax2.bar(names, [state["mined_counts"][k] for k in names],
                color=[TYPE_COLORS[k] for k in names], label="mined")
        ax2.set(title=f"triplet types at m = {m:.1f}", ylabel="count")
        ax2.legend(fontsize=8)
        fig.tight_layout()
        return fig


class ROCExplorer(Explorer):
    """Chapter 6: a verification threshold, its confusion counts and ROC.

    ``distances`` and ``same`` are pair distances and genuine flags (e.g.
    from :func:`dml.pair_scores`). A pair is declared "same" when its
    distance is <= the threshold. Left: genuine and impostor histograms
    with the threshold; right: the ROC curve (:func:`dml.roc_curve`) with
    the operating point of this threshold; the title gives TP, FP, TN, FN.
    """

    def __init__(self, distances, same):
        import ipywidgets as widgets
        self.d = np.asarray(distances, dtype=float)
        self.same = np.asarray(same, dtype=bool)
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
        ax1.legend(fontsize=8)
        ax2.plot(self.fpr, self.tpr, lw=2)
        ax2.plot([0, 1], [0, 1], "--", color="0.6", lw=1)
        ax2.plot([state["fpr"]], [state["tpr"]], "o", color="C3", ms=9)
        ax2.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="FPR", ylabel="TPR",
                title=f"TPR {state['tpr']:.3f} at FPR {state['fpr']:.3f}")
        fig.tight_layout()
        return fig
