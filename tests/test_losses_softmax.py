"""N-pairs, InfoNCE and NT-Xent against plain loops, hand values and
autograd; stability for huge logits."""
import math

import numpy as np
import pytest
import torch

from dml.losses import NPairsLoss, NTXentLoss, info_nce_loss, npairs_loss
from _helpers import batch, cos


def neg_log_softmax_first(logits):
    """-log(e^{l_0} / sum_k e^{l_k}), the plain formula."""
    return -math.log(math.exp(logits[0]) / sum(math.exp(v) for v in logits))


def test_info_nce_with_one_negative_is_the_logistic_loss():
    # the case study's remark: N = 2 gives log(1 + exp(s_n - s_p))
    out = info_nce_loss(torch.tensor([0.7]), torch.tensor([[0.2]]), tau=1.0)
    assert out.item() == pytest.approx(math.log1p(math.exp(0.2 - 0.7)))


@pytest.mark.parametrize("seed", range(3))
def test_info_nce_equals_the_softmax_formula(seed):
    g = torch.Generator().manual_seed(seed)
    s_p = torch.rand(5, generator=g, dtype=torch.float64)
    s_n = torch.rand(5, 4, generator=g, dtype=torch.float64)
    mask = torch.rand(5, 4, generator=g) > 0.3
    out = info_nce_loss(s_p, s_n, tau=0.1, neg_mask=mask)
    for i in range(5):
        logits = [s_p[i].item() / 0.1] + [s_n[i, k].item() / 0.1
                                          for k in range(4) if mask[i, k]]
        assert out[i].item() == pytest.approx(neg_log_softmax_first(logits))


def test_info_nce_stays_finite_for_huge_logits():
    s_p = torch.tensor([1e4, -1e4, 1e4], dtype=torch.float32,
                       requires_grad=True)
    s_n = torch.tensor([[-1e4, -1e4], [1e4, 1e4], [1e4, 1e4]],
                       dtype=torch.float32)
    out = info_nce_loss(s_p, s_n, tau=0.01)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(s_p.grad).all()
    # exact: log(1 + 2 e^{-2e6}) = 0, 2e6 + log 2, log 3
    assert out[0].item() == 0.0
    assert out[1].item() == pytest.approx(2e6, rel=1e-6)
    # float32 resolves 1e6 to 0.0625 only; float64 gets log 3 exactly
    assert out[2].item() == pytest.approx(math.log(3), abs=0.07)
    out64 = info_nce_loss(s_p.double(), s_n.double(), tau=0.01)
    assert out64[2].item() == pytest.approx(math.log(3), rel=1e-9)


def test_npairs_single_and_batched_agree_with_the_formula():
    g = torch.Generator().manual_seed(0)
    a, p = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    negs = torch.randn(4, 5, 3, generator=g)
    batched = npairs_loss(a, p, negs)
    for i in range(4):
        logits = [float(a[i] @ p[i])] + [float(a[i] @ negs[i, k])
                                         for k in range(5)]
        ref = neg_log_softmax_first(logits)
        assert batched[i].item() == pytest.approx(ref, rel=1e-5)
        assert npairs_loss(a[i], p[i], negs[i]).item() == pytest.approx(
            ref, rel=1e-5)
    # Sohn's N-pair batch: negatives are the other anchors' positives
    sohn = npairs_loss(a, p)
    for i in range(4):
        logits = [float(a[i] @ p[i])] + [float(a[i] @ p[j])
                                         for j in range(4) if j != i]
        assert sohn[i].item() == pytest.approx(neg_log_softmax_first(logits),
                                               rel=1e-5)


def ntxent_ref(X, y, tau, pos_pairs=None, neg_pairs=None):
    B = len(y)
    if pos_pairs is None:
        pos_pairs = [(i, j) for i in range(B) for j in range(B)
                     if i != j and y[i] == y[j]]
        neg_pairs = [(i, j) for i in range(B) for j in range(B)
                     if y[i] != y[j]]
    negs = {}
    for i, j in set(neg_pairs):
        negs.setdefault(i, []).append(j)
    terms = []
    for a, p in pos_pairs:
        logits = [cos(X[a], X[p]) / tau] + [cos(X[a], X[n]) / tau
                                            for n in negs.get(a, [])]
        terms.append(neg_log_softmax_first(logits))
    return terms


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("tau", [0.07, 0.5])
def test_ntxent_equals_the_pair_loop(seed, tau):
    X, y = batch(seed)
    ref = ntxent_ref(X, y, tau)
    assert NTXentLoss(tau)(X, y).item() == pytest.approx(
        sum(ref) / len(ref), rel=1e-10)
    terms = NTXentLoss(tau, reduction="none")(X, y)
    assert np.allclose(terms.numpy(), ref)


def test_ntxent_with_given_pairs_uses_exactly_them():
    X, y = batch(4)
    pos = [(0, 1), (0, 1), (2, 3)]
    neg = [(0, 5), (0, 6), (2, 7)]
    idx = tuple(torch.tensor(c) for c in zip(*pos)) + \
        tuple(torch.tensor(c) for c in zip(*neg))
    ref = ntxent_ref(X, y, 0.2, pos, neg)
    out = NTXentLoss(0.2, reduction="sum")(X, y, idx)
    assert out.item() == pytest.approx(sum(ref), rel=1e-10)


def test_ntxent_gradient_matches_autograd():
    X, y = batch(2, B=6, C=2)
    X.requires_grad_(True)
    loss = NTXentLoss(0.3)
    assert torch.autograd.gradcheck(lambda Z: loss(Z, y), (X,))


def npairs_ref(X, y):
    """First positive pair (row-major) per class, classes in sorted order."""
    B, chosen = len(y), {}
    for i in range(B):
        for j in range(B):
            if i != j and y[i] == y[j] and int(y[i]) not in chosen:
                chosen[int(y[i])] = (i, j)
    pairs = [chosen[c] for c in sorted(chosen)]
    terms = []
    for k, (a, _) in enumerate(pairs):
        logits = [float(X[a] @ X[p]) for _, p in pairs]
        logits = [logits[k]] + logits[:k] + logits[k + 1:]
        terms.append(neg_log_softmax_first(logits))
    return terms


@pytest.mark.parametrize("seed", range(3))
def test_npairs_module_equals_the_loop(seed):
    X, y = batch(seed, B=12, C=4)
    ref = npairs_ref(X, y)                  # Sohn's raw dot product
    assert NPairsLoss(distance="dot")(X, y).item() == pytest.approx(
        sum(ref) / len(ref), rel=1e-10)
    # pml's default DotProductSimilarity() normalises: the cosine
    ref = npairs_ref(X / X.norm(dim=1, keepdim=True), y)
    assert NPairsLoss()(X, y).item() == pytest.approx(sum(ref) / len(ref),
                                                      rel=1e-10)


def test_npairs_gradient_matches_autograd():
    X, y = batch(3, B=8, C=3)
    X.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda Z: NPairsLoss()(Z, y), (X,))


@pytest.mark.parametrize("make", [NTXentLoss, NPairsLoss])
def test_no_positive_pair_gives_zero_with_grad(make):
    X = torch.randn(4, 3, requires_grad=True)
    out = make()(X, torch.arange(4))
    out.backward()
    assert out.item() == 0.0 and torch.isfinite(X.grad).all()


@pytest.mark.parametrize("make", [NTXentLoss, NPairsLoss])
def test_coinciding_embeddings_give_finite_gradients(make):
    X, y = batch(1, B=8)
    X = torch.cat([X, X[:2]]).requires_grad_(True)
    make()(X, torch.cat([y, y[:2]])).backward()
    assert torch.isfinite(X.grad).all()


def test_bad_temperature_is_rejected():
    with pytest.raises(ValueError, match="temperature must be > 0"):
        NTXentLoss(0.0)
    with pytest.raises(ValueError, match="tau must be > 0"):
        info_nce_loss(torch.zeros(1), torch.zeros(1, 1), tau=-1.0)


def test_ntxent_runs_on_a_batch_of_1024_in_quadratic_memory():
    # pml's per-pair expansion would need a (P, N) matrix of ~10^10
    # entries here; ours touches (B, B) matrices only
    g = torch.Generator().manual_seed(0)
    X = torch.randn(1024, 16, generator=g, requires_grad=True)
    y = torch.randint(0, 32, (1024,), generator=g)
    out = NTXentLoss()(X, y)
    out.backward()
    assert torch.isfinite(out) and torch.isfinite(X.grad).all()


def test_npairs_with_given_pairs_takes_the_first_pair_of_each_class():
    X, y = batch(6, B=12, C=3)
    same = [(i, j) for i in range(12) for j in range(12)
            if i != j and y[i] == y[j]]
    chosen = same[::-1]                     # reverse order: other pairs
    none = torch.zeros(0, dtype=torch.int64)      # no negative pairs
    idx = (torch.tensor([a for a, _ in chosen]),
           torch.tensor([p for _, p in chosen]), none, none)
    first = {}
    for a, p in chosen:
        first.setdefault(int(y[a]), (a, p))
    pairs = [first[c] for c in sorted(first)]
    terms = []
    for k, (a, _) in enumerate(pairs):
        logits = [float(X[a] @ X[p]) for _, p in pairs]
        terms.append(neg_log_softmax_first(
            [logits[k]] + logits[:k] + logits[k + 1:]))
    out = NPairsLoss(distance="dot", reduction="sum")(X, y, idx)
    assert out.item() == pytest.approx(sum(terms), rel=1e-10)


def test_info_nce_function_gradient_matches_autograd():
    g = torch.Generator().manual_seed(1)
    s_p = torch.randn(4, generator=g, dtype=torch.float64,
                      requires_grad=True)
    s_n = torch.randn(4, 3, generator=g, dtype=torch.float64,
                      requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda a, b: info_nce_loss(a, b, tau=0.2), (s_p, s_n))
