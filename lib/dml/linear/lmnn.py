"""Large Margin Nearest Neighbours (Weinberger & Saul, 2009; book ch. 2).

Each point i gets k *target neighbours* j (same class, nearest in the
starting metric) and keeps them while W is learned. With
d_ij = ||W x_i - W x_j|| the loss is (Weinberger & Saul, 2009; the margin
is on squared distances, as in the paper)

    loss(W) = (1 - mu) sum_{i, j in T(i)} d_ij^2
              + mu sum_{i, j in T(i), l: y_l != y_i}
                   [margin + d_ij^2 - d_il^2]_+

the *pull* term drawing target neighbours in, the *push* term driving
every impostor l at least ``margin`` beyond them. ``mu`` is the paper's
mu (the drug-compound case study calls it lambda).

The hinge runs over all (i, j, l), a chunk of c anchors at a time: memory
is O(chunk * k * N) at most and nothing of size N * k * N exists at once;
within a chunk, only impostors close enough to break a margin are expanded
over the k targets (an exact filter), and the gradient is accumulated
over those pairs alone.
Impostors are found afresh at every evaluation; only triplets with a
positive hinge contribute to loss and gradient.
"""
from __future__ import annotations

import numpy as np
import torch

from .._arrays import (check_labels, check_matrix, check_positive_int,
                       like_input, to_tensor)
from ..neighbors import nearest_neighbors
from ._base import (LinearMetricLearner, check_device,
                    centred_rows, check_map_and_points, check_supervised,
                    chunk_rows, chunk_sq_dists, initial_transform,
                    minimize_lbfgs, small_work_threads,
                    sparse_sq_dist_grad, weighted_sq_dist_grad)

__all__ = ["lmnn_target_neighbors", "lmnn_loss_grad", "LMNN"]


def _check_class_sizes(y: torch.Tensor, k: int, classes) -> None:
    """Every class needs k + 1 points (``y`` coded 0..C-1)."""
    counts = torch.bincount(y)
    small = (counts < k + 1).nonzero().flatten().tolist()
    if small:
        c = small[0]
        raise ValueError(f"class {classes[c]!r} has {int(counts[c])} "
                         f"sample(s) but k={k} target neighbours need at "
                         f"least k + 1 = {k + 1} per class; lower k, or "
                         "drop or merge the small classes.")


def _target_neighbors_t(X: torch.Tensor, y: torch.Tensor, k: int):
    """(N, k) indices of the k nearest same-class points of every point."""
    targets = torch.empty(X.shape[0], k, dtype=torch.int64, device=X.device)
    for c in torch.unique(y).tolist():                 # loop over classes
        members = (y == c).nonzero().flatten()         # (n_c,)
        _, idx = nearest_neighbors(X[members], k=k)    # (n_c, k), leave-out
        targets[members] = members[idx]
    return targets


def lmnn_target_neighbors(X, y, k: int = 3):
    r"""Target neighbours T(i): the k nearest points of i's own class.

    Taught in :doc:`chapter 2 </book/chapters/02_linear>`:

    .. math::

       T(i) = \mathcal{N}_k\big(x_i;\ \{x_j : y_j = y_i,\ j \ne i\}\big).

    Euclidean distance in the space of X (apply the starting map first to
    use another metric); a point is never its own neighbour; ties go to
    the smaller index (:func:`dml.nearest_neighbors`).

    Parameters
    ----------
    X : (N, D) array or tensor
        The points.
    y : (N,) labels
        Every class needs at least k + 1 points.
    k : int
        Target neighbours per point.

    Returns
    -------
    (N, k) int64 array
        Indices of each point's targets, nearest first (a tensor for
        tensor X).
    """
    Xt = check_matrix(to_tensor(X, "X"), "X")
    k = check_positive_int(k, "k")
    yt = check_labels(y, Xt.shape[0], "y", device=Xt.device)
    classes, y_code = torch.unique(yt, return_inverse=True)
    _check_class_sizes(y_code, k, classes.tolist())
    return like_input(_target_neighbors_t(Xt, yt, k), X)


def _triplet_terms(r, l, d_il2, rows, T, d_ij2, mu, margin, Z, G_Z):
    """Loss of the anchors ``rows`` (c,); adds its gradient to G_Z.

    T, d_ij2 : (c, k) targets and their squared distances; (r, l, d_il2):
    impostor candidates, r indexing ``rows``, l a row of Z, d_il2 (n,).
    Every triplet with a positive hinge must be among the candidates.
    """
    h = margin + d_ij2[r] - d_il2[:, None]                    # (n, k)
    active = (h > 0).to(Z.dtype)                              # (n, k)
    loss = (1 - mu) * d_ij2.sum() + mu * (h * active).sum()
    # d loss / d d_il^2 = -mu * #{j: (i, j, l) active}
    a_il = -mu * active.sum(1)                                # (n,)
    # d loss / d d_ij^2 = (1 - mu) + mu * #{l: (i, j, l) active}
    n_j = torch.zeros_like(d_ij2).index_add_(0, r, active)    # (c, k)
    a_ij = (1 - mu) + mu * n_j                                # (c, k)
    i = torch.cat([rows[r], rows.repeat_interleave(T.shape[1])])
    j = torch.cat([l, T.reshape(-1)])
    sparse_sq_dist_grad(i, j, torch.cat([a_il, a_ij.reshape(-1)]), Z, G_Z)
    return loss


def _dense_triplet_terms(d2, impostor, start, T, d_ij2, mu, margin, Z,
                         G_Z):
    """:func:`_triplet_terms` over every (i, l) of the chunk: a (c, N, k)
    hinge instead of a candidate list. The same numbers, with no output
    sized by the data, so no host synchronisation (the path for a GPU).
    """
    c, k = T.shape
    h = margin + d_ij2[:, None, :] - d2[:, :, None]           # (c, N, k)
    active = ((h > 0) & impostor[:, :, None]).to(Z.dtype)     # (c, N, k)
    loss = (1 - mu) * d_ij2.sum() + mu * (h * active).sum()
    # d loss / d d_il^2 = -mu * #{j: (i, j, l) active}: a dense (c, N)
    weighted_sq_dist_grad(-mu * active.sum(2), Z, start, G_Z)
    # d loss / d d_ij^2 = (1 - mu) + mu * #{l: (i, j, l) active}
    a_ij = (1 - mu) + mu * active.sum(1)                      # (c, k)
    rows = torch.arange(start, start + c, device=Z.device)
    sparse_sq_dist_grad(rows.repeat_interleave(k), T.reshape(-1),
                        a_ij.reshape(-1), Z, G_Z)
    return loss


@torch.no_grad()
def _lmnn_loss_grad_t(W, X, y, targets, mu, margin, chunk_size=None,
                      method=None):
    """Tensor core of :func:`lmnn_loss_grad` (inputs already checked).

    Per chunk of anchors: one (c, N) distance block. ``method``
    "candidates" (the CPU's default): an impostor l can only break a
    margin if d_il^2 < margin + max_j d_ij^2, so only those (i, l) are
    expanded over the k targets -- an exact shortcut (every active
    triplet is a candidate), but the list's length is data, one host
    synchronisation per chunk on a GPU. "dense" (a GPU's default): the
    hinge over every (i, l, j) of the chunk, k times the memory of the
    block (chunks are k + 1 times smaller) and no synchronisation.
    """
    N, k = targets.shape
    if method is None:
        method = "candidates" if X.device.type == "cpu" else "dense"
    Z = X @ W.T                                               # (N, L)
    G_Z = torch.zeros_like(Z)                                 # dloss/dZ
    loss = torch.zeros((), dtype=Z.dtype, device=Z.device)
    per_row = N * (k + 1) if method == "dense" else N
    step = chunk_rows(N, per_row, chunk_size, Z.device, Z.element_size())
    Zc, z2 = centred_rows(Z)                    # once, for every chunk
    for start in range(0, N, step):                           # chunks only
        stop = min(start + step, N)
        T = targets[start:stop]                               # (c, k)
        d2 = chunk_sq_dists(Zc, z2, start, stop)              # (c, N)
        d_ij2 = d2.gather(1, T)                               # (c, k)
        impostor = y[start:stop, None] != y[None, :]          # (c, N)
        if method == "dense":
            loss = loss + _dense_triplet_terms(d2, impostor, start, T,
                                               d_ij2, mu, margin, Z, G_Z)
            continue
        rows = torch.arange(start, stop, device=Z.device)
        t_i2 = d_ij2.max(1, keepdim=True).values              # (c, 1)
        close = d2 < margin + t_i2             # could break a margin
        r, l = (close & impostor).nonzero(as_tuple=True)
        loss = loss + _triplet_terms(r, l, d2[r, l], rows, T, d_ij2, mu,
                                     margin, Z, G_Z)
    return loss, G_Z.T @ X                                    # (L, D)


def _check_mu_margin(mu, margin):
    if not 0.0 <= float(mu) <= 1.0:
        raise ValueError(f"mu={mu} must lie in [0, 1] (the weight of the "
                         "push term; 0.5 weighs pull and push equally).")
    if not float(margin) > 0.0:
        raise ValueError(f"margin={margin} must be > 0 (the gap, in "
                         "squared distance, between targets and impostors).")


def lmnn_loss_grad(W, X, y, targets, mu: float = 0.5, margin: float = 1.0,
                   chunk_size=None):
    r"""LMNN loss and its gradient with respect to the map W (M = W^T W).

    Taught in :doc:`chapter 2 </book/chapters/02_linear>` (section 2.2).
    With z = W x and d_ij = ||z_i - z_j||:

    .. math::

       \mathcal{L}(W) = {} & (1 - \mu) \sum_{i,\ j \in T(i)} d_{ij}^2 \\
           & + \mu \sum_{i,\ j \in T(i),\ l:\ y_l \ne y_i}
             \big[m + d_{ij}^2 - d_{il}^2\big]_+

       \frac{\partial \mathcal{L}}{\partial W}
           = 2 \sum_{ij} A_{ij} (z_i - z_j)(x_i - x_j)^\top

    where A_ij (the derivative with respect to d_ij^2) is
    (1 - mu) + mu * (active hinges using target j) for a target pair and
    -mu * (active hinges using impostor j) for an impostor pair: the
    derivation of the book's section 2.2, steps 2 and 3, summed over all
    triplets at once.

    Parameters
    ----------
    W : (L, D) array or tensor
        The map.
    X : (N, D) array or tensor
        The points.
    y : (N,) labels
    targets : (N, k) int array
        Target neighbours, from :func:`lmnn_target_neighbors`.
    mu : float
        Weight of the push term (Weinberger & Saul's mu).
    margin : float
        m in the equation.
    chunk_size : int, optional
        Anchors per chunk (default: a (chunk, N) block of about 2^21
        numbers).

    Returns
    -------
    loss : float or tensor
        The loss.
    grad : (L, D) array or tensor
        Its gradient; numpy for numpy W, tensors for tensor W (computed
        without autograd).

    Notes
    -----
    At a hinge's kink (h = 0) the inactive side's (zero) subgradient is
    used.
    """
    Wt, Xt = check_map_and_points(W, X)
    yt = check_labels(y, Xt.shape[0], "y", device=Xt.device)
    Tt = to_tensor(targets, "targets", floating=False).to(Xt.device)
    if Tt.ndim != 2 or Tt.shape[0] != Xt.shape[0] or \
            Tt.is_floating_point():
        raise ValueError(f"targets must be an (N, k) = ({Xt.shape[0]}, k) "
                         f"integer array, got shape {tuple(Tt.shape)}; build "
                         "it with lmnn_target_neighbors(X, y, k).")
    if Tt.numel() and (Tt.min() < 0 or Tt.max() >= Xt.shape[0]):
        raise ValueError("targets holds indices outside 0..N-1; they must "
                         "be row indices of X.")
    _check_mu_margin(mu, margin)
    loss, grad = _lmnn_loss_grad_t(Wt, Xt, yt, Tt.to(torch.int64), float(mu),
                                   float(margin), chunk_size)
    return like_input(loss, W), like_input(grad, W)


class LMNN(LinearMetricLearner):
    r"""Large Margin Nearest Neighbours, a scikit-learn transformer.

    Taught in :doc:`chapter 2 </book/chapters/02_linear>`. Weinberger &
    Saul (2009): each point i keeps k target neighbours T(i) and W
    minimises, with d_ij = ||W x_i - W x_j|| and margin m,

    .. math::

       & (1 - \mu) \sum_{i,\ j \in T(i)} d_{ij}^2 \\
       & + \mu \sum_{i,\ j \in T(i),\ l:\ y_l \ne y_i}
         \big[m + d_{ij}^2 - d_{il}^2\big]_+ .

    Solver: L-BFGS-B (scipy) on the map W itself, with the exact loss and
    gradient of :func:`lmnn_loss_grad` recomputed (impostors included) at
    every evaluation. Why not the paper's projected (sub)gradient descent
    on M? Optimising W keeps M = W^T W PSD by construction, so no D x D
    eigendecomposition per step; L-BFGS needs no step size to tune and
    converges in tens to hundreds of evaluations where plain gradient
    descent needs thousands. The price: the problem in W is not convex, so
    the answer depends on ``init`` (the paper's problem in M is convex).
    The hinge makes the loss piecewise smooth; L-BFGS copes well with the
    kinks in practice, and stops on ``tol`` or ``max_iter``.

    Parameters
    ----------
    n_components : int or None
        L, the output dimension (None: D).
    k : int
        Target neighbours per point (metric-learn's n_neighbors).
    mu : float
        Weight of the push term, in [0, 1] (Weinberger & Saul's mu, the
        drug-compound case study's lambda).
    margin : float
        The margin m on squared distances (1 in the paper).
    init : {"auto", "identity", "pca", "lda", "random"} or (L, D) array
        The starting map W_0. The target neighbours are the nearest
        same-class points after W_0 (Euclidean for init="identity" or
        full "pca").
    max_iter, tol : int, float
        L-BFGS iterations at most; scipy's tol (relative loss decrease per
        iteration and largest gradient entry), as in :class:`NCA`. The
        default tol=1e-4 is ten times NCA's: the hinge sum has a long flat
        tail in which each iteration lowers the loss by 1e-5..1e-4
        (relative) without moving a neighbour. On digits, tol=1e-4 stops
        after 60-85 iterations with the kNN accuracy of a 200-iteration
        run (three splits), in a third of the time.
    random_state, verbose, device, chunk_size
        As in :class:`NCA`.

    Attributes
    ----------
    components_
        (L, D) array: the learned map W.
    targets_
        (N, k) int array: the target neighbours.
    n_iter_
        int: L-BFGS iterations run.
    loss_history_
        list of float: loss after each iteration.
    classes_
        array: the class labels seen in fit.
    """

    def __init__(self, n_components=None, k=3, mu=0.5, margin=1.0,
                 init="auto", max_iter=200, tol=1e-4, random_state=None,
                 verbose=False, device=None, chunk_size=None):
        self.n_components = n_components
        self.k = k
        self.mu = mu
        self.margin = margin
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
        k = check_positive_int(self.k, "k")
        _check_class_sizes(yt, k, self.classes_.tolist())
        _check_mu_margin(self.mu, self.margin)
        if int(self.max_iter) < 1:
            raise ValueError(f"max_iter={self.max_iter} must be >= 1.")
        with small_work_threads(device, Xt.shape[0] ** 2):
            W, targets = self._fit(Xt, yt, k, device)
        self.components_ = np.ascontiguousarray(W)
        self.targets_ = targets.cpu().numpy()
        self.n_features_in_ = Xt.shape[1]
        return self

    def _fit(self, Xt, yt, k, device):
        """Starting map, target neighbours, then L-BFGS on W."""
        X_np, y_np = Xt.cpu().numpy(), yt.cpu().numpy()
        W0 = initial_transform(self.init, X_np, y_np, self.n_components,
                               self.random_state)
        W0_t = torch.as_tensor(W0, device=device)
        targets = _target_neighbors_t(Xt @ W0_t.T, yt, k)     # (N, k)
        W, self.n_iter_, self.loss_history_ = minimize_lbfgs(
            lambda W: _lmnn_loss_grad_t(W, Xt, yt, targets, float(self.mu),
                                        float(self.margin), self.chunk_size),
            W0, device, max_iter=int(self.max_iter), tol=self.tol,
            verbose=self.verbose, desc="LMNN")
        return W, targets
