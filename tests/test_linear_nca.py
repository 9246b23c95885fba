"""NCA: probabilities, loss and gradient against plain loops, finite
differences and autograd; the estimator against scikit-learn's."""
import numpy as np
import pytest
import torch
from scipy.optimize import check_grad

import dml
from dml.linear import NCA, nca_loss_grad, nca_probabilities
from _helpers import AnalyticLoss


def _problem(rng, N=12, D=4, L=3, C=3):
    X = rng.standard_normal((N, D))
    y = np.arange(N) % C
    W = 0.7 * rng.standard_normal((L, D))
    return W, X, y


def loop_probabilities(W, X):
    """p_ij by the definition, one pair at a time (Goldberger et al., 2004)."""
    N = len(X)
    Z = X @ W.T
    P = np.zeros((N, N))
    for i in range(N):
        e = [np.exp(-np.sum((Z[i] - Z[l]) ** 2)) if l != i else 0.0
             for l in range(N)]
        for j in range(N):
            P[i, j] = e[j] / sum(e)
    return P


def loop_loss(W, X, y):
    """-sum_i sum_{j: y_j = y_i} p_ij with explicit loops."""
    P = loop_probabilities(W, X)
    N = len(X)
    return -sum(P[i, j] for i in range(N) for j in range(N)
                if y[j] == y[i] and j != i)


def test_probabilities_match_plain_loop_and_are_a_distribution(rng):
    W, X, _ = _problem(rng)
    P = nca_probabilities(W, X)
    assert isinstance(P, np.ndarray) and P.shape == (12, 12)
    np.testing.assert_allclose(P, loop_probabilities(W, X), atol=1e-12)
    np.testing.assert_allclose(P.sum(1), 1.0, atol=1e-12)
    assert np.all(np.diag(P) == 0)


def test_probabilities_do_not_overflow_at_huge_distances(rng):
    """Distances in the thousands: exp(-d^2) underflows to 0 for every j,
    a naive soft-max gives 0/0 = NaN; log-sum-exp must not."""
    X = rng.standard_normal((6, 2)) * 1000.0
    P = nca_probabilities(np.eye(2), X)
    assert np.isfinite(P).all()
    np.testing.assert_allclose(P.sum(1), 1.0, atol=1e-12)
    # the nearest other point takes (almost) all the mass
    d = np.linalg.norm(X[:, None] - X[None], axis=2) + np.diag([np.inf] * 6)
    np.testing.assert_array_equal(P.argmax(1), d.argmin(1))
    loss, grad = nca_loss_grad(np.eye(2), X, np.arange(6) % 2)
    assert np.isfinite(loss) and np.isfinite(grad).all()


def test_loss_matches_plain_loop(rng):
    W, X, y = _problem(rng)
    loss, grad = nca_loss_grad(W, X, y)
    assert isinstance(loss, float) and grad.shape == W.shape
    assert loss == pytest.approx(loop_loss(W, X, y), abs=1e-12)


def test_gradient_matches_finite_differences(rng):
    W, X, y = _problem(rng)
    shape = W.shape
    err = check_grad(lambda w: nca_loss_grad(w.reshape(shape), X, y)[0],
                     lambda w: nca_loss_grad(w.reshape(shape), X, y)[1]
                     .ravel(), W.ravel())
    assert err < 1e-6 * max(1.0, np.abs(nca_loss_grad(W, X, y)[1]).max())


def test_gradient_matches_autograd_of_the_definition(rng):
    """Autograd through an independent dense formulation of the loss."""
    W, X, y = _problem(rng, N=15, D=5, L=2)
    Wt = torch.tensor(W, requires_grad=True)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    diff = (Xt @ Wt.T)[:, None] - (Xt @ Wt.T)[None]            # (N, N, L)
    eye = torch.eye(15, dtype=torch.bool)
    logits = (-(diff ** 2).sum(2)).masked_fill(eye, -torch.inf)
    p = torch.softmax(logits, 1)
    loss = -(p * (yt[:, None] == yt[None])).sum()
    loss.backward()
    ours, grad = nca_loss_grad(W, X, y)
    assert ours == pytest.approx(loss.item(), abs=1e-12)
    np.testing.assert_allclose(grad, Wt.grad.numpy(), atol=1e-10)


def test_analytic_gradient_passes_gradcheck():
    torch.manual_seed(0)
    X = torch.randn(10, 3, dtype=torch.float64)
    y = torch.arange(10) % 2
    W = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    f = lambda W: nca_loss_grad(W, X, y)                      # noqa: E731
    assert torch.autograd.gradcheck(lambda W: AnalyticLoss.apply(W, f),
                                    (W,))


def test_chunks_give_the_same_loss_and_gradient(rng):
    W, X, y = _problem(rng, N=23)
    loss, grad = nca_loss_grad(W, X, y)
    for chunk in (1, 5, 22):
        l_c, g_c = nca_loss_grad(W, X, y, chunk_size=chunk)
        assert l_c == pytest.approx(loss, abs=1e-12)
        np.testing.assert_allclose(g_c, grad, atol=1e-12)


def test_tensor_in_tensor_out_and_float32_kept(rng):
    W, X, y = _problem(rng)
    loss, grad = nca_loss_grad(torch.tensor(W, dtype=torch.float32),
                               torch.tensor(X, dtype=torch.float32), y)
    assert isinstance(grad, torch.Tensor) and grad.dtype == torch.float32
    assert loss.item() == pytest.approx(nca_loss_grad(W, X, y)[0],
                                        rel=1e-4)


def test_same_objective_and_accuracy_as_scikit_learn():
    """From the same start, scikit-learn's NCA and ours minimise the same
    -sum_i p_i; both end at (nearly) the same value and kNN accuracy."""
    from sklearn.neighbors import NeighborhoodComponentsAnalysis as SkNCA
    X, y, _ = dml.drug_compounds(seed=1)
    Xtr, Xte, ytr, yte = dml.train_test_split(X, y, seed=1)
    W0 = np.random.default_rng(0).standard_normal((4, 12)) * 0.3
    ours = NCA(n_components=4, init=W0, max_iter=100).fit(Xtr, ytr)
    sk = SkNCA(n_components=4, init=W0, max_iter=100).fit(Xtr, ytr)
    l_ours = nca_loss_grad(ours.components_, Xtr, ytr)[0]
    l_sk = nca_loss_grad(sk.components_, Xtr, ytr)[0]
    assert l_ours == pytest.approx(l_sk, rel=1e-3)
    acc = [dml.knn_accuracy(Xtr, ytr, Xte, yte, k=5, W=m.components_)
           for m in (ours, sk)]
    assert abs(acc[0] - acc[1]) <= 1 / 60 + 1e-9     # at most one point


def test_fit_improves_the_objective_and_records_history():
    X, y, _ = dml.drug_compounds(seed=0)
    nca = NCA(max_iter=30).fit(X, y)
    h = nca.loss_history_
    assert len(h) == nca.n_iter_ >= 2
    assert h[-1] < h[0] and h[-1] >= -len(y)
    assert nca_loss_grad(np.eye(12), X, y)[0] > h[-1]
