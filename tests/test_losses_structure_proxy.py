"""Multi-similarity, lifted structure, proxy-anchor and ArcFace against
plain loops, autograd and huge inputs."""
import math

import pytest
import torch

from dml.losses import (ArcFaceLoss, LiftedStructureLoss,
                        MultiSimilarityLoss, ProxyAnchorLoss, arcface_loss,
                        multi_similarity_loss)
from dml.losses.arcface import arcface_logits
from _helpers import batch, cos


def euclid(x, z):
    return math.sqrt(sum((a - b) ** 2 for a, b in zip(x.tolist(),
                                                       z.tolist())))


def log1p_sum_exp(values):
    return math.log(1 + sum(math.exp(v) for v in values))


# --------------------------------------------------------- multi-similarity
def ms_ref(X, y, alpha, beta, base, pos_pairs=None, neg_pairs=None):
    B = len(y)
    if pos_pairs is None:
        pos_pairs = {(i, j) for i in range(B) for j in range(B)
                     if i != j and y[i] == y[j]}
        neg_pairs = {(i, j) for i in range(B) for j in range(B)
                     if y[i] != y[j]}
    terms = []
    for i in range(B):
        P = [cos(X[i], X[j]) for (a, j) in set(pos_pairs) if a == i]
        N = [cos(X[i], X[j]) for (a, j) in set(neg_pairs) if a == i]
        terms.append(log1p_sum_exp([-alpha * (s - base) for s in P]) / alpha
                     + log1p_sum_exp([beta * (s - base) for s in N]) / beta)
    return terms


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("alpha,beta,base", [(2, 50, 0.5), (1, 10, 0.2)])
def test_multi_similarity_equals_the_loop(seed, alpha, beta, base):
    X, y = batch(seed)
    ref = ms_ref(X, y, alpha, beta, base)
    out = MultiSimilarityLoss(alpha, beta, base)(X, y)
    assert out.item() == pytest.approx(sum(ref) / len(ref), rel=1e-10)


def test_multi_similarity_with_given_pairs_uses_exactly_them():
    X, y = batch(1)
    pos, neg = [(0, 1), (2, 3), (2, 3)], [(0, 4), (5, 6)]
    idx = tuple(torch.tensor(c) for c in zip(*pos)) + \
        tuple(torch.tensor(c) for c in zip(*neg))
    ref = ms_ref(X, y, 2, 50, 0.5, pos, neg)
    out = MultiSimilarityLoss(reduction="sum")(X, y, idx)
    assert out.item() == pytest.approx(sum(ref), rel=1e-10)


def test_multi_similarity_gradient_and_huge_similarities():
    X, y = batch(2, B=7)
    X.requires_grad_(True)
    loss = MultiSimilarityLoss(2, 10, 0.5)
    assert torch.autograd.gradcheck(lambda Z: loss(Z, y), (X,))
    S = torch.tensor([[1e4, -1e4], [-1e4, 1e4]], requires_grad=True)
    pos = torch.tensor([[False, True], [True, False]])
    out = multi_similarity_loss(S, pos, ~pos, 2, 50, 0.5)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(S.grad).all()
    # row 0: log(1 + e^{2 (1e4 + 0.5)}) / 2 + log(1 + e^{50 (1e4 - 0.5)}) / 50
    #        = 10000.5 + 9999.5
    assert out[0].item() == pytest.approx(20000.0, rel=1e-6)


# ----------------------------------------------------------------- lifted
def lifted_ref(X, y, m, m_pos):
    B = len(y)
    terms = []
    for i in range(B):
        for j in range(B):
            if i == j or y[i] != y[j]:
                continue
            e = [math.exp(m - euclid(X[i], X[k])) for k in range(B)
                 if y[k] != y[i]]
            e += [math.exp(m - euclid(X[j], X[k])) for k in range(B)
                  if y[k] != y[j]]
            J = math.log(sum(e)) + euclid(X[i], X[j]) - m_pos
            terms.append(max(0.0, J) ** 2 / 2)
    return terms


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("m,m_pos", [(1.0, 0.0), (2.0, 0.3)])
def test_lifted_structure_equals_the_loop(seed, m, m_pos):
    X, y = batch(seed)
    ref = lifted_ref(X, y, m, m_pos)
    out = LiftedStructureLoss(m, m_pos, distance="euclidean")(X, y)
    assert out.item() == pytest.approx(sum(ref) / len(ref), rel=1e-10)
    # pml's default LpDistance() normalises the embeddings first
    U = X / X.norm(dim=1, keepdim=True)
    ref = lifted_ref(U, y, m, m_pos)
    out = LiftedStructureLoss(m, m_pos)(X, y)
    assert out.item() == pytest.approx(sum(ref) / len(ref), rel=1e-10)


def test_lifted_with_given_pairs_uses_exactly_them():
    X, y = batch(3)
    idx = (torch.tensor([0, 0]), torch.tensor([1, 1]),
           torch.tensor([0, 1]), torch.tensor([4, 5]))
    J = math.log(math.exp(1 - euclid(X[0], X[4])) +
                 math.exp(1 - euclid(X[1], X[5]))) + euclid(X[0], X[1])
    out = LiftedStructureLoss(1.0, distance="euclidean",
                              reduction="sum")(X, y, idx)
    assert out.item() == pytest.approx(2 * max(0.0, J) ** 2 / 2)


def test_lifted_gradient_matches_autograd():
    X, y = batch(4, B=7)
    X.requires_grad_(True)
    loss = LiftedStructureLoss(1.0)
    assert torch.autograd.gradcheck(lambda Z: loss(Z, y), (X,))


# ------------------------------------------------------------ proxy-anchor
def proxy_ref(X, y, W, delta, alpha):
    C = len(W)
    pos_sum, n_pos, neg_sum = 0.0, 0, 0.0
    for c in range(C):
        Xp = [cos(X[b], W[c]) for b in range(len(y)) if y[b] == c]
        Xn = [cos(X[b], W[c]) for b in range(len(y)) if y[b] != c]
        if Xp:
            pos_sum += log1p_sum_exp([-alpha * (s - delta) for s in Xp])
            n_pos += 1
        neg_sum += log1p_sum_exp([alpha * (s + delta) for s in Xn])
    return pos_sum / n_pos + neg_sum / C


@pytest.mark.parametrize("seed", range(3))
def test_proxy_anchor_equals_the_loop(seed):
    X, y = batch(seed, C=3)
    torch.manual_seed(seed)
    loss = ProxyAnchorLoss(5, 3, margin=0.1, alpha=4).double()
    W = loss.proxies.detach()
    assert loss(X, y).item() == pytest.approx(proxy_ref(X, y, W, 0.1, 4),
                                              rel=1e-10)


def test_proxy_anchor_with_indices_weights_samples_as_pml():
    """pml: w_b = count of b in the miner's output / largest count, and
    every exponent of sample b gets w_b - 1 (unlisted samples: -1)."""
    X, y = batch(5, C=3)
    loss = ProxyAnchorLoss(3, 3, alpha=4).double()
    idx = (torch.tensor([0, 2]), torch.tensor([1, 2]), torch.tensor([3, 3]))
    counts = [0] * len(y)
    for t in idx:
        for b in t.tolist():
            counts[b] += 1
    w = [c / max(counts) - 1 for c in counts]
    W, delta, alpha = loss.proxies.detach(), 0.1, 4
    pos_sum, n_pos, neg_sum = 0.0, 0, 0.0
    for c in range(3):
        Xp = [(cos(X[b], W[c]), w[b]) for b in range(len(y)) if y[b] == c]
        Xn = [(cos(X[b], W[c]), w[b]) for b in range(len(y)) if y[b] != c]
        if Xp:
            pos_sum += log1p_sum_exp([-alpha * (s - delta) + o
                                      for s, o in Xp])
            n_pos += 1
        neg_sum += log1p_sum_exp([alpha * (s + delta) + o for s, o in Xn])
    ref = pos_sum / n_pos + neg_sum / 3
    assert loss(X, y, idx).item() == pytest.approx(ref, rel=1e-10)


def test_proxy_anchor_proxies_learn_and_gradient_checks():
    X, y = batch(6, B=6, C=3)
    loss = ProxyAnchorLoss(3, 3, alpha=4).double()
    assert isinstance(loss.proxies, torch.nn.Parameter)
    X.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda Z: loss(Z, y), (X,))
    loss(X, y).backward()
    assert loss.proxies.grad is not None
    assert loss.proxies.grad.abs().sum() > 0
    with pytest.raises(ValueError, match=r"lie in 0..num_classes-1 = 0..2; "
                                         r"got values in 5..7"):
        loss(X, y + 5)


# ----------------------------------------------------------------- ArcFace
def arcface_ref(X, y, W, m, s):
    out = []
    for b in range(len(y)):
        logits = []
        for c in range(W.shape[1]):
            cs = cos(X[b], W[:, c])
            if c == y[b]:
                theta = math.acos(max(-1.0, min(1.0, cs)))
                cs = math.cos(theta + m) if theta <= math.pi - m \
                    else cs - m * math.sin(m)       # keeps falling past pi
            logits.append(s * cs)
        mx = max(logits)
        lse = mx + math.log(sum(math.exp(v - mx) for v in logits))
        out.append(lse - logits[int(y[b])])
    return out


@pytest.mark.parametrize("seed", range(3))
def test_arcface_equals_the_loop(seed):
    X, y = batch(seed, C=4)
    loss = ArcFaceLoss(4, 3, margin=28.6, scale=16).double()
    ref = arcface_ref(X, y, loss.W.detach(), math.radians(28.6), 16)
    assert loss(X, y).item() == pytest.approx(sum(ref) / len(ref),
                                              rel=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_arcface_with_a_large_margin_equals_the_loop_past_180_degrees(seed):
    """With m = 60 degrees, many samples have theta + m > 180 degrees:
    there the target logit is cos(theta) - m sin(m), as in
    pytorch-metric-learning 2.x (issue 16)."""
    X, y = batch(seed, B=60, C=4)
    loss = ArcFaceLoss(4, 3, margin=60.0, scale=16).double()
    W = loss.W.detach()
    cosines = torch.stack([torch.tensor(cos(X[b], W[:, int(y[b])]))
                           for b in range(len(y))])
    assert (cosines < -math.cos(math.radians(60))).sum() >= 3
    ref = arcface_ref(X, y, W, math.radians(60.0), 16)
    assert loss(X, y).item() == pytest.approx(sum(ref) / len(ref),
                                              rel=1e-10)


def test_arcface_target_logit_falls_with_the_angle_everywhere():
    theta = torch.linspace(0, math.pi, 721, dtype=torch.float64)
    cosines = torch.stack([torch.cos(theta), torch.zeros_like(theta)], 1)
    labels = torch.zeros(len(theta), dtype=torch.long)
    for margin in (0.2, 0.5, math.radians(60)):
        target = arcface_logits(cosines, labels, margin, scale=1.0)[:, 0]
        assert (target.diff() <= 1e-12).all(), margin
        assert torch.isfinite(target).all()


def test_arcface_gradient_and_stability():
    X, y = batch(7, B=6, C=3)
    X.requires_grad_(True)
    loss = ArcFaceLoss(3, 3, scale=4).double()
    assert torch.autograd.gradcheck(lambda Z: loss(Z, y), (X,))
    # cosines of exactly +-1 (arccos' derivative is infinite there) and a
    # scale making logits of 1e4: finite loss and gradient
    cosines = torch.tensor([[1.0, -1.0, 0.0], [-1.0, 1.0, 1.0]],
                           requires_grad=True)
    out = arcface_loss(cosines, torch.tensor([0, 2]), 0.5, scale=1e4)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(cosines.grad).all()


@pytest.mark.parametrize("make", [
    lambda: MultiSimilarityLoss(), lambda: LiftedStructureLoss(),
    lambda: ProxyAnchorLoss(3, 3).double(),
    lambda: ArcFaceLoss(3, 3).double()])
def test_coinciding_embeddings_give_finite_gradients(make):
    X, y = batch(0, B=8)
    X = torch.cat([X, X[:2]]).requires_grad_(True)
    make()(X, torch.cat([y, y[:2]])).backward()
    assert torch.isfinite(X.grad).all()


@pytest.mark.parametrize("make", [MultiSimilarityLoss, LiftedStructureLoss])
def test_no_valid_pair_gives_zero_with_grad(make):
    X = torch.randn(1, 3, requires_grad=True)
    out = make()(X, torch.tensor([0]))
    out.backward()
    assert out.item() == 0.0 and torch.isfinite(X.grad).all()


def test_proxy_and_arcface_functions_gradcheck_in_their_class_weights():
    from dml.distances import cosine_matrix
    from dml.losses import proxy_anchor_loss
    X, y = batch(8, B=6, C=3)
    W = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    X.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda Z, V: proxy_anchor_loss(cosine_matrix(Z, V), y, 0.1, 4.0),
        (X, W))
    assert torch.autograd.gradcheck(
        lambda Z, V: arcface_loss(cosine_matrix(Z, V), y, 0.5, 4.0).mean(),
        (X, W))


def test_arcface_with_indices_weights_their_samples_as_pml():
    # pml's weights: occurrences / the largest count, 0 if unlisted; the
    # mean runs over all B (tests/test_losses_cosface.py has the details)
    X, y = batch(9, C=4)
    loss = ArcFaceLoss(4, 3, scale=8).double()
    per_sample = ArcFaceLoss(4, 3, scale=8, reduction="none").double()
    per_sample.load_state_dict(loss.state_dict())
    terms = per_sample(X, y)
    idx = (torch.tensor([1, 1]), torch.tensor([4, 4]), torch.tensor([7, 2]))
    w = torch.zeros(len(y), dtype=torch.float64)
    w[[1, 4]], w[[2, 7]] = 1.0, 0.5
    expected = (w * terms).mean()
    assert loss(X, y, idx).item() == pytest.approx(expected.item())
