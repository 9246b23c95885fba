"""The thin adapter between metric-learn's test API and ``dml.linear``.

metric-learn's tests construct ``LMNN(n_neighbors=..., regularization=...)``,
``ITML_Supervised(n_constraints=...)`` and call ``pair_distance``,
``pair_score`` and ``get_metric`` on a fitted learner. The constructors
below rename the arguments (and drop LMNN's ``learn_rate``: dml's solver is
L-BFGS, which has no step size); the functions compute distances with dml's
own ``paired_distances`` / ``mahalanobis`` from the learner's
``get_mahalanobis_matrix()``. Nothing here computes a metric itself.
README.md lists every adaptation with its reason.
"""
import numpy as np
from sklearn.datasets import load_iris, make_blobs
from sklearn.utils import shuffle
# metric-learn's sklearn_shims.set_random_state is this function
from sklearn.utils._testing import set_random_state

import dml
from dml import linear
from dml.linear.itml import sample_pair_constraints

__all__ = ["Covariance", "LMNN", "NCA", "ITML", "ITML_Supervised", "fit",
           "pair_distance", "pair_score", "get_metric", "set_random_state",
           "build_classification", "build_pairs", "remove_y",
           "metric_learners", "ids_metric_learners", "ids_classifiers"]

#: metric-learn's argument name -> dml's.
RENAMED = {"n_neighbors": "k", "regularization": "mu",
           "n_constraints": "num_constraints"}
#: metric-learn arguments with no dml counterpart (see README.md).
DROPPED = {"learn_rate"}


def _dml_kwargs(kwargs):
    return {RENAMED.get(k, k): v for k, v in kwargs.items()
            if k not in DROPPED}


def Covariance(**kwargs):
    """metric-learn's Covariance inverts Sigma as it is: dml's reg=0."""
    return linear.Covariance(**{"reg": 0.0, **_dml_kwargs(kwargs)})


def LMNN(**kwargs):
    return linear.LMNN(**_dml_kwargs(kwargs))


def NCA(**kwargs):
    return linear.NCA(**_dml_kwargs(kwargs))


def ITML(**kwargs):
    """metric-learn's pairs learner: dml's ITML fitted by ``fit_pairs``."""
    return linear.ITML(**_dml_kwargs(kwargs))


def ITML_Supervised(**kwargs):
    """metric-learn's supervised ITML: dml's ITML fitted by ``fit``."""
    return linear.ITML(**_dml_kwargs(kwargs))


def fit(model, input_data, labels, **fit_params):
    """``model.fit(input_data, labels)`` as metric-learn's API means it:
    a 3-D array holds pairs (ITML's ``fit_pairs``), a 2-D one points.
    ``fit_params`` (metric-learn passes ``bounds=`` to fit) become
    parameters, as dml sets them in the constructor."""
    model.set_params(**fit_params)
    if np.ndim(input_data) == 3:
        return model.fit_pairs(input_data, labels)
    return model.fit(input_data, labels)


def pair_distance(model, pairs):
    """d_M(x, x') for each pair (P, 2, D), by dml.paired_distances."""
    pairs = np.asarray(pairs)
    if pairs.ndim != 3:
        raise ValueError(f"pairs must be (P, 2, D), got shape {pairs.shape}")
    return dml.paired_distances(pairs[:, 0], pairs[:, 1], "mahalanobis",
                                M=model.get_mahalanobis_matrix())


def pair_score(model, pairs):
    """metric-learn's score: the opposite of the distance."""
    return -pair_distance(model, pairs)


def get_metric(model):
    """A function d(u, v, squared=False) for scikit-learn's callables."""
    M = model.get_mahalanobis_matrix()

    def metric_fun(u, v, squared=False):
        d = dml.mahalanobis(u, v, M)
        return d ** 2 if squared else d
    return metric_fun


# ---------------------------------------------------------------------------
# metric-learn's test/test_utils.py datasets and learner lists, reduced to
# the learners dml has
# ---------------------------------------------------------------------------
SEED = 42


def build_classification():
    """(input_data, labels, preprocessor, X) as in metric-learn."""
    X, y = shuffle(*make_blobs(random_state=SEED), random_state=SEED)
    indices = shuffle(np.arange(X.shape[0]), random_state=SEED).astype(int)
    return X[indices], y[indices], None, X[indices]


def build_pairs():
    """50 similar and 50 dissimilar iris pairs, labels +1 / -1.

    metric-learn draws them with its Constraints class; dml's
    sample_pair_constraints draws the same kinds and numbers (not the
    same pairs, which no test depends on)."""
    input_data, labels = load_iris(return_X_y=True)
    X, y = shuffle(input_data, labels, random_state=SEED)
    ij, same = sample_pair_constraints(y, 50, np.random.default_rng(SEED))
    c, target = shuffle(ij, np.where(same, 1.0, -1.0), random_state=SEED)
    return X[c], target, None, X[c[:, 0]]


def remove_y(estimator, X, y):
    """Every learner here takes y (metric-learn drops it for triplet and
    quadruplet learners, which dml does not have)."""
    return (X, y)


pairs_learners = [(ITML(max_iter=2), build_pairs)]  # max_iter=2 to be faster
ids_pairs_learners = ["ITML"]
classifiers = [(Covariance(), build_classification),
               (LMNN(), build_classification),
               (NCA(), build_classification),
               (ITML_Supervised(max_iter=5), build_classification)]
ids_classifiers = ["Covariance", "LMNN", "NCA", "ITML_Supervised"]
metric_learners = pairs_learners + classifiers
ids_metric_learners = ids_pairs_learners + ids_classifiers
