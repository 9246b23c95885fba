"""dml.widgets.weak: the uniformity explorer follows its slider."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import dml  # noqa: E402
from dml.widgets.weak import UniformityExplorer  # noqa: E402


@pytest.fixture(scope="module")
def explorer():
    return UniformityExplorer(lams=(0.0, 5.0), epochs=60)


def _softmax(L):
    E = np.exp(L - L.max(1, keepdims=True))
    return E / E.sum(1, keepdims=True)


@pytest.mark.parametrize("lam", [5.0, 0.0])
def test_state_and_bars_follow_the_slider(explorer, lam):
    ex = explorer
    ex.controls["lam"].value = lam
    assert ex.state["lam"] == lam
    L = ex.fits[lam][1]
    p_bar = _softmax(L.astype(np.float64)).mean(0)
    np.testing.assert_allclose(ex.state["p_bar"], p_bar, atol=1e-6)
    kl = float(np.sum(p_bar * (np.log(p_bar) - np.log(1 / 5))))
    assert ex.state["penalty"] == pytest.approx(kl, abs=1e-5)
    bars = [r.get_height() for r in ex.figure.axes[0].patches]
    np.testing.assert_allclose(bars, p_bar, atol=1e-6)
    assert f"{kl:.3f}" in ex.figure.axes[0].get_title()
    purity = dml.neighborhood_purity(ex.fits[lam][0], ex.data.y, k=10)
    assert ex.state["purity"] == pytest.approx(purity)
    assert f"{purity:.3f}" in ex.figure.axes[1].get_title()


def test_per_blob_stack_is_the_mean_softmax_of_each_blob(explorer):
    ex = explorer
    ex.controls["lam"].value = 5.0
    P = _softmax(ex.fits[5.0][1].astype(np.float64))
    y = ex.data.y
    for f in range(5):
        np.testing.assert_allclose(ex.state["per_blob"][f],
                                   P[y == f].mean(0), atol=1e-6)
    # stacked bars: 5 logits x 5 blobs, the blob columns sum to 1
    heights = np.array([r.get_height() for r in ex.figure.axes[1].patches])
    assert heights.shape == (25,)
    np.testing.assert_allclose(heights.reshape(5, 5).sum(0), 1.0, atol=1e-5)


def test_the_penalty_pulls_p_bar_towards_uniform(explorer):
    ex = explorer
    ex.controls["lam"].value = 0.0
    plain = ex.state["penalty"]
    ex.controls["lam"].value = 5.0
    assert ex.state["penalty"] < plain
