"""Supervised contrastive and Circle losses against plain loops, autograd
(finite differences), edge cases (no positives, one class, empty batch)
and half precision."""
import math

import pytest
import torch

from dml.losses import circle_loss, supcon_loss
from _helpers import batch


def sim_and_masks(seed, B=8, R=None, C=3):
    """A random similarity matrix in [-1, 1] and label masks."""
    g = torch.Generator().manual_seed(seed)
    R = B if R is None else R
    S = torch.rand(B, R, generator=g, dtype=torch.float64) * 2 - 1
    y = torch.randint(0, C, (B,), generator=g)
    y_ref = y if R == B else torch.randint(0, C, (R,), generator=g)
    same = y[:, None] == y_ref[None, :]
    if R == B:
        same = same & ~torch.eye(B, dtype=torch.bool)
        neg = y[:, None] != y_ref[None, :]
    else:
        neg = ~same
    return S, same, neg


# ------------------------------------------------------------ plain loops
def supcon_ref(S, pos, neg, tau):
    """Khosla et al.'s L_out, anchor by anchor, pair by pair."""
    out = []
    for i in range(S.shape[0]):
        cands = [j for j in range(S.shape[1]) if pos[i, j] or neg[i, j]]
        poss = [j for j in range(S.shape[1]) if pos[i, j]]
        if not poss:
            out.append(0.0)
            continue
        denom = sum(math.exp(S[i, a].item() / tau) for a in cands)
        out.append(-sum(math.log(math.exp(S[i, p].item() / tau) / denom)
                        for p in poss) / len(poss))
    return out


def circle_ref(S, pos, neg, m, gamma):
    """Sun et al.'s circle loss, anchor by anchor, with the plain sums."""
    out = []
    for i in range(S.shape[0]):
        sp = [S[i, j].item() for j in range(S.shape[1]) if pos[i, j]]
        sn = [S[i, j].item() for j in range(S.shape[1]) if neg[i, j]]
        if not sp or not sn:
            out.append(0.0)
            continue
        sum_n = sum(math.exp(gamma * max(s + m, 0) * (s - m)) for s in sn)
        sum_p = sum(math.exp(-gamma * max(1 + m - s, 0) * (s - (1 - m)))
                    for s in sp)
        out.append(math.log1p(sum_n * sum_p))
    return out


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("R", [None, 5])
def test_supcon_equals_the_loop(seed, R):
    S, pos, neg = sim_and_masks(seed, R=R)
    out = supcon_loss(S, pos, neg, temperature=0.3)
    assert out.shape == (S.shape[0],)
    assert out.tolist() == pytest.approx(supcon_ref(S, pos, neg, 0.3),
                                         rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("R", [None, 5])
def test_circle_equals_the_loop(seed, R):
    S, pos, neg = sim_and_masks(seed, R=R)
    # gamma small enough for the plain exp of the loop not to overflow
    out = circle_loss(S, pos, neg, m=0.25, gamma=16.0)
    assert out.tolist() == pytest.approx(circle_ref(S, pos, neg, 0.25, 16),
                                         rel=1e-10, abs=1e-12)


def test_supcon_with_one_positive_and_no_negative_is_zero():
    # the only candidate is the positive: -log(1) = 0
    S = torch.tensor([[0.0, 0.3]], dtype=torch.float64)
    pos = torch.tensor([[False, True]])
    assert supcon_loss(S, pos, torch.zeros_like(pos)).item() == 0.0


def test_supcon_hand_value():
    # one positive at s = 1, one negative at s = 0, tau = 1:
    # log(e + 1) - 1
    S = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    out = supcon_loss(S, torch.tensor([[True, False]]),
                      torch.tensor([[False, True]]), temperature=1.0)
    assert out.item() == pytest.approx(math.log(math.e + 1) - 1, rel=1e-12)


def test_circle_hand_value():
    # s_p = 1, s_n = 0 with m = 0.25: alpha_p = 0.25, Delta_p = 0.75,
    # alpha_n = 0.25, Delta_n = 0.25; L = log(1 + e^{g(-1/16 - 1/16)})
    S = torch.tensor([[1.0, 0.0]], dtype=torch.float64)
    out = circle_loss(S, torch.tensor([[True, False]]),
                      torch.tensor([[False, True]]), m=0.25, gamma=8.0)
    assert out.item() == pytest.approx(math.log1p(math.exp(-1.0)),
                                       rel=1e-12)


def test_anchors_without_positives_or_negatives_give_zero():
    S, pos, neg = sim_and_masks(0)
    pos[0], neg[1] = False, False
    pos[2], neg[2] = False, False
    sup = supcon_loss(S, pos, neg)
    circ = circle_loss(S, pos, neg)
    has_pos, both = pos.any(1), pos.any(1) & neg.any(1)
    assert not both[:3].any() and both.any()
    assert (sup[~has_pos] == 0).all() and (sup[has_pos] > 0).all()
    assert (circ[~both] == 0).all() and (circ[both] > 0).all()


@pytest.mark.parametrize("fn", [supcon_loss, circle_loss])
def test_empty_batch_gives_an_empty_vector(fn):
    S = torch.zeros(0, 0, requires_grad=True)
    out = fn(S, torch.zeros(0, 0, dtype=torch.bool),
             torch.zeros(0, 0, dtype=torch.bool))
    assert out.shape == (0,)
    out.sum().backward()


def test_supcon_gradcheck():
    S, pos, neg = sim_and_masks(1)
    S.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda S: supcon_loss(S, pos, neg, temperature=0.2), (S,))


def test_circle_gradient_is_that_of_the_weighted_logits():
    # alpha is a stop-gradient: the gradient equals finite differences of
    # the loss with alpha frozen at its value
    S, pos, neg = sim_and_masks(2)
    m, gamma = 0.4, 4.0
    alpha_p = (1 + m - S).clamp_min(0)
    alpha_n = (S + m).clamp_min(0)

    def frozen(S):
        lp = torch.where(pos, -gamma * alpha_p * (S - (1 - m)),
                         torch.tensor(-math.inf, dtype=S.dtype))
        ln = torch.where(neg, gamma * alpha_n * (S - m),
                         torch.tensor(-math.inf, dtype=S.dtype))
        return torch.nn.functional.softplus(
            torch.logsumexp(lp, 1) + torch.logsumexp(ln, 1))

    X = S.clone().requires_grad_(True)
    circle_loss(X, pos, neg, m, gamma).sum().backward()
    X2 = S.clone().requires_grad_(True)
    frozen(X2).sum().backward()
    assert torch.allclose(X.grad, X2.grad, rtol=1e-10, atol=1e-12)
    # and the frozen loss itself passes finite differences
    assert torch.autograd.gradcheck(frozen, (S.clone().requires_grad_(),))


def test_zero_terms_have_finite_zero_gradients():
    S, pos, neg = sim_and_masks(0)
    pos[:], neg[0] = False, False
    for fn in (supcon_loss, circle_loss):
        X = S.clone().requires_grad_(True)
        out = fn(X, pos, neg)
        out.sum().backward()
        assert (out == 0).all()
        assert torch.isfinite(X.grad).all() and (X.grad == 0).all()


def test_stable_for_tiny_temperature_and_huge_gamma():
    S, pos, neg = sim_and_masks(0, B=6)
    X = S.float().requires_grad_(True)
    out = supcon_loss(X, pos, neg, temperature=1e-4)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(X.grad).all()
    X = S.float().requires_grad_(True)
    out = circle_loss(X, pos, neg, m=0.4, gamma=1e4)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(X.grad).all()
    assert (out > 0).any()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_computed_in_float32(dtype):
    S, pos, neg = sim_and_masks(3)
    for fn, kw in ((supcon_loss, {"temperature": 0.1}),
                   (circle_loss, {"m": 0.4, "gamma": 80.0})):
        half = fn(S.to(dtype), pos, neg, **kw)
        ref = fn(S.to(dtype).double(), pos, neg, **kw)
        assert half.dtype == torch.float32
        assert torch.allclose(half.double(), ref, rtol=1e-5, atol=1e-4)


def test_bad_masks_are_refused_with_a_message():
    S, pos, neg = sim_and_masks(0)
    with pytest.raises(ValueError, match="pos_mask must have the shape"):
        supcon_loss(S, pos[:3], neg)
    with pytest.raises(ValueError, match="overlap"):
        circle_loss(S, pos, neg | pos)
    with pytest.raises(ValueError, match="S must be a 2-D"):
        circle_loss(S[0], pos[0], neg[0])
    with pytest.raises(ValueError, match="temperature must be > 0"):
        supcon_loss(S, pos, neg, temperature=0.0)


# ------------------------------------------------------------ the modules
from dml.distances import CosineSimilarity, LpDistance  # noqa: E402
from dml.losses import CircleLoss, SupConLoss  # noqa: E402
from dml.reducers import (AvgNonZeroReducer, MeanReducer,  # noqa: E402
                          SumReducer)


def pml_batch():
    """The inputs of the pytorch-metric-learning 2.9 numbers below."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(12, 5, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 4])
    ref = torch.randn(6, 5, generator=g, dtype=torch.float64)
    ref_y = torch.arange(6)
    triplets = (torch.tensor([0, 1, 3, 3, 6]), torch.tensor([1, 2, 4, 5, 7]),
                torch.tensor([3, 6, 0, 8, 11]))
    return X, y, ref, ref_y, triplets


def module_ref(fn, S, pos, neg, **kw):
    """Mean of the loop's per-anchor losses over those > 0 (pml's
    AvgNonZeroReducer)."""
    terms = [t for t in fn(S, pos, neg, **kw) if t > 0]
    return sum(terms) / len(terms) if terms else 0.0


def cos_matrix(X, Y=None):
    Y = X if Y is None else Y
    Xn = X / X.norm(dim=1, keepdim=True)
    Yn = Y / Y.norm(dim=1, keepdim=True)
    return Xn @ Yn.T


def test_defaults_are_pml_s():
    sup, circ = SupConLoss(), CircleLoss()
    assert sup.temperature == 0.1 and (circ.m, circ.gamma) == (0.4, 80)
    for loss in (sup, circ):
        assert isinstance(loss.distance, CosineSimilarity)
        assert isinstance(loss.reducer, AvgNonZeroReducer)


def test_values_equal_pml_2_9():
    """Numbers computed by pytorch-metric-learning 2.9.0 on pml_batch()
    (benchmarks/pml_parity.py runs both libraries)."""
    X, y, ref, ref_y, trip = pml_batch()
    cases = [
        (SupConLoss()(X, y), 6.033046824573415),
        (SupConLoss(0.5, distance=LpDistance())(X, y), 2.4007757837785926),
        (SupConLoss()(X, y, trip), 0.9498299291024432),
        (SupConLoss()(X, y, ref_emb=ref, ref_labels=ref_y),
         3.2286237976885506),
        (SupConLoss(reducer=MeanReducer())(X, y), 5.530292922525629),
        (CircleLoss()(X, y), 133.3304513576605),
        (CircleLoss(m=0.25, gamma=256)(X, y), 474.19519892855226),
        (CircleLoss()(X, y, trip), 40.09425941214455),
        (CircleLoss()(X, y, ref_emb=ref, ref_labels=ref_y),
         75.02833580676797),
        (CircleLoss(reducer=SumReducer())(X, y), 1466.6349649342653),
    ]
    for got, want in cases:
        assert got.item() == pytest.approx(want, rel=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_modules_equal_the_loops(seed):
    X, y = batch(seed, B=12, D=4, C=3)
    pos = torch.tensor([[bool(y[i] == y[j]) and i != j for j in range(12)]
                        for i in range(12)])
    neg = torch.tensor([[bool(y[i] != y[j]) for j in range(12)]
                        for i in range(12)])
    S = cos_matrix(X)
    assert SupConLoss(0.3)(X, y).item() == pytest.approx(
        module_ref(supcon_ref, S, pos, neg, tau=0.3), rel=1e-10)
    assert CircleLoss(m=0.25, gamma=16)(X, y).item() == pytest.approx(
        module_ref(circle_ref, S, pos, neg, m=0.25, gamma=16), rel=1e-10)
    # a distance enters SupCon as s = -d
    D = torch.cdist(X / X.norm(dim=1, keepdim=True),
                    X / X.norm(dim=1, keepdim=True))
    assert SupConLoss(0.3, distance=LpDistance())(X, y).item() == \
        pytest.approx(module_ref(supcon_ref, -D, pos, neg, tau=0.3),
                      rel=1e-8)


def test_modules_with_a_miner_and_with_ref_emb_equal_the_loops():
    X, y, ref, ref_y, (a, p, n) = pml_batch()
    pos = torch.zeros(12, 12, dtype=torch.bool)
    neg = torch.zeros(12, 12, dtype=torch.bool)
    for i, j, k in zip(a.tolist(), p.tolist(), n.tolist()):
        pos[i, j], neg[i, k] = True, True
    S = cos_matrix(X)
    assert SupConLoss()(X, y, (a, p, n)).item() == pytest.approx(
        module_ref(supcon_ref, S, pos, neg, tau=0.1), rel=1e-10)
    assert CircleLoss(gamma=16)(X, y, (a, p, a, n)).item() == \
        pytest.approx(module_ref(circle_ref, S, pos, neg, m=0.4,
                                 gamma=16), rel=1e-10)
    # ref_emb: every (query, reference) pair, no self pair to exclude
    pos = torch.tensor([[bool(y[i] == ref_y[j]) for j in range(6)]
                        for i in range(12)])
    neg = ~pos
    S = cos_matrix(X, ref)
    assert SupConLoss(0.2)(X, y, ref_emb=ref, ref_labels=ref_y).item() == \
        pytest.approx(module_ref(supcon_ref, S, pos, neg, tau=0.2),
                      rel=1e-10)
    assert CircleLoss(gamma=16)(X, y, ref_emb=ref,
                                ref_labels=ref_y).item() == \
        pytest.approx(module_ref(circle_ref, S, pos, neg, m=0.4,
                                 gamma=16), rel=1e-10)


def test_labels_may_be_left_out_when_a_miner_gives_the_pairs():
    X, y, _, _, trip = pml_batch()
    for loss in (SupConLoss(), CircleLoss()):
        assert loss(X, None, trip).item() == loss(X, y, trip).item()
        with pytest.raises(ValueError, match="labels are required"):
            loss(X)


@pytest.mark.parametrize("make", [SupConLoss, CircleLoss])
@pytest.mark.parametrize("labels", [[0], [0, 0, 0], [1, 2, 3], []])
def test_batches_without_a_valid_pair_give_zero_with_grad(make, labels):
    # one sample; one class (no negative: pml's SupCon gives 0 too);
    # no positives; an empty batch
    X = torch.randn(len(labels), 3, dtype=torch.float64,
                    requires_grad=True)
    out = make()(X, torch.tensor(labels, dtype=torch.long))
    out.backward()
    assert out.item() == 0.0
    assert X.grad is not None and (X.grad == 0).all()


# CircleLoss's alpha is a stop-gradient, so its gradient is not that of
# its value: test_circle_gradient_is_that_of_the_weighted_logits checks it
@pytest.mark.parametrize("make", [lambda: SupConLoss(0.5),
                                  lambda: SupConLoss(distance=LpDistance())])
def test_supcon_module_gradcheck(make):
    X, y = batch(4, B=7, D=3, C=3)
    loss = make()
    assert torch.autograd.gradcheck(lambda Z: loss(Z, y),
                                    (X.requires_grad_(),))


def test_module_errors_name_the_fix():
    with pytest.raises(ValueError, match="CircleLoss needs distance="
                                         r"CosineSimilarity\(\)"):
        CircleLoss(distance=LpDistance())
    with pytest.raises(ValueError, match="temperature must be > 0"):
        SupConLoss(temperature=-1)
    X, y = batch(0)
    with pytest.raises(ValueError, match="ref_labels"):
        SupConLoss()(X, y, ref_emb=X[:3].clone())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_modules_in_half_precision_give_float32_values(dtype):
    X, y = batch(5, B=16, D=8, C=4)
    for loss in (SupConLoss(), CircleLoss()):
        half = loss(X.to(dtype), y)
        ref = loss(X.to(dtype).double(), y)
        assert half.dtype == torch.float32
        assert half.item() == pytest.approx(ref.item(), rel=2e-2)


def test_one_mined_positive_and_negative_pair_give_their_loss():
    # pml returns 0 here (its GenericPairLoss skips index tensors of
    # length <= 1); dml computes the formula (docstrings, "departure")
    X, y = batch(6, B=4, D=3, C=2)
    y = torch.tensor([0, 0, 1, 1])
    pairs = (torch.tensor([0]), torch.tensor([1]), torch.tensor([0]),
             torch.tensor([2]))
    pos = torch.zeros(4, 4, dtype=torch.bool)
    neg = torch.zeros_like(pos)
    pos[0, 1], neg[0, 2] = True, True
    S = cos_matrix(X)
    assert SupConLoss()(X, y, pairs).item() == pytest.approx(
        supcon_loss(S, pos, neg)[0].item(), rel=1e-12)
    assert CircleLoss()(X, y, pairs).item() == pytest.approx(
        circle_loss(S, pos, neg)[0].item(), rel=1e-12)
    assert CircleLoss()(X, y, pairs).item() > 0
