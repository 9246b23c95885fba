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


def test_mining_explorer_classifies_and_marks_the_mined_triplets():
    from dml.miners import classify_triplets
    from dml.widgets import MiningExplorer
    ex = MiningExplorer(P=3, K=4)
    ex.controls["margin"].value = 0.5
    names = classify_triplets(ex.d_ap, ex.d_an, 0.5)
    for kind in ("hard", "semi-hard", "easy"):
        assert ex.state["counts"][kind] == int((names == kind).sum())
    assert ex.state["mined"].all()             # "all triplets" marks all
    # batch-hard: exactly one triplet per anchor (every anchor has both)
    ex.controls["strategy"].value = "batch-hard"
    assert ex.state["mined"].sum() == len(ex.labels)
    # "hard only" marks exactly the triplets with d_an <= d_ap
    ex.controls["strategy"].value = "hard only"
    np.testing.assert_array_equal(ex.state["mined"], ex.d_an <= ex.d_ap)
    # the bar chart draws the counts: 3 background + 3 mined bars
    heights = [b.get_height() for b in ex.figure.axes[1].patches]
    assert heights[:3] == [ex.state["counts"][k]
                           for k in ("hard", "semi-hard", "easy")]
    # a larger margin turns easy triplets into semi-hard ones
    before = ex.state["counts"]["easy"]
    ex.controls["margin"].value = 2.0
    assert ex.state["counts"]["easy"] < before


def test_lmnn_explorer_refits_for_each_setting():
    from dml.linear import LMNN
    from dml.widgets import LMNNExplorer
    ex = LMNNExplorer(max_iter=30)
    X_tr, X_te, y_tr, y_te = ex.split
    ex.controls["mu"].value = 0.3
    model = LMNN(mu=0.3, margin=1.0, max_iter=30, random_state=0)
    W = model.fit(X_tr, y_tr).components_
    want = dml.knn_accuracy(X_tr, y_tr, X_te, y_te, k=5, W=W)
    assert ex.state["accuracy"] == pytest.approx(want)
    assert ex.state["weights"].sum() == pytest.approx(1.0)
    bars = [p.get_height() for p in ex.figure.axes[0].patches]
    np.testing.assert_allclose(bars, ex.state["weights"])
    assert "mu = 0.3" in ex.figure.axes[0].get_title()
    # the learned metric favours the informative descriptors 0-2
    assert ex.state["weights"][:3].sum() > 0.5


def test_roc_explorer_counts_match_the_threshold_rule():
    from dml.widgets import ROCExplorer
    rng = np.random.default_rng(0)
    same = rng.random(400) < 0.3
    d = np.where(same, rng.normal(1.0, 0.4, 400), rng.normal(2.0, 0.5, 400))
    ex = ROCExplorer(d, same)
    ex.controls["threshold"].value = 1.5
    t = ex.controls["threshold"].value            # the slider's own step
    assert ex.state["tp"] == int(((d <= t) & same).sum())
    assert ex.state["fp"] == int(((d <= t) & ~same).sum())
    assert ex.state["tn"] == int(((d > t) & ~same).sum())
    assert ex.state["fn"] == int(((d > t) & same).sum())
    assert ex.state["tpr"] == pytest.approx(ex.state["tp"] / same.sum())
    point = ex.figure.axes[1].lines[2]
    assert point.get_xdata()[0] == pytest.approx(ex.state["fpr"])
    assert point.get_ydata()[0] == pytest.approx(ex.state["tpr"])
    # a lower threshold can only lower both rates
    before = (ex.state["tpr"], ex.state["fpr"])
    ex.controls["threshold"].value = 1.0
    assert ex.state["tpr"] <= before[0] and ex.state["fpr"] <= before[1]
