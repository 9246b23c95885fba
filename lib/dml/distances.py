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
  in, the same kind out, with input validation;
* distance objects (``LpDistance``, ``CosineSimilarity``,
  ``DotProductSimilarity``) with the names, defaults and attributes of
  pytorch-metric-learning 2.9's ``distances`` module: what a loss or a
  miner takes as ``distance=``. They are built on the torch kernels.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ._arrays import (check_choice, check_matrix, check_psd,
                      check_same_features, like_input, to_tensor)

__all__ = ["METRICS", "pairwise_distances", "paired_distances",
           "cosine_similarity", "mahalanobis", "project_psd", "l2_normalize",
           "sq_euclidean_matrix", "euclidean_matrix", "cosine_matrix",
           "safe_sqrt", "BaseDistance", "LpDistance", "CosineSimilarity",
           "DotProductSimilarity"]

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


# ----------------------------------------------------------------------------
# distance objects (pytorch-metric-learning's names and semantics)
# ----------------------------------------------------------------------------
class BaseDistance(torch.nn.Module):
    r"""A distance or similarity between rows, as a loss or miner takes it.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`. The names,
    defaults and attributes are those of pytorch-metric-learning 2.9's
    ``BaseDistance``:

    * ``distance(query_emb, ref_emb=None)`` returns the (Q, R) matrix
      m_ij = f(q_i, r_j)^power, after scaling every row to unit p-norm when
      ``normalize_embeddings``; ``ref_emb=None`` compares the queries with
      themselves (then a distance has an exactly zero diagonal);
    * ``is_inverted`` says which way is "closer": False for a distance
      (smaller = closer), True for a similarity (larger = closer);
    * ``margin(x, y)`` is how far x is beyond y in the direction of
      "farther": x - y for a distance, y - x for a similarity. A loss
      written for distances, [d_ap - d_an + m]_+ = [margin(d_ap, d_an) +
      m]_+, then reads [s_an - s_ap + m]_+ for a similarity;
    * ``smallest_dist`` / ``largest_dist``: ``torch.min`` / ``torch.max``
      for a distance and the other way round for a similarity (the
      closest / farthest of several);
    * ``pairwise_distance(query, ref)``: f of matching rows, (N,), on the
      rows as given (no normalisation, no power), as in pml.

    Parameters
    ----------
    normalize_embeddings : bool
        Scale each row x to x / max(||x||_p, 1e-12) first (pml's default,
        True).
    p : float
        The norm of the normalisation (and of :class:`LpDistance`).
    power : float
        Raise every entry of the matrix to this power (1: unchanged).
    is_inverted : bool
        True for a similarity (larger = closer).
    """

    def __init__(self, normalize_embeddings: bool = True, p: float = 2,
                 power: float = 1, is_inverted: bool = False):
        super().__init__()
        self.normalize_embeddings = bool(normalize_embeddings)
        self.p, self.power = p, power
        self.is_inverted = bool(is_inverted)

    # -- the matrix -------------------------------------------------------
    def forward(self, query_emb: torch.Tensor,
                ref_emb: torch.Tensor | None = None) -> torch.Tensor:
        self._check_shapes(query_emb, ref_emb)
        q = self.maybe_normalize(query_emb)
        r = None if ref_emb is None else self.maybe_normalize(ref_emb)
        return self._powered(self.compute_mat(q, r))        # (Q, R)

    def compute_mat(self, query_emb, ref_emb=None):
        """(Q, R) values on rows already normalised; None: with itself."""
        raise NotImplementedError

    def pairwise_distance(self, query_emb, ref_emb):
        """f(q_i, r_i) of matching rows, (N,); no normalisation, no power
        (pml's ``pairwise_distance``)."""
        raise NotImplementedError

    def paired(self, query_emb, ref_emb, *, normalized: bool = False):
        """The diagonal of ``self(query_emb, ref_emb)`` without the matrix:
        normalisation (skipped when the rows are ``normalized`` already),
        f of matching rows, power; (N,)."""
        q, r = (query_emb, ref_emb) if normalized else \
            (self.maybe_normalize(query_emb), self.maybe_normalize(ref_emb))
        return self._powered(self.pairwise_distance(q, r))

    def _powered(self, mat):
        return mat if self.power == 1 else mat ** self.power

    # -- direction ----------------------------------------------------------
    def margin(self, x, y):
        """x - y for a distance, y - x for a similarity (pml)."""
        return y - x if self.is_inverted else x - y

    def smallest_dist(self, *args, **kwargs):
        """The closest: torch.min for a distance, torch.max if inverted."""
        return (torch.max if self.is_inverted else torch.min)(*args,
                                                               **kwargs)

    def largest_dist(self, *args, **kwargs):
        """The farthest: torch.max for a distance, torch.min if inverted."""
        return (torch.min if self.is_inverted else torch.max)(*args,
                                                               **kwargs)

    # -- normalisation ------------------------------------------------------
    def normalize(self, embeddings, dim: int = 1):
        """x / max(||x||_p, 1e-12) along ``dim`` (``F.normalize``)."""
        return F.normalize(embeddings, p=self.p, dim=dim)

    def maybe_normalize(self, embeddings, dim: int = 1):
        """:meth:`normalize` if ``normalize_embeddings``, else unchanged."""
        if self.normalize_embeddings:
            return self.normalize(embeddings, dim=dim)
        return embeddings

    def get_norm(self, embeddings, dim: int = 1):
        """||x||_p of each row (``dim=1``) or column (``dim=0``)."""
        return torch.linalg.vector_norm(embeddings, ord=self.p, dim=dim)

    @staticmethod
    def _check_shapes(query_emb, ref_emb):
        for name, t in (("query_emb", query_emb), ("ref_emb", ref_emb)):
            if t is None and name == "ref_emb":
                continue
            if not isinstance(t, torch.Tensor) or t.ndim != 2:
                raise ValueError(f"{name} must be a 2-D tensor (batch_size, "
                                 "embedding_size), got "
                                 f"{getattr(t, 'shape', type(t).__name__)}.")
        if ref_emb is not None and ref_emb.shape[1] != query_emb.shape[1]:
            raise ValueError(f"query_emb has {query_emb.shape[1]} features "
                             f"and ref_emb {ref_emb.shape[1]}; they must "
                             "match.")

    def extra_repr(self) -> str:
        return (f"normalize_embeddings={self.normalize_embeddings}, "
                f"p={self.p}, power={self.power}, "
                f"is_inverted={self.is_inverted}")


class LpDistance(BaseDistance):
    r"""The Lp distance ||q - r||_p between rows, smaller = closer.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`.
    pytorch-metric-learning's ``LpDistance`` with its defaults (p = 2,
    power = 1, normalised rows):

    .. math::

       m_{ij} = \Big\lVert \frac{q_i}{\lVert q_i \rVert_p}
                - \frac{r_j}{\lVert r_j \rVert_p} \Big\rVert_p^{\,power}.

    On unit vectors (p = 2) this is sqrt(2 - 2 cos). p = 2 uses the
    Gram-trick kernels of this module (:func:`euclidean_matrix`, or
    :func:`sq_euclidean_matrix` when power = 2): an exactly zero diagonal
    for ``ref_emb=None`` and a zero (not NaN) gradient where two rows
    coincide; pml's ``torch.cdist`` agrees to round-off. Other p use
    ``torch.cdist``. ``pairwise_distance`` is exact, ||q_i - r_i||_p;
    pml's adds 1e-6 to every difference (``F.pairwise_distance``), a
    change below sqrt(D) * 1e-6.

    ``LpDistance(normalize_embeddings=False)`` is the plain Euclidean
    distance of the book (``distance="euclidean"`` of the losses) and
    ``LpDistance(normalize_embeddings=False, power=2)`` its square
    (``"sqeuclidean"``).
    """

    def __init__(self, normalize_embeddings: bool = True, p: float = 2,
                 power: float = 1, is_inverted: bool = False):
        if is_inverted:
            raise ValueError("LpDistance is a distance (smaller = closer): "
                             "is_inverted must be False.")
        super().__init__(normalize_embeddings, p, power, False)

    def forward(self, query_emb, ref_emb=None):
        if self.p == 2 and self.power == 2:     # the square, not sqrt^2
            self._check_shapes(query_emb, ref_emb)
            q = self.maybe_normalize(query_emb)
            r = None if ref_emb is None else self.maybe_normalize(ref_emb)
            return sq_euclidean_matrix(q, r)                     # (Q, R)
        return super().forward(query_emb, ref_emb)

    def compute_mat(self, query_emb, ref_emb=None):
        if self.p == 2:
            return euclidean_matrix(query_emb, ref_emb)          # (Q, R)
        ref = query_emb if ref_emb is None else ref_emb
        return torch.cdist(query_emb, ref, p=self.p)             # (Q, R)

    def pairwise_distance(self, query_emb, ref_emb):
        diff = query_emb - ref_emb                               # (N, D)
        if self.p == 2:
            return safe_sqrt(diff.square().sum(1))               # (N,)
        return torch.linalg.vector_norm(diff, ord=self.p, dim=1)

    def paired(self, query_emb, ref_emb, *, normalized: bool = False):
        if self.p == 2 and self.power == 2:
            q, r = (query_emb, ref_emb) if normalized else \
                (self.maybe_normalize(query_emb),
                 self.maybe_normalize(ref_emb))
            return (q - r).square().sum(1)                       # (N,)
        return super().paired(query_emb, ref_emb, normalized=normalized)


class DotProductSimilarity(BaseDistance):
    r"""The dot product q . r of rows, larger = closer (``is_inverted``).

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`.
    pytorch-metric-learning's ``DotProductSimilarity``:

    .. math::

       m_{ij} = (\hat q_i \cdot \hat r_j)^{power},

    with hat meaning "scaled to unit norm" when ``normalize_embeddings``
    (pml's default, True: then it is the cosine similarity). Sohn's
    N-pair loss uses the raw dot product:
    ``DotProductSimilarity(normalize_embeddings=False)``, the ``"dot"`` of
    the losses.
    """

    def __init__(self, normalize_embeddings: bool = True, p: float = 2,
                 power: float = 1, is_inverted: bool = True):
        if not is_inverted:
            raise ValueError(f"{type(self).__name__} is a similarity "
                             "(larger = closer): is_inverted must be True.")
        super().__init__(normalize_embeddings, p, power, True)

    def compute_mat(self, query_emb, ref_emb=None):
        ref = query_emb if ref_emb is None else ref_emb
        return query_emb @ ref.T                                 # (Q, R)

    def pairwise_distance(self, query_emb, ref_emb):
        return (query_emb * ref_emb).sum(1)                      # (N,)


class CosineSimilarity(DotProductSimilarity):
    r"""The cosine similarity cos(q, r) of rows, larger = closer.

    Taught in :doc:`chapter 1 </book/chapters/01_distances>` (as
    :func:`cosine_similarity`). pytorch-metric-learning's
    ``CosineSimilarity``: a :class:`DotProductSimilarity` whose rows are
    always normalised,

    .. math::

       m_{ij} = \Big(\frac{q_i \cdot r_j}
           {\lVert q_i \rVert\, \lVert r_j \rVert}\Big)^{power}.

    ``normalize_embeddings=False`` is refused, as in pml. A zero row has
    similarity 0 with every row.
    """

    def __init__(self, normalize_embeddings: bool = True, p: float = 2,
                 power: float = 1, is_inverted: bool = True):
        if not normalize_embeddings:
            raise ValueError("CosineSimilarity always normalises the "
                             "embeddings; use DotProductSimilarity("
                             "normalize_embeddings=False) for the raw dot "
                             "product.")
        super().__init__(True, p, power, is_inverted)
