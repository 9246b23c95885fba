"""LMNN: target neighbours, loss and gradient against a plain loop (seed
000's derivation), a hand-derived toy, finite differences and autograd."""
import numpy as np
import pytest
import torch
from scipy.optimize import check_grad

import dml
from dml.linear import LMNN, lmnn_loss_grad, lmnn_target_neighbors
from _helpers import AnalyticLoss


def loop_targets(X, y, k):
    """k nearest same-class points, one point at a time."""
    out = []
    for i in range(len(X)):
        same = [j for j in range(len(X)) if y[j] == y[i] and j != i]
        d = [np.sum((X[j] - X[i]) ** 2) for j in same]
        out.append([same[t] for t in np.argsort(d, kind="stable")[:k]])
    return np.array(out)


def loop_loss_grad(W, X, y, targets, mu, margin):
    """Seed 000, section 3.2: loss and gradient over every (i, j, l)."""
    Z = X @ W.T
    loss, grad = 0.0, np.zeros_like(W)
    for i in range(len(X)):
        for j in targets[i]:
            z_ij, x_ij = Z[i] - Z[j], X[i] - X[j]
            d_ij2 = z_ij @ z_ij
            loss += (1 - mu) * d_ij2
            grad += 2 * (1 - mu) * np.outer(z_ij, x_ij)
            for l in range(len(X)):
                if y[l] == y[i]:
                    continue
                z_il, x_il = Z[i] - Z[l], X[i] - X[l]
                h = margin + d_ij2 - z_il @ z_il
                if h > 0:
                    loss += mu * h
                    grad += 2 * mu * (np.outer(z_ij, x_ij)
                                      - np.outer(z_il, x_il))
    return loss, grad


def _problem(rng, N=18, D=4, L=3, C=3, k=2, scale=0.6):
    X = rng.standard_normal((N, D))
    y = np.arange(N) % C
    W = scale * rng.standard_normal((L, D))
    return W, X, y, lmnn_target_neighbors(X, y, k)


def test_target_neighbors_match_plain_loop(rng):
    X = rng.standard_normal((30, 3))
    y = rng.integers(0, 3, 30)
    T = lmnn_target_neighbors(X, y, 3)
    assert T.shape == (30, 3) and T.dtype == np.int64
    np.testing.assert_array_equal(T, loop_targets(X, y, 3))
    assert np.all(y[T] == y[:, None]) and np.all(T != np.arange(30)[:, None])


@pytest.mark.parametrize("mu, margin", [(0.5, 1.0), (0.2, 3.0), (1.0, 0.5)])
def test_loss_and_gradient_match_plain_loop(rng, mu, margin):
    W, X, y, T = _problem(rng)
    loss, grad = lmnn_loss_grad(W, X, y, T, mu=mu, margin=margin)
    ref_loss, ref_grad = loop_loss_grad(W, X, y, T, mu, margin)
    assert isinstance(loss, float) and grad.shape == W.shape
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("w, n_active", [(0.1, 8), (0.4, 2), (1.0, 0)])
def test_toy_loss_on_both_sides_of_the_hinge(w, n_active):
    """1-D toy derived by hand: class 0 at {0, 1}, class 1 at {3, 4}, k=1.

    Each point's target is its classmate (d^2 = w^2), so the pull term is
    4 w^2. The 8 triplets (i, j, l) have hinges 1 + w^2 - D^2 w^2 with
    impostor gaps D^2 in {9, 16, 4, 9, 9, 4, 16, 9}, i.e. 1 - c w^2 with
    c in {8, 15, 3, 8, 8, 3, 15, 8}: all active at w = 0.1, only the two
    c = 3 at w = 0.4 (c w^2 = 0.48 < 1 < 1.28), none at w = 1.
    """
    X = np.array([[0.0], [1.0], [3.0], [4.0]])
    y = np.array([0, 0, 1, 1])
    T = np.array([[1], [0], [3], [2]])
    c = np.array([8, 15, 3, 8, 8, 3, 15, 8])
    mu, margin = 0.5, 1.0
    hinge = margin - c * w ** 2
    assert (hinge > 0).sum() == n_active
    expected_loss = (1 - mu) * 4 * w ** 2 + mu * hinge.clip(0).sum()
    expected_grad = (1 - mu) * 8 * w - mu * 2 * w * c[hinge > 0].sum()
    loss, grad = lmnn_loss_grad([[w]], X, y, T, mu=mu, margin=margin)
    assert loss == pytest.approx(expected_loss, rel=1e-12)
    assert grad[0, 0] == pytest.approx(expected_grad, rel=1e-12)


@pytest.mark.parametrize("scale", [0.2, 0.6, 2.0])
def test_gradient_matches_finite_differences(rng, scale):
    """Small scale: nearly every hinge active; large: most inactive."""
    W, X, y, T = _problem(rng, scale=scale)
    shape = W.shape
    loss, grad = lmnn_loss_grad(W, X, y, T)
    err = check_grad(lambda w: lmnn_loss_grad(w.reshape(shape), X, y, T)[0],
                     lambda w: lmnn_loss_grad(w.reshape(shape), X, y,
                                              T)[1].ravel(),
                     W.ravel(), epsilon=1e-7)
    assert err < 1e-5 * max(1.0, np.abs(grad).max())


def test_gradient_matches_autograd_of_dense_definition(rng):
    """Autograd through an (N, k, N) formulation of the same loss."""
    W, X, y, T = _problem(rng, N=15)
    mu, margin = 0.5, 1.0
    Wt = torch.tensor(W, requires_grad=True)
    Z = torch.tensor(X) @ Wt.T
    d2 = ((Z[:, None] - Z[None]) ** 2).sum(2)                 # (N, N)
    d_ij2 = d2.gather(1, torch.tensor(T))                     # (N, k)
    imp = torch.tensor(y[:, None] != y[None])                 # (N, N)
    h = (margin + d_ij2[:, :, None] - d2[:, None, :]).clamp_min(0)
    loss = (1 - mu) * d_ij2.sum() + mu * (h * imp[:, None]).sum()
    loss.backward()
    ours, grad = lmnn_loss_grad(W, X, y, T, mu=mu, margin=margin)
    assert ours == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(grad, Wt.grad.numpy(), rtol=1e-10,
                               atol=1e-10)


def test_analytic_gradient_passes_gradcheck():
    torch.manual_seed(1)
    X = torch.randn(12, 3, dtype=torch.float64)
    y = torch.arange(12) % 3
    T = lmnn_target_neighbors(X, y, 2)
    W = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    f = lambda W: lmnn_loss_grad(W, X, y, T)                  # noqa: E731
    assert torch.autograd.gradcheck(lambda W: AnalyticLoss.apply(W, f),
                                    (W,))


def test_chunks_give_the_same_loss_and_gradient(rng):
    W, X, y, T = _problem(rng, N=25)
    loss, grad = lmnn_loss_grad(W, X, y, T)
    for chunk in (1, 7, 24):
        l_c, g_c = lmnn_loss_grad(W, X, y, T, chunk_size=chunk)
        assert l_c == pytest.approx(loss, rel=1e-12)
        np.testing.assert_allclose(g_c, grad, rtol=1e-12, atol=1e-12)


def test_tensor_in_tensor_out(rng):
    W, X, y, T = _problem(rng)
    loss, grad = lmnn_loss_grad(torch.tensor(W), torch.tensor(X),
                                torch.tensor(y), torch.tensor(T))
    assert isinstance(loss, torch.Tensor) and isinstance(grad, torch.Tensor)
    np.testing.assert_allclose(grad.numpy(),
                               lmnn_loss_grad(W, X, y, T)[1], rtol=1e-12)


def test_fit_lowers_the_loss_and_records_its_history():
    X, y, _ = dml.drug_compounds(seed=0)
    lmnn = LMNN(init="identity", max_iter=100).fit(X, y)
    T = lmnn.targets_
    np.testing.assert_array_equal(T, lmnn_target_neighbors(X, y, 3))
    before = lmnn_loss_grad(np.eye(12), X, y, T)[0]
    after = lmnn_loss_grad(lmnn.components_, X, y, T)[0]
    assert after < 0.5 * before
    assert lmnn.loss_history_[-1] == pytest.approx(after, rel=1e-9)
    assert len(lmnn.loss_history_) == lmnn.n_iter_


@pytest.mark.parametrize("kwargs, match", [
    (dict(mu=1.5), "mu=1.5 must lie in"),
    (dict(margin=0.0), "margin=0.0 must be > 0"),
])
def test_bad_mu_or_margin_is_rejected(rng, kwargs, match):
    W, X, y, T = _problem(rng)
    with pytest.raises(ValueError, match=match):
        lmnn_loss_grad(W, X, y, T, **kwargs)


def test_bad_targets_are_rejected(rng):
    W, X, y, T = _problem(rng)
    with pytest.raises(ValueError, match="targets must be an"):
        lmnn_loss_grad(W, X, y, T[:5])
    with pytest.raises(ValueError, match="outside 0..N-1"):
        lmnn_loss_grad(W, X, y, T + 100)
