"""Information-Theoretic Metric Learning (Davis et al., 2007; book ch. 2).

ITML finds the M closest to a prior M_0 in LogDet divergence
D_ld(M, M_0) = 2 KL(N(0, M_0^{-1}) || N(0, M^{-1})) (Davis et al., 2007;
the book's chapter 2 notes where Nguyen's slides (2023) differ) subject to
pair constraints on squared distances d_M(x, x')^2:

    min_M  D_ld(M, M_0) + gamma * D_ld(diag(xi), diag(xi_0))
    s.t.   d_M(x_i, x_j)^2 <= xi_ij   for similar pairs    (xi_0 = u)
           d_M(x_i, x_j)^2 >= xi_ij   for dissimilar pairs (xi_0 = l)

with slack variables xi weighted by gamma (gamma = inf: hard
constraints). It is solved by cyclic Bregman projections: each visit of a
constraint makes one rank-one update M <- M + beta (M v)(M v)^T,
v = x_i - x_j, which keeps M positive definite.

That projection is inherently sequential (each update changes M for the
next), so :func:`bregman_sweep` loops over constraints -- the one loop over
tuples in ``dml``, and the standard way to solve ITML. It keeps the loop
cheap: two BLAS-2 calls per constraint on the upper triangle of M
(symmetric matrix-vector product and symmetric rank-one update), no
allocation, and the convergence test once per sweep.
"""
from __future__ import annotations

import numpy as np
import torch
from scipy.linalg.blas import dsymv, dsyr

from .._arrays import check_matrix, check_psd, to_tensor
from ._base import (LinearMetricLearner, check_device, check_n_components,
                    check_real_dense, check_supervised, components_from_psd)
from .covariance import regularized_covariance

__all__ = ["bregman_sweep", "itml_bounds", "sample_pair_constraints",
           "ITML"]


def bregman_sweep(A, V, delta, xi, lam, gamma: float):
    """One pass of ITML's Bregman projections over all constraints.

    For constraint c with v = V[c], delta = +1 (similar) or -1
    (dissimilar), p = v^T A v (Davis et al., 2007, Algorithm 1, in the
    form of the authors' reference code, which metric-learn also uses):
        alpha   = min(lam_c, delta * g * (1/p - 1/xi_c)),  g = gamma/(gamma+1)
        beta    = delta * alpha / (1 - delta * alpha * p)
        xi_c   <- 1 / (1/xi_c + delta * alpha / gamma)
        lam_c  <- lam_c - alpha
        A      <- A + beta (A v)(A v)^T
    ``A`` (D, D, Fortran order) holds M in its upper triangle and is
    updated in place, as are ``xi`` and ``lam`` (the dual variables).
    """
    g = 1.0 if np.isinf(gamma) else gamma / (gamma + 1.0)
    inv_gamma = 0.0 if np.isinf(gamma) else 1.0 / gamma
    for c in range(V.shape[0]):                 # sequential by nature
        v = V[c]
        Av = dsymv(1.0, A, v)                   # (D,), upper triangle
        p = float(v @ Av)
        d = delta[c]
        alpha = min(lam[c], d * g * (1.0 / p - 1.0 / xi[c]))
        if alpha == 0.0:
            continue
        beta = d * alpha / (1.0 - d * alpha * p)
        xi[c] = 1.0 / (1.0 / xi[c] + d * alpha * inv_gamma)
        lam[c] -= alpha
        A = dsyr(beta, Av, a=A, overwrite_a=True)
    return A


def itml_bounds(X: np.ndarray, M0: np.ndarray, rng, percentiles=(5, 95),
                max_points: int = 1000):
    """(u, l): percentiles of squared distances d_{M_0}^2 among points of X.

    Davis et al. (2007) set u (the bound similar pairs must stay below) to
    the 5th and l (the bound dissimilar pairs must exceed) to the 95th
    percentile of the observed distances; like their code we use squared
    distances, the quantity the constraints bound (metric-learn takes
    percentiles of plain distances).
    At most ``max_points`` random rows are used (all pairs among them).
    """
    from ..distances import sq_euclidean_matrix
    if X.shape[0] > max_points:
        X = X[rng.choice(X.shape[0], max_points, replace=False)]
    Xt = torch.as_tensor(X)
    d2 = sq_euclidean_matrix(Xt, Xt, torch.as_tensor(M0))     # (n, n)
    iu = torch.triu_indices(X.shape[0], X.shape[0], 1)
    lo, hi = np.percentile(d2[iu[0], iu[1]].numpy(), percentiles)
    return float(lo), float(hi)


def sample_pair_constraints(y: np.ndarray, num_constraints: int, rng):
    """Random index pairs (i, j), i != j: ``num_constraints`` with
    y_i = y_j (similar) and as many with y_i != y_j (dissimilar).

    Returns (pairs (P, 2) int64, same (P,) bool). Pairs are drawn in
    vectorised rounds until both kinds are complete (metric-learn's
    ``positive_negative_pairs`` draws the same kinds one pair at a time).
    """
    N = y.shape[0]
    found = {True: [], False: []}
    for _ in range(100):                         # rounds, not pairs
        ij = rng.integers(0, N, size=(4 * num_constraints + 16, 2))
        ij = ij[ij[:, 0] != ij[:, 1]]
        same = y[ij[:, 0]] == y[ij[:, 1]]
        for kind in (True, False):
            found[kind].append(ij[same == kind])
        if all(sum(map(len, found[k])) >= num_constraints
               for k in (True, False)):
            break
    sim = np.concatenate(found[True])[:num_constraints]
    dis = np.concatenate(found[False])[:num_constraints]
    if len(sim) < num_constraints or len(dis) < num_constraints:
        raise ValueError("could not draw enough similar and dissimilar "
                         "pairs from y; each needs a class with >= 2 points "
                         "and >= 2 classes. Lower num_constraints.")
    pairs = np.concatenate([sim, dis])
    same = np.r_[np.ones(len(sim), bool), np.zeros(len(dis), bool)]
    return pairs, same


class ITML(LinearMetricLearner):
    r"""Information-Theoretic Metric Learning, a scikit-learn transformer.

    Taught in :doc:`chapter 2 </book/chapters/02_linear>` (Davis et al.,
    2007). ITML finds the M closest to a prior M_0 in LogDet divergence,
    subject to pair constraints on squared distances, with slacks xi:

    .. math::

       \min_{M \succeq 0,\ \xi}\ D_\mathrm{ld}(M, M_0)
           + \gamma\, D_\mathrm{ld}(\operatorname{diag}\xi,
                                      \operatorname{diag}\xi_0)

       \text{s.t.} \quad
       \begin{cases}
       d_M(x_i, x_j)^2 \le \xi_{ij} & \text{similar } (\xi_0 = u) \\
       d_M(x_i, x_j)^2 \ge \xi_{ij} & \text{dissimilar } (\xi_0 = l)
       \end{cases}

    .. math::

       D_\mathrm{ld}(M, M_0) = \operatorname{tr}(M M_0^{-1})
           - \log\det(M M_0^{-1}) - D,

    solved by cyclic Bregman projections, one rank-one update
    M <- M + beta (M v)(M v)^T per constraint.

    Two ways to fit:

    * ``fit(X, y)``: ``num_constraints`` similar and as many dissimilar
      pairs are drawn from the labels (``random_state``);
    * ``fit_pairs(pairs, same)``: ``pairs`` is a (P, 2, D) array of point
      pairs (pairs[c, 0] and pairs[c, 1] are the two points), ``same`` a
      (P,) array, True / 1 for a similar pair and False / 0 / -1 for a
      dissimilar one (metric-learn's "tuples" convention).

    Parameters
    ----------
    gamma : float
        Slack weight (gamma in the objective); np.inf for hard
        constraints. metric-learn's default is 1.
    prior : {"identity", "covariance"} or (D, D) positive definite array
        M_0; "covariance" is the inverse covariance of the points,
        regularised. A singular M_0 is rejected: D_ld(M, M_0) needs
        M_0^{-1}.
    bounds : (u, l) or None
        Similar pairs are pushed to d^2 <= u, dissimilar ones to
        d^2 >= l; any array of two numbers, shape (2,), (1, 2) or (2, 1),
        as in metric-learn. None takes the 5th / 95th percentiles of
        d_{M_0}^2.
    num_constraints : int or None
        Similar pairs (and as many dissimilar ones) drawn by
        ``fit(X, y)``; None means 20 C^2 as in metric-learn.
    max_iter : int
        Sweeps over all constraints at most.
    tol : float
        Stop when sum(abs(lam - lam_prev)) / sum(abs(lam)) after a sweep
        is below tol.
    n_components : int or None
        Keep the L leading directions of M in ``components_``.
    random_state, verbose, device
        As in :class:`NCA`; the projections run in numpy on the CPU (they
        are sequential); ``device`` is where ``fit`` accepts tensors from.

    Attributes
    ----------
    components_
        (L, D) array: the map W, M = W^T W.
    bounds_
        (u, l): the bounds used.
    slack_
        (P,) array: final xi, one per pair, in the order given (pairs with
        x_i = x_j are dropped first).
    pairs_same_
        (P,) array: ``same`` as used.
    n_iter_
        int: sweeps run.
    loss_history_
        list of float: the convergence measure after each sweep.
    """

    def __init__(self, gamma=1.0, prior="identity", bounds=None,
                 num_constraints=None, max_iter=1000, tol=1e-3,
                 n_components=None, random_state=None, verbose=False,
                 device=None):
        self.gamma = gamma
        self.prior = prior
        self.bounds = bounds
        self.num_constraints = num_constraints
        self.max_iter = max_iter
        self.tol = tol
        self.n_components = n_components
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    # -- fitting ----------------------------------------------------------
    def fit(self, X, y):
        """Draw pair constraints from the labels y and fit on them."""
        check_device(self.device, X)           # validates the argument
        # the sweeps run in numpy: check X on the host (a CUDA X is copied
        # once), never shipped to the device and straight back
        Xt, yt, self.classes_ = check_supervised(X, y, torch.device("cpu"))
        X_np, y_np = Xt.cpu().numpy(), yt.cpu().numpy()
        C = len(self.classes_)
        n = self.num_constraints
        n = 20 * C * C if n is None else n
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) \
                or n < 1:
            raise ValueError(f"num_constraints={self.num_constraints!r} "
                             "must be a positive integer (or None).")
        if np.bincount(y_np).max() < 2:
            raise ValueError("every class of y has a single point, so no "
                             "similar pair exists; give some classes >= 2 "
                             "points.")
        rng = np.random.default_rng(self.random_state)
        idx, same = sample_pair_constraints(y_np, int(n), rng)
        return self._fit(X_np, X_np[idx[:, 0]] - X_np[idx[:, 1]], same, rng)

    def fit_pairs(self, pairs, same):
        """Fit on point pairs (P, 2, D) labelled similar/dissimilar."""
        P = to_tensor(check_real_dense(pairs, "pairs"),
                      "pairs").to(torch.float64)
        if P.ndim != 3 or P.shape[1] != 2 or P.shape[0] == 0:
            raise ValueError(f"pairs has shape {tuple(P.shape)}; it must be "
                             "(P, 2, D): P pairs of two D-dim points. From "
                             "X and index pairs ij use X[ij].")
        check_matrix(P.reshape(P.shape[0], -1), "pairs")
        s = to_tensor(same, "same").cpu().numpy()
        if s.shape != (P.shape[0],):
            raise ValueError(f"same has shape {s.shape} but there are "
                             f"{P.shape[0]} pairs; pass one flag per pair.")
        s = s > 0
        if s.all() or not s.any():
            raise ValueError("same must mark both similar (True/1) and "
                             "dissimilar (False/0/-1) pairs.")
        P = P.cpu().numpy()
        rng = np.random.default_rng(self.random_state)
        points = P.reshape(-1, P.shape[2])                    # (2P, D)
        return self._fit(points, P[:, 0] - P[:, 1], s, rng)

    def _prior(self, points):
        D = points.shape[1]
        if isinstance(self.prior, str):
            if self.prior == "identity":
                return np.eye(D)
            if self.prior == "covariance":
                return np.linalg.inv(regularized_covariance(points, 1e-6))
            raise ValueError(f"prior={self.prior!r} is not supported; use "
                             "'identity', 'covariance' or a (D, D) PSD "
                             "array.")
        M0 = check_psd(to_tensor(self.prior, "prior"), "prior")
        if M0.shape[0] != D:
            raise ValueError(f"prior has shape {tuple(M0.shape)}; it must "
                             f"be ({D}, {D}).")
        M0 = M0.cpu().numpy().astype(np.float64)
        lam = np.linalg.eigvalsh(M0)
        if lam[0] <= 1e-12 * max(lam[-1], 0.0):       # also M0 = 0
            raise ValueError(f"prior is singular (eigenvalues {lam[0]:.3g} "
                             f"to {lam[-1]:.3g}): the LogDet divergence "
                             "D_ld(M, M_0) needs a positive definite M_0. "
                             "Add a ridge, e.g. prior + 1e-6 * "
                             "np.trace(prior) / D * np.eye(D), or use "
                             "prior='identity'.")
        return M0

    def _bounds(self, points, M0, rng):
        """(u, l) from ``bounds``: two numbers, or percentiles if None."""
        if self.bounds is None:
            return itml_bounds(points, M0, rng)
        try:
            b = np.asarray(self.bounds, dtype=np.float64)
        except (TypeError, ValueError):
            b = None
        if b is None or b.size != 2:
            raise ValueError(f"bounds={self.bounds!r} must be two numbers "
                             "(u, l), as an array of shape (2,), (1, 2) or "
                             "(2, 1), or None for percentiles of the data.")
        u, l = b.ravel()
        return float(u), float(l)

    def _check_params(self):
        if not float(self.gamma) > 0:
            raise ValueError(f"gamma={self.gamma} must be > 0 (np.inf for "
                             "hard constraints).")
        if int(self.max_iter) < 1:
            raise ValueError(f"max_iter={self.max_iter} must be >= 1.")

    def _fit(self, points, V, same, rng):
        """Cyclic Bregman projections on differences V (P, D)."""
        from tqdm.auto import tqdm
        self._check_params()
        D = V.shape[1]
        L = check_n_components(self.n_components, D)
        keep = np.any(V != 0, axis=1)      # x_i = x_j: no constraint at all
        V, same = np.ascontiguousarray(V[keep]), same[keep]
        M0 = self._prior(points)
        u, l = self._bounds(points, M0, rng)
        if not (0 < u and 0 < l):
            raise ValueError(f"bounds=({u}, {l}) must be two positive "
                             "squared distances (u for similar pairs, l "
                             "for dissimilar ones), typically u < l.")
        order = rng.permutation(V.shape[0])     # mix the two kinds
        V, same = V[order], same[order]
        delta = np.where(same, 1.0, -1.0)
        xi = np.where(same, u, l)                             # xi_0
        lam = np.zeros(V.shape[0])
        A = np.asfortranarray(M0.copy())
        history = []
        bar = tqdm(total=int(self.max_iter), desc="ITML",
                   disable=not self.verbose, leave=False)
        for _ in range(int(self.max_iter)):                   # sweeps
            lam_old = lam.copy()
            A = bregman_sweep(A, V, delta, xi, lam, float(self.gamma))
            scale = np.abs(lam).sum() + np.abs(lam_old).sum()
            conv = 0.0 if scale == 0 else np.abs(lam - lam_old).sum() / scale
            history.append(float(conv))
            bar.update(1)
            if conv < self.tol:
                break
        bar.close()
        M = np.triu(A) + np.triu(A, 1).T                      # (D, D)
        self.bounds_ = (u, l)
        self.slack_ = xi[np.argsort(order)]
        self.pairs_same_ = same[np.argsort(order)]
        self.n_iter_, self.loss_history_ = len(history), history
        self.components_ = components_from_psd(M, L)
        self.n_features_in_ = D
        return self
