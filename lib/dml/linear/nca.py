"""Neighbourhood Components Analysis (Goldberger et al., 2004; book ch. 2).

Point i picks a neighbour j at random with the soft-max probability
    p_ij = exp(-||W x_i - W x_j||^2) / sum_{l != i} exp(-||W x_i - W x_l||^2),
p_ii = 0 (Goldberger et al., 2004), and is classified correctly with
probability p_i = sum_{j: y_j = y_i} p_ij. NCA maximises the expected
leave-one-out accuracy sum_i p_i; we *minimise* its negative,
    loss(W) = -sum_i p_i,
so that L-BFGS can use it directly (scikit-learn does the same).

Everything is computed over chunks of anchor rows i: memory O(chunk * N),
time O(N^2 L) per evaluation, no loop over points.
"""
from __future__ import annotations

import numpy as np
import torch

from .._arrays import check_labels, like_input
from ._base import (LinearMetricLearner, check_device,
                    centred_rows, check_map_and_points, check_supervised,
                    chunk_rows, chunk_sq_dists, initial_transform,
                    minimize_lbfgs, small_work_threads,
                    weighted_sq_dist_grad)

__all__ = ["nca_probabilities", "nca_loss_grad", "NCA"]


def _p_chunk(Z: torch.Tensor, start: int, stop: int,
             centred=None) -> torch.Tensor:
    """p_ij for the anchors start..stop-1, shape (c, N).

    A soft-max of -d_ij^2 with the diagonal (j = i) set to -inf. Each
    row's maximum is subtracted before exponentiating (the log-sum-exp
    trick), so nothing overflows, and there is no 0/0 when all distances
    are in the thousands: the nearest neighbour gets exp(0) = 1. Computed
    in place in the distance block (no extra (c, N) buffers).
    """
    Zc, z2 = centred_rows(Z) if centred is None else centred
    d2 = chunk_sq_dists(Zc, z2, start, stop)                  # (c, N)
    rows = torch.arange(stop - start, device=Z.device)
    d2[rows, rows + start] = float("inf")                     # p_ii = 0
    # log-sum-exp trick, in place: exp(-d2 + min_l d2) / sum(...)
    s = d2.neg_()                                             # (c, N)
    s.sub_(s.max(1, keepdim=True).values).exp_()
    return s.div_(s.sum(1, keepdim=True))


@torch.no_grad()
def _nca_loss_grad_t(W, X, y, chunk_size=None):
    """Tensor core of :func:`nca_loss_grad` (inputs already checked)."""
    N = X.shape[0]
    Z = X @ W.T                                               # (N, L)
    G_Z = torch.zeros_like(Z)                                 # dloss/dZ
    loss = torch.zeros((), dtype=Z.dtype, device=Z.device)
    # row c of class_rows is the indicator 1[y_j = c] over all j
    classes, y = torch.unique(y, return_inverse=True)         # y: 0..C-1
    class_rows = (torch.arange(len(classes), device=y.device)[:, None]
                  == y[None, :]).to(Z.dtype)                  # (C, N)
    step = chunk_rows(N, N, chunk_size, Z.device, Z.element_size())
    centred = centred_rows(Z)                   # once, for every chunk
    for start in range(0, N, step):                           # chunks only
        stop = min(start + step, N)
        p_ij = _p_chunk(Z, start, stop, centred)              # (c, N)
        same = class_rows[y[start:stop]]                      # (c, N)
        p_i = torch.linalg.vecdot(p_ij, same)[:, None]        # (c, 1)
        loss = loss - p_i.sum()
        # d loss / d d_ij^2 = p_ij (1[y_j = y_i] - p_i)
        A = same.sub_(p_i).mul_(p_ij)                         # (c, N)
        weighted_sq_dist_grad(A, Z, start, G_Z)
    return loss, G_Z.T @ X                                    # (L, D)


def nca_probabilities(W, X):
    r"""Soft-neighbour probabilities p_ij of NCA, an (N, N) matrix.

    Taught in :doc:`chapter 2 </book/chapters/02_linear>` (Goldberger et
    al., 2004):

    .. math::

       p_{ij} = \frac{\exp(-\lVert W x_i - W x_j \rVert^2)}
                     {\sum_{l \ne i} \exp(-\lVert W x_i - W x_l \rVert^2)},

       p_{ii} = 0,

    so every row sums to 1.

    Parameters
    ----------
    W : (L, D) array or tensor
        The map.
    X : (N, D) array or tensor
        The points, N >= 2.

    Returns
    -------
    (N, N) array or tensor
        p; numpy in, numpy out.
    """
    Wt, Xt = check_map_and_points(W, X)
    if Xt.shape[0] < 2:
        raise ValueError("X needs at least 2 rows: each point picks its "
                         "neighbour among the others.")
    Z = Xt @ Wt.T                                             # (N, L)
    p = _p_chunk(Z, 0, Z.shape[0])                            # (N, N)
    return like_input(p, X)


def nca_loss_grad(W, X, y, chunk_size=None):
    r"""NCA loss -sum_i p_i and its gradient with respect to W.

    Taught in :doc:`chapter 2 </book/chapters/02_linear>` (section 2.3).
    The loss is the *negated* expected number of points classified
    correctly (lower is better; -N is perfect); with z = W x,

    .. math::

       \mathcal{L}(W) = -\sum_i p_i = -\sum_i \sum_{j:\ y_j = y_i} p_{ij},

       \frac{\partial \mathcal{L}}{\partial W}
           = 2 \sum_{ij} A_{ij} (z_i - z_j)(x_i - x_j)^\top,
       \quad A_{ij} = p_{ij} \big([y_j = y_i] - p_i\big),

    the negative of Goldberger et al.'s gradient of sum_i p_i, written for
    all pairs at once.

    Parameters
    ----------
    W : (L, D) array or tensor
        The map.
    X : (N, D) array or tensor
        The points.
    y : (N,) labels
    chunk_size : int, optional
        Anchor rows processed at a time (default: a (chunk, N) block of
        about 2^21 numbers, 16 MB).

    Returns
    -------
    loss : float or 0-d tensor
        The loss.
    grad : (L, D) array or tensor
        Its gradient; numpy for numpy W, tensors for tensor W (computed
        without autograd).
    """
    Wt, Xt = check_map_and_points(W, X)
    yt = check_labels(y, Xt.shape[0], "y", device=Xt.device)
    loss, grad = _nca_loss_grad_t(Wt, Xt, yt, chunk_size)
    return like_input(loss, W), like_input(grad, W)


class NCA(LinearMetricLearner):
    r"""Neighbourhood Components Analysis, a scikit-learn transformer.

    Taught in :doc:`chapter 2 </book/chapters/02_linear>`. Minimises

    .. math::

       \mathcal{L}(W) = -\sum_i \sum_{j:\ y_j = y_i} p_{ij}

    (:func:`nca_probabilities`). Learns W (``components_``, L x D) by
    minimising :func:`nca_loss_grad` with L-BFGS-B (scipy), the loss and
    gradient computed in float64 on ``device``. Defaults follow scikit-learn's
    ``NeighborhoodComponentsAnalysis`` (max_iter=50, tol=1e-5, init="auto"), so
    both reach the same objective from the same start.

    Parameters
    ----------
    n_components : int or None
        L, the output dimension (None: D).
    init : {"auto", "identity", "pca", "lda", "random"} or (L, D) array
        The starting map; see ``initial_transform``.
    max_iter : int
        L-BFGS iterations at most.
    tol : float
        L-BFGS-B's ``ftol`` and ``gtol`` (scipy's ``tol``): stop when the
        loss decreases by less than a relative ``tol`` or the largest
        gradient entry is below it.
    random_state : int or None
        Seed for init="random".
    verbose : bool
        Show a tqdm progress bar with the loss and, as scikit-learn's NCA
        does when verbose, warn (ConvergenceWarning "[NCA] NCA did not
        converge: ...") if L-BFGS stops unconverged, e.g. at ``max_iter``.
    device : {None, "cpu", "cuda", "auto"}
        None: the device of X (CPU for numpy).
    chunk_size : int or None
        Anchor rows per chunk (None: automatic, ~16 MB blocks).

    Attributes
    ----------
    components_
        (L, D) numpy array: the map W; M = ``components_.T @ components_``.
    n_iter_
        int: L-BFGS iterations run.
    loss_history_
        list of float: loss after each iteration.
    classes_
        array: the class labels seen in fit.
    """

    def __init__(self, n_components=None, init="auto", max_iter=50,
                 tol=1e-5, random_state=None, verbose=False, device=None,
                 chunk_size=None):
        self.n_components = n_components
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.device = device
        self.chunk_size = chunk_size

    def fit(self, X, y):
        """Learn W from points X (N, D) and labels y (N,)."""
        device = check_device(self.device, X)
        Xt, yt, self.classes_ = check_supervised(X, y, device)
        if int(self.max_iter) < 1:
            raise ValueError(f"max_iter={self.max_iter} must be >= 1.")
        X_np, y_np = Xt.cpu().numpy(), yt.cpu().numpy()
        with small_work_threads(device, Xt.shape[0] ** 2):
            W0 = initial_transform(self.init, X_np, y_np, self.n_components,
                                   self.random_state)
            W, self.n_iter_, self.loss_history_ = minimize_lbfgs(
                lambda W: _nca_loss_grad_t(W, Xt, yt, self.chunk_size), W0,
                device, max_iter=int(self.max_iter), tol=self.tol,
                verbose=self.verbose, desc="NCA")
        self.components_ = np.ascontiguousarray(W)
        self.n_features_in_ = Xt.shape[1]
        return self
