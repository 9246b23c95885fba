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
