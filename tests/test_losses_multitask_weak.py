"""Multi-task weighting and the weak-supervision penalties (Chen & Verma)."""
import math

import numpy as np
import pytest
import torch

from dml.losses import (ContrastiveLoss, MultiTaskLoss, dominant_by_gradient,
                        locality_penalty, multitask_loss, pcgrad,
                        task_gradient_norms, task_gradients, tsne_affinities,
                        uncertainty_optimum, uniformity_penalty,
                        weak_contrastive_loss, weighted_gradient_norms)

WORKED = {"cls": 2.5, "seg": 0.8, "triplet": 0.3}
WORKED_WEIGHTS = {"cls": 1.0, "seg": 2.0, "triplet": 5.0}


# ---------------------------------------------------------------- multitask
def test_worked_example_weighted_sum():
    # 1.0 * 2.5 + 2.0 * 0.8 + 5.0 * 0.3 = 2.5 + 1.6 + 1.5 = 5.6
    assert multitask_loss(WORKED, WORKED_WEIGHTS) == pytest.approx(5.6)


def test_fixed_module_is_the_hand_sum_and_keeps_the_terms():
    losses = {k: torch.tensor(v, requires_grad=True)
              for k, v in WORKED.items()}
    mtl = MultiTaskLoss(WORKED_WEIGHTS)
    total = mtl(losses)
    assert total.item() == pytest.approx(5.6)
    assert mtl.last_terms == pytest.approx({"cls": 2.5, "seg": 1.6,
                                            "triplet": 1.5})
    total.backward()
    assert losses["triplet"].grad.item() == 5.0
    assert list(mtl.parameters()) == []


def test_uncertainty_weights_are_learnable_and_follow_the_formula():
    mtl = MultiTaskLoss(WORKED_WEIGHTS, weighting="uncertainty")
    s = mtl.log_vars
    assert isinstance(s, torch.nn.Parameter) and s.requires_grad
    # starts at exp(-s_t) = w_t
    assert torch.allclose(torch.exp(-s.detach()),
                          torch.tensor([1.0, 2.0, 5.0]))
    with torch.no_grad():
        s.copy_(torch.tensor([0.3, -0.2, 1.1]))
    losses = {k: torch.tensor(v) for k, v in WORKED.items()}
    total = mtl(losses)
    ref = sum(math.exp(-st) * WORKED[k] + st
              for k, st in zip(["cls", "seg", "triplet"], [0.3, -0.2, 1.1]))
    assert total.item() == pytest.approx(ref, rel=1e-6)
    total.backward()
    # d/ds_t = 1 - exp(-s_t) L_t
    assert s.grad[0].item() == pytest.approx(1 - math.exp(-0.3) * 2.5,
                                             rel=1e-5)
    opt = torch.optim.SGD(mtl.parameters(), lr=0.1)
    opt.step()
    assert not torch.allclose(s.detach(), torch.tensor([0.3, -0.2, 1.1]))


def test_uncertainty_module_reaches_the_regression_optimum():
    # minimising exp(-s) L + s over s alone ends at s = log L
    L = {"a": torch.tensor(0.2), "b": torch.tensor(3.0)}
    mtl = MultiTaskLoss({"a": 1.0, "b": 1.0}, weighting="uncertainty")
    opt = torch.optim.Adam(mtl.parameters(), lr=0.05)
    for _ in range(2000):
        opt.zero_grad()
        mtl(L).backward()
        opt.step()
    ref = uncertainty_optimum(np.array([0.2, 3.0]), "regression")
    assert np.allclose(mtl.log_vars.detach().numpy(), ref, atol=1e-3)


def test_multitask_names_must_match():
    with pytest.raises(ValueError, match=r"missing losses for \['seg'\]"):
        multitask_loss({"cls": 1.0}, {"cls": 1.0, "seg": 1.0})
    with pytest.raises(ValueError, match="weighting='learned'"):
        MultiTaskLoss({"a": 1.0}, weighting="learned")
    with pytest.raises(ValueError, match=r"weights must be >= 0"):
        MultiTaskLoss({"a": -1.0})
    with pytest.raises(ValueError, match=r"weights must be > 0 \(s_t"):
        MultiTaskLoss({"a": 0.0}, weighting="uncertainty")


def test_a_fixed_weight_of_zero_switches_a_task_off():
    mtl = MultiTaskLoss({"cls": 1.0, "triplet": 0.0})
    total = mtl({"cls": torch.tensor(2.0), "triplet": torch.tensor(9.0)})
    assert total.item() == 2.0 and mtl.last_terms["triplet"] == 0.0


# ------------------------------------------------------ per-task gradients
def _two_head_net(seed):
    torch.manual_seed(seed)
    backbone = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(),
                                   torch.nn.Linear(4, 3)).double()
    heads = [torch.nn.Linear(3, 1).double() for _ in range(2)]
    x = torch.randn(7, 5, dtype=torch.float64)
    z = backbone(x)
    losses = {"a": (heads[0](z) ** 2).mean(),
              "b": torch.nn.functional.softplus(heads[1](z)).mean()}
    return backbone, losses


@pytest.mark.parametrize("seed", range(3))
def test_task_gradients_equal_one_backward_per_task(seed):
    backbone, losses = _two_head_net(seed)
    params = list(backbone.parameters())
    grads = task_gradients(losses, params)
    weights = {"a": 0.5, "b": 3.0}
    norms = task_gradient_norms(losses, params, weights)
    for name, L in losses.items():                 # plain loop: backward
        for p in params:
            p.grad = None
        L.backward(retain_graph=True)
        ref = torch.cat([p.grad.reshape(-1) for p in params])
        assert torch.allclose(grads[name], ref)
        assert norms[name] == pytest.approx(
            weights[name] * math.sqrt(sum(float(v) ** 2 for v in ref)))
    raw = task_gradient_norms(losses, params)      # weights default to 1
    assert raw["b"] == pytest.approx(norms["b"] / 3.0)
    # the gradient of the weighted sum is the sum of the weighted g_t
    for p in params:
        p.grad = None
    multitask_loss(losses, weights).backward()
    total = torch.cat([p.grad.reshape(-1) for p in params])
    assert torch.allclose(total, 0.5 * grads["a"] + 3.0 * grads["b"])


def test_a_zero_loss_has_a_zero_gradient():
    backbone, losses = _two_head_net(0)
    z = backbone(torch.randn(4, 5, dtype=torch.float64))
    losses["hinge"] = torch.relu(-z.abs().sum() - 1.0)      # flat: 0
    losses["const"] = torch.tensor(0.0)                     # no graph
    norms = task_gradient_norms(losses, backbone.parameters())
    assert norms["hinge"] == 0.0 and norms["const"] == 0.0
    assert norms["a"] > 0 and norms["b"] > 0


def test_task_gradients_errors():
    backbone, losses = _two_head_net(1)
    with pytest.raises(ValueError, match=r"missing losses for \['c'\], "
                                         r"no weight for \['b'\]"):
        task_gradient_norms(losses, backbone.parameters(),
                            {"a": 1.0, "c": 1.0})
    with pytest.raises(ValueError, match="shared_params is empty"):
        task_gradients(losses, [])
    with pytest.raises(ValueError, match=r"losses\['v'\] must be a scalar"):
        task_gradients({"v": torch.ones(3)}, backbone.parameters())


def test_weighted_gradient_norms_and_dominant_task():
    rng = np.random.default_rng(0)
    grads = {"cls": rng.normal(size=(3, 4)), "seg": rng.normal(size=12),
             "triplet": torch.tensor(rng.normal(size=5))}
    weights = {"triplet": 2.0, "cls": 0.5, "seg": 1.0}
    out = weighted_gradient_norms(grads, weights)
    for k in weights:                                # plain loop
        g = np.asarray(grads[k]).ravel()
        ref = math.sqrt(sum((weights[k] * v) ** 2 for v in g))
        assert out[k] == pytest.approx(ref)
    assert dominant_by_gradient(grads, weights) == max(out, key=out.get)
    # a small loss can have the largest gradient: the weight decides
    g = {"cls": np.array([0.16, 0.0]), "triplet": np.array([0.0, 0.5])}
    assert dominant_by_gradient(g, {"cls": 1.0, "triplet": 1.0}) == "triplet"
    assert dominant_by_gradient(g, {"cls": 4.0, "triplet": 1.0}) == "cls"
    with pytest.raises(ValueError, match=r"missing grads for \['seg'\]"):
        weighted_gradient_norms({"cls": g["cls"]}, {"cls": 1.0, "seg": 1.0})


# ------------------------------------------------------------- uncertainty
@pytest.mark.parametrize("kind, term", [
    ("regression", lambda L, s: 0.5 * np.exp(-s) * L + 0.5 * s),
    ("classification", lambda L, s: np.exp(-s) * L + 0.5 * s)])
def test_uncertainty_optimum_minimises_the_term(kind, term):
    L = np.array([0.05, 0.3, 1.0, 2.5])
    s_star = uncertainty_optimum(L, kind)
    grid = np.linspace(-8, 8, 160001)                 # step 1e-4
    for Lt, st in zip(L, s_star):                     # plain grid search
        assert grid[np.argmin(term(Lt, grid))] == pytest.approx(st,
                                                                abs=2e-4)
    scale = 1.0 if kind == "regression" else 2.0
    assert np.allclose(np.exp(-s_star), 1 / (scale * L))
    assert isinstance(uncertainty_optimum(2.0, kind), float)
    assert torch.is_tensor(uncertainty_optimum(torch.tensor([2.0]), kind))


def test_uncertainty_optimum_errors():
    with pytest.raises(ValueError, match="L must be > 0"):
        uncertainty_optimum(np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="kind='ranking' is not supported"):
        uncertainty_optimum(1.0, "ranking")


# ------------------------------------------------------------------ PCGrad
def test_pcgrad_projects_only_conflicting_gradients():
    g1, g2 = np.array([1.0, -2.0, 0.5]), np.array([0.0, 1.0, 0.0])
    out = pcgrad(g1, g2)                             # g1 . g2 = -2 < 0
    assert np.allclose(out, [1.0, 0.0, 0.5]) and out @ g2 == pytest.approx(0)
    assert np.array_equal(pcgrad(-g1, g2), -g1)     # no conflict
    assert np.array_equal(pcgrad(g1, np.zeros(3)), g1)
    with pytest.raises(ValueError, match="same shape"):
        pcgrad(g1, np.ones(4))


@pytest.mark.parametrize("seed", range(3))
def test_pcgrad_is_the_loop_row_by_row(seed):
    rng = np.random.default_rng(seed)
    G1, G2 = rng.normal(size=(20, 6)), rng.normal(size=(20, 6))
    out = pcgrad(G1, G2)
    for a, b, o in zip(G1, G2, out):                 # plain loop
        d = sum(x * y for x, y in zip(a, b))
        ref = a - d / sum(y * y for y in b) * b if d < 0 else a
        assert np.allclose(o, ref)
        assert o @ b >= -1e-12                       # never conflicts
    t = pcgrad(torch.tensor(G1), torch.tensor(G2))
    assert torch.is_tensor(t) and np.allclose(t.numpy(), out)


# --------------------------------------------------------------- uniformity
def test_uniformity_is_zero_for_uniform_and_log_c_for_one_class():
    C = 7
    assert uniformity_penalty(torch.zeros(5, C), C).item() == \
        pytest.approx(0.0, abs=1e-7)
    # each sample sure of a different class, classes evenly covered
    spread = torch.eye(C).repeat(2, 1) * 1e4
    assert uniformity_penalty(spread).item() == pytest.approx(0.0, abs=1e-6)
    all_one = torch.zeros(6, C)
    all_one[:, 2] = 1e4                      # huge logits stay finite
    assert uniformity_penalty(all_one).item() == pytest.approx(math.log(C))


@pytest.mark.parametrize("seed", range(3))
def test_uniformity_equals_the_plain_formula(seed):
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(9, 4)) * 3
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    p_bar = p.mean(0)
    ref = sum(pi * (math.log(pi) - math.log(1 / 4)) for pi in p_bar)
    out = uniformity_penalty(logits, 4)
    assert isinstance(out, float) and out == pytest.approx(ref)


def test_uniformity_gradient_and_errors():
    L = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(uniformity_penalty, (L,))
    with pytest.raises(ValueError, match="C=5 but logits has 3 columns"):
        uniformity_penalty(L, 5)


# ------------------------------------------------------------------- t-SNE
@pytest.mark.parametrize("perplexity", [2.0, 5.0, 10.0])
def test_tsne_rows_reach_the_requested_perplexity(perplexity):
    X = np.random.default_rng(1).normal(size=(30, 4))
    P_cond = tsne_affinities(X, perplexity, symmetric=False)
    assert np.allclose(P_cond.sum(1), 1) and np.all(np.diag(P_cond) == 0)
    for row in P_cond:
        p = row[row > 0]
        H_bits = -(p * np.log2(p)).sum()
        assert 2 ** H_bits == pytest.approx(perplexity, abs=1e-3)


def test_tsne_affinities_are_symmetrised_conditionals():
    X = torch.randn(20, 3, dtype=torch.float64)
    P_cond = tsne_affinities(X, 4.0, symmetric=False)
    P = tsne_affinities(X, 4.0)
    assert torch.allclose(P, (P_cond + P_cond.T) / 40)
    assert P.sum().item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="perplexity=30.0 needs"):
        tsne_affinities(X, 30.0)


def test_tsne_matches_scikit_learn_binary_search():
    from sklearn.manifold._utils import _binary_search_perplexity
    X = np.random.default_rng(2).normal(size=(25, 3))
    D2 = ((X[:, None] - X[None]) ** 2).sum(-1).astype(np.float32)
    ref = _binary_search_perplexity(D2, 6.0, 0)
    ours = tsne_affinities(X, 6.0, symmetric=False)
    assert np.allclose(ours, ref, atol=1e-4)


# ---------------------------------------------------------------- locality
def kl_ref(P, Z, kernel):
    N = len(Z)
    k = np.zeros((N, N))
    for i in range(N):
        for j in range(N):
            if i != j:
                d2 = ((Z[i] - Z[j]) ** 2).sum()
                k[i, j] = 1 / (1 + d2) if kernel == "student" \
                    else math.exp(-d2)
    Q = k / k.sum()
    return sum(P[i, j] * math.log(P[i, j] / Q[i, j])
               for i in range(N) for j in range(N) if i != j and P[i, j] > 0)


@pytest.mark.parametrize("kernel", ["student", "gaussian"])
def test_locality_penalty_equals_the_kl_loop(kernel):
    rng = np.random.default_rng(3)
    X, Z = rng.normal(size=(12, 5)), rng.normal(size=(12, 2))
    P = tsne_affinities(X, 3.0)
    assert locality_penalty(P, Z, kernel) == pytest.approx(
        kl_ref(P, Z, kernel), rel=1e-8)


def test_locality_penalty_is_zero_when_q_equals_p_and_has_gradient():
    Z = torch.randn(6, 2, dtype=torch.float64, requires_grad=True)
    D2 = torch.cdist(Z, Z) ** 2
    Q = 1 / (1 + D2) * (1 - torch.eye(6, dtype=torch.float64))
    Q = (Q / Q.sum()).detach()
    assert locality_penalty(Q, Z).item() == pytest.approx(0.0, abs=1e-12)
    P = tsne_affinities(torch.randn(6, 4, dtype=torch.float64), 2.0)
    assert torch.autograd.gradcheck(lambda z: locality_penalty(P, z), (Z,))


def test_weak_contrastive_is_contrastive_plus_alpha_kl():
    rng = np.random.default_rng(4)
    X = torch.tensor(rng.normal(size=(10, 5)))
    Z = torch.tensor(rng.normal(size=(10, 2)), requires_grad=True)
    y = torch.tensor([0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
    P = tsne_affinities(X, 3.0)
    pairs = [(i, j) for i in range(10) for j in range(10) if i != j]
    terms = []
    for i, j in pairs:
        d = float(torch.dist(Z[i].detach(), Z[j].detach()))
        # square OUTSIDE the hinge (the paper's Eq. 3 has a typo)
        terms.append(d * d if y[i] == y[j] else max(0, 1.5 - d) ** 2)
    ref = sum(terms) / len(terms) + 0.3 * kl_ref(P.numpy(),
                                                 Z.detach().numpy(),
                                                 "student")
    out = weak_contrastive_loss(Z, y, P, margin=1.5, alpha=0.3)
    assert out.item() == pytest.approx(ref, rel=1e-8)
    plain = ContrastiveLoss(neg_margin=1.5, form="hadsell",
                            distance="euclidean", balance=False,
                            reduction="mean")(Z, y)
    assert out.item() > plain.item()
    out.backward()
    assert torch.isfinite(Z.grad).all()


def test_weak_contrastive_gradient_matches_autograd():
    rng = np.random.default_rng(5)
    P = tsne_affinities(torch.tensor(rng.normal(size=(7, 4))), 2.0)
    Z = torch.tensor(rng.normal(size=(7, 2)), requires_grad=True)
    y = torch.tensor([0, 0, 0, 1, 1, 2, 2])
    assert torch.autograd.gradcheck(
        lambda z: weak_contrastive_loss(z, y, P, 1.5, 0.3), (Z,))
