"""Figures of the course: ROC curves, pair distances, retrieval, embeddings.

Every function draws with matplotlib and returns the ``Figure`` (pass
``ax=`` to draw into an existing axes, then its figure comes back), so a
chapter can show it, save it, or a test can inspect its artists. Nothing
here computes a metric: the numbers come from :mod:`dml.metrics` and
:func:`dml.nearest_neighbors`, so a figure always agrees with the text.

* :func:`plot_roc`               ROC curve, AUC, the TPR@FPR operating point
* :func:`plot_pair_distances`    genuine vs impostor distance histograms
  (the drug-compound case study's "same vs different" figure)
* :func:`plot_retrieval_grid`    a query and its top K, borders green when
  the neighbour shares the query's label, red otherwise
* :func:`plot_embedding`         2-D scatter coloured by label; with coarse
  labels (chapter 7), colour = coarse class and marker = fine class, or
  two panels
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.lines import Line2D

from ._arrays import check_labels, check_matrix, to_numpy, to_tensor
from .metrics import operating_point, roc_auc, roc_curve
from .metrics._ranking import drop_self
from .neighbors import nearest_neighbors

__all__ = ["plot_roc", "plot_pair_distances", "plot_retrieval_grid",
           "plot_embedding", "describe_figure", "smallest_font_pt",
           "CORRECT_COLOR", "WRONG_COLOR"]

CORRECT_COLOR = "#2ca02c"      # green border: neighbour of the same class
WRONG_COLOR = "#d62728"        # red border: neighbour of another class
QUERY_COLOR = "#1f77b4"
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")


def _axes(ax, figsize):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def plot_roc(scores, same, *, higher_is_similar: bool = True,
             target_fpr: float | None = 0.05, interpolate: bool = False,
             label: str | None = None, ax=None):
    r"""ROC curve with its AUC and the TPR@FPR operating point marked.

    Taught in :doc:`chapter 6 </book/chapters/06_evaluation>`. The curve traces
    (FPR(tau), TPR(tau)) over every threshold tau,

    .. math::

       \mathrm{AUC} = \int_0^1 \mathrm{TPR}\; d\,\mathrm{FPR}.

    The curve is :func:`dml.roc_curve` (every threshold); the
    point is :func:`dml.operating_point` at ``target_fpr`` (none
    if None), drawn as a marker with ``gid="operating_point"`` and dotted
    guides to the axes. The legend gives AUC and TPR@FPR.
    """
    fpr, tpr, _ = (to_numpy(v) for v in roc_curve(
        scores, same, higher_is_similar=higher_is_similar))
    area = roc_auc(scores, same, higher_is_similar=higher_is_similar)
    fig, ax = _axes(ax, (4.5, 4.5))
    name = f"{label} " if label else ""
    ax.plot(fpr, tpr, lw=2, label=f"{name}ROC (AUC = {area:.3f})",
            gid="roc")
    if not any(line.get_gid() == "chance" for line in ax.lines):
        # once per axes: a second curve on the same axes adds no second
        # "chance" to the legend
        ax.plot([0, 1], [0, 1], ls="--", color="0.6", lw=1, label="chance",
                gid="chance")
    if target_fpr is not None:
        op = operating_point(scores, same, target_fpr,
                             higher_is_similar=higher_is_similar,
                             interpolate=interpolate)
        ax.plot([op.fpr], [op.tpr], "o", ms=8, color=WRONG_COLOR,
                gid="operating_point",
                label=f"TPR@FPR={target_fpr:g}: {op.tpr:.3f}")
        ax.plot([op.fpr, op.fpr, 0], [0, op.tpr, op.tpr], ":",
                color=WRONG_COLOR, lw=1)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false positive rate (FPR)",
           ylabel="true positive rate (TPR)", aspect="equal")
    ax.legend(loc="lower right", fontsize=9)
    return fig


def plot_pair_distances(scores, same, *, bins=40, density: bool = False,
                        threshold: float | None = None,
                        labels=("same class (genuine)",
                                "different class (impostor)"), ax=None):
    """Overlaid histograms of genuine and impostor pair scores.

    The drug-compound case study's "same vs different" figure; pair scores are
    taught in :doc:`chapter 6 </book/chapters/06_evaluation>`. ``scores`` and
    ``same`` are the output of :func:`dml.pair_scores` (or any pair scores).
    Both histograms share the same bin edges; with ``density=False`` the bar
    heights are counts and add up to the number of pairs. An optional vertical
    line marks a decision ``threshold`` (gid="threshold"). The bars carry gid
    "genuine" or "impostor".
    """
    s = to_numpy(to_tensor(scores, "scores")).ravel()
    g = to_numpy(to_tensor(same, "same", floating=False)).astype(bool)
    if g.shape != s.shape:
        raise ValueError(f"same has {g.size} entries but scores has "
                         f"{s.size}; pass one flag per pair.")
    edges = np.histogram_bin_edges(s, bins=bins)
    fig, ax = _axes(ax, (6, 3.5))
    for mask, lab, color, gid in ((g, labels[0], QUERY_COLOR, "genuine"),
                                  (~g, labels[1], WRONG_COLOR, "impostor")):
        _, _, bars = ax.hist(s[mask], bins=edges, alpha=0.6, color=color,
                             density=density, label=f"{lab}, n={mask.sum()}")
        for bar in bars:                  # gid on each bar, for tests
            bar.set_gid(gid)
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", lw=1, gid="threshold",
                   label=f"threshold {threshold:g}")
    ax.set(xlabel="pair distance", ylabel="density" if density else "pairs")
    ax.legend(fontsize=9)
    return fig


def _frame(ax, color, width=3.0):
    """Hide ticks and draw the axes' border in ``color``."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_edgecolor(color)
        spine.set_linewidth(width)


def plot_retrieval_grid(images, y, queries, k: int = 5, *,
                        X=None, metric: str = "euclidean",
                        image_shape=None, cmap="gray_r"):
    """One row per query: the query image, then its k nearest neighbours.

    Taught in :doc:`chapter 6 </book/chapters/06_evaluation>`. Neighbours are
    searched leave-one-out (the query is not its own neighbour) among all rows,
    in the embedding ``X`` (N, D) if given, else in the flattened images; ties
    go to the smaller index. A neighbour's border is green if it shares the
    query's label, red otherwise; the query's border is blue. Titles give the
    labels.

    Parameters
    ----------
    images : (N, H, W) or (N, H*W) array
        Pixels (e.g. 8 x 8 digits as (N, 64)).
    y : (N,) labels
    queries : sequence of int
        Indices of the query rows.
    k : int
        Neighbours shown per query.
    X : (N, D) array or tensor, optional
        Embedding to search in; default the flattened images.
    metric : str
        The distance, as in :func:`dml.nearest_neighbors`.
    image_shape : (H, W), optional
        For flat images; default square.
    cmap : str
        Matplotlib colour map.
    """
    imgs = to_numpy(to_tensor(images, "images"))
    n = imgs.shape[0]
    yl = to_numpy(check_labels(y, n, "y"))
    if imgs.ndim == 2:
        side = int(round(np.sqrt(imgs.shape[1])))
        shape = image_shape or (side, imgs.shape[1] // side)
        if shape[0] * shape[1] != imgs.shape[1]:
            raise ValueError(f"images rows have {imgs.shape[1]} pixels; "
                             "pass image_shape=(H, W) with H * W = that.")
        imgs = imgs.reshape(n, *shape)
    E = check_matrix(to_tensor(imgs.reshape(n, -1) if X is None else X,
                               "X"), "X")
    q = np.atleast_1d(to_numpy(queries).astype(np.int64))  # CUDA too
    if q.size == 0 or q.min() < 0 or q.max() >= n:
        raise ValueError(f"queries must be row indices in 0..{n - 1}; got "
                         f"{q.tolist()}.")
    if not 1 <= k <= n - 1:
        raise ValueError(f"k={k} but each query has only {n - 1} other "
                         f"rows; use 1 <= k <= {n - 1}.")
    qt = torch.from_numpy(q).to(E.device)
    d, idx = nearest_neighbors(E[qt], E, k + 1, metric)       # (Q, k + 1)
    idx = to_numpy(drop_self(d, idx, qt)[1])                      # (Q, k)
    fig, axes = plt.subplots(len(q), k + 1, squeeze=False,
                             figsize=(1.2 * (k + 1), 1.3 * len(q)))
    for row, (qi, nbrs) in enumerate(zip(q, idx)):   # a few rows to draw
        axes[row, 0].imshow(imgs[qi], cmap=cmap)
        axes[row, 0].set_title(f"query {yl[qi]}", fontsize=9)
        _frame(axes[row, 0], QUERY_COLOR)
        for col, j in enumerate(nbrs, start=1):
            ok = yl[j] == yl[qi]
            axes[row, col].imshow(imgs[j], cmap=cmap)
            axes[row, col].set_title(f"#{col}: {yl[j]}", fontsize=9)
            _frame(axes[row, col], CORRECT_COLOR if ok else WRONG_COLOR)
    fig.tight_layout()
    return fig


def plot_embedding(X2, y, *, y_coarse=None, names=None, coarse_names=None,
                   two_panels: bool = False, ax=None, s: float = 12):
    """2-D scatter of an embedding coloured by label.

    Taught in :doc:`chapter 7 </book/chapters/07_weak>`.

    * ``y_coarse`` None: one colour per class (one PathCollection each,
      labelled with ``names[c]`` when given).
    * ``y_coarse`` given, ``two_panels=False``: colour = coarse class,
      marker = fine class (markers cycle through the fine classes of each
      coarse class), so sub-classes stay visible inside a colour.
    * ``two_panels=True``: left panel by fine label, right by coarse.
    """
    P = to_numpy(check_matrix(to_tensor(X2, "X2"), "X2"))
    if P.shape[1] != 2:
        raise ValueError(f"X2 has {P.shape[1]} columns; pass a 2-D "
                         "embedding (N, 2), e.g. from PCA or t-SNE.")
    yf = to_numpy(check_labels(y, P.shape[0], "y"))
    yc = None if y_coarse is None else \
        to_numpy(check_labels(y_coarse, P.shape[0], "y_coarse"))
    if two_panels and yc is None:
        raise ValueError("two_panels=True needs y_coarse.")
    if two_panels:
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 4))
        _scatter_classes(a1, P, yf, names, s)
        a1.set_title("fine labels")
        _scatter_classes(a2, P, yc, coarse_names, s)
        a2.set_title("coarse labels")
        return fig
    fig, ax = _axes(ax, (5, 4.5))
    if yc is None:
        _scatter_classes(ax, P, yf, names, s)
    else:
        _scatter_nested(ax, P, yf, yc, names, coarse_names, s)
    return fig


def _scatter_classes(ax, P, y, names, s):
    colors = plt.get_cmap("tab10" if len(np.unique(y)) <= 10 else "tab20")
    for i, c in enumerate(np.unique(y)):                  # loop over classes
        m = y == c
        ax.scatter(P[m, 0], P[m, 1], s=s, color=colors(i % colors.N),
                   label=names[c] if names is not None else str(c))
    ax.legend(fontsize=9, markerscale=1.5)


def _scatter_nested(ax, P, yf, yc, names, coarse_names, s):
    colors = plt.get_cmap("tab10")
    handles = []
    for ci, c in enumerate(np.unique(yc)):                # coarse classes
        color = colors(ci % colors.N)
        fines = np.unique(yf[yc == c])
        for fi, f in enumerate(fines):                    # fine classes
            m = (yc == c) & (yf == f)
            ax.scatter(P[m, 0], P[m, 1], s=s, color=color,
                       marker=MARKERS[fi % len(MARKERS)],
                       label=names[f] if names is not None else str(f))
        lab = coarse_names[c] if coarse_names is not None else f"coarse {c}"
        handles.append(Line2D([], [], ls="", marker="o", color=color,
                              label=lab))
    ax.legend(handles=handles, fontsize=9, title="colour = coarse, "
              "marker = fine", title_fontsize=9)


# ---------------------------------------------------------------------------
# accessibility: what the book's build writes next to every figure
# ---------------------------------------------------------------------------
def describe_figure(fig) -> str:
    """A text description of a figure, for its alt text.

    The suptitle, then per panel its title and axis labels (colour bars
    left out). Not taught in a chapter: the book's build calls it for
    every figure of the chapters (from :doc:`chapter 1
    </book/chapters/01_distances>` on).
    """
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>"]
    parts = []
    for k, ax in enumerate(axes):
        bits = [ax.get_title()] if ax.get_title() else []
        bits += [f"{axis}: {label}" for axis, label in
                 (("x", ax.get_xlabel()), ("y", ax.get_ylabel())) if label]
        if bits:
            where = f"panel {k + 1} of {len(axes)}: " if len(axes) > 1 else ""
            parts.append(where + "; ".join(bits).replace("\n", " "))
    title = fig._suptitle.get_text() + ". " if fig._suptitle else ""
    return title + (". ".join(parts) or "A figure") + "."


def smallest_font_pt(fig) -> float:
    """The size, in points, of the smallest visible text of a figure.

    The figure's legibility when it is shrunk into a page column. Not
    taught in a chapter: the book's build checks every figure of the
    chapters (from :doc:`chapter 1 </book/chapters/01_distances>` on).
    """
    sizes = [t.get_fontsize() for t in fig.findobj(
        lambda a: hasattr(a, "get_fontsize") and hasattr(a, "get_text"))
        if t.get_visible() and t.get_text().strip()]
    return float(min(sizes)) if sizes else 10.0
