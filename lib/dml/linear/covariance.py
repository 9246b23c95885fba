"""The classical Mahalanobis distance: M = Sigma^{-1} (book, chapter 2).

Mahalanobis (1936): with the data's covariance Sigma,
    d_M(x, x')^2 = (x - x')^T Sigma^{-1} (x - x'),
the Euclidean distance after *whitening*: W = Sigma^{-1/2} (so that
W^T W = Sigma^{-1}) maps the data to identity covariance. It uses no labels;
it is the baseline every learned metric should beat.
"""
from __future__ import annotations

import numpy as np
import torch

from ._base import (LinearMetricLearner, check_n_components, check_X,
                    components_from_psd)

__all__ = ["regularized_covariance", "Covariance"]


def regularized_covariance(X: np.ndarray, reg: float) -> np.ndarray:
    """Sigma + reg * (tr(Sigma) / D) I, a (D, D) positive definite matrix.

    The ridge is relative to the mean variance tr(Sigma)/D, so ``reg`` is
    unit-free; it keeps Sigma invertible when features are collinear or
    N <= D (metric-learn inverts Sigma with a pseudo-inverse instead).
    """
    D = X.shape[1]
    Sigma = np.atleast_2d(np.cov(X, rowvar=False))            # (D, D)
    scale = np.trace(Sigma) / D or 1.0
    return Sigma + reg * scale * np.eye(D)


class Covariance(LinearMetricLearner):
    r"""Whitening: M = (Sigma + ridge)^{-1}, W = M^{1/2}.

    Taught in :doc:`chapter 2 </book/chapters/02_linear>`. Mahalanobis
    (1936), with the data's covariance Sigma:

    .. math::

       d_M(x, x')^2 = (x - x')^\top \Sigma^{-1} (x - x'),

       \Sigma \leftarrow \Sigma
           + \mathrm{reg}\,\frac{\operatorname{tr}\Sigma}{D}\, I.

    Parameters
    ----------
    n_components : int or None
        Keep the L whitened directions of largest weight in M (the
        smallest-variance directions); None keeps all D.
    reg : float
        Relative ridge added to Sigma (see ``regularized_covariance``); 0
        inverts Sigma as it is.
    device : optional
        Accepted for a uniform API; the D x D algebra runs in numpy.

    Attributes
    ----------
    components_
        (L, D) array: the map W.
    covariance_
        (D, D) array: the regularised Sigma.
    """

    def __init__(self, n_components=None, reg=1e-6, device=None):
        self.n_components = n_components
        self.reg = reg
        self.device = device

    def fit(self, X, y=None):
        """Estimate Sigma from X (N, D), N >= 2; ``y`` is ignored."""
        # a covariance needs 2 rows
        Xt = check_X(X, min_samples=2).to(torch.float64)
        if not float(self.reg) >= 0.0:
            raise ValueError(f"reg={self.reg} must be >= 0 (a relative "
                             "ridge; try 1e-6).")
        X_np = Xt.cpu().numpy()
        L = check_n_components(self.n_components, X_np.shape[1])
        self.covariance_ = regularized_covariance(X_np, float(self.reg))
        lam = np.linalg.eigvalsh(self.covariance_)
        if lam.min() <= 1e-12 * max(lam.max(), 1e-300):
            raise ValueError("the covariance of X is singular (constant or "
                             "collinear features); set reg > 0, e.g. "
                             "reg=1e-3.")
        M = np.linalg.inv(self.covariance_)                    # (D, D)
        self.components_ = components_from_psd(M, L)
        self.n_features_in_ = X_np.shape[1]
        return self
