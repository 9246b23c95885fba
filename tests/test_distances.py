"""dml.distances: values against scipy, metric axioms, gradients, errors."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist

import dml
from dml.distances import euclidean_matrix, safe_sqrt

SCIPY_NAME = {"euclidean": "euclidean", "sqeuclidean": "sqeuclidean",
              "cosine": "cosine"}


def random_psd(rng, D):
    A = rng.standard_normal((D, D))
    return A @ A.T + 0.1 * np.eye(D)


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-9),
                                        (np.float32, 1e-4)])
@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cosine"])
def test_pairwise_matches_scipy_cdist(rng, metric, dtype, rtol):
    X = (rng.standard_normal((40, 7)) * 3 + 5).astype(dtype)
    Y = rng.standard_normal((25, 7)).astype(dtype)
    got = dml.pairwise_distances(X, Y, metric)
    want = cdist(X.astype(np.float64), Y.astype(np.float64),
                 SCIPY_NAME[metric])
    assert isinstance(got, np.ndarray) and got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * 10)


def test_mahalanobis_matrix_matches_scipy_with_M_and_with_W(rng):
    X, Y = rng.standard_normal((30, 5)), rng.standard_normal((20, 5))
    W = rng.standard_normal((3, 5))
    M = random_psd(rng, 5)
    want_M = cdist(X, Y, "mahalanobis", VI=M)
    np.testing.assert_allclose(
        dml.pairwise_distances(X, Y, "mahalanobis", M=M), want_M, rtol=1e-9)
    want_W = cdist(X @ W.T, Y @ W.T)
    np.testing.assert_allclose(
        dml.pairwise_distances(X, Y, "mahalanobis", W=W), want_W,
        rtol=1e-9, atol=1e-12)
    # M = W^T W and the transform W give the same distances
    np.testing.assert_allclose(
        dml.pairwise_distances(X, Y, "mahalanobis", M=W.T @ W), want_W,
        rtol=1e-7, atol=1e-7)


def test_self_distances_have_exact_zero_diagonal_and_are_symmetric(rng):
    X = rng.standard_normal((50, 4)) * 1e3 + 1e4   # large norms: cancellation
    for metric in ["euclidean", "sqeuclidean", "cosine"]:
        D = dml.pairwise_distances(X, metric=metric)
        assert np.all(np.diag(D) == 0.0), metric
        np.testing.assert_allclose(D, D.T, atol=1e-9)
        assert D.min() >= 0.0


def test_gram_trick_is_accurate_far_from_the_origin():
    """Centring keeps float32 accuracy for points near 1e4 (a naive Gram
    trick loses everything: ||x||^2 ~ 1e8 has only ~8 exact digits)."""
    rng = np.random.default_rng(1)
    X = (rng.standard_normal((30, 3)) + 1e4).astype(np.float32)
    got = dml.pairwise_distances(X, metric="euclidean")
    want = cdist(X.astype(np.float64), X.astype(np.float64))
    np.testing.assert_allclose(got, want, atol=1e-2)


def test_duplicate_points_give_zero_distance_and_finite_gradient():
    X = torch.tensor([[1.0, 2.0], [1.0, 2.0], [4.0, 6.0]],
                     dtype=torch.float64, requires_grad=True)
    D = dml.pairwise_distances(X)
    assert D[0, 1].item() == 0.0
    D.sum().backward()
    assert torch.isfinite(X.grad).all()


def test_safe_sqrt_gradient_is_zero_at_zero_and_exact_elsewhere():
    d2 = torch.tensor([0.0, 4.0], dtype=torch.float64, requires_grad=True)
    safe_sqrt(d2).sum().backward()
    assert d2.grad.tolist() == [0.0, 0.25]


def test_euclidean_gradient_matches_gradcheck(rng):
    A = torch.tensor(rng.standard_normal((6, 3)), requires_grad=True)
    B = torch.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    assert torch.autograd.gradcheck(euclidean_matrix, (A, B))
    M = torch.tensor(random_psd(rng, 3))
    assert torch.autograd.gradcheck(lambda a, b: euclidean_matrix(a, b, M),
                                    (A, B))


def test_tensor_in_gives_tensor_out_with_dtype_kept(rng):
    X = torch.tensor(rng.standard_normal((5, 3)), dtype=torch.float32)
    for metric in ["euclidean", "sqeuclidean", "cosine"]:
        D = dml.pairwise_distances(X, metric=metric)
        assert isinstance(D, torch.Tensor) and D.dtype == torch.float32
    assert isinstance(dml.cosine_similarity(X), torch.Tensor)
    assert isinstance(dml.l2_normalize(X), torch.Tensor)
    assert isinstance(dml.project_psd(X.T @ X), torch.Tensor)


def test_integer_input_is_computed_in_float64():
    D = dml.pairwise_distances(np.array([[0, 0], [3, 4]]))
    assert D.dtype == np.float64 and D[0, 1] == 5.0


def test_cosine_similarity_and_distance_are_complementary(rng):
    X = rng.standard_normal((10, 4))
    S = dml.cosine_similarity(X)
    D = dml.pairwise_distances(X, metric="cosine")
    np.testing.assert_allclose(S, 1 - cdist(X, X, "cosine"), atol=1e-12)
    np.testing.assert_allclose(D, 1 - S, atol=1e-12)


def test_unit_sphere_links_euclidean_and_cosine(rng):
    """On unit vectors ||u - v||^2 = 2 - 2 cos(u, v) (chapter 1)."""
    U = dml.l2_normalize(rng.standard_normal((12, 5)))
    np.testing.assert_allclose(np.linalg.norm(U, axis=1), 1.0)
    np.testing.assert_allclose(dml.pairwise_distances(U, metric="sqeuclidean"),
                               2 - 2 * dml.cosine_similarity(U), atol=1e-12)


def test_course_page_question_1_values():
    """A = [0.6, 0.8, 0], B = [0.8, 0.6, 0]: ||A - B|| = sqrt(0.08),
    cos(A, B) = 0.48 + 0.48 = 0.96, cosine distance 0.04."""
    A, B = np.array([[0.6, 0.8, 0.0]]), np.array([[0.8, 0.6, 0.0]])
    assert dml.pairwise_distances(A, B)[0, 0] == pytest.approx(np.sqrt(0.08))
    assert dml.cosine_similarity(A, B)[0, 0] == pytest.approx(0.96)
    assert dml.pairwise_distances(A, B, "cosine")[0, 0] == pytest.approx(0.04)


def test_mahalanobis_of_vectors_and_rows(rng):
    M = random_psd(rng, 4)
    x, y = rng.standard_normal(4), rng.standard_normal(4)
    want = np.sqrt((x - y) @ M @ (x - y))
    assert isinstance(dml.mahalanobis(x, y, M), float)
    assert dml.mahalanobis(x, y, M) == pytest.approx(want)
    Xr, Yr = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    want_rows = [np.sqrt((a - b) @ M @ (a - b)) for a, b in zip(Xr, Yr)]
    np.testing.assert_allclose(dml.mahalanobis(Xr, Yr, M), want_rows)
    # identity M gives the Euclidean distance
    assert dml.mahalanobis(x, y, np.eye(4)) == pytest.approx(
        np.linalg.norm(x - y))


def test_inverse_covariance_mahalanobis_matches_scipy(rng):
    X = rng.standard_normal((200, 3)) @ np.array([[2, 0, 0], [1, 1, 0],
                                                  [0, 0, .5]])
    VI = np.linalg.inv(np.cov(X.T))
    from scipy.spatial.distance import mahalanobis as scipy_mahalanobis
    assert dml.mahalanobis(X[0], X[1], VI) == pytest.approx(
        scipy_mahalanobis(X[0], X[1], VI))


def test_paired_distances_are_the_diagonal_of_pairwise(rng):
    X, Y = rng.standard_normal((9, 3)), rng.standard_normal((9, 3))
    for metric in ["euclidean", "sqeuclidean", "cosine"]:
        np.testing.assert_allclose(
            dml.paired_distances(X, Y, metric),
            np.diag(dml.pairwise_distances(X, Y, metric)), atol=1e-12)
    W = rng.standard_normal((2, 3))
    np.testing.assert_allclose(
        dml.paired_distances(X, Y, "mahalanobis", W=W),
        np.linalg.norm((X - Y) @ W.T, axis=1))


def test_project_psd_clips_negative_eigenvalues(rng):
    A = rng.standard_normal((5, 5))
    S = (A + A.T) / 2
    P = dml.project_psd(S)
    lam, V = np.linalg.eigh(S)
    np.testing.assert_allclose(P, V @ np.diag(np.maximum(lam, 0)) @ V.T,
                               atol=1e-12)
    assert np.linalg.eigvalsh(P).min() > -1e-12
    np.testing.assert_array_equal(P, P.T)
    M = random_psd(rng, 5)                 # a PSD matrix is a fixed point
    np.testing.assert_allclose(dml.project_psd(M), M, atol=1e-10)


def test_projection_is_the_nearest_psd_matrix(rng):
    """No other PSD matrix is closer in Frobenius norm than the projection."""
    S = rng.standard_normal((4, 4))
    S = (S + S.T) / 2
    P = dml.project_psd(S)
    for _ in range(50):
        Q = random_psd(rng, 4) * rng.uniform(0, 1)
        assert np.linalg.norm(S - P) <= np.linalg.norm(S - Q) + 1e-12


finite = st.floats(-100, 100, allow_nan=False, width=64)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (3, 4), elements=finite))
def test_euclidean_satisfies_the_metric_axioms(P):
    D = dml.pairwise_distances(P)
    tol = 1e-6 * (1 + np.abs(P).max())
    assert (D >= 0).all() and np.allclose(D, D.T)
    assert np.all(np.diag(D) == 0)
    a, b, c = 0, 1, 2
    assert D[a, c] <= D[a, b] + D[b, c] + tol


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (3, 3), elements=finite),
       arrays(np.float64, (2, 3), elements=st.floats(-3, 3, width=64)))
def test_mahalanobis_triangle_inequality(P, W):
    D = dml.pairwise_distances(P, metric="mahalanobis", W=W)
    tol = 1e-6 * (1 + np.abs(P).max() * (1 + np.abs(W).max()))
    assert D[0, 2] <= D[0, 1] + D[1, 2] + tol


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("call,match", [
    (lambda: dml.pairwise_distances(np.ones(3)), "X must be 2-D"),
    (lambda: dml.pairwise_distances(np.ones((2, 3)), np.ones((2, 4))),
     "X has 3 features but Y has 4"),
    (lambda: dml.pairwise_distances(np.array([[np.nan, 1.0]])),
     "X contains 1 NaN or infinite"),
    (lambda: dml.pairwise_distances(np.ones((2, 2)), np.array([[np.inf, 1]])),
     "Y contains 1 NaN or infinite"),
    (lambda: dml.pairwise_distances(np.empty((0, 3))), "X is empty"),
    (lambda: dml.pairwise_distances(np.ones((2, 2)), metric="manhattan"),
     "metric='manhattan' is not supported"),
    (lambda: dml.pairwise_distances(np.ones((2, 2)), metric="mahalanobis"),
     "needs M"),
    (lambda: dml.pairwise_distances(np.ones((2, 2)), metric="mahalanobis",
                                    M=np.diag([1.0, -1.0])),
     "M is not positive semi-definite"),
    (lambda: dml.pairwise_distances(np.ones((2, 2)), metric="mahalanobis",
                                    M=np.array([[1.0, 2.0], [0.0, 1.0]])),
     "M is not symmetric"),
    (lambda: dml.pairwise_distances(np.ones((2, 2)), metric="mahalanobis",
                                    M=np.eye(3)), "M has shape"),
    (lambda: dml.pairwise_distances(np.ones((2, 2)), metric="mahalanobis",
                                    W=np.ones((1, 3))), "W has shape"),
    (lambda: dml.pairwise_distances(np.ones((2, 2)), M=np.eye(2)),
     "only used with metric='mahalanobis'"),
    (lambda: dml.mahalanobis(np.ones(2), np.ones(3), np.eye(2)),
     "y has shape"),
    (lambda: dml.project_psd(np.ones((2, 3))), "square"),
    (lambda: dml.pairwise_distances([["a", "b"]]), "dtype"),
    (lambda: dml.paired_distances(np.ones((2, 2)), np.ones((3, 2))),
     "same number of rows"),
])
def test_bad_input_raises_a_value_error_that_names_the_problem(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.gpu
def test_cuda_tensors_are_computed_on_cuda_and_match_cpu(rng):
    X = torch.tensor(rng.standard_normal((300, 16)), dtype=torch.float32)
    for metric in ["euclidean", "sqeuclidean", "cosine"]:
        D_gpu = dml.pairwise_distances(X.cuda(), metric=metric)
        assert D_gpu.device.type == "cuda"
        torch.testing.assert_close(D_gpu.cpu(),
                                   dml.pairwise_distances(X, metric=metric),
                                   rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------
# distance objects: pytorch-metric-learning 2.9's formulas and attributes
# ----------------------------------------------------------------------------
from dml.distances import (CosineSimilarity, DotProductSimilarity,  # noqa
                           LpDistance)


def _pml_unit(X, p=2):
    """PML's maybe_normalize: torch.nn.functional.normalize(x, p, dim=1)."""
    return X / torch.linalg.vector_norm(X, ord=p, dim=1,
                                        keepdim=True).clamp_min(1e-12)


def _loop_matrix(Q, R, f):
    return torch.tensor([[f(q, r) for r in R] for q in Q],
                        dtype=torch.float64)


@pytest.mark.parametrize("p,power,normalize", [
    (2, 1, True), (2, 1, False), (2, 2, True), (2, 2, False), (1, 1, True),
    (3, 0.5, False)])
def test_lp_distance_equals_the_loop_of_pml_formula(p, power, normalize):
    g = torch.Generator().manual_seed(0)
    Q = torch.randn(7, 5, generator=g, dtype=torch.float64) * 3
    R = torch.randn(4, 5, generator=g, dtype=torch.float64)
    dist = LpDistance(p=p, power=power, normalize_embeddings=normalize)
    Qn, Rn = (_pml_unit(Q, p), _pml_unit(R, p)) if normalize else (Q, R)
    want = _loop_matrix(Qn, Rn, lambda q, r: float(
        (q - r).abs().pow(p).sum() ** (1 / p)) ** power)
    torch.testing.assert_close(dist(Q, R), want)
    # query with itself: the same values, and an exactly zero diagonal
    want_self = _loop_matrix(Qn, Qn, lambda q, r: float(
        (q - r).abs().pow(p).sum() ** (1 / p)) ** power)
    got_self = dist(Q)
    torch.testing.assert_close(got_self, want_self)
    assert torch.all(torch.diagonal(got_self) == 0)
    # paired rows: the diagonal of the matrix, without the matrix
    torch.testing.assert_close(dist.paired(Q[:4], R),
                               torch.diagonal(dist(Q[:4], R)))


@pytest.mark.parametrize("make,normalize", [
    (CosineSimilarity, True), (DotProductSimilarity, True),
    (lambda **kw: DotProductSimilarity(normalize_embeddings=False), False)])
def test_similarities_equal_the_loop_of_pml_formula(make, normalize):
    g = torch.Generator().manual_seed(1)
    Q = torch.randn(6, 3, generator=g, dtype=torch.float64) * 2
    R = torch.randn(5, 3, generator=g, dtype=torch.float64)
    sim = make()
    Qn, Rn = (_pml_unit(Q), _pml_unit(R)) if normalize else (Q, R)
    torch.testing.assert_close(sim(Q, R),
                               _loop_matrix(Qn, Rn, lambda q, r: float(q @ r)))
    torch.testing.assert_close(sim.pairwise_distance(Q[:5], R),
                               (Q[:5] * R).sum(1))     # rows as given
    assert sim.is_inverted and sim.normalize_embeddings == normalize


def test_distance_objects_have_pml_defaults_and_direction_helpers():
    lp, cs, dp = LpDistance(), CosineSimilarity(), DotProductSimilarity()
    assert (lp.p, lp.power, lp.normalize_embeddings, lp.is_inverted) == \
        (2, 1, True, False)
    assert (cs.normalize_embeddings, cs.is_inverted) == (True, True)
    assert (dp.normalize_embeddings, dp.is_inverted) == (True, True)
    x, y = torch.tensor([1.0, 5.0]), torch.tensor([2.0, 3.0])
    # margin(x, y): x - y for a distance, y - x for a similarity
    assert lp.margin(x, y).tolist() == [-1.0, 2.0]
    assert cs.margin(x, y).tolist() == [1.0, -2.0]
    assert lp.smallest_dist(x, y).tolist() == [1.0, 3.0]
    assert cs.smallest_dist(x, y).tolist() == [2.0, 5.0]
    assert lp.largest_dist(x).item() == 5.0 and cs.largest_dist(x) == 1.0
    # pml's pairwise_distance: no normalisation, no power
    a, b = torch.tensor([[3.0, 4.0]]), torch.tensor([[0.0, 0.0]])
    assert LpDistance(power=2).pairwise_distance(a, b).item() == 5.0


def test_distance_objects_give_finite_gradients_and_match_autograd():
    g = torch.Generator().manual_seed(2)
    Q = torch.randn(5, 3, generator=g, dtype=torch.float64,
                    requires_grad=True)
    for dist in (LpDistance(), LpDistance(power=2), CosineSimilarity(),
                 DotProductSimilarity(normalize_embeddings=False)):
        assert torch.autograd.gradcheck(lambda X: dist(X), (Q,))
    Qd = torch.cat([Q, Q[:1]]).detach().requires_grad_(True)  # coinciding
    LpDistance(normalize_embeddings=False)(Qd).sum().backward()
    assert torch.isfinite(Qd.grad).all()


def test_distance_objects_reject_bad_input_and_wrong_direction():
    with pytest.raises(ValueError, match="is_inverted must be False"):
        LpDistance(is_inverted=True)
    with pytest.raises(ValueError, match="is_inverted must be True"):
        DotProductSimilarity(is_inverted=False)
    with pytest.raises(ValueError, match="always normalises"):
        CosineSimilarity(normalize_embeddings=False)
    with pytest.raises(ValueError, match="query_emb must be a 2-D tensor"):
        LpDistance()(torch.zeros(3))
    with pytest.raises(ValueError, match="query_emb has 3 features and "
                                         "ref_emb 2"):
        CosineSimilarity()(torch.zeros(4, 3), torch.zeros(2, 2))
