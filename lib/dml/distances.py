"""Distances between embeddings: Euclidean, cosine, Mahalanobis.

Notation (book, chapter 1): rows of ``X`` are points x_i in R^D; ``M`` is a
positive semi-definite (PSD) D x D matrix; ``W`` is an L x D linear map with
M = W^T W, so that d_M(x, x') = ||W x - W x'||_2 (Murphy, *Probabilistic
Machine Learning: An Introduction*, 2022, Sec. 16.2; the formula the
drug-compound case study of chapter 1 starts from).

Two layers live here:

* torch kernels (``sq_euclidean_matrix``, ``euclidean_matrix``,
  ``cosine_matrix``, ``safe_sqrt``): tensors in, tensors out, differentiable,
  no validation; losses and miners call them inside training loops;
* the public functions (``pairwise_distances`` and friends): numpy or torch
  in, the same kind out, with input validation.
"""
from __future__ import annotations

import torch

from ._arrays import (check_choice, check_matrix, check_psd,
                      check_same_features, like_input, to_tensor)

__all__ = ["METRICS", "pairwise_distances", "paired_distances",
           "cosine_similarity", "mahalanobis", "project_psd", "l2_normalize",
           "sq_euclidean_matrix", "euclidean_matrix", "cosine_matrix",
           "safe_sqrt"]

METRICS = ("euclidean", "sqeuclidean", "cosine", "mahalanobis")


# ----------------------------------------------------------------------------
# torch kernels (no validation, autograd-friendly)
# ----------------------------------------------------------------------------
def safe_sqrt(d2: torch.Tensor) -> torch.Tensor:
    r"""sqrt(d2) whose gradient is 0 (not inf or NaN) where d2 == 0.

    Taught in :doc:`chapter 1 </book/chapters/01_distances>`. The derivative
    of the square root,

    .. math::

       \frac{d}{dx} \sqrt{x} = \frac{1}{2 \sqrt{x}},

    blows up at 0, which happens on the diagonal of every distance matrix
    and whenever two embeddings coincide. The inner ``where`` keeps the 0
    entries away from sqrt's backward pass.

    Parameters
    ----------
    d2 : tensor
        Squared distances, >= 0 (any shape).

    Returns
    -------
    tensor
        sqrt(d2), with gradient 0 where d2 == 0.
    """
    positive = d2 > 0
    root = torch.where(positive, d2, torch.ones_like(d2)).sqrt()
    return torch.where(positive, root, torch.zeros_like(d2))


def sq_euclidean_matrix(A: torch.Tensor, B: torch.Tensor | None = None,
                        M: torch.Tensor | None = None) -> torch.Tensor:
    r"""Squared (Mahalanobis) distances between rows, by the Gram trick.

    Taught in :doc:`chapter 1 </book/chapters/01_distances>`. For a row a
    of A and b of B (M = I if not given):

    .. math::

       \lVert a - b \rVert_M^2 = a^\top M a + b^\top M b - 2\, a^\top M b.

    Both sets are first centred on the mean of B (of A when B is None):
    distances do not change, the cancellation error of the Gram trick
    shrinks with the norms, and a chunk of queries against a fixed gallery
    gets the same numbers whatever the chunking. The
    result is clamped at 0 (round-off can make it slightly negative) and,
    when B is None, its diagonal is exactly 0.

    Parameters
    ----------
    A : (N, D) tensor
        The rows a_i.
    B : (K, D) tensor or None
        The rows b_j; None compares A with itself.
    M : (D, D) PSD tensor or None
        The metric matrix M; None is the identity.

    Returns
    -------
    (N, K) tensor
        The squared distances, >= 0; no input validation.
    """
    same = B is None
    mu = (A if same else B).mean(0, keepdim=True)
    A = A - mu
    B = A if same else B - mu
    AM = A if M is None else A @ M                      # (N, D)
    BM = B if M is None else B @ M                      # (K, D)
    a2 = (AM * A).sum(1, keepdim=True)                  # (N, 1)
    b2 = a2.T if same else (BM * B).sum(1)[None, :]     # (1, K)
    # a2 + b2 - 2 A M B^T in one fused product and one in-place add
    d2 = torch.addmm(b2, AM, B.T, alpha=-2.0).add_(a2)  # (N, K)
    d2 = d2.clamp_min_(0.0) if not d2.requires_grad else d2.clamp_min(0.0)
    if same and d2.requires_grad:
        eye = torch.eye(d2.shape[0], dtype=torch.bool, device=d2.device)
        d2 = d2.masked_fill(eye, 0.0)
    elif same:                          # no graph to keep: in place
        d2.fill_diagonal_(0.0)
    return d2


def euclidean_matrix(A: torch.Tensor, B: torch.Tensor | None = None,
                     M: torch.Tensor | None = None) -> torch.Tensor:
    r"""Distances between rows, with a finite gradient where points coincide.

    Taught in :doc:`chapter 1 </book/chapters/01_distances>`: the square root
    (:func:`safe_sqrt`) of :func:`sq_euclidean_matrix`,

    .. math::

       \begin{aligned}
       d_M(a_i, b_j) &= \lVert a_i - b_j \rVert_M \\
           &= \sqrt{(a_i - b_j)^\top M (a_i - b_j)}.
       \end{aligned}

    Parameters
    ----------
    A : (N, D) tensor
        The rows a_i.
    B : (K, D) tensor or None
        The rows b_j; None compares A with itself.
    M : (D, D) PSD tensor or None
        The metric matrix M; None is the identity (Euclidean distance).

    Returns
    -------
    (N, K) tensor
        The distances; no input validation.
    """
    return safe_sqrt(sq_euclidean_matrix(A, B, M))


def _unit(A: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    return A / A.norm(dim=-1, keepdim=True).clamp_min(eps)


def cosine_matrix(A: torch.Tensor,
                  B: torch.Tensor | None = None) -> torch.Tensor:
    r"""Cosine similarities cos(a_i, b_j) of the rows of A and B, a tensor.

    Taught in :doc:`chapter 1 </book/chapters/01_distances>`:

    .. math::

       \cos(a_i, b_j) = \frac{a_i \cdot b_j}
                              {\lVert a_i \rVert\, \lVert b_j \rVert}
                       \in [-1, 1].

    A zero vector has similarity 0 with everything (scipy returns NaN).

    Parameters
    ----------
    A : (N, D) tensor
        The rows a_i.
    B : (K, D) tensor or None
        The rows b_j; None compares A with itself.

    Returns
    -------
    (N, K) tensor
        The similarities; no input validation.
    """
    An = _unit(A)
    Bn = An if B is None else _unit(B)
    return (An @ Bn.T).clamp(-1.0, 1.0)


# ----------------------------------------------------------------------------
# public, validated functions
# ----------------------------------------------------------------------------
def _common(ref: torch.Tensor, other, name: str) -> torch.Tensor:
    """Convert ``other`` to a tensor on ``ref``'s device and dtype."""
    t = to_tensor(other, name)
    dtype = torch.promote_types(ref.dtype, t.dtype)
    return t.to(device=ref.device, dtype=dtype)


def _two_sets(X, Y):
    """Validate X (N, D) and optional Y (K, D); give both one float dtype."""
    Xt = check_matrix(to_tensor(X, "X"), "X")
    if Y is None:
        return Xt, None
    Yt = check_matrix(_common(Xt, Y, "Y"), "Y")
    check_same_features(Xt, Yt, "X", "Y")
    return Xt.to(Yt.dtype), Yt


def _check_metric(metric):
    check_choice(metric, "metric", METRICS)


def _metric_matrix(M, W, Xt, name_m="M", name_w="W"):
    """Return (M, W) as validated tensors; exactly one may be given."""
    if M is not None and W is not None:
        raise ValueError("pass either M or W (with M = W.T @ W), not both.")
    if M is None and W is None:
        raise ValueError("metric='mahalanobis' needs M (a PSD (D, D) matrix) "
                         "or W (an (L, D) transform).")
    D = Xt.shape[1]
    if W is not None:
        W = check_matrix(_common(Xt, W, name_w), name_w)
        if W.shape[1] != D:
            raise ValueError(f"{name_w} has shape {tuple(W.shape)}; it must "
                             f"be (L, {D}) to map the {D} features of X.")
        return None, W
    M = check_psd(_common(Xt, M, name_m), name_m)
    if M.shape[0] != D:
        raise ValueError(f"{name_m} has shape {tuple(M.shape)}; it must be "
                         f"({D}, {D}) to match the {D} features of X.")
    return M, None


def pairwise_distances(X, Y=None, metric: str = "euclidean", *, M=None,
                       W=None):
    r"""Matrix of distances d(x_i, y_j) between the rows of X and Y.

    Taught in :doc:`chapter 1 </book/chapters/01_distances>`. The metrics are

    .. math::

       \begin{aligned}
       \text{euclidean:} \quad & \lVert x - y \rVert_2 \\
       \text{sqeuclidean:} \quad & \lVert x - y \rVert_2^2 \\
       \text{cosine:} \quad & 1 - \cos(x, y) \\
       \text{mahalanobis:} \quad & \sqrt{(x - y)^\top M (x - y)} \\
           & = \lVert W x - W y \rVert_2
       \end{aligned}

    with M = W^T W. The cosine distance lies in [0, 2]; it is a distance,
    not a similarity (:func:`cosine_similarity`).

    Parameters
    ----------
    X : (N, D) array or tensor
        The points x_i.
    Y : (K, D) array or tensor, optional
        The points y_j. Defaults to X; then the diagonal is exactly 0.
    metric : {"euclidean", "sqeuclidean", "cosine", "mahalanobis"}
        Which of the distances above.
    M : (D, D) PSD array or tensor, optional
        The matrix M, for metric="mahalanobis".
    W : (L, D) array or tensor, optional
        The transform W (M = W^T W), for metric="mahalanobis"; give M or
        W, not both.

    Returns
    -------
    (N, K) array or tensor
        The distances: numpy if X was numpy, else a tensor on X's device.
        Gradients flow through torch inputs; the Euclidean distance has a
        finite (zero) gradient where two points coincide.
    """
    Xt, Yt = _two_sets(X, Y)
    _check_metric(metric)
    if metric != "mahalanobis" and (M is not None or W is not None):
        raise ValueError(f"M and W are only used with metric='mahalanobis', "
                         f"not metric={metric!r}.")
    if metric == "sqeuclidean":
        D = sq_euclidean_matrix(Xt, Yt)
    elif metric == "euclidean":
        D = euclidean_matrix(Xt, Yt)
    elif metric == "cosine":
        D = 1.0 - cosine_matrix(Xt, Yt)
        if Yt is None:
            eye = torch.eye(D.shape[0], dtype=torch.bool, device=D.device)
            D = D.masked_fill(eye, 0.0)
    else:
        M_t, W_t = _metric_matrix(M, W, Xt)
        if W_t is not None:
            D = euclidean_matrix(Xt @ W_t.T, None if Yt is None
                                 else Yt @ W_t.T)
        else:
            D = euclidean_matrix(Xt, Yt, M_t)
    return like_input(D, X)


def paired_distances(X, Y, metric: str = "euclidean", *, M=None, W=None):
    r"""Distances d(x_i, y_i) between matching rows: shape (N,).

    Taught in :doc:`chapter 1 </book/chapters/01_distances>`. Row i of X
    against row i of Y only, the diagonal of :func:`pairwise_distances`:

    .. math::

       d_i = d(x_i, y_i), \qquad i = 1, \dots, N.

    Same metrics and conventions (and the same M or W) as
    :func:`pairwise_distances`; used for the anchor-positive distances
    d_ap of a batch of pairs.
    """
    if Y is None:
        raise ValueError("Y is required: paired distances compare row i of "
                         "X with row i of Y.")
    Xt, Yt = _two_sets(X, Y)
    if Xt.shape[0] != Yt.shape[0]:
        raise ValueError(f"X has {Xt.shape[0]} rows and Y has "
                         f"{Yt.shape[0]}; paired distances need the same "
                         "number of rows.")
    _check_metric(metric)
    if metric == "cosine":
        d = 1.0 - (_unit(Xt) * _unit(Yt)).sum(1).clamp(-1.0, 1.0)
        return like_input(d, X)
    diff = Xt - Yt                                      # (N, D)
    if metric == "mahalanobis":
        M_t, W_t = _metric_matrix(M, W, Xt)
        diff = diff @ W_t.T if W_t is not None else diff
        d2 = (diff * diff).sum(1) if M_t is None else \
            ((diff @ M_t) * diff).sum(1).clamp_min(0.0)
    else:
        d2 = (diff * diff).sum(1)
    d = d2 if metric == "sqeuclidean" else safe_sqrt(d2)
    return like_input(d, X)


def cosine_similarity(X, Y=None):
    r"""Matrix of cosine similarities cos(x_i, y_j) of the rows, in [-1, 1].

    Taught in :doc:`chapter 1 </book/chapters/01_distances>`:

    .. math::

       \cos(x_i, y_j) = \frac{x_i \cdot y_j}
                              {\lVert x_i \rVert\, \lVert y_j \rVert}.

    Y defaults to X; numpy in, numpy out. A zero row has similarity 0 with
    every row.
    """
    Xt, Yt = _two_sets(X, Y)
    return like_input(cosine_matrix(Xt, Yt), X)


def mahalanobis(x, y, M):
    r"""Mahalanobis distance d_M(x, y) = sqrt((x - y)^T M (x - y)).

    Taught in :doc:`chapter 1 </book/chapters/01_distances>`:

    .. math::

       d_M(x, y) = \sqrt{(x - y)^\top M (x - y)}.

    ``x`` and ``y`` are two vectors of length D (a scalar comes back) or two
    (N, D) arrays compared row by row (N distances come back). ``M`` must be
    PSD (D, D); M = I gives the Euclidean distance and M = Sigma^{-1} the
    classical Mahalanobis distance of a Gaussian with covariance Sigma.
    """
    xt = to_tensor(x, "x")
    if xt.ndim not in (1, 2):
        raise ValueError(f"x must be a vector (D,) or a matrix (N, D), got "
                         f"shape {tuple(xt.shape)}.")
    vector = xt.ndim == 1
    xt = check_matrix(xt.reshape(1, -1) if vector else xt, "x")
    yt = _common(xt, y, "y")
    if yt.shape != (xt.shape if not vector else (xt.shape[1],)):
        raise ValueError(f"y has shape {tuple(yt.shape)} but x has shape "
                         f"{tuple(to_tensor(x, 'x').shape)}; they must match.")
    yt = check_matrix(yt.reshape(1, -1) if vector else yt, "y")
    d = paired_distances(xt.to(yt.dtype), yt, "mahalanobis", M=M)
    d = d[0] if vector else d
    return like_input(d, x)


def project_psd(M):
    r"""Nearest PSD matrix to M in Frobenius norm: clip negative eigenvalues.

    Taught in :doc:`chapter 1 </book/chapters/01_distances>`. With the
    eigendecomposition V Lambda V^T, Lambda = diag(lambda), of the
    symmetric part S of M:

    .. math::

       \begin{aligned}
       S &= \tfrac{1}{2} (M + M^\top) = V \Lambda V^\top, \\
       \Pi_{\mathrm{PSD}}(M) &= V \max(\Lambda, 0)\, V^\top.
       \end{aligned}

    This is the projection step of the projected gradient method of Xing,
    Ng, Jordan and Russell (2002), as presented in Nguyen's lecture slides
    (Distance Metric Learning, MML 2023). The result is exactly symmetric.
    It is PSD, so d_M is a pseudo-metric; a metric only if it is also
    positive definite, which it never is when (M + M^T) / 2 had a negative
    eigenvalue (that eigenvalue becomes 0).
    """
    Mt = to_tensor(M, "M")
    if Mt.ndim != 2 or Mt.shape[0] != Mt.shape[1] or Mt.shape[0] == 0:
        raise ValueError(f"M must be a non-empty square (D, D) matrix, got "
                         f"shape {tuple(Mt.shape)}.")
    check_matrix(Mt, "M")
    S = 0.5 * (Mt + Mt.T)
    lam, V = torch.linalg.eigh(S)
    P = (V * lam.clamp_min(0.0)) @ V.T                  # (D, D)
    return like_input(0.5 * (P + P.T), M)


def l2_normalize(X, eps: float = 1e-12):
    r"""Scale every row to unit Euclidean norm: x / max(norm(x), eps).

    Taught in :doc:`chapter 1 </book/chapters/01_distances>`:

    .. math::

       \hat{x} = \frac{x}{\max(\lVert x \rVert_2, \varepsilon)}.

    On the unit sphere Euclidean and cosine distances order neighbours the
    same way, since

    .. math::

       \lVert u - v \rVert_2^2 = 2 - 2 \cos(u, v).

    A zero row stays 0.
    """
    Xt = to_tensor(X, "X")
    if Xt.ndim not in (1, 2):
        raise ValueError(f"X must be a vector (D,) or a matrix (N, D), got "
                         f"shape {tuple(Xt.shape)}.")
    if Xt.numel() == 0:
        raise ValueError("X is empty; it needs at least one value.")
    check_matrix(Xt.reshape(1, -1) if Xt.ndim == 1 else Xt, "X")
    return like_input(_unit(Xt, eps), X)
