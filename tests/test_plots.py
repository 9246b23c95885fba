"""dml.plots: each function returns a Figure with the expected artists.

Agg backend (no display). The numbers drawn are checked against the
metrics they come from, or against values derived by hand.
"""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import dml.plots  # noqa: E402
from dml.metrics import pair_scores  # noqa: E402
from dml.plots import (CORRECT_COLOR, WRONG_COLOR,  # noqa: E402
                       plot_embedding, plot_pair_distances,
                       plot_retrieval_grid, plot_roc)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def by_gid(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


def test_plot_roc_marks_the_operating_point_at_the_right_place():
    """Scores [.9, .5, .5, .1], same [T, T, F, F]: ROC points (0, 0),
    (0, .5), (.5, 1), (1, 1). At target FPR .25 the exact operating point
    is (0, .5); interpolated it is (.25, .75)."""
    s, same = np.array([.9, .5, .5, .1]), np.array([1, 1, 0, 0])
    fig = plot_roc(s, same, target_fpr=0.25)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    (point,) = by_gid(ax, "operating_point")
    assert point.get_xydata().tolist() == [[0.0, 0.5]]
    (curve,) = by_gid(ax, "roc")
    np.testing.assert_array_equal(curve.get_xdata(), [0, 0, .5, 1])
    np.testing.assert_array_equal(curve.get_ydata(), [0, .5, 1, 1])
    assert "AUC = 0.875" in curve.get_label()   # 1/2*1/2*... = 7/8
    fig = plot_roc(s, same, target_fpr=0.25, interpolate=True)
    (point,) = by_gid(fig.axes[0], "operating_point")
    np.testing.assert_allclose(point.get_xydata(), [[0.25, 0.75]])


def test_plot_roc_without_target_has_no_marker_and_draws_into_ax():
    fig0, ax = plt.subplots()
    fig = plot_roc([1.0, 2.0, 3.0], [0, 1, 1], higher_is_similar=False,
                   target_fpr=None, ax=ax)
    assert fig is fig0 and by_gid(ax, "operating_point") == []


def test_pair_histograms_count_every_pair_once(rng):
    X = rng.normal(size=(30, 3))
    y = rng.integers(0, 3, 30)
    p = pair_scores(X, y)
    fig = plot_pair_distances(p.scores, p.same, bins=15, threshold=1.0)
    ax = fig.axes[0]
    gen = sum(b.get_height() for b in by_gid(ax, "genuine"))
    imp = sum(b.get_height() for b in by_gid(ax, "impostor"))
    assert len(by_gid(ax, "genuine")) == 15
    assert gen == p.same.sum() and imp == (~p.same).sum()
    assert gen + imp == 30 * 29 // 2
    (line,) = by_gid(ax, "threshold")
    assert line.get_xdata()[0] == 1.0


def test_pair_histograms_reject_mismatched_lengths():
    with pytest.raises(ValueError, match="same has 2 entries"):
        plot_pair_distances([0.1, 0.2, 0.3], [True, False])


def test_retrieval_grid_borders_mark_correct_and_wrong_neighbours():
    """Six flat 2x2 'images' with constant pixels v = 0, .25, .5, 2.5,
    2.75, 3 and labels 0, 0, 1, 1, 1, 1; the distance of rows i, j is
    sqrt(4 (v_i - v_j)^2) = 2 |v_i - v_j|.
    Query 2 (v = .5, label 1): nearest row 1 (d .5), then row 0 (d 1),
    both label 0 -> two red borders.
    Query 4 (v = 2.75): rows 3 and 5 tie at d .5 (index 3 first), both
    label 1 -> two green borders."""
    base = np.array([0, 1, 2, 10, 11, 12], float)
    images = np.repeat(base[:, None], 4, axis=1) / 4     # (6, 4) flat
    y = np.array([0, 0, 1, 1, 1, 1])
    fig = plot_retrieval_grid(images, y, queries=[2, 4], k=2)
    axes = np.array(fig.axes).reshape(2, 3)
    assert [a.get_title() for a in axes[0]] == ["query 1", "#1: 0", "#2: 0"]
    for ax, color in zip(axes[0, 1:], [WRONG_COLOR, WRONG_COLOR]):
        assert ax.spines["left"].get_edgecolor() == to_rgba(color)
    for ax in axes[1, 1:]:
        assert ax.spines["top"].get_edgecolor() == to_rgba(CORRECT_COLOR)
    assert axes[1, 0].get_images()[0].get_array().shape == (2, 2)


def test_retrieval_grid_errors_name_the_argument():
    with pytest.raises(ValueError, match="k=6"):
        plot_retrieval_grid(np.zeros((6, 4)), [0] * 6, [0], k=6)
    with pytest.raises(ValueError, match="queries must be row indices"):
        plot_retrieval_grid(np.zeros((6, 4)), [0] * 6, [9], k=2)


def test_embedding_scatter_has_one_collection_per_class(rng):
    P = rng.normal(size=(40, 2))
    y = np.repeat(np.arange(4), 10)
    fig = plot_embedding(P, y, names=["a", "b", "c", "d"])
    cols = fig.axes[0].collections
    assert len(cols) == 4
    assert sum(len(c.get_offsets()) for c in cols) == 40
    assert [c.get_label() for c in cols] == ["a", "b", "c", "d"]


def test_embedding_nested_colour_is_coarse_and_marker_is_fine(rng):
    P = rng.normal(size=(40, 2))
    y = np.repeat(np.arange(4), 10)
    y_coarse = np.array([0, 0, 1, 1])[y]
    fig = plot_embedding(P, y, y_coarse=y_coarse)
    cols = fig.axes[0].collections
    assert len(cols) == 4
    colors = [tuple(c.get_facecolor()[0]) for c in cols]
    assert colors[0] == colors[1] != colors[2] == colors[3]
    paths = [c.get_paths()[0].vertices.shape for c in cols]
    assert paths[0] != paths[1]                  # different markers
    np.testing.assert_array_equal(cols[3].get_offsets(), P[30:])
    fig = plot_embedding(P, y, y_coarse=y_coarse, two_panels=True)
    assert len(fig.axes) == 2 and len(fig.axes[1].collections) == 2


def test_embedding_needs_two_columns():
    with pytest.raises(ValueError, match="X2 has 3 columns"):
        plot_embedding(np.zeros((4, 3)), [0, 0, 1, 1])


def test_describe_figure_names_each_panel_and_skips_colour_bars():
    import matplotlib.pyplot as plt
    fig, (a, b) = plt.subplots(1, 2)
    a.set(title="loss", xlabel="epoch", ylabel="value")
    image = b.imshow([[0, 1], [1, 0]])
    b.set_title("triplet")
    fig.colorbar(image, ax=b)
    fig.suptitle("Training")
    assert dml.plots.describe_figure(fig) == (
        "Training. panel 1 of 2: loss; x: epoch; y: value. "
        "panel 2 of 2: triplet.")
    plt.close(fig)
    fig, ax = plt.subplots()
    assert dml.plots.describe_figure(fig) == "A figure."
    plt.close(fig)


def test_smallest_font_is_the_smallest_visible_text():
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.set_title("t", fontsize=14)
    ax.legend(ax.plot([0, 1], label="line"), ["line"], fontsize=7)
    ax.text(0, 0, "hidden", fontsize=3).set_visible(False)
    ax.text(0, 0, "", fontsize=2)                      # empty: not text
    assert dml.plots.smallest_font_pt(fig) == 7
    plt.close(fig)


def test_two_roc_curves_on_one_axes_share_one_chance_line():
    import matplotlib.pyplot as plt
    rng = np.random.default_rng(0)
    scores, same = rng.random(50), rng.random(50) < 0.4
    fig, ax = plt.subplots()
    plot_roc(scores, same, ax=ax, label="a")
    plot_roc(-scores, same, ax=ax, label="b")
    labels = ax.get_legend_handles_labels()[1]
    assert labels.count("chance") == 1 and len(labels) == 5   # 2 x (ROC, op)
    plt.close(fig)
