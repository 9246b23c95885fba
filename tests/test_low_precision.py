"""Half precision, autocast and host synchronisations, checked on the CPU.

bfloat16 runs on the CPU (inputs and ``torch.autocast("cpu")``), so the
numerics of mixed precision are tested here; CUDA's float16 autocast is
in the gpu-marked tests. Tolerances: a bfloat16 product carries 8 bits
(relative error ~4e-3), so a loss under bfloat16 autocast must lie within
2e-2 of its float32 value (relative), and come back as float32 (the
reductions run in float32).

A test marked ``xfail(strict=True)`` states a target not met yet (its
reason says what): it fails today, and its mark goes with the fix.
"""
import numpy as np
import pytest
import torch

import dml
import dml.losses as L
from _device_sim import SyncCounter
from dml.losses._reduce import reduce_terms
from dml.losses.arcface import arcface_logits
from dml.losses.softmax import info_nce_loss, npairs_loss
from dml.losses.triplet import triplet_loss
from dml.miners import BatchHardMiner, HardestNegativeMiner, SemiHardMiner

RTOL = 2e-2


def batch(B=128, D=32, classes=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, D, generator=g), torch.arange(B) % classes


def pending(what):
    return pytest.mark.xfail(strict=True, reason=f"not yet: {what}")


# -------------------------------------------------------------- losses
def triplets_of(y):
    a, p, n = L.all_triplets(y)
    return a[::5], p[::5], n[::5]


LOSSES = {
    "contrastive": (lambda: L.ContrastiveLoss(), False),
    "triplet_mined": (lambda: L.TripletMarginLoss(0.3), True),
    "ntxent": (lambda: L.NTXentLoss(0.1), False),
    "npairs": (lambda: L.NPairsLoss(), False),
    "multi_similarity": (lambda: L.MultiSimilarityLoss(), False),
    "lifted": (lambda: L.LiftedStructureLoss(), False),
    "proxy_anchor": (lambda: L.ProxyAnchorLoss(32, 32), False),
    "arcface": (lambda: L.ArcFaceLoss(32, 32, scale=16), False),
    "cosface": (lambda: L.CosFaceLoss(32, 32, scale=16), False),
    "supcon": (lambda: L.SupConLoss(), False),
    "circle": (lambda: L.CircleLoss(), False),
}


def _value(name, E, y, autocast):
    make, mined = LOSSES[name]
    torch.manual_seed(0)                      # same proxies / class vectors
    loss = make()
    idx = triplets_of(y) if mined else None
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        return loss(E, y, idx)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_under_bf16_autocast_is_float32_and_close(name):
    E, y = batch()
    want = _value(name, E, y, autocast=False)
    got = _value(name, E, y, autocast=True)
    assert got.dtype == torch.float32
    assert float(got.detach()) == pytest.approx(float(want.detach()),
                                                rel=RTOL)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_of_half_embeddings_is_float32_and_close(name, dtype):
    E, y = batch()
    want = _value(name, E.to(dtype).float(), y, autocast=False)
    got = _value(name, E.to(dtype), y, autocast=False)
    assert got.dtype == torch.float32
    assert float(got.detach()) == pytest.approx(float(want.detach()),
                                                rel=RTOL)


def test_all_triplets_loss_reduces_in_float32_under_autocast():
    E, y = batch()
    want = L.TripletMarginLoss(0.3)(E, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = L.TripletMarginLoss(0.3)(E, y)
    assert got.dtype == torch.float32
    assert float(got.detach()) == pytest.approx(float(want.detach()),
                                                rel=RTOL)


def test_reduce_terms_sums_half_terms_in_float32():
    g = torch.Generator().manual_seed(0)
    terms = torch.rand(4096, generator=g).bfloat16()
    exact = terms.double().sum()
    for reduction in ("sum", "mean", "mean_nonzero"):
        out = reduce_terms(terms, reduction, terms)
        assert out.dtype == torch.float32
        want = exact / (1 if reduction == "sum" else 4096)
        assert float(out) == pytest.approx(float(want), rel=1e-6)


def test_arcface_logits_of_half_cosines_are_float32():
    g = torch.Generator().manual_seed(0)
    cos = torch.rand(16, 8, generator=g) * 2 - 1
    y = torch.arange(16) % 8
    want = arcface_logits(cos.bfloat16().float(), y, scale=64.0)
    got = arcface_logits(cos.bfloat16(), y, scale=64.0)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, want)


# ------------------------------------- secondary arguments (other files)
def test_info_nce_loss_moves_neg_mask_to_the_logits_device():
    z_pos, z_neg = torch.zeros(4, device="meta"), torch.zeros(4, 6,
                                                              device="meta")
    mask = torch.ones(4, 6, dtype=torch.bool)                   # on the CPU
    assert info_nce_loss(z_pos, z_neg, 0.1, mask).device.type == "meta"


def test_npairs_loss_moves_positive_to_the_anchor_device():
    anchor = torch.zeros(4, 3, device="meta")
    out = npairs_loss(anchor, torch.zeros(4, 3), torch.zeros(4, 2, 3))
    assert out.device.type == "meta"


def test_triplet_loss_moves_d_an_to_the_d_ap_device():
    d_ap = torch.zeros(5, device="meta")
    assert triplet_loss(d_ap, np.ones(5)).device.type == "meta"


# -------------------------------------------------------------- miners
MINERS = {"batch_hard": BatchHardMiner, "semi_hard": SemiHardMiner,
          "hardest_negative": HardestNegativeMiner}


def _same(a, b):
    return all(torch.equal(u, v) for u, v in zip(a, b))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("name", sorted(MINERS))
def test_miner_on_half_embeddings_finds_the_float32_triplets(name, dtype):
    """B = 512 > 256 columns: a bfloat16 column index is no longer exact;
    half-precision distances also rank near-ties differently."""
    E, y = batch(B=512, D=64, classes=128)
    E = torch.nn.functional.normalize(E, dim=1).to(dtype)
    a, p, n = MINERS[name]()(E, y)
    assert bool((n < 512).all()) and bool((y[a] != y[n]).all())
    assert _same((a, p, n), MINERS[name]()(E.float(), y))


@pytest.mark.parametrize("name", sorted(MINERS))
def test_miner_under_bf16_autocast_finds_the_float32_triplets(name):
    E, y = batch(B=512, D=64, classes=128)
    E = torch.nn.functional.normalize(E, dim=1)
    want = MINERS[name]()(E, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = MINERS[name]()(E, y)
    assert _same(got, want)


# ------------------------------------------------- fit_embedding(amp=...)
class Recorder(torch.nn.Module):
    """A linear embedder that records the dtype of its outputs."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(16, 8)
        self.dtypes = set()

    def forward(self, x):
        z = self.lin(x)
        self.dtypes.add(z.dtype)
        return z


def _fit(amp, epochs=3):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(256) % 8
    X = torch.randn(256, 16, generator=g) + 2 * torch.nn.functional.one_hot(
        y, 16).float()
    torch.manual_seed(0)
    model = Recorder()
    h = dml.fit_embedding(model, X, y, L.MultiSimilarityLoss(),
                          epochs=epochs, device="cpu", verbose=False, amp=amp)
    return model, h


def test_fit_embedding_with_amp_runs_the_model_in_bf16_and_learns():
    model, h = _fit(amp=True)
    _, h32 = _fit(amp=False)
    assert model.dtypes == {torch.bfloat16}
    assert model.lin.weight.dtype == torch.float32     # master weights
    assert h["loss"][-1] < h["loss"][0]
    assert h["loss"][-1] == pytest.approx(h32["loss"][-1], rel=0.05)


@pytest.mark.parametrize("amp, message", [
    ("int8", "amp='int8' is not supported; use False, True, 'bfloat16' or "
             "'float16'."),
    ("float16", "amp='float16' needs a GPU; on the CPU use amp=True "
                "(bfloat16)."),
])
def test_fit_embedding_rejects_an_unknown_amp(amp, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")
                       .replace(")", r"\)").replace(".", r"\.")):
        _fit(amp=amp, epochs=1)


# ------------------------------------------------- host synchronisations
def _steps(B=64, n_steps=4):
    return [list(range(i, 256, 256 // B))[:B] for i in range(n_steps)]


def _count_fit(loss, miner, n_steps=4):
    g = torch.Generator().manual_seed(0)
    X, y = torch.randn(256, 10, generator=g), torch.arange(256) % 8
    model = torch.nn.Linear(10, 4)
    with SyncCounter() as c:
        dml.fit_embedding(model, X, y, loss, miner, _steps(n_steps=n_steps),
                          epochs=1, device="cpu", verbose=False)
    return c


def test_the_loop_and_a_mined_loss_sync_once_per_step():
    """With a miner that makes no sync (fixed tuples), what is left is the
    loss's one bounds check per step and the loop's one per epoch."""
    tuples = tuple(t[:50] for t in L.all_triplets(torch.arange(64) % 8))

    def fixed(emb, labels):
        return tuples

    c = _count_fit(L.TripletMarginLoss(0.2), fixed)
    assert c.total <= 4 + 1, c.counts


@pytest.mark.parametrize("miner", [
    BatchHardMiner, lambda: SemiHardMiner(method="sort")],
    ids=["batch-hard", "semi-hard (what 'auto' runs on a GPU)"])
def test_a_mined_training_step_syncs_at_most_twice(miner):
    c = _count_fit(L.TripletMarginLoss(0.2), miner())
    assert c.total <= 2 * 4 + 1, c.counts


def test_semi_hard_auto_sorts_on_a_gpu_and_scans_small_classes_on_cpu():
    """'auto' needs the number of positive pairs only on the CPU, where
    counting them is free; elsewhere it takes the sync-free 'sort'."""
    miner = SemiHardMiner()
    y = torch.arange(64) % 32                      # 2 per class: few pairs
    pos = (y[:, None] == y[None]) & ~torch.eye(64, dtype=torch.bool)
    D = torch.rand(64, 64)
    assert miner._method(D, pos) == "scan"
    assert miner._method(D.to("meta"), pos.to("meta")) == "sort"
    y = torch.arange(64) % 2                       # 32 per class: many
    pos = (y[:, None] == y[None]) & ~torch.eye(64, dtype=torch.bool)
    assert miner._method(D, pos) == "sort"
    assert SemiHardMiner(method="scan")._method(D, pos) == "scan"


# ------------------------------------------------------ CUDA (gpu-marked)
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_under_cuda_autocast_is_float32_and_close(name, dtype):
    E, y = batch()
    E, y = E.cuda(), y.cuda()
    make, mined = LOSSES[name]
    idx = triplets_of(y) if mined else None
    torch.manual_seed(0)
    want = make().cuda()(E, y, idx)
    torch.manual_seed(0)
    loss = make().cuda()
    with torch.autocast("cuda", dtype=dtype):
        got = loss(E, y, idx)
    assert got.dtype == torch.float32
    assert float(got.detach()) == pytest.approx(float(want.detach()),
                                                rel=RTOL)


@pytest.mark.gpu
@pytest.mark.parametrize("amp", [True, "float16"])
def test_fit_embedding_with_amp_on_cuda_learns(amp):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(256) % 8
    X = torch.randn(256, 16, generator=g) + 2 * torch.nn.functional.one_hot(
        y, 16).float()
    torch.manual_seed(0)
    model = Recorder()
    h = dml.fit_embedding(model, X, y, L.MultiSimilarityLoss(), epochs=3,
                          device="cuda", verbose=False, amp=amp)
    assert model.dtypes <= {torch.float16, torch.bfloat16}
    assert h["loss"][-1] < h["loss"][0]
