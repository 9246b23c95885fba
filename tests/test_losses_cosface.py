"""CosFace against a plain loop, autograd (finite differences), hand
values, stability and half precision; the classifier it shares with
ArcFace."""
import math

import pytest
import torch

from dml.distances import cosine_matrix
from dml.losses import cosface_logits, cosface_loss
from _helpers import batch


def cosface_ref(cos, y, m, s):
    """Wang et al.'s LMCL, sample by sample, with the plain sums."""
    out = []
    for b in range(cos.shape[0]):
        logits = [s * (cos[b, c].item() - (m if c == y[b] else 0.0))
                  for c in range(cos.shape[1])]
        out.append(-math.log(math.exp(logits[y[b]])
                             / sum(math.exp(v) for v in logits)))
    return out


def cosines(seed, B=7, C=4):
    g = torch.Generator().manual_seed(seed)
    cos = torch.rand(B, C, generator=g, dtype=torch.float64) * 2 - 1
    y = torch.randint(0, C, (B,), generator=g)
    return cos, y


@pytest.mark.parametrize("seed", range(3))
def test_cosface_loss_equals_the_loop(seed):
    cos, y = cosines(seed)
    out = cosface_loss(cos, y, margin=0.35, scale=8.0)
    assert out.tolist() == pytest.approx(cosface_ref(cos, y, 0.35, 8.0),
                                         rel=1e-10)


def test_cosface_hand_value():
    # two classes, cos = (0.5, 0): logits s (0.5 - m), 0 with m = 0.5
    # -> both 0, the loss is log 2
    out = cosface_loss(torch.tensor([[0.5, 0.0]]), torch.tensor([0]),
                       margin=0.5, scale=10.0)
    assert out.item() == pytest.approx(math.log(2), rel=1e-6)


def test_cosface_logits_move_only_the_target():
    cos, y = cosines(0)
    logits = cosface_logits(cos, y, margin=0.2, scale=3.0)
    diff = 3.0 * cos - logits
    target = torch.nn.functional.one_hot(y, cos.shape[1]).bool()
    assert torch.allclose(diff[target], torch.full((len(y),), 0.6,
                                                   dtype=torch.float64))
    assert (diff[~target] == 0).all()


def test_cosface_gradcheck_in_embeddings_and_weights():
    X, y = batch(0, B=6, D=3, C=4)
    W = torch.randn(4, 3, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(1))
    assert torch.autograd.gradcheck(
        lambda X, W: cosface_loss(cosine_matrix(X, W), y, 0.35, 4.0).sum(),
        (X.requires_grad_(), W.requires_grad_()))


def test_cosface_stays_finite_for_a_huge_scale():
    cos = torch.tensor([[1.0, -1.0], [-1.0, 1.0]], requires_grad=True)
    out = cosface_loss(cos, torch.tensor([0, 0]), 0.35, scale=1e4)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(cos.grad).all()
    assert out[0].item() == 0.0
    assert out[1].item() == pytest.approx(1e4 * 2.35, rel=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_cosface_half_precision_is_computed_in_float32(dtype):
    cos, y = cosines(2)
    half = cosface_loss(cos.to(dtype), y)
    ref = cosface_loss(cos.to(dtype).double(), y)
    assert half.dtype == torch.float32
    assert torch.allclose(half.double(), ref, rtol=1e-5)


# ------------------------------------------------- the modules and their base
from dml.distances import LpDistance  # noqa: E402
from dml.losses import ArcFaceLoss, CosFaceLoss  # noqa: E402
from dml.losses.arcface import arcface_loss  # noqa: E402
from dml.losses.margin_softmax import (MarginSoftmaxLoss,  # noqa: E402
                                       miner_weights)
from dml.reducers import AvgNonZeroReducer, MeanReducer  # noqa: E402

W_PML = [[-0.11720721184327226, 1.553109128881493, -0.3208693214135495,
          1.5621195343675542, -0.20353861724647299, 1.0938443736921497],
         [0.0534191942795709, 0.013427502769270348, -0.32941223804852077,
          1.427469253078078, 0.10227104997923495, -1.4266772777357957],
         [0.8330497625994617, 0.8754186991348559, -0.8849291965133247,
          0.9106874933978805, 0.16484754401821664, -0.947120628744086],
         [0.6708747708875055, -0.47831564618025835, 2.1976427053233145,
          0.1365118377695223, 1.5152597099499807, -1.1678366375044382],
         [-1.3129049973568954, 1.286457928589127, -0.7321200134104802,
          -1.1100374577947123, -0.132175010366216, 1.4505092414462475]]


def with_w(loss):
    loss = loss.double()
    with torch.no_grad():
        loss.W.copy_(torch.tensor(W_PML, dtype=torch.float64))
    return loss


def pml_batch():
    """The inputs of the pytorch-metric-learning 2.9 numbers below."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(12, 5, generator=g, dtype=torch.float64)
    y = torch.arange(12) % 6
    triplets = (torch.tensor([0, 1, 3, 3, 6]), torch.tensor([1, 2, 4, 5, 7]),
                torch.tensor([3, 6, 0, 8, 11]))
    return X, y, triplets


def test_defaults_are_pml_s():
    cf, af = CosFaceLoss(6, 5), ArcFaceLoss(6, 5)
    assert (cf.margin, cf.scale) == (0.35, 64) and \
        (af.margin, af.scale) == (28.6, 64)
    for loss in (cf, af):
        assert isinstance(loss, MarginSoftmaxLoss)
        assert isinstance(loss.reducer, MeanReducer)
        assert loss.W.shape == (5, 6)


def test_values_equal_pml_2_9():
    """Numbers computed by pytorch-metric-learning 2.9.0 with the same W
    (benchmarks/pml_parity.py runs both libraries)."""
    X, y, trip = pml_batch()
    cases = [
        (with_w(CosFaceLoss(6, 5))(X, y), 53.85026944337621),
        (with_w(CosFaceLoss(6, 5))(X, y, trip), 20.715954917832264),
        (with_w(CosFaceLoss(6, 5, margin=0.2, scale=8))(X, y),
         5.853880267752271),
        (with_w(ArcFaceLoss(6, 5))(X, y), 58.59022182464853),
        (with_w(ArcFaceLoss(6, 5))(X, y, trip), 23.113270515288672),
        (with_w(ArcFaceLoss(6, 5, margin=10.0, scale=8))(X, y),
         5.556166633863332),
    ]
    for got, want in cases:
        assert got.item() == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_cosface_module_equals_the_loop(seed):
    X, y = batch(seed, B=9, D=3, C=4)
    loss = CosFaceLoss(4, 3, margin=0.3, scale=8).double()
    W = loss.W.detach()
    cos = torch.tensor([[float(X[b] @ W[:, c] / X[b].norm() / W[:, c].norm())
                         for c in range(4)] for b in range(9)],
                       dtype=torch.float64)
    ref = cosface_ref(cos, y.tolist(), 0.3, 8.0)
    assert loss(X, y).item() == pytest.approx(sum(ref) / 9, rel=1e-10)
    assert torch.allclose(loss.get_logits(X), 8.0 * cos)


def test_miner_weights_are_counts_over_the_largest_count():
    # sample 1 is listed 3 times, 4 and 7 twice, 2 once: weights n_b / 3
    idx = (torch.tensor([1, 1, 7]), torch.tensor([4, 4, 1]),
           torch.tensor([7, 2, 0]))
    w = miner_weights(idx, 9, torch.zeros(1, dtype=torch.float64))
    want = [1 / 3, 1, 1 / 3, 0, 2 / 3, 0, 0, 2 / 3, 0]
    assert w.tolist() == pytest.approx(want)
    empty = (torch.tensor([], dtype=torch.long),) * 3
    assert miner_weights(None, 9, w) is None
    assert miner_weights(empty, 9, w) is None


@pytest.mark.parametrize("make", [lambda: CosFaceLoss(4, 3, scale=8),
                                  lambda: ArcFaceLoss(4, 3, scale=8)])
def test_a_miner_weights_the_samples_as_pml(make):
    X, y = batch(9, C=4)
    loss = make().double()
    per_sample = arcface_loss if isinstance(loss, ArcFaceLoss) else \
        cosface_loss
    margin = loss.margin_of_formula()
    terms = per_sample(loss.get_cosine(X), y, margin, 8.0)      # (B,)
    idx = (torch.tensor([1, 1]), torch.tensor([4, 4]), torch.tensor([7, 2]))
    w = torch.zeros(len(y), dtype=torch.float64)
    w[[1, 4]], w[[2, 7]] = 1.0, 0.5
    assert loss(X, y, idx).item() == pytest.approx(
        (w * terms).mean().item(), rel=1e-12)
    nonzero = CosFaceLoss(4, 3, scale=8, reducer=AvgNonZeroReducer()) \
        if isinstance(loss, CosFaceLoss) else \
        ArcFaceLoss(4, 3, scale=8, reduction="mean_nonzero")
    nonzero.load_state_dict(loss.state_dict())
    assert nonzero.double()(X, y, idx).item() == pytest.approx(
        (w * terms).sum().item() / 4, rel=1e-12)


def test_with_zero_margin_arcface_and_cosface_are_the_same_classifier():
    X, y = batch(3, B=8, D=3, C=4)
    cf = CosFaceLoss(4, 3, margin=0.0, scale=5).double()
    af = ArcFaceLoss(4, 3, margin=0.0, scale=5).double()
    af.load_state_dict(cf.state_dict())
    assert cf(X, y).item() == pytest.approx(af(X, y).item(), rel=1e-12)
    assert torch.equal(cf.get_logits(X), af.get_logits(X))


def test_cosface_module_gradcheck_in_embeddings_and_weights():
    X, y = batch(2, B=6, D=3, C=4)
    loss = CosFaceLoss(4, 3, scale=4).double()
    assert torch.autograd.gradcheck(lambda Z: loss(Z, y),
                                    (X.requires_grad_(),))
    loss(X, y).backward()
    assert loss.W.grad is not None and torch.isfinite(loss.W.grad).all()


def test_cosface_empty_batch_and_half_precision():
    loss = CosFaceLoss(4, 3)
    X = torch.zeros(0, 3, requires_grad=True)
    out = loss(X, torch.zeros(0, dtype=torch.long))
    out.backward()
    assert out.item() == 0.0
    X, y = batch(1, B=16, D=3, C=4)
    half = loss(X.half(), y)
    assert half.dtype == torch.float32
    assert half.item() == pytest.approx(loss(X.half().float(), y).item(),
                                        rel=1e-2)


@pytest.mark.parametrize("cls", [CosFaceLoss, ArcFaceLoss])
def test_margin_softmax_errors_name_the_fix(cls):
    with pytest.raises(ValueError, match=f"{cls.__name__} needs distance="):
        cls(4, 3, distance=LpDistance())
    loss = cls(4, 3)
    X, y = batch(0, C=4)
    with pytest.raises(ValueError, match="does not take ref_emb"):
        loss(X.float(), y, ref_emb=X[:2].float(), ref_labels=y[:2])
    with pytest.raises(ValueError, match=r"lie in 0..num_classes-1 = 0..3"):
        loss(X.float(), y + 4)
    with pytest.raises(ValueError, match="num_classes"):
        cls(0, 3)
