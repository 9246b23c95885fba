"""metric-learn's own tests, ported to ``dml.linear``.

Sources (scikit-learn-contrib/metric-learn, commit dc7e449, v0.7.0):
``test/metric_learn_test.py`` (the Covariance, LMNN, NCA and ITML tests)
and ``test/test_mahalanobis_mixin.py`` (for the learners dml has). The
logic and expected values are theirs; the imports point at
``_metric_learn_adapter`` (argument names, ``pair_distance`` /
``get_metric``). A test that does not apply is skipped with its reason;
README.md in this folder lists every adaptation.
"""
import warnings
from itertools import product

import numpy as np
import pytest
import scipy
from numpy.testing import (assert_allclose, assert_array_almost_equal,
                           assert_array_equal)
from scipy.optimize import approx_fprime, check_grad
from scipy.spatial.distance import mahalanobis, pdist, squareform
from scipy.stats import ortho_group
from sklearn import clone
from sklearn.cluster import DBSCAN
from sklearn.datasets import (load_iris, make_classification,
                              make_spd_matrix)
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import euclidean_distances, pairwise_distances
from sklearn.utils.multiclass import type_of_target

import dml.linear.lmnn as dml_lmnn
from dml.linear import (lmnn_loss_grad, lmnn_target_neighbors,
                        nca_loss_grad)

from _metric_learn_adapter import (ITML, LMNN, NCA, Covariance,
                                    ITML_Supervised, build_pairs, fit,
                                    get_metric, ids_classifiers,
                                    ids_metric_learners, metric_learners,
                                    pair_distance, remove_y,
                                    set_random_state)


def class_separation(X, labels):
    unique_labels, label_inds = np.unique(labels, return_inverse=True)
    ratio = 0
    for li in range(len(unique_labels)):
        Xc = X[label_inds == li]
        Xnc = X[label_inds != li]
        ratio += (pairwise_distances(Xc).mean()
                  / pairwise_distances(Xc, Xnc).mean())
    return ratio / len(unique_labels)


@pytest.fixture(autouse=True)
def seeded():
    """metric-learn seeds np.random with 1234 once per test class
    (MetricTestCase.setUpClass); here before every test, so each test's
    make_classification() and randn draws are the same in every run and
    order."""
    np.random.seed(1234)


@pytest.fixture
def iris():
    """metric-learn's MetricTestCase iris points and labels (a fresh copy
    per test: test_singleton_class edits the labels in place)."""
    iris_data = load_iris()
    return iris_data["data"], iris_data["target"]


# ===========================================================================
# test/metric_learn_test.py
# ===========================================================================
class TestCovariance:
    def test_iris(self, iris):
        iris_points, iris_labels = iris
        cov = Covariance()
        cov.fit(iris_points)

        csep = class_separation(cov.transform(iris_points), iris_labels)
        # deterministic result
        assert csep == pytest.approx(0.72981476, abs=5e-8)

    @pytest.mark.skip(reason="design difference: dml's Covariance never "
                      "returns a pseudo-inverse. Its default reg=1e-6 adds a "
                      "relative ridge so Sigma is invertible; at reg=0 a "
                      "singular Sigma raises a ValueError that says to set "
                      "reg > 0 (tests/test_linear_estimators.py).")
    def test_singular_returns_pseudo_inverse(self):
        pass


class TestITML:
    def test_iris(self, iris):
        iris_points, iris_labels = iris
        itml = ITML_Supervised(n_constraints=200)
        itml.fit(iris_points, iris_labels)

        csep = class_separation(itml.transform(iris_points), iris_labels)
        assert csep < 0.2


@pytest.mark.parametrize('bounds', [None, (20., 100.), [20., 100.],
                                    np.array([20., 100.]),
                                    np.array([[20., 100.]]),
                                    np.array([[20], [100]])])
def test_bounds_parameters_valid(bounds):
    """Asserts that we can provide any array-like of two elements as bounds,
    and that the attribute bound_ is a numpy array"""

    pairs = np.array([[[-10., 0.], [10., 0.]], [[0., 50.], [0., -60]]])
    y_pairs = [1, -1]
    itml = ITML()
    fit(itml, pairs, y_pairs, bounds=bounds)

    X = np.array([[0, 0], [0, 1], [2, 0], [2, 1]])
    y = np.array([1, 0, 1, 0])
    itml_supervised = ITML_Supervised()
    fit(itml_supervised, X, y, bounds=bounds)


@pytest.mark.parametrize('bounds', ['weird', ['weird1', 'weird2'],
                                    np.array([1, 2, 3])])
def test_bounds_parameters_invalid(bounds):
    """Assert that if a non array-like is put for bounds, or an array-like
    of length different than 2, an error is returned"""
    pairs = np.array([[[-10., 0.], [10., 0.]], [[0., 50.], [0., -60]]])
    y_pairs = [1, -1]
    itml = ITML()
    with pytest.raises(Exception):
        fit(itml, pairs, y_pairs, bounds=bounds)

    X = np.array([[0, 0], [0, 1], [2, 0], [2, 1]])
    y = np.array([1, 0, 1, 0])
    itml_supervised = ITML_Supervised()
    with pytest.raises(Exception):
        fit(itml_supervised, X, y, bounds=bounds)


class TestLMNN:
    def test_iris(self, iris):
        iris_points, iris_labels = iris
        lmnn = LMNN(n_neighbors=5, learn_rate=1e-6, verbose=False)
        lmnn.fit(iris_points, iris_labels)

        csep = class_separation(lmnn.transform(iris_points), iris_labels)
        assert csep < 0.25

    def test_loss_grad_lbfgs(self, one_thread):
        """Test gradient of loss function
        Assert that the gradient is almost equal to its finite differences
        approximation.
        """
        rng = np.random.RandomState(42)
        X, y = make_classification(random_state=rng)
        L = rng.randn(rng.randint(1, X.shape[1] + 1), X.shape[1])
        lmnn = LMNN()

        k = lmnn.k
        reg = lmnn.mu

        target_neighbors = lmnn_target_neighbors(X, y, k)

        def loss_grad(flat_L):
            return lmnn_loss_grad(flat_L.reshape(-1, X.shape[1]), X, y,
                                  target_neighbors, mu=reg)

        def fun(x):
            return loss_grad(x)[0]

        def grad(x):
            return loss_grad(x)[1].ravel()

        # compute relative error
        epsilon = np.sqrt(np.finfo(float).eps)
        rel_diff = (check_grad(fun, grad, L.ravel()) /
                    np.linalg.norm(approx_fprime(L.ravel(), fun, epsilon)))
        np.testing.assert_almost_equal(rel_diff, 0., decimal=5)


def test_loss_func(monkeypatch):
    """Test the loss function (and its gradient) on a simple example,
    by comparing the results with the actual implementation of metric-learn,
    with a very simple (but nonperformant) implementation"""

    # toy dataset to use
    X, y = make_classification(n_samples=10, n_classes=2,
                               n_features=6,
                               n_redundant=0, shuffle=True,
                               scale=[1, 1, 20, 20, 20, 20], random_state=42)

    def hinge(a):
        if a > 0:
            return a, 1
        else:
            return 0, 0

    def loss_fn(L, X, y, target_neighbors, reg):
        L = L.reshape(-1, X.shape[1])
        Lx = np.dot(X, L.T)
        loss = 0
        total_active = 0
        grad = np.zeros_like(L)
        for i in range(X.shape[0]):
            for j in target_neighbors[i]:
                loss += (1 - reg) * np.sum((Lx[i] - Lx[j]) ** 2)
                grad += (1 - reg) * np.outer(Lx[i] - Lx[j], X[i] - X[j])
                for k in range(X.shape[0]):
                    if y[i] != y[k]:
                        hin, active = hinge(1 + np.sum((Lx[i] - Lx[j])**2) -
                                            np.sum((Lx[i] - Lx[k])**2))
                        total_active += active
                        if active:
                            loss += reg * hin
                            grad += (reg * (np.outer(Lx[i] - Lx[j],
                                                     X[i] - X[j]) -
                                            np.outer(Lx[i] - Lx[k],
                                                     X[i] - X[k])))
        grad = 2 * grad
        return grad, loss, total_active

    # we check that the gradient we have computed in the non-performant
    # implem is indeed the true gradient on a toy example:

    def _select_targets(X, y, k):
        target_neighbors = np.empty((X.shape[0], k), dtype=int)
        for label in np.unique(y):
            inds, = np.nonzero(y == label)
            dd = euclidean_distances(X[inds], squared=True)
            np.fill_diagonal(dd, np.inf)
            nn = np.argsort(dd)[..., :k]
            target_neighbors[inds] = inds[nn]
        return target_neighbors

    target_neighbors = _select_targets(X, y, 2)
    regularization = 0.5
    n_features = X.shape[1]
    x0 = np.random.randn(1, n_features)

    def loss(x0):
        return loss_fn(x0.reshape(-1, X.shape[1]), X, y, target_neighbors,
                       regularization)[1]

    def grad(x0):
        return loss_fn(x0.reshape(-1, X.shape[1]), X, y, target_neighbors,
                       regularization)[0].ravel()

    scipy.optimize.check_grad(loss, grad, x0.ravel())

    # metric-learn records the gradient of its fast loss along a fit and
    # recomputes it with loss_fn; dml's fit calls _lmnn_loss_grad_t, so the
    # recording wraps that (see README.md).
    mem = []
    fast = dml_lmnn._lmnn_loss_grad_t

    def recording(W, *args, **kwargs):
        loss_value, grad_value = fast(W, *args, **kwargs)
        mem.append((W.numpy().copy(), float(loss_value), grad_value.numpy()))
        return loss_value, grad_value

    monkeypatch.setattr(dml_lmnn, "_lmnn_loss_grad_t", recording)
    lmnn_perf = LMNN(random_state=42, init='identity', max_iter=30)
    lmnn_perf.fit(X, y)
    # dml's targets are metric-learn's _select_targets (k=3, the default)
    np.testing.assert_array_equal(lmnn_perf.targets_,
                                  _select_targets(X, y, 3))
    assert len(mem) >= 10  # we ensure that we actually did more than 10
    # iterations
    total_active = []
    for i, (W, obj, g) in enumerate(mem):
        g_ref, obj_ref, active = loss_fn(W, X, y, lmnn_perf.targets_,
                                         lmnn_perf.mu)
        np.testing.assert_allclose(g, g_ref, err_msg='Gradient different '
                                   'at position {}'.format(i))
        np.testing.assert_allclose(obj, obj_ref)
        total_active.append(active)
    assert total_active[0] >= 2  # we ensure that we have some active
    # constraints (that's the case we want to test)


@pytest.mark.parametrize('X, y, loss', [(np.array([[0], [1], [2], [3]]),
                                         [1, 1, 0, 0], 3.0),
                                        (np.array([[0], [1], [2], [3]]),
                                         [1, 0, 0, 1], 26.)])
def test_toy_ex_lmnn(X, y, loss):
    """Test that the loss give the right result on a toy example"""
    L = np.array([[1]])
    lmnn = LMNN(n_neighbors=1, regularization=0.5)

    k = lmnn.k
    reg = lmnn.mu

    X = X.astype(float)
    target_neighbors = lmnn_target_neighbors(X, y, k)

    #  assert that the loss equals the one computed by hand
    assert lmnn_loss_grad(L.reshape(-1, X.shape[1]), X, y, target_neighbors,
                          mu=reg)[0] == loss


def test_convergence_simple_example():
    # LMNN should converge on this simple example, which it did not with
    # this issue:
    # https://github.com/scikit-learn-contrib/metric-learn/issues/88
    X, y = make_classification(random_state=0)
    lmnn = LMNN(verbose=True)
    with warnings.catch_warnings(record=True) as raised:
        warnings.simplefilter("always")
        lmnn.fit(X, y)
    # metric-learn prints "LMNN converged with objective"; dml stops
    # before max_iter and gives no ConvergenceWarning
    assert lmnn.n_iter_ < lmnn.max_iter
    assert not [w for w in raised if w.category is ConvergenceWarning]


def test_no_twice_same_objective():
    # test that the objective function never has twice the same value
    # see https://github.com/scikit-learn-contrib/metric-learn/issues/88
    X, y = make_classification(random_state=0)
    lmnn = LMNN(verbose=True)
    lmnn.fit(X, y)
    # metric-learn parses the objectives from its printout; dml records
    # them in loss_history_
    objectives = lmnn.loss_history_
    # we remove the last element because it can be equal to the penultimate
    # if the last gradient update is null
    assert len(objectives[:-1]) == len(set(objectives[:-1]))


class TestNCA:
    def test_iris(self, iris):
        iris_points, iris_labels = iris
        n = iris_points.shape[0]

        # Without dimension reduction
        nca = NCA(max_iter=(100000 // n))
        nca.fit(iris_points, iris_labels)
        csep = class_separation(nca.transform(iris_points), iris_labels)
        assert csep < 0.15

        # With dimension reduction
        nca = NCA(max_iter=(100000 // n), n_components=2)
        nca.fit(iris_points, iris_labels)
        csep = class_separation(nca.transform(iris_points), iris_labels)
        assert csep < 0.20

    def test_finite_differences(self, one_thread):
        """Test gradient of loss function

        Assert that the gradient is almost equal to its finite differences
        approximation.
        """
        # Initialize the transformation `M`, as well as `X` and `y` and `NCA`
        X, y = make_classification()
        M = np.random.randn(np.random.randint(1, X.shape[1] + 1), X.shape[1])

        def fun(M):
            return nca_loss_grad(M.reshape(-1, X.shape[1]), X, y)[0]

        def grad(M):
            return nca_loss_grad(M.reshape(-1, X.shape[1]), X, y)[1].ravel()

        # compute relative error
        epsilon = np.sqrt(np.finfo(float).eps)
        rel_diff = (check_grad(fun, grad, M.ravel()) /
                    np.linalg.norm(approx_fprime(M.ravel(), fun, epsilon)))
        np.testing.assert_almost_equal(rel_diff, 0., decimal=6)

    def test_simple_example(self):
        """Test on a simple example.

        Puts four points in the input space where the opposite labels points
        are next to each other. After transform the same labels points should
        be next to each other.

        """
        X = np.array([[0, 0], [0, 1], [2, 0], [2, 1]])
        y = np.array([1, 0, 1, 0])
        nca = NCA(n_components=2,)
        nca.fit(X, y)
        Xansformed = nca.transform(X)
        np.testing.assert_equal(pairwise_distances(Xansformed).argsort()[:, 1],
                                np.array([2, 3, 0, 1]))

    def test_singleton_class(self, iris):
        X, y = iris

        # one singleton class: test fitting works
        singleton_class = 1
        ind_singleton, = np.where(y == singleton_class)
        y[ind_singleton] = 2
        y[ind_singleton[0]] = singleton_class

        nca = NCA(max_iter=30)
        nca.fit(X, y)

        # One non-singleton class: test fitting works
        ind_1, = np.where(y == 1)
        ind_2, = np.where(y == 2)
        y[ind_1] = 0
        y[ind_1[0]] = 1
        y[ind_2] = 0
        y[ind_2[0]] = 2

        nca = NCA(max_iter=30)
        nca.fit(X, y)

        # Only singleton classes: test fitting does nothing (the gradient
        # must be null in this case, so the final matrix must stay like
        # the initialization)
        ind_0, = np.where(y == 0)
        ind_1, = np.where(y == 1)
        ind_2, = np.where(y == 2)
        X = X[[ind_0[0], ind_1[0], ind_2[0]]]
        y = y[[ind_0[0], ind_1[0], ind_2[0]]]

        A = make_spd_matrix(n_dim=X.shape[1], random_state=X.shape[1])
        nca = NCA(init=A, max_iter=30, n_components=X.shape[1])
        nca.fit(X, y)
        assert_array_equal(nca.components_, A)

    @pytest.mark.skip(reason="design difference: dml's NCA rejects y with "
                      "a single class (a ValueError: nothing to tell apart; "
                      "tests/test_linear_estimators.py) where metric-learn "
                      "returns the initialisation unchanged.")
    def test_one_class(self):
        pass


@pytest.mark.skip(reason="metric-learn's verbose NCA prints a table of "
                  "iterations; dml's shows a tqdm progress bar on stderr "
                  "(tests/test_linear_estimators.py::"
                  "test_verbose_shows_a_progress_bar).")
def test_verbose():
    pass


def test_no_verbose(capsys):
    # assert by default there is no output (verbose=False)
    X, y = make_classification()
    model = NCA()
    model.fit(X, y)
    out, _ = capsys.readouterr()
    # check output
    assert (out == '')


def test_convergence_warning():
    X, y = make_classification()
    model = NCA(max_iter=2, verbose=True)
    cls_name = model.__class__.__name__
    msg = '[{}] {} did not converge'.format(cls_name, cls_name)
    with pytest.warns(Warning) as raised_warning:
        model.fit(X, y)
    assert any([msg in str(warn.message) for warn in raised_warning])


# ===========================================================================
# test/test_mahalanobis_mixin.py
# ===========================================================================
@pytest.mark.skip(reason="pair_score is metric-learn API (-pair_distance) "
                  "that dml does not have; through the adapter the test "
                  "would only check the adapter.")
def test_pair_distance_pair_score_equivalent():
    pass


@pytest.mark.parametrize('estimator, build_dataset', metric_learners,
                         ids=ids_metric_learners)
def test_pair_distance_pairwise(estimator, build_dataset):
    # Computing pairwise scores should return a euclidean distance matrix.
    input_data, labels, _, X = build_dataset()
    n_samples = 20
    X = X[:n_samples]
    model = clone(estimator)
    set_random_state(model)
    fit(model, *remove_y(estimator, input_data, labels))

    pairwise = pair_distance(model, np.array(list(product(X, X))))\
        .reshape(n_samples, n_samples)

    check_is_distance_matrix(pairwise)

    # a necessary condition for euclidean distance matrices: (see
    # https://en.wikipedia.org/wiki/Euclidean_distance_matrix)
    assert np.linalg.matrix_rank(pairwise**2) <= min(X.shape) + 2

    # assert that this distance is coherent with pdist on embeddings
    assert_array_almost_equal(squareform(pairwise), pdist(model.transform(X)))


@pytest.mark.parametrize('estimator, build_dataset', metric_learners,
                         ids=ids_metric_learners)
def test_pair_distance_toy_example(estimator, build_dataset):
    # Checks that pair_distance works on a toy example
    input_data, labels, _, X = build_dataset()
    n_samples = 20
    X = X[:n_samples]
    model = clone(estimator)
    set_random_state(model)
    fit(model, *remove_y(estimator, input_data, labels))
    pairs = np.stack([X[:10], X[10:20]], axis=1)
    embedded_pairs = pairs.dot(model.components_.T)
    distances = np.sqrt(np.sum((embedded_pairs[:, 1] -
                                embedded_pairs[:, 0])**2,
                               axis=-1))
    assert_array_almost_equal(pair_distance(model, pairs), distances)


@pytest.mark.parametrize('estimator, build_dataset', metric_learners,
                         ids=ids_metric_learners)
def test_pair_distance_finite(estimator, build_dataset):
    # tests that the score is finite
    input_data, labels, _, X = build_dataset()
    model = clone(estimator)
    set_random_state(model)
    fit(model, *remove_y(estimator, input_data, labels))
    pairs = np.array(list(product(X, X)))
    assert np.isfinite(pair_distance(model, pairs)).all()


@pytest.mark.parametrize('estimator, build_dataset', metric_learners,
                         ids=ids_metric_learners)
def test_pair_distance_dim(estimator, build_dataset):
    # scoring of 3D arrays should return 1D array (several tuples),
    # and scoring of 2D arrays (one tuple) should return an error (like
    # scikit-learn's error when scoring 1D arrays)
    input_data, labels, _, X = build_dataset()
    model = clone(estimator)
    set_random_state(model)
    fit(model, *remove_y(estimator, input_data, labels))
    tuples = np.array(list(product(X, X)))
    assert pair_distance(model, tuples).shape == (tuples.shape[0],)
    # metric-learn's message about "3D array of formed tuples" comes from
    # its preprocessor; pair_distance is the adapter's, so its message is
    # not dml's to test (README.md)


def check_is_distance_matrix(pairwise):
    assert (pairwise >= 0).all()  # positivity
    assert np.array_equal(pairwise, pairwise.T)  # symmetry
    assert (pairwise.diagonal() == 0).all()  # identity
    # triangular inequality
    tol = 1e-12
    assert (pairwise <= pairwise[:, :, np.newaxis] +
            pairwise[:, np.newaxis, :] + tol).all()


@pytest.mark.parametrize('estimator, build_dataset', metric_learners,
                         ids=ids_metric_learners)
def test_embed_toy_example(estimator, build_dataset):
    # Checks that embed works on a toy example
    input_data, labels, _, X = build_dataset()
    n_samples = 20
    X = X[:n_samples]
    model = clone(estimator)
    set_random_state(model)
    fit(model, *remove_y(estimator, input_data, labels))
    embedded_points = X.dot(model.components_.T)
    assert_array_almost_equal(model.transform(X), embedded_points)


@pytest.mark.parametrize('estimator, build_dataset', metric_learners,
                         ids=ids_metric_learners)
def test_embed_dim(estimator, build_dataset):
    # Checks that the the dimension of the output space is as expected
    input_data, labels, _, X = build_dataset()
    model = clone(estimator)
    set_random_state(model)
    fit(model, *remove_y(estimator, input_data, labels))
    assert model.transform(X).shape == X.shape

    # assert that ValueError is thrown if input shape is 1D
    # (metric-learn's preprocessor wording "2D array of formed points
    # expected"; dml uses scikit-learn's "Reshape your data", README.md)
    err_msg = "Reshape your data"
    with pytest.raises(ValueError, match=err_msg):
        model.transform(model.transform(X[0, :]))
    # we test that the shape is also OK when doing dimensionality reduction
    if hasattr(model, 'n_components'):
        model.set_params(n_components=2)
        fit(model, *remove_y(estimator, input_data, labels))
        assert model.transform(X).shape == (X.shape[0], 2)
        # assert that ValueError is thrown if input shape is 1D
        with pytest.raises(ValueError, match=err_msg):
            model.transform(model.transform(X[0, :]))


@pytest.mark.parametrize('estimator, build_dataset', metric_learners,
                         ids=ids_metric_learners)
def test_embed_finite(estimator, build_dataset):
    # Checks that embed returns vectors with finite values
    input_data, labels, _, X = build_dataset()
    model = clone(estimator)
    set_random_state(model)
    fit(model, *remove_y(estimator, input_data, labels))
    assert np.isfinite(model.transform(X)).all()


@pytest.mark.parametrize('estimator, build_dataset', metric_learners,
                         ids=ids_metric_learners)
def test_embed_is_linear(estimator, build_dataset):
    # Checks that the embedding is linear
    input_data, labels, _, X = build_dataset()
    model = clone(estimator)
    set_random_state(model)
    fit(model, *remove_y(estimator, input_data, labels))
    assert_array_almost_equal(model.transform(X[:10] + X[10:20]),
                              model.transform(X[:10]) +
                              model.transform(X[10:20]))
    assert_array_almost_equal(model.transform(5 * X[:10]),
                              5 * model.transform(X[:10]))


@pytest.mark.parametrize('estimator, build_dataset', metric_learners,
                         ids=ids_metric_learners)
def test_get_metric_equivalent_to_explicit_mahalanobis(estimator,
                                                       build_dataset):
    """Tests that using the get_metric method of mahalanobis metric learners
    is equivalent to explicitely calling scipy's mahalanobis metric
    """
    rng = np.random.RandomState(42)
    input_data, labels, _, X = build_dataset()
    model = clone(estimator)
    set_random_state(model)
    fit(model, *remove_y(estimator, input_data, labels))
    metric = get_metric(model)
    n_features = X.shape[1]
    a, b = (rng.randn(n_features), rng.randn(n_features))
    expected_dist = mahalanobis(a, b, VI=model.get_mahalanobis_matrix())
    assert_allclose(metric(a, b), expected_dist, rtol=1e-13)


@pytest.mark.parametrize('estimator, build_dataset', metric_learners,
                         ids=ids_metric_learners)
def test_get_metric_is_pseudo_metric(estimator, build_dataset):
    """Tests that the get_metric method of mahalanobis metric learners
    returns a pseudo-metric (metric but without one side of the equivalence
    of the identity of indiscernables property)
    """
    input_data, labels, _, X = build_dataset()
    model = clone(estimator)
    set_random_state(model)
    fit(model, *remove_y(estimator, input_data, labels))
    metric = get_metric(model)

    n_features = X.shape[1]
    for seed in range(10):
        rng = np.random.RandomState(seed)
        a, b, c = (rng.randn(n_features) for _ in range(3))
        assert metric(a, b) >= 0  # positivity
        assert metric(a, b) == metric(b, a)  # symmetry
        # one side of identity indiscernables: x == y => d(x, y) == 0. The
        # other side of the equivalence is not always true for Mahalanobis
        # distances.
        assert metric(a, a) == 0
        # triangular inequality
        assert (metric(a, c) < metric(a, b) + metric(b, c) or
                np.isclose(metric(a, c), metric(a, b) + metric(b, c),
                           rtol=1e-20))


@pytest.mark.parametrize('estimator, build_dataset', metric_learners,
                         ids=ids_metric_learners)
def test_get_metric_compatible_with_scikit_learn(estimator, build_dataset,
                                                 one_thread):
    """Check that the metric returned by get_metric is compatible with
    scikit-learn's algorithms using a custom metric, DBSCAN for instance"""
    input_data, labels, _, X = build_dataset()
    model = clone(estimator)
    set_random_state(model)
    fit(model, *remove_y(estimator, input_data, labels))
    clustering = DBSCAN(metric=get_metric(model))
    clustering.fit(X)


@pytest.mark.parametrize('estimator, build_dataset', metric_learners,
                         ids=ids_metric_learners)
def test_get_squared_metric(estimator, build_dataset):
    """Test that the squared metric returned is indeed the square of the
    metric"""
    input_data, labels, _, X = build_dataset()
    model = clone(estimator)
    set_random_state(model)
    fit(model, *remove_y(estimator, input_data, labels))
    metric = get_metric(model)

    n_features = X.shape[1]
    for seed in range(10):
        rng = np.random.RandomState(seed)
        a, b = (rng.randn(n_features) for _ in range(2))
        assert_allclose(metric(a, b, squared=True),
                        metric(a, b, squared=False)**2,
                        rtol=1e-15)


@pytest.mark.parametrize('estimator, build_dataset', metric_learners,
                         ids=ids_metric_learners)
def test_components_is_2D(estimator, build_dataset):
    """Tests that the transformation matrix of metric learners is 2D"""
    input_data, labels, _, X = build_dataset()
    model = clone(estimator)
    set_random_state(model)
    # test that it works for X.shape[1] features
    fit(model, *remove_y(estimator, input_data, labels))
    assert model.components_.shape == (X.shape[1], X.shape[1])

    # test that it works for 1 feature. Use 2nd dimension, to avoid border
    # cases
    trunc_data = input_data[..., 1:2]
    # we drop duplicates that might have been formed, i.e. of the form
    # aabc or abcc or aabb for quadruplets, and aa for pairs.

    if build_dataset is build_pairs:       # metric-learn: a pairs learner
        pairs_idx = [[0, 1]]
    else:
        pairs_idx = []

    for pair_idx in pairs_idx:
        pairs = trunc_data[:, pair_idx, :]
        diffs = pairs[:, 1, :] - pairs[:, 0, :]
        to_keep = np.abs(diffs.ravel()) > 1e-9
        trunc_data = trunc_data[to_keep]
        labels = labels[to_keep]

    fit(model, *remove_y(estimator, trunc_data, labels))
    assert model.components_.shape == (1, 1)  # the components must be 2D


def _learners(select):
    pairs = [(ml, bd, idml) for idml, (ml, bd)
             in zip(ids_metric_learners, metric_learners) if select(ml)]
    return dict(argvalues=[p[:2] for p in pairs], ids=[p[2] for p in pairs])


_N_COMPONENTS_AND_INIT = _learners(
    lambda ml: hasattr(ml, 'n_components') and hasattr(ml, 'init'))


@pytest.mark.parametrize('estimator, build_dataset',
                         **_N_COMPONENTS_AND_INIT)
def test_init_transformation(estimator, build_dataset):
    input_data, labels, _, X = build_dataset()
    is_classification = (type_of_target(labels) in ['multiclass', 'binary'])
    model = clone(estimator)
    rng = np.random.RandomState(42)

    # Start learning from scratch
    model.set_params(init='identity')
    fit(model, input_data, labels)

    # Initialize with random
    model.set_params(init='random')
    fit(model, input_data, labels)

    # Initialize with auto
    model.set_params(init='auto')
    fit(model, input_data, labels)

    # Initialize with PCA
    model.set_params(init='pca')
    fit(model, input_data, labels)

    # Initialize with LDA
    if is_classification:
        model.set_params(init='lda')
        fit(model, input_data, labels)

    # Initialize with a numpy array
    init = rng.rand(X.shape[1], X.shape[1])
    model.set_params(init=init)
    fit(model, input_data, labels)

    # init.shape[1] must match X.shape[1]
    init = rng.rand(X.shape[1], X.shape[1] + 1)
    model.set_params(init=init)
    msg = ('The input dimensionality ({}) of the given '
           'linear transformation `init` must match the '
           'dimensionality of the given inputs `X` ({}).'
           .format(init.shape[1], X.shape[1]))
    with pytest.raises(ValueError) as raised_error:
        fit(model, input_data, labels)
    assert str(raised_error.value) == msg

    # init.shape[0] must be <= init.shape[1]
    init = rng.rand(X.shape[1] + 1, X.shape[1])
    model.set_params(init=init)
    msg = ('The output dimensionality ({}) of the given '
           'linear transformation `init` cannot be '
           'greater than its input dimensionality ({}).'
           .format(init.shape[0], init.shape[1]))
    with pytest.raises(ValueError) as raised_error:
        fit(model, input_data, labels)
    assert str(raised_error.value) == msg

    # init.shape[0] must match n_components
    init = rng.rand(X.shape[1], X.shape[1])
    n_components = X.shape[1] - 1
    model.set_params(init=init, n_components=n_components)
    msg = ('The preferred dimensionality of the '
           'projected space `n_components` ({}) does not match '
           'the output dimensionality of the given '
           'linear transformation `init` ({})!'
           .format(n_components, init.shape[0]))
    with pytest.raises(ValueError) as raised_error:
        fit(model, input_data, labels)
    assert str(raised_error.value) == msg

    # init must be as specified in the docstring
    # (metric-learn's wording "`init` must be 'auto', 'pca', ...";
    # dml's names the value and lists the same choices, README.md)
    model.set_params(init=1)
    msg = ("init=1 is not supported; choose one of 'auto', 'identity', "
           "'pca', 'lda', 'random' or pass an (n_components, n_features) "
           "array.")
    with pytest.raises(ValueError) as raised_error:
        fit(model, input_data, labels)
    assert str(raised_error.value) == msg


@pytest.mark.parametrize('n_samples', [3, 5, 7, 11])
@pytest.mark.parametrize('n_features', [3, 5, 7, 11])
@pytest.mark.parametrize('n_classes', [5, 7, 11])
@pytest.mark.parametrize('n_components', [3, 5, 7, 11])
@pytest.mark.parametrize('estimator, build_dataset',
                         **_N_COMPONENTS_AND_INIT)
def test_auto_init_transformation(n_samples, n_features, n_classes,
                                  n_components, estimator, build_dataset):
    # Test that auto choose the init transformation as expected with every
    # configuration of order of n_samples, n_features, n_classes and
    # n_components, for all metric learners that learn a transformation.
    if n_classes >= n_samples:
        pass
        # n_classes > n_samples is impossible, and n_classes == n_samples
        # throws an error from lda but is an absurd case
    else:
        input_data, labels, _, X = build_dataset()
        model_base = clone(estimator)
        rng = np.random.RandomState(42)
        model_base.set_params(init='auto',
                              n_components=n_components,
                              random_state=rng)
        # To make the test work for LMNN:
        if 'LMNN' in model_base.__class__.__name__:
            model_base.set_params(k=1)
        # To make the test faster for estimators that have a max_iter:
        if hasattr(model_base, 'max_iter'):
            model_base.set_params(max_iter=1)
        if n_components > n_features:
            # this would return a ValueError, which is tested in
            # test_init_transformation
            pass
        else:
            # We need to build a dataset of the right shape:
            num_to_pad_n_samples = ((n_samples // input_data.shape[0] + 1))
            num_to_pad_n_features = ((n_features // input_data.shape[-1] + 1))
            if input_data.ndim == 3:
                input_data = np.tile(input_data,
                                     (num_to_pad_n_samples,
                                      input_data.shape[1],
                                      num_to_pad_n_features))
            else:
                input_data = np.tile(input_data,
                                     (num_to_pad_n_samples,
                                      num_to_pad_n_features))
            input_data = input_data[:n_samples, ..., :n_features]
            assert input_data.shape[0] == n_samples
            assert input_data.shape[-1] == n_features
            has_classes = model_base.__class__.__name__ in ids_classifiers
            if 'LMNN' in model_base.__class__.__name__ and \
                    np.bincount(np.arange(n_samples) % n_classes).min() < 2:
                pytest.skip("a class-size requirement of LMNN's k: the "
                            "labels 0..n_classes-1 repeated over n_samples "
                            "leave classes of 1 point, and dml's LMNN needs "
                            "k + 1 = 2 points per class (metric-learn "
                            "accepts k).")
            if has_classes:
                labels = np.tile(range(n_classes), n_samples //
                                 n_classes + 1)[:n_samples]
            else:
                labels = np.tile(labels, n_samples // labels.shape[0]
                                 + 1)[:n_samples]
            model = clone(model_base)
            fit(model, input_data, labels)
            if n_components <= min(n_classes - 1, n_features) and \
                    has_classes:
                model_other = clone(model_base).set_params(init='lda')
            elif n_components < min(n_features, n_samples):
                model_other = clone(model_base).set_params(init='pca')
            else:
                model_other = clone(model_base).set_params(init='identity')
            fit(model_other, input_data, labels)
            assert_array_almost_equal(model.components_,
                                      model_other.components_)


@pytest.mark.skip(reason="not applicable: it covers learners with an `init` "
                  "Mahalanobis matrix and no n_components (metric-learn's "
                  "MMC, SDML, LSML); dml has none. ITML has only a prior and "
                  "is not among them in metric-learn either.")
def test_init_mahalanobis():
    pass


@pytest.mark.skip(reason="design difference: dml's prior='covariance' "
                  "inverts the covariance plus a relative ridge (1e-6), "
                  "which is positive definite by construction, so a "
                  "collinear feature raises nothing. A singular array "
                  "prior is rejected: test_singular_array_init_or_prior_"
                  "strictpd below.")
def test_singular_covariance_init_or_prior_strictpd():
    pass


_ITML_LEARNERS = _learners(lambda ml: type(ml).__name__ == "ITML")


@pytest.mark.parametrize('estimator, build_dataset', **_ITML_LEARNERS)
@pytest.mark.parametrize('w0', [1e-20, 0., -1e-20])
def test_singular_array_init_or_prior_strictpd(estimator, build_dataset,
                                               w0):
    """Tests that when using a custom array init (or prior), it returns the
    appropriate error if it is singular, for algorithms
    that need a strictly PD prior or init (see
    https://github.com/scikit-learn-contrib/metric-learn/issues/202 and
    https://github.com/scikit-learn-contrib/metric-learn/pull/195#issuecomment
    -492332451)
    """
    matrices_to_set = []
    if hasattr(estimator, 'init'):
        matrices_to_set.append('init')
    if hasattr(estimator, 'prior'):
        matrices_to_set.append('prior')

    rng = np.random.RandomState(42)
    input_data, labels, _, X = build_dataset()
    for param in matrices_to_set:
        model = clone(estimator)
        set_random_state(model)

        P = ortho_group.rvs(X.shape[1], random_state=rng)
        w = np.abs(rng.randn(X.shape[1]))
        w[0] = w0
        M = P.dot(np.diag(w)).dot(P.T)
        if hasattr(model, 'init'):
            model.set_params(init=M)
        if hasattr(model, 'prior'):
            model.set_params(prior=M)
        if not hasattr(model, 'prior') and not hasattr(model, 'init'):
            raise RuntimeError("Neither prior or init could be set in the "
                               "model.")
        # metric-learn: LinAlgError "You should provide a strictly positive
        # definite matrix as `prior`..."; dml: a ValueError in its words
        msg = (r"prior is singular \(eigenvalues .*\): the LogDet "
               r"divergence D_ld\(M, M_0\) needs a positive definite M_0\. "
               r"Add a ridge")
        with pytest.raises(ValueError, match=msg):
            fit(model, input_data, labels)


@pytest.mark.skip(reason="not applicable: it tests metric-learn's private "
                  "_initialize_metric_mahalanobis(strict_pd=False), which "
                  "pseudo-inverts a singular init; dml has no such init.")
def test_singular_array_init_of_non_strict_pd():
    pass


@pytest.mark.parametrize('estimator, build_dataset', metric_learners,
                         ids=ids_metric_learners)
def test_deterministic_initialization(estimator, build_dataset):
    """Test that estimators that have a prior or an init are deterministic
    when it is set to to random and when the random_state is fixed."""
    input_data, labels, _, X = build_dataset()
    model = clone(estimator)
    if hasattr(estimator, 'init'):
        model.set_params(init='random')
    # (metric-learn also sets prior='random'; dml's ITML has no random
    # prior, so its randomness is the draw of constraints, README.md)
    model1 = clone(model)
    set_random_state(model1, 42)
    model1 = fit(model1, *remove_y(model, input_data, labels))
    model2 = clone(model)
    set_random_state(model2, 42)
    model2 = fit(model2, *remove_y(model, input_data, labels))
    np.testing.assert_allclose(model1.get_mahalanobis_matrix(),
                               model2.get_mahalanobis_matrix())


def test_this_port_covers_the_learners_dml_has():
    """The parametrisations above are not empty (an empty list would
    silently skip a whole test)."""
    assert ids_metric_learners == ["ITML", "Covariance", "LMNN", "NCA",
                                   "ITML_Supervised"]
    assert _N_COMPONENTS_AND_INIT["ids"] == ["LMNN", "NCA"]
    assert _ITML_LEARNERS["ids"] == ["ITML", "ITML_Supervised"]
