"""dml.widgets: explorers react to their controls (set programmatically)."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import dml  # noqa: E402
from dml.widgets import NoiseWeightExplorer  # noqa: E402


@pytest.fixture(scope="module")
def noise_explorer():
    return NoiseWeightExplorer(n_seeds=3, grid=5)


def test_noise_explorer_starts_at_euclidean_and_draws_its_point(
        noise_explorer):
    ex = noise_explorer
    ex.controls["w"].value, ex.controls["k"].value = 1.0, 5
    splits = ex._splits
    want = np.mean([dml.knn_accuracy(a, c, b, d, k=5)
                    for a, b, c, d in splits])
    assert ex.state["accuracy"] == pytest.approx(want)
    marker = ex.figure.axes[0].lines[1]
    assert marker.get_xdata()[0] == 1.0
    assert marker.get_ydata()[0] == pytest.approx(want)


def test_moving_the_slider_to_zero_gives_the_oracle(noise_explorer):
    ex = noise_explorer
    ex.controls["w"].value = 0.0
    want = np.mean([dml.knn_accuracy(a[:, :3], c, b[:, :3], d, k=5)
                    for a, b, c, d in ex._splits])
    assert ex.state["accuracy"] == pytest.approx(want)
    assert ex.state["noise_share"] == 0.0
    bars = [p.get_height() for p in ex.figure.axes[1].patches]
    assert bars == [1.0, 0.0]


def test_changing_k_recomputes_the_curve(noise_explorer):
    ex = noise_explorer
    ex.controls["w"].value = 0.5
    ex.controls["k"].value = 1
    assert ex.state["k"] == 1
    assert "k = 1" in ex.figure.axes[0].get_ylabel()
    assert len(ex.state["curve"]) == 5


def test_loss_landscape_follows_the_margin_and_the_variant():
    from dml.widgets import LossLandscapeExplorer
    ex = LossLandscapeExplorer(n_grid=41)
    ex.controls["margin"].value = 1.0
    d = ex.d
    # Hadsell form: y d^2 for similar pairs, [m - d]_+^2 for dissimilar
    np.testing.assert_allclose(ex.state["pos"], d ** 2)
    np.testing.assert_allclose(ex.state["neg"], np.maximum(1.0 - d, 0) ** 2)
    # the plotted curve is the computed one
    np.testing.assert_allclose(ex.figure.axes[0].lines[1].get_ydata(),
                               ex.state["neg"])
    # plain triplet hinge is zero exactly where d_an >= d_ap + m
    d_ap, d_an = np.meshgrid(d, d)
    free = d_ap - d_an + 1.0 <= 0
    assert ex.state["zero_fraction"] == pytest.approx(free.mean())
    ex.controls["form"].value = "linear"
    np.testing.assert_allclose(ex.state["neg"], np.maximum(1.0 - d, 0))
    ex.controls["triplet"].value = "soft"
    assert ex.state["zero_fraction"] == 0.0          # softplus never is 0
    assert "soft" in ex.figure.axes[1].get_title()
