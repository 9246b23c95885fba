"""Functions that must work on CUDA inputs, checked on the CPU.

A machine without a GPU cannot run a CUDA line, but it can enforce CUDA's
rules (tests/_device_sim.py): a CudaLike tensor refuses to become numpy
without ``.cpu()``, the ``meta`` device refuses to mix with CPU tensors,
and CudaDeterminism raises where deterministic mode raises on CUDA. Each
test below failed before its fix (issue 15, "breaks on CUDA inputs" and
"silently wrong").
"""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import dml  # noqa: E402
from _device_sim import CudaDeterminism, CudaLike, cuda_like  # noqa: E402
from dml.losses.arcface import arcface_logits, arcface_loss  # noqa: E402
from dml.losses.lifted import lifted_structure_loss  # noqa: E402
from dml.losses.multi_similarity import multi_similarity_loss  # noqa: E402
from dml.losses.proxy import proxy_anchor_loss  # noqa: E402
from dml.metrics.structure import (context_sensitive_loss,  # noqa: E402
                                   lca_height_table, ndcg)


def blobs(n=60, d=4, classes=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    X = torch.randn(n, d, generator=g, dtype=torch.float64) + y[:, None]
    return X, y


# ------------------------------------------------------------- metrics
def test_ndcg_takes_fine_to_coarse_as_a_device_tensor():
    X, y = blobs()
    f2c = np.array([0, 0, 1, 1, 2, 2])
    want = ndcg(X, y, k=5, fine_to_coarse=f2c)
    got = ndcg(cuda_like(X), cuda_like(y), k=5,
               fine_to_coarse=cuda_like(f2c))
    assert got == pytest.approx(want, abs=1e-12)


def test_ndcg_needs_no_floating_cumsum_in_deterministic_mode():
    X, y = blobs()
    want = ndcg(X, y, k=7, fine_to_coarse=[0, 0, 1, 1, 2, 2])
    with CudaDeterminism():
        got = ndcg(X, y, k=7, fine_to_coarse=[0, 0, 1, 1, 2, 2])
    assert got == pytest.approx(want, abs=1e-12)


def test_lca_height_table_and_csl_take_device_tensors():
    f2c = [0, 0, 1, 1]
    want = lca_height_table(np.array(f2c))
    np.testing.assert_array_equal(lca_height_table(cuda_like(f2c)), want)
    yt, yp = [0, 1, 2, 3, 0], [0, 0, 3, 1, 2]
    loss = context_sensitive_loss(cuda_like(yt), cuda_like(yp),
                                  cuda_like(f2c), reduction="none")
    assert isinstance(loss, torch.Tensor)
    np.testing.assert_allclose(loss.cpu().numpy(),
                               [0.0, 0.5, 0.5, 1.0, 1.0])


# ------------------------------------------------------- data and train
def test_train_test_split_keeps_tensors_and_the_numpy_split():
    X, y = blobs(n=40, classes=4)
    want = dml.datasets.train_test_split(X.numpy(), y.numpy(), seed=3)
    got = dml.datasets.train_test_split(cuda_like(X), cuda_like(y), seed=3)
    for g, w in zip(got, want):
        assert isinstance(g, CudaLike)
        np.testing.assert_array_equal(g.cpu().numpy(), w)


def test_train_coarse_classifier_hands_back_numpy_for_device_input():
    X, y = blobs(n=30, d=3, classes=3)
    X = X.float()                       # the dtype the classifier trains in
    Z0, L0 = dml.train.train_coarse_classifier(X.numpy(), y.numpy() % 2, 3,
                                               0.5, epochs=5)
    Z, L = dml.train.train_coarse_classifier(cuda_like(X), cuda_like(y % 2),
                                             3, 0.5, epochs=5)
    assert isinstance(Z, np.ndarray) and isinstance(L, np.ndarray)
    np.testing.assert_allclose(Z, Z0, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(L, L0, rtol=1e-5, atol=1e-6)


def test_roc_explorer_takes_pair_scores_on_the_device():
    pytest.importorskip("ipywidgets")
    from dml.widgets import ROCExplorer
    rng = np.random.default_rng(0)
    same = rng.random(200) < 0.3
    d = np.where(same, rng.normal(1, .4, 200), rng.normal(2, .5, 200))
    ex = ROCExplorer(cuda_like(d), cuda_like(same))
    ex.controls["threshold"].value = 1.5
    t = ex.controls["threshold"].value
    assert ex.state["tp"] == int(((d <= t) & same).sum())


# ------------------------------------------- functional losses' arguments
def _cos_labels(dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    cos = torch.rand(12, 4, generator=g, dtype=dtype) * 2 - 1
    return cos, torch.arange(12) % 4


FUNCTIONAL = {
    "proxy_anchor": lambda cos, y: proxy_anchor_loss(cos, y),
    "arcface_loss": lambda cos, y: arcface_loss(cos, y, scale=8.0),
    "arcface_logits": lambda cos, y: arcface_logits(cos, y, scale=8.0),
}


@pytest.mark.parametrize("name", sorted(FUNCTIONAL))
@pytest.mark.parametrize("kind", ["numpy", "int32", "list"])
def test_class_losses_take_labels_of_any_kind(name, kind):
    cos, y = _cos_labels()
    labels = {"numpy": y.numpy(), "int32": y.to(torch.int32),
              "list": y.tolist()}[kind]
    want = FUNCTIONAL[name](cos, y)
    torch.testing.assert_close(FUNCTIONAL[name](cos, labels), want)


@pytest.mark.parametrize("name", sorted(FUNCTIONAL))
def test_class_losses_move_labels_to_the_logits_device(name):
    cos, y = _cos_labels()
    out = FUNCTIONAL[name](cos.to("meta"), y)       # labels on the CPU
    assert out.device.type == "meta"


def _pair_inputs():
    X, y = blobs(n=12, d=3, classes=3)
    D = torch.cdist(X, X).float()                        # (B, B)
    same = y[:, None] == y[None, :]
    pos = same & ~torch.eye(12, dtype=torch.bool)
    return D, pos, ~same


def test_lifted_and_multi_similarity_take_numpy_masks_and_pairs():
    D, pos, neg = _pair_inputs()
    i, j = torch.where(pos)
    want = lifted_structure_loss(D, (i, j), neg)
    got = lifted_structure_loss(D, (i.numpy(), j.to(torch.int32)),
                                neg.numpy())
    torch.testing.assert_close(got, want)
    want = multi_similarity_loss(-D, pos, neg)
    torch.testing.assert_close(
        multi_similarity_loss(-D, pos.numpy(), neg.numpy().astype(np.int8)),
        want)


def test_lifted_and_multi_similarity_move_masks_to_the_device():
    D, pos, neg = _pair_inputs()
    i, j = torch.where(pos)
    Dm = D.to("meta")
    assert lifted_structure_loss(Dm, (i, j), neg).device.type == "meta"
    assert multi_similarity_loss(-Dm, pos, neg).device.type == "meta"


# ----------------------------------------------------------------- kNN
def _tf32(x):
    """x rounded to TF32 (10 mantissa bits), as a tensor core reads it;
    TF32 applies to float32 products only."""
    if x.dtype != torch.float32:
        return x
    bits = x.contiguous().view(torch.int32)
    bits = (bits + (1 << 12)) & ~((1 << 13) - 1)
    return bits.view(torch.float32)


@pytest.fixture
def tf32_matmul(monkeypatch):
    """torch.addmm with TF32 inputs, and the precision that allows it."""
    addmm = torch.addmm
    monkeypatch.setattr(torch, "addmm", lambda bias, a, b, **kw: addmm(
        bias, _tf32(a), _tf32(b), **kw))
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    yield
    torch.set_float32_matmul_precision(before)


def shells(n_centres=8, per_shell=300, D=64):
    """Queries at well-separated centres, each with a shell of gallery
    points whose squared distances differ by ~1 %: the ranking is decided
    by differences ~1e-2, below TF32's error at ||q||^2 ~ 600 (~0.5) but
    above float32's (~1e-4)."""
    g = torch.Generator().manual_seed(0)
    C = torch.randn(n_centres, D, generator=g, dtype=torch.float64) * 3
    U = torch.nn.functional.normalize(
        torch.randn(n_centres, per_shell, D, generator=g,
                    dtype=torch.float64), dim=-1)
    r = 1 + 0.01 * torch.rand(n_centres, per_shell, 1, generator=g,
                              dtype=torch.float64)
    return C.float(), (C[:, None] + r * U).reshape(-1, D).float()


def test_knn_stays_exact_with_tf32_products(tf32_matmul):
    Q, G = shells()
    want_d, want_i = dml.nearest_neighbors(Q.double(), G.double(), 5)
    d, i = dml.nearest_neighbors(Q, G, 5)
    torch.testing.assert_close(i, want_i, rtol=0, atol=0)
    torch.testing.assert_close(d.double(), want_d, rtol=1e-5, atol=1e-6)


def test_knn_tolerance_follows_the_matmul_precision():
    from dml.neighbors import _product_eps
    before = torch.get_float32_matmul_precision()
    try:
        got = {}
        for p in ("highest", "high", "medium"):
            torch.set_float32_matmul_precision(p)
            got[p] = _product_eps(torch.float32, torch.device("cpu"))
        got["float64"] = _product_eps(torch.float64, torch.device("cpu"))
    finally:
        torch.set_float32_matmul_precision(before)
    assert got == {"highest": 0.0, "high": 2.0 ** -10, "medium": 2.0 ** -7,
                   "float64": 0.0}


def test_exact_rerank_slices_are_larger_on_a_gpu():
    """On a GPU a slice of one query row per kernel launch is slow; the
    CPU keeps its cache-sized slices."""
    from dml.neighbors import _exact_budget
    assert _exact_budget(torch.device("cpu")) == 2 ** 22
    assert _exact_budget(torch.device("cuda")) == 2 ** 27


def test_plot_retrieval_grid_takes_device_tensors():
    from dml.plots import plot_retrieval_grid
    g = torch.Generator().manual_seed(0)
    images = torch.rand(12, 16, generator=g)
    y = torch.arange(12) % 3
    fig = plot_retrieval_grid(cuda_like(images), cuda_like(y),
                              cuda_like(torch.tensor([0, 5])), k=3,
                              X=cuda_like(images[:, :4]))
    assert len(fig.axes) == 2 * 4
    import matplotlib.pyplot as plt
    plt.close(fig)


# ------------------------------------------- miners: host syncs per batch
def _mined_syncs(miner, B=64, classes=8):
    from _device_sim import SyncCounter
    g = torch.Generator().manual_seed(0)
    E, y = torch.randn(B, 4, generator=g), torch.arange(B) % classes
    with SyncCounter() as c:
        out = miner(E, y)
        loss = dml.losses.TripletMarginLoss(0.2)(E, y, out)
    return c, out, loss


@pytest.mark.parametrize("make", [
    lambda: dml.miners.BatchHardMiner(),
    lambda: dml.miners.SemiHardMiner(0.2, method="sort"),  # auto on a GPU
    lambda: dml.miners.SemiHardMiner(0.2, method="sort", fallback="skip"),
    lambda: dml.miners.HardestNegativeMiner(0.2)])
def test_a_hard_miner_and_its_loss_sync_twice(make):
    """The finite check of the embeddings and one nonzero: the loss skips
    its bounds check for a miner's own indices."""
    c, out, _ = _mined_syncs(make())
    assert c.total <= 2, c.counts
    assert isinstance(out, dml._arrays.BoundedIndices)


def test_semihard_scan_syncs_once_per_pair_list_not_per_mask():
    c, _, _ = _mined_syncs(dml.miners.SemiHardMiner(0.2, method="scan"))
    assert c.counts.get("__getitem__", 0) == 0, c.counts
    assert c.total <= 3, c.counts


def test_mined_indices_behave_as_a_plain_tuple():
    import pickle
    _, out, loss = _mined_syncs(dml.miners.SemiHardMiner(0.2))
    a, p, n = out
    assert len(out) == 3 and out == (a, p, n) and out[1] is p
    assert type(out[:2]) is tuple and type(tuple(out)) is tuple
    back = pickle.loads(pickle.dumps(out))
    assert back.batch_size == 64 and all(
        torch.equal(u, v) for u, v in zip(back, out))
    E, y = torch.randn(64, 4), torch.arange(64) % 8
    f = dml.losses.TripletMarginLoss(0.2)
    assert torch.equal(f(E, y, out), f(E, y, (a, p, n)))


def test_the_bounds_check_still_runs_for_other_tuples():
    E, y = torch.randn(32, 4), torch.arange(32) % 4
    f = dml.losses.TripletMarginLoss(0.2)
    a, p, n = dml.miners.BatchHardMiner()(torch.randn(64, 4),
                                          torch.arange(64) % 4)
    with pytest.raises(ValueError, match="outside"):
        f(E, y, (a, p, n))                       # a plain tuple: checked
    mined = dml._arrays.BoundedIndices((a, p, n), 64)
    with pytest.raises(ValueError, match="outside"):
        f(E, y, mined)                    # mined on another batch size


# ------------------- the PML-named classes (issue 16): syncs per step
_PML_STEPS = {   # name: (make the call, host syncs at most on a GPU)
    "TripletMarginLoss, every triplet": (
        lambda E, y: dml.losses.TripletMarginLoss()(E, y), 1),
    "TripletMarginLoss + MultiSimilarityMiner": (
        lambda E, y: dml.losses.TripletMarginLoss(margin=0.1)(
            E, y, dml.miners.MultiSimilarityMiner(epsilon=0.1)(E, y)), 4),
    "ContrastiveLoss": (lambda E, y: dml.losses.ContrastiveLoss()(E, y), 2),
    "NTXentLoss": (lambda E, y: dml.losses.NTXentLoss()(E, y), 2),
    "SupConLoss": (lambda E, y: dml.losses.SupConLoss()(E, y), 0),
    "CircleLoss": (lambda E, y: dml.losses.CircleLoss()(E, y), 0),
    "CosFaceLoss": (lambda E, y: dml.losses.CosFaceLoss(8, 8)(E, y), 1),
    "MultiSimilarityLoss": (
        lambda E, y: dml.losses.MultiSimilarityLoss()(E, y), 1),
    "CrossBatchMemory(NTXentLoss)": (
        lambda E, y: dml.losses.CrossBatchMemory(
            dml.losses.NTXentLoss(), 8, memory_size=256)(E, y), 6),
}


@pytest.mark.parametrize("name", sorted(_PML_STEPS))
def test_pml_named_classes_wait_for_the_device_a_bounded_number_of_times(
        name):
    """Host synchronisations of one training step's loss (and miner), as
    a CUDA run would make them: data-sized outputs (nonzero, boolean
    indexing) and label checks only, never one per anchor or pair. The
    bounds are today's counts, so a change that adds a sync per chunk or
    per row fails here (B = 64, 8 classes). A pair miner feeding a
    triplet loss needs 4: the embeddings' finite check, one nonzero per
    pair list, and the pairs-to-triplets expansion (data-sized)."""
    from _device_sim import SyncCounter
    make, most = _PML_STEPS[name]
    g = torch.Generator().manual_seed(0)
    E = torch.randn(64, 8, generator=g, requires_grad=True)
    y = torch.arange(64) % 8
    with SyncCounter() as c:
        loss = make(E, y)
    assert c.total <= most, c.counts
    assert loss.requires_grad and torch.isfinite(loss)
