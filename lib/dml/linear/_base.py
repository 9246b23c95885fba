"""What every linear metric learner shares (book, chapter 2).

A linear learner finds an (L, D) map W (``components_``) so that
d_M(x, x') = ||W x - W x'||_2 with M = W^T W (book, chapter 2).
This module holds:

* input validation with precise messages, in scikit-learn's wording
  where its estimator checks test it (:func:`check_X`,
  :func:`check_supervised`);
* the starting map W_0 for ``init`` (:func:`initial_transform`);
* the gradient of a weighted sum of squared distances, the one piece of
  calculus LMNN and NCA have in common (:func:`weighted_sq_dist_grad` for
  a dense block of weights, :func:`sparse_sq_dist_grad` for a list);
* the L-BFGS driver with progress bar and loss history
  (:func:`minimize_lbfgs`) and a thread guard for small problems
  (:func:`small_work_threads`);
* the scikit-learn base class (:class:`LinearMetricLearner`).
"""
from __future__ import annotations

import warnings
from contextlib import contextmanager

import numpy as np
import torch
from scipy import sparse
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from .._arrays import (check_choice, check_labels, check_matrix,
                       like_input, to_tensor)

__all__ = ["INITS", "check_X", "check_real_dense", "check_supervised",
           "check_device",
           "check_map_and_points", "check_n_components", "chunk_rows",
           "chunk_budget", "centred_rows", "chunk_sq_dists",
           "initial_transform", "weighted_sq_dist_grad",
           "sparse_sq_dist_grad", "minimize_lbfgs", "small_work_threads",
           "LinearMetricLearner", "components_from_psd"]

INITS = ("auto", "identity", "pca", "lda", "random")

#: Entries of one (chunk, N) block: 2^21 float64 = 16 MB, under glibc's
#: largest mmap threshold (32 MB), so freed blocks are reused, not
#: page-faulted in afresh at every evaluation (2x faster on a CPU).
CHUNK_BUDGET = 2 ** 21


def check_device(device, X):
    """Device to fit on: ``device`` if given, else the device of X.

    numpy input lands on the CPU; ``"auto"`` means CUDA when available.
    """
    if device is None:
        return X.device if isinstance(X, torch.Tensor) else \
            torch.device("cpu")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device={device!r} is not a torch device; use "
                         "'cpu', 'cuda', 'cuda:0', 'auto' or None.") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} but CUDA is not available; "
                         "use device='cpu' (or 'auto').")
    return dev


def check_real_dense(X, name: str = "X", *, numeric: bool = True):
    """Reject sparse and complex input; return X as a tensor or array.

    Sparse input raises scikit-learn's TypeError (its ``check_array``
    wording); complex input raises its "Complex data not supported"
    (a cast to float would silently drop the imaginary part). With
    ``numeric``, an object array is converted to float64, as
    ``check_array`` does (labels pass ``numeric=False``: they may be
    names).
    """
    if sparse.issparse(X) or (isinstance(X, torch.Tensor)
                              and X.layout != torch.strided):
        raise TypeError(f"Sparse data was passed for {name}, but dense data "
                        "is required. Use '.toarray()' to convert to a "
                        "dense numpy array ('.to_dense()' for a torch "
                        "tensor).")
    if not isinstance(X, torch.Tensor):
        try:
            X = np.asarray(X)
        except (TypeError, ValueError):
            return X                      # ragged: to_tensor words it
        if numeric and X.dtype == object:
            try:
                X = X.astype(np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name} has dtype object with an entry "
                                f"that is not a number ({exc}); pass a "
                                "numeric array.") from None
    if X.is_complex() if isinstance(X, torch.Tensor) else \
            np.iscomplexobj(X):
        raise ValueError(f"Complex data not supported: {name} has dtype "
                         f"{X.dtype}; metric learners need real numbers. "
                         f"Pass {name}.real (or abs({name})) if that is "
                         "what you mean.")
    return X


def check_X(X, name: str = "X", *, min_samples: int = 1) -> torch.Tensor:
    """A finite, real, dense (N, D) floating tensor, N >= ``min_samples``.

    The input check of the estimators: errors name the argument and the
    fix, and contain scikit-learn's wording where its estimator checks
    test it ("Reshape your data", "Found array with 0 feature(s)").
    """
    Xt = to_tensor(check_real_dense(X, name), name)
    if Xt.ndim != 2:
        got = "scalar" if Xt.ndim == 0 else f"{Xt.ndim}D"
        raise ValueError(f"Expected 2D array, got {got} array instead: {name} "
                         f"has shape {tuple(Xt.shape)}. Reshape your data "
                         f"to (n_samples, n_features): {name}.reshape(-1, 1) "
                         f"if it has a single feature, {name}.reshape(1, -1) "
                         "if it contains a single sample.")
    n, D = Xt.shape
    if n < min_samples:
        raise ValueError(f"Found array with {n} sample(s) (shape=({n}, {D}))"
                         f" while a minimum of {min_samples} is required; "
                         f"pass at least {min_samples} rows in {name}.")
    if D == 0:
        raise ValueError(f"Found array with 0 feature(s) (shape=({n}, 0)) "
                         "while a minimum of 1 is required; pass at least "
                         f"one column in {name}.")
    return check_matrix(Xt, name)


def check_supervised(X, y, device, min_classes: int = 2):
    """Validate (X, y) for a supervised fit.

    Returns X as float64 on ``device``, the labels recoded to 0..C-1
    (int64, same device) and the original class values (numpy).
    """
    Xt = check_X(X).to(device, torch.float64)
    y = check_real_dense(y, "y", numeric=False)
    yt = check_labels(y, Xt.shape[0], "y")
    classes, y_code = torch.unique(yt, return_inverse=True)
    if len(classes) < min_classes:
        raise ValueError(f"y has {len(classes)} class(es) ({classes.tolist()}"
                         f"); a metric learner needs points of at least "
                         f"{min_classes} classes to tell same from "
                         "different. Pass labels of several classes.")
    classes = classes.cpu().numpy()
    if not isinstance(y, torch.Tensor) and np.asarray(y).dtype.kind in "USO":
        classes = np.unique(np.asarray(y))           # names, not codes
    return Xt, y_code.to(device), classes


def check_map_and_points(W, X):
    """Validate a map W (L, D) and points X (N, D); common float dtype."""
    Xt = check_matrix(to_tensor(X, "X"), "X")
    Wt = check_matrix(to_tensor(W, "W"), "W").to(Xt.device)
    if Wt.shape[1] != Xt.shape[1]:
        raise ValueError(f"W has shape {tuple(Wt.shape)}; it must be "
                         f"(L, {Xt.shape[1]}) to map the features of X.")
    dtype = torch.promote_types(Xt.dtype, Wt.dtype)
    return Wt.to(dtype), Xt.to(dtype)


#: On CUDA a chunk's (chunk, N) block and its ~4 temporaries of the same
#: size may take this share of the free device memory.
CUDA_SHARE = 0.25
#: Most entries of one block on CUDA (2^28 float64 = 2 GiB).
CUDA_MAX_BUDGET = 2 ** 28


def chunk_budget(device=None, itemsize: int = 8) -> int:
    """Entries of one (chunk, N) block on ``device``.

    The CPU: CHUNK_BUDGET (mmap-friendly). CUDA: a share of the free
    memory, ``CUDA_SHARE * free / (5 * itemsize)`` (the block and ~4
    temporaries), at most CUDA_MAX_BUDGET and at least CHUNK_BUDGET: at
    N = 50 000 about 2 600 rows per chunk with 50 GiB free, not 41, so
    a LMNN evaluation launches tens of chunks' kernels, not 1 220.
    """
    device = torch.device("cpu" if device is None else device)
    if device.type != "cuda":
        return CHUNK_BUDGET
    free, _ = torch.cuda.mem_get_info(device)
    budget = int(CUDA_SHARE * free / (5 * itemsize))
    return max(CHUNK_BUDGET, min(CUDA_MAX_BUDGET, budget))


def chunk_rows(n_rows: int, per_row: int, chunk_size=None, device=None,
               itemsize: int = 8) -> int:
    """Rows per chunk so a chunk holds about :func:`chunk_budget`
    numbers on ``device`` (``chunk_size``, when given, wins)."""
    if chunk_size is not None:
        return max(1, int(chunk_size))
    budget = chunk_budget(device, itemsize)
    return int(max(1, min(n_rows, budget // max(per_row, 1))))


def centred_rows(Z: torch.Tensor):
    """Z centred on its mean, and its squared row norms: computed once
    per evaluation and shared by every chunk of :func:`chunk_sq_dists`."""
    Zc = Z - Z.mean(0, keepdim=True)                          # (N, L)
    return Zc, (Zc * Zc).sum(1)                               # (N,)


def chunk_sq_dists(Zc: torch.Tensor, z2: torch.Tensor, start: int,
                   stop: int) -> torch.Tensor:
    """(c, N) squared distances of rows start..stop-1 to every row.

    The numbers of ``dml.distances.sq_euclidean_matrix(Z[start:stop],
    Z)`` (Gram trick on coordinates centred on the mean of Z, clamped at
    0), without re-centring all of Z for each chunk: at N = 50 000 and
    41-row chunks that was ~94 GB of memory traffic per evaluation.
    """
    d2 = torch.addmm(z2[None, :], Zc[start:stop], Zc.T, alpha=-2.0)
    return d2.add_(z2[start:stop, None]).clamp_min_(0.0)      # (c, N)


# ----------------------------------------------------------------------------
# starting transform
# ----------------------------------------------------------------------------
def check_n_components(n_components, D):
    """L = n_components, an integer in 1..D (None: D)."""
    if n_components is None:
        return D
    if isinstance(n_components, bool) or \
            not isinstance(n_components, (int, np.integer)) or \
            not 1 <= n_components <= D:
        raise ValueError(f"n_components={n_components!r} must be an integer "
                         f"in 1..{D} (the number of features), or None "
                         "for all of them.")
    return int(n_components)


_ARRAY_INIT = " or pass an (n_components, n_features) array"


def _array_init(init, D: int, n_components) -> np.ndarray:
    """Check an array ``init`` (L, D), L <= D, against X and L."""
    W0 = np.asarray(to_tensor(init, "init").cpu().numpy(), np.float64)
    if W0.ndim != 2:
        raise ValueError(f"init={init!r} is not supported; choose one of "
                         f"{', '.join(map(repr, INITS))}{_ARRAY_INIT}.")
    if W0.shape[1] != D:
        raise ValueError(f"The input dimensionality ({W0.shape[1]}) of the "
                         "given linear transformation `init` must match the "
                         f"dimensionality of the given inputs `X` ({D}).")
    if W0.shape[0] > W0.shape[1]:
        raise ValueError(f"The output dimensionality ({W0.shape[0]}) of the "
                         "given linear transformation `init` cannot be "
                         "greater than its input dimensionality "
                         f"({W0.shape[1]}).")
    if n_components is not None and W0.shape[0] != n_components:
        raise ValueError("The preferred dimensionality of the projected "
                         f"space `n_components` ({n_components}) does not "
                         "match the output dimensionality of the given "
                         f"linear transformation `init` ({W0.shape[0]})!")
    if not np.isfinite(W0).all():
        raise ValueError("init contains NaN or infinite values; pass a "
                         f"finite (n_components, {D}) array.")
    return W0


def initial_transform(init, X: np.ndarray, y: np.ndarray, n_components,
                      random_state=None) -> np.ndarray:
    """The starting map W_0, an (L, D) numpy array (scikit-learn's rules).

    * "identity": the first L rows of the D x D identity;
    * "pca": the L leading principal axes (a rotation, no whitening);
    * "lda": the L leading discriminant directions (L <= C - 1);
    * "random": standard normal entries, drawn from ``random_state``;
    * "auto": scikit-learn's rule, with N samples and C classes: "lda" if
      L <= min(D, C - 1), else "pca" if L < min(D, N), else "identity";
    * an (L, D) array with L <= D: used as it is.

    The messages about an array init are scikit-learn's (its NCA's).
    """
    N, D = X.shape
    if not isinstance(init, str):
        return _array_init(init, D, n_components)
    check_choice(init, "init", INITS, alternative=_ARRAY_INIT)
    L = check_n_components(n_components, D)
    n_classes = len(np.unique(y))
    if init == "auto":
        init = "lda" if L <= min(D, n_classes - 1) else \
            "pca" if L < min(D, N) else "identity"
    if init == "identity":
        return np.eye(L, D)
    if init == "random":
        return np.random.default_rng(random_state).standard_normal((L, D))
    if init == "pca":
        from sklearn.decomposition import PCA
        return PCA(n_components=L).fit(X).components_.copy()
    if L > min(n_classes - 1, D):
        raise ValueError(f"init='lda' gives at most C - 1 = {n_classes - 1} "
                         f"directions but n_components={L}; lower "
                         "n_components or use init='pca'.")
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    lda = LinearDiscriminantAnalysis(n_components=L).fit(X, y)
    return lda.scalings_.T[:L].copy()


# ----------------------------------------------------------------------------
# gradient of a weighted sum of squared distances
# ----------------------------------------------------------------------------
def weighted_sq_dist_grad(A: torch.Tensor, Z: torch.Tensor, start: int,
                          out: torch.Tensor) -> torch.Tensor:
    """Add d f / d Z to ``out`` for f = sum_{i in chunk, j} A_ij d_ij^2.

    With d_ij^2 = ||z_i - z_j||^2, d d_ij^2 / d z_i = 2 (z_i - z_j) and
    d d_ij^2 / d z_j = -2 (z_i - z_j), so
        (d f / d Z)_i += 2 (sum_j A_ij z_i - sum_j A_ij z_j)    rows i
        (d f / d Z)_j += 2 (sum_i A_ij z_j - sum_i A_ij z_i)    columns j.
    The gradient w.r.t. W (Z = X W^T) is then (d f / d Z)^T X (book,
    section 2.2, step 1: d d_ij^2 / dW = 2 (z_i - z_j)(x_i - x_j)^T).
    ``A`` is (c, N) for the anchor rows start .. start + c; ``out`` (N, L).
    The products are written (Z_c^T A)^T and (Z^T A^T)^T, the same
    numbers as A^T Z_c and A Z: with a long inner dimension and a thin
    result, the CPU BLAS is 1.5x faster in this layout.
    """
    c = A.shape[0]
    Z_c = Z[start:start + c]                                  # (c, L)
    out += 2.0 * (A.sum(0)[:, None] * Z - (Z_c.T @ A).T)      # (N, L)
    out[start:start + c] += 2.0 * (A.sum(1)[:, None] * Z_c - (Z.T @ A.T).T)
    return out


@contextmanager
def small_work_threads(device, n_work: int, threshold: int = 2 ** 20):
    """Run single-threaded on the CPU while a problem is small.

    For N^2 below ~10^6, starting and synchronising threads costs more
    than the arithmetic (torch, OpenBLAS inside scipy's L-BFGS-B: 2-7x
    slower on a loaded 2-core machine); larger problems keep the pools.
    """
    if torch.device(device).type != "cpu" or n_work >= threshold:
        yield
        return
    from threadpoolctl import threadpool_limits   # scikit-learn's dep.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(before)


def sparse_sq_dist_grad(i: torch.Tensor, j: torch.Tensor, a: torch.Tensor,
                        Z: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Add d f / d Z to ``out`` for f = sum_p a_p ||z_{i_p} - z_{j_p}||^2.

    The same derivative as :func:`weighted_sq_dist_grad` for a list of P
    weighted pairs (i_p, j_p, a_p) instead of a dense block: O(P L) work,
    for losses (LMNN) whose weights are zero for most pairs.
    """
    g = 2.0 * a[:, None] * (Z[i] - Z[j])                      # (P, L)
    out.index_add_(0, i, g)
    out.index_add_(0, j, -g)
    return out


# ----------------------------------------------------------------------------
# L-BFGS driver
# ----------------------------------------------------------------------------
def minimize_lbfgs(loss_grad, W0: np.ndarray, device, *, max_iter: int,
                   tol: float, verbose: bool = False, desc: str = "fit"):
    """Minimise ``loss_grad(W) -> (loss, dloss/dW)`` over W by L-BFGS.

    ``loss_grad`` takes and returns float64 tensors on ``device``; scipy's
    L-BFGS-B keeps its (small, L x D) state on the CPU, so the N^2 work
    runs on the device and only W and its gradient cross. ``tol`` is
    scipy's ``tol`` (for L-BFGS-B both ``ftol``, the relative decrease of
    the loss, and ``gtol``, the largest gradient entry), as in
    scikit-learn's NCA. With ``verbose``, a run that stops unconverged
    (``max_iter`` reached, or a failed line search) warns as scikit-learn's
    NCA does: a ConvergenceWarning "[NCA] NCA did not converge: ...".
    Returns (W, n_iter, loss_history) with one loss per iteration.
    """
    from tqdm.auto import tqdm
    shape = W0.shape

    def fun(w):
        W = torch.as_tensor(w.reshape(shape), dtype=torch.float64,
                            device=device)
        loss, grad = loss_grad(W)
        return float(loss), grad.reshape(-1).cpu().numpy()

    history = []
    bar = tqdm(total=max_iter, desc=desc, disable=not verbose, leave=False)

    def callback(intermediate_result):
        history.append(float(intermediate_result.fun))
        bar.update(1)
        bar.set_postfix(loss=f"{history[-1]:.4g}")

    try:
        res = minimize(fun, W0.ravel().astype(np.float64), jac=True,
                       method="L-BFGS-B", callback=callback, tol=tol,
                       options={"maxiter": max_iter})
    finally:
        bar.close()
    if verbose and not res.success:
        warnings.warn(f"[{desc}] {desc} did not converge: {res.message}",
                      ConvergenceWarning, stacklevel=3)
    return res.x.reshape(shape), int(res.nit), history


# ----------------------------------------------------------------------------
# the estimator base class
# ----------------------------------------------------------------------------
def components_from_psd(M: np.ndarray, n_components=None) -> np.ndarray:
    """An (L, D) map W with W^T W = M (the L largest eigen-directions).

    With M = V diag(lambda) V^T, W = diag(sqrt(``lambda_``+)) V^T; keeping all
    D rows gives W^T W = M exactly (up to round-off).
    """
    lam, V = np.linalg.eigh(0.5 * (M + M.T))
    order = np.argsort(lam)[::-1][:n_components or M.shape[0]]
    return np.sqrt(np.clip(lam[order], 0.0, None))[:, None] * V[:, order].T


class LinearMetricLearner(TransformerMixin, BaseEstimator):
    """Base class: a learned map ``components_`` (L, D), M = W^T W.

    Subclasses implement ``fit``; this class gives ``transform`` and
    ``get_mahalanobis_matrix``. ``components_`` is always a float64 numpy
    array; ``transform`` computes on the device of its input.
    """

    def _check_fitted(self):
        if not hasattr(self, "components_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted "
                                 "yet; call fit(X, y) before using it.")

    def transform(self, X):
        """Map the rows of X: Z = X W^T, shape (N, L); numpy in, numpy out.

        A tensor comes back on its own device in its own float dtype.
        """
        self._check_fitted()
        Xt = check_X(X)
        D = self.components_.shape[1]
        if Xt.shape[1] != D:
            raise ValueError(f"X has {Xt.shape[1]} features, but "
                             f"{type(self).__name__} is expecting {D} "
                             "features as input; pass data with the columns "
                             "it was fitted on.")
        W = torch.as_tensor(self.components_, device=Xt.device,
                            dtype=Xt.dtype)
        return like_input(Xt @ W.T, X)                        # (N, L)

    def get_mahalanobis_matrix(self) -> np.ndarray:
        """M = W^T W, the (D, D) PSD matrix of d_M (numpy float64)."""
        self._check_fitted()
        return self.components_.T @ self.components_
