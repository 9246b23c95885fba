"""Weak metric learning (Chen & Verma, *Weak Metric Learning*): keep the
sub-structure of coarse labels.

With coarse labels only (5 labels for 10 true classes), a classifier or a
contrastive loss merges the sub-classes of a label. Two penalties keep
them apart:

1. Class uniformity (Chen & Verma, Eqs. 1-2). A classifier with C outputs
   (C = the guessed number of true classes) is pushed to use all of them
   equally over a batch:

       p_bar = (1/N) sum_n softmax(f(x_n))
       L_uniform = KL(p_bar || uniform(C)) = sum_i p_bar_i (log p_bar_i
                                                          - log(1/C))

   0 when the batch spreads its predictions evenly, log C when it puts all
   mass on one class. The total is L_base + lambda * L_uniform.

2. Locality (Chen & Verma, section 4.3). t-SNE's affinities P of the input
   points (van der Maaten & Hinton, 2008) are matched by the affinities Q
   of the embeddings, f = KL(P || Q), added to the contrastive loss:

       L = y d^2 + (1 - y) [m - d]_+^2 + alpha * KL(P || Q)     (Eq. 4)

   The paper prints the dissimilar term as [m - d^2]_+ (square inside the
   hinge, Eqs. 3-4): a typo for the [m - d]_+^2 of Hadsell, Chopra & LeCun
   (2006), which we use.
   The paper's Q uses a Gaussian kernel exp(-||z_i - z_j||^2) (symmetric SNE);
   t-SNE (van der Maaten & Hinton, 2008) and our default use the
   Student-t kernel with one degree of freedom, (1 + ||z_i - z_j||^2)^-1,
   whose heavy tail lets moderately distant pairs sit far apart.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._arrays import check_matrix, like_input, to_tensor
from ..distances import sq_euclidean_matrix
from .pair import ContrastiveLoss

__all__ = ["uniformity_penalty", "tsne_affinities", "locality_penalty",
           "weak_contrastive_loss"]


def uniformity_penalty(logits, C: int | None = None):
    r"""KL(p_bar || uniform(C)) of a batch of logits (Chen & Verma, Eq. 2).

    Taught in :doc:`chapter 7 </book/chapters/07_weak>`:

    .. math::

       \bar p = \frac{1}{N} \sum_n \operatorname{softmax}(f(x_n)),

       L_\mathrm{uniform} = \sum_c \bar p_c \log(C\, \bar p_c).

    Parameters
    ----------
    logits : (N, C) array or tensor
        f(x_n), the classifier's output logits for a batch of N samples.
    C : int, optional
        Number of classes; must equal the number of columns (a check).

    Returns
    -------
    0-d tensor or float
        L_uniform: 0 for evenly spread predictions, log C when all mass
        is on one class.

    Notes
    -----
    p_bar is computed in log space, log p_bar = logsumexp_n(log softmax)
    minus log N, so logits of any size give a finite value.
    """
    Lt = check_matrix(to_tensor(logits, "logits"), "logits")
    N, n_cols = Lt.shape
    if C is not None and C != n_cols:
        raise ValueError(f"C={C} but logits has {n_cols} columns; pass "
                         "logits of shape (N, C).")
    log_p = F.log_softmax(Lt, dim=1)                    # (N, C)
    log_p_bar = torch.logsumexp(log_p, dim=0) - math.log(N)  # (C,)
    kl = (log_p_bar.exp() * (log_p_bar + math.log(n_cols))).sum()
    return like_input(kl, logits)


def _row_entropy(D2, beta, off_diag):
    """Entropy (nats) of p_{j|i} ~ exp(-beta_i D2_ij), j != i, per row."""
    logits = torch.where(off_diag, -beta[:, None] * D2,
                         torch.full_like(D2, -math.inf))  # (N, N)
    log_Z = torch.logsumexp(logits, dim=1)             # (N,)
    p = torch.exp(logits - log_Z[:, None])             # (N, N)
    return log_Z + beta * (p * D2).sum(1), p


def tsne_affinities(X, perplexity: float = 30.0, *, symmetric: bool = True,
                    tol: float = 1e-6, max_iter: int = 200):
    r"""Symmetric t-SNE affinities P of the rows of X.

    Taught in :doc:`chapter 7 </book/chapters/07_weak>` (van der Maaten &
    Hinton, 2008):

    .. math::

       p_{j|i} = \frac{\exp(-\lVert x_i - x_j \rVert^2 / 2\sigma_i^2)}
                      {\sum_{k \ne i}
                       \exp(-\lVert x_i - x_k \rVert^2 / 2\sigma_i^2)},

       P_{ij} = \frac{p_{j|i} + p_{i|j}}{2N}.

    sigma_i is chosen so that row i has the requested perplexity,
    2^{H_i} with H_i the entropy of p_{.|i} in bits. The search bisects
    log(1 / 2 sigma_i^2) for all rows at once; only the bisection steps
    are a loop. Computed in float64; P has zeros on the diagonal and sums
    to 1.

    Parameters
    ----------
    X : (N, D) array or tensor
        The input points (not differentiated).
    perplexity : float
        Effective number of neighbours, 1 < perplexity < N - 1.
    symmetric : bool
        False returns the conditional p_{j|i} instead (rows sum to 1).
    tol, max_iter : float, int
        Stop when every row's entropy is within ``tol`` nats of
        log(perplexity), or after ``max_iter`` bisection steps.

    Returns
    -------
    (N, N) float64 array or tensor
        P, or p_{j|i} with ``symmetric=False``.
    """
    Xt = check_matrix(to_tensor(X, "X"), "X")
    N = Xt.shape[0]
    if not 1.0 < perplexity < N - 1:
        raise ValueError(f"perplexity={perplexity} needs 1 < perplexity < "
                         f"N - 1 = {N - 1}; pick a smaller perplexity or "
                         "pass more points.")
    D2 = sq_euclidean_matrix(Xt.detach().to(torch.float64))  # (N, N)
    off_diag = ~torch.eye(N, dtype=torch.bool, device=D2.device)
    scale = D2[off_diag].mean().clamp_min(1e-300)
    target = math.log(perplexity)                       # nats
    lo = torch.full((N,), -60.0, dtype=D2.dtype, device=D2.device)
    hi = torch.full((N,), 60.0, dtype=D2.dtype, device=D2.device)
    for _ in range(max_iter):                           # bisection steps
        log_beta = (lo + hi) / 2
        H, p = _row_entropy(D2, log_beta.exp() / scale, off_diag)
        too_flat = H > target                           # beta too small
        lo = torch.where(too_flat, log_beta, lo)
        hi = torch.where(too_flat, hi, log_beta)
        if float((H - target).abs().max()) < tol:
            break
    P = (p + p.T) / (2 * N) if symmetric else p         # (N, N)
    return like_input(P.to(Xt.dtype), X)


def locality_penalty(P, Z, kernel: str = "student"):
    r"""KL(P || Q) = sum_{i != j} P_ij log(P_ij / Q_ij) (Chen & Verma, 4.3).

    Taught in :doc:`chapter 7 </book/chapters/07_weak>`:

    .. math::

       \mathrm{KL}(P \,\Vert\, Q) = \sum_{i \ne j} P_{ij}
           \log \frac{P_{ij}}{Q_{ij}},

       Q_{ij} = \frac{(1 + \lVert z_i - z_j \rVert^2)^{-1}}
                     {\sum_{k \ne l} (1 + \lVert z_k - z_l \rVert^2)^{-1}}.

    Parameters
    ----------
    P : (N, N) array or tensor
        Affinities of the input points (:func:`tsne_affinities`).
    Z : (N, L) tensor
        Embeddings of the same points (differentiable).
    kernel : {"student", "gaussian"}
        Q_ij proportional to (1 + ||z_i - z_j||^2)^-1 (t-SNE, default) or
        to exp(-||z_i - z_j||^2) (the paper's formula), normalised over
        all k != l. Terms with P_ij = 0 contribute 0.
    """
    if kernel not in ("student", "gaussian"):
        raise ValueError(f"kernel={kernel!r} is not supported; choose "
                         "'student' or 'gaussian'.")
    Zt = check_matrix(to_tensor(Z, "Z"), "Z")
    Pt = to_tensor(P, "P").to(device=Zt.device, dtype=Zt.dtype)
    if Pt.shape != (len(Zt), len(Zt)):
        raise ValueError(f"P has shape {tuple(Pt.shape)}; it must be "
                         f"({len(Zt)}, {len(Zt)}), one row per row of Z.")
    D2 = sq_euclidean_matrix(Zt)                        # (N, N)
    off_diag = ~torch.eye(len(Zt), dtype=torch.bool, device=Zt.device)
    log_kernel = -torch.log1p(D2) if kernel == "student" else -D2
    log_kernel = torch.where(off_diag, log_kernel,
                             torch.full_like(D2, -math.inf))
    log_Q = log_kernel - torch.logsumexp(log_kernel.flatten(), 0)
    keep = off_diag & (Pt > 0)
    log_P = torch.log(torch.where(keep, Pt, torch.ones_like(Pt)))
    terms = torch.where(keep, Pt * (log_P - log_Q), torch.zeros_like(Pt))
    return like_input(terms.sum(), Z)


def weak_contrastive_loss(embeddings, labels, P, margin: float = 1.0,
                          alpha: float = 1.0, *, indices_tuple=None,
                          kernel: str = "student"):
    r"""Contrastive loss with a locality penalty (Chen & Verma, Eq. 4).

    Taught in :doc:`chapter 7 </book/chapters/07_weak>`:

    .. math::

       \mathcal{L} = {} & \operatorname*{mean}_{\text{pairs}}
           \big[y\, d^2 + (1 - y) [m - d]_+^2\big] \\
         & + \alpha\, \mathrm{KL}(P \,\Vert\, Q(\text{embeddings})).

    Parameters
    ----------
    embeddings : (B, L) tensor
        The embeddings.
    labels : (B,) tensor
        Coarse labels (y = 1 for a pair with the same label).
    P : (B, B) array or tensor
        The t-SNE affinities of the same B input points.
    margin : float
        m.
    alpha : float
        The penalty's weight.
    indices_tuple : tuple of tensors, optional
        A miner's pairs; all pairs of the batch by default.
    kernel : {"student", "gaussian"}
        Q's kernel, as in :func:`locality_penalty`.

    Notes
    -----
    The square is *outside* the hinge (the paper's Eq. 3-4 put it inside
    by a typo). All pairs of the batch, or a miner's, are averaged
    together.
    """
    contrastive = ContrastiveLoss(neg_margin=margin, form="hadsell",
                                  balance=False, distance="euclidean",
                                  reduction="mean")
    return (contrastive(embeddings, labels, indices_tuple)
            + alpha * locality_penalty(P, embeddings, kernel))
