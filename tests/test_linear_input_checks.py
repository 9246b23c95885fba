"""The four linear estimators validate input as scikit-learn does (issue 16).

Complex and sparse input are rejected (not silently cast), object arrays of
numbers are accepted, ITML's ``bounds`` takes any array of two numbers and
rejects a singular prior, ``init="auto"`` follows scikit-learn's rule and
array-``init`` errors use its wording, and NCA warns at ``max_iter`` as
scikit-learn's NCA does. tests/peers/ runs scikit-learn's and
metric-learn's own suites on the same estimators.
"""
import re
import warnings

import numpy as np
import pytest
import scipy.sparse
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import NeighborhoodComponentsAnalysis
from sklearn.utils import check_random_state

import dml
from dml.linear import ITML, LMNN, NCA, Covariance
from dml.linear._base import initial_transform

MAKE = {
    "Covariance": lambda: Covariance(),
    "LMNN": lambda: LMNN(max_iter=5),
    "NCA": lambda: NCA(max_iter=5),
    "ITML": lambda: ITML(max_iter=5, random_state=0),
}


@pytest.mark.parametrize("kind", ["numpy", "tensor"])
@pytest.mark.parametrize("name", MAKE)
def test_complex_input_is_rejected_not_cast(name, kind, drug):
    """Casting complex X to float would drop the imaginary part."""
    X, y = drug
    Xc = X + 1j * X
    Xc = torch.tensor(Xc) if kind == "tensor" else Xc
    with pytest.raises(ValueError, match="Complex data not supported: X has "
                       "dtype .*complex128; .* Pass X.real"):
        MAKE[name]().fit(Xc, y)
    est = MAKE[name]().fit(X, y)
    with pytest.raises(ValueError, match="Complex data not supported"):
        est.transform(Xc)


@pytest.mark.parametrize("name", ["LMNN", "NCA", "ITML"])
def test_complex_labels_are_rejected(name, drug):
    X, y = drug
    with pytest.raises(ValueError, match="Complex data not supported: y"):
        MAKE[name]().fit(X, y + 1j)


def test_complex_pairs_are_rejected_by_itml(drug):
    X, y = drug
    pairs = np.stack([X[:4], X[4:8]], 1) * (1 + 1j)
    with pytest.raises(ValueError, match="Complex data not supported: pairs"):
        ITML().fit_pairs(pairs, [1, 0, 1, 0])


@pytest.mark.parametrize("sparse", ["csr_matrix", "csr_array", "torch"])
@pytest.mark.parametrize("name", MAKE)
def test_sparse_input_is_rejected_in_scikit_learns_words(name, sparse, drug):
    X, y = drug
    Xs = X.copy()
    Xs[Xs < 0.5] = 0
    Xs = (torch.tensor(Xs).to_sparse() if sparse == "torch"
          else getattr(scipy.sparse, sparse)(Xs))
    msg = re.escape("Sparse data was passed for X, but dense data is "
                    "required. Use '.toarray()' to convert to a dense numpy "
                    "array")
    with pytest.raises(TypeError, match=msg):
        MAKE[name]().fit(Xs, y)
    est = MAKE[name]().fit(X, y)
    with pytest.raises(TypeError, match=msg):
        est.transform(Xs)


@pytest.mark.parametrize("name", MAKE)
def test_object_array_of_numbers_fits_like_floats(name, drug):
    """scikit-learn's check_array converts dtype object to float64."""
    X, y = drug
    W = MAKE[name]().fit(X, y).components_
    np.testing.assert_array_equal(
        MAKE[name]().fit(X.astype(object), y).components_, W)
    X_bad = X.astype(object)
    X_bad[0, 0] = {"foo": "bar"}
    with pytest.raises(TypeError, match="X has dtype object with an entry "
                       "that is not a number .*argument must be"):
        MAKE[name]().fit(X_bad, y)


@pytest.mark.parametrize("name", MAKE)
def test_bad_shapes_are_rejected_in_scikit_learns_words(name, drug):
    X, y = drug
    est = MAKE[name]().fit(X, y)
    with pytest.raises(ValueError, match=r"Expected 2D array, got 1D array "
                       r"instead: X has shape \(12,\)\. Reshape your data"):
        est.transform(X[0])
    with pytest.raises(ValueError, match=f"X has 3 features, but {name} is "
                       "expecting 12 features as input; pass data"):
        est.transform(X[:, :3])
    with pytest.raises(ValueError, match=r"Found array with 0 feature\(s\) "
                       r"\(shape=\(200, 0\)\) while a minimum of 1 is "
                       "required; pass at least one column in X"):
        MAKE[name]().fit(X[:, :0], y)


def test_covariance_of_one_sample_is_rejected_in_scikit_learns_words(drug):
    with pytest.raises(ValueError, match=r"Found array with 1 sample\(s\) "
                       r"\(shape=\(1, 12\)\) while a minimum of 2 is "
                       "required; pass at least 2 rows in X"):
        Covariance().fit(drug[0][:1])


@pytest.mark.parametrize("bounds", [(20.0, 100.0), [20, 100],
                                    np.array([20.0, 100.0]),
                                    np.array([[20.0, 100.0]]),
                                    np.array([[20.0], [100.0]])])
def test_itml_bounds_accept_any_array_of_two_numbers(bounds, drug):
    X, y = drug
    itml = ITML(bounds=bounds, max_iter=5, random_state=0).fit(X, y)
    assert itml.bounds_ == (20.0, 100.0)


@pytest.mark.parametrize("bounds", ["weird", ["weird1", "weird2"],
                                    np.array([1.0, 2.0, 3.0]), 5.0])
def test_itml_bounds_that_are_not_two_numbers_are_rejected(bounds, drug):
    X, y = drug
    with pytest.raises(ValueError, match=r"bounds=.* must be two numbers "
                       r"\(u, l\), as an array of shape \(2,\), \(1, 2\) or "
                       r"\(2, 1\), or None"):
        ITML(bounds=bounds).fit(X, y)


@pytest.mark.parametrize("w0", [0.0, 1e-20, -1e-20])
def test_itml_rejects_a_singular_prior(w0, drug):
    """D_ld(M, M_0) = tr(M M_0^{-1}) - log det(M M_0^{-1}) - D needs M_0^{-1}.
    A -1e-20 eigenvalue passes the PSD check (round-off) but is singular."""
    X, y = drug
    Q = np.linalg.qr(np.random.default_rng(0).standard_normal((12, 12)))[0]
    lam = np.r_[w0, np.linspace(0.5, 2.0, 11)]
    prior = (Q * lam) @ Q.T
    with pytest.raises(ValueError, match=r"prior is singular \(eigenvalues "
                       r".*\): the LogDet divergence D_ld\(M, M_0\) needs a "
                       r"positive definite M_0\. Add a ridge"):
        ITML(prior=prior).fit(X, y)
    ITML(prior=prior + 1e-3 * np.eye(12), max_iter=5).fit(X, y)  # the fix


def _sklearn_init(X, y, n_components):
    """scikit-learn's NCA starting map for init='auto'."""
    nca = NeighborhoodComponentsAnalysis(n_components=n_components)
    nca.random_state_ = check_random_state(0)
    return nca._initialize(X, y, "auto")


@pytest.mark.parametrize("N, D, C, L", [
    (7, 11, 5, 7),     # L = N < D: identity (pca without the N rule)
    (7, 11, 5, 6),     # L < min(D, N): pca
    (11, 7, 5, 3),     # L <= C - 1: lda
    (11, 7, 5, 7),     # L = D: identity
    (5, 3, 2, 2),      # L < D, C - 1 = 1: pca
    (4, 6, 2, 4),      # L = N < D: identity
])
def test_auto_init_follows_scikit_learns_rule(N, D, C, L):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((N, D))
    y = np.arange(N) % C
    np.testing.assert_allclose(initial_transform("auto", X, y, L),
                               _sklearn_init(X, y, L), atol=1e-12)


def test_array_init_errors_are_scikit_learns(drug):
    X, y = drug
    for init, n_components in ((np.eye(3), None), (np.ones((13, 12)), None),
                               (np.eye(12)[:4], 3)):
        msgs = []
        for est in (NCA(init=init, n_components=n_components),
                    NeighborhoodComponentsAnalysis(
                        init=init, n_components=n_components)):
            with pytest.raises(ValueError) as err:
                est.fit(X, y)
            msgs.append(str(err.value))
        assert msgs[0] == msgs[1]


def test_nca_warns_at_max_iter_when_verbose_as_scikit_learn(drug):
    """scikit-learn's NCA warns "[NeighborhoodComponentsAnalysis] NCA did
    not converge: ..." when verbose and stopped by max_iter, and is silent
    otherwise; so is dml's."""
    X, y = drug
    for est, name in ((NCA(max_iter=2, verbose=True), "NCA"),
                      (NeighborhoodComponentsAnalysis(max_iter=2, verbose=1),
                       "NeighborhoodComponentsAnalysis")):
        with pytest.warns(ConvergenceWarning, match=re.escape(
                f"[{name}] NCA did not converge: STOP: TOTAL NO.")):
            est.fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        NCA(max_iter=2).fit(X, y)
        NeighborhoodComponentsAnalysis(max_iter=2).fit(X, y)


@pytest.mark.parametrize("call", [
    lambda X, y: dml.linear.nca_loss_grad(np.eye(3), X, y),
    lambda X, y: dml.pairwise_distances(X),
    lambda X, y: dml.linear.lmnn_loss_grad(
        np.eye(3), X, y, np.zeros((10, 1), dtype=int)),
])
def test_complex_input_is_refused_not_cast(call):
    """Casting would drop the imaginary part without a word."""
    X = np.random.default_rng(0).normal(size=(10, 3)) + 1j
    y = np.arange(10) % 2
    with pytest.raises(ValueError, match="complex data not supported"):
        call(X, y)
