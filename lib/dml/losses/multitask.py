"""Several losses, one objective: weights, gradients and learned weights.

Book, chapter 5. A network with one shared backbone (parameters theta)
and T heads minimises a weighted sum of its task losses,

    L = sum_t w_t L_t,   e.g.   alpha L_cls + beta L_seg + gamma L_triplet

(the three-head example of "Metric Learning", book 5.1). What reaches
the shared parameters is not w_t L_t but the gradient

    grad_theta L = sum_t w_t g_t,      g_t = dL_t / dtheta,

so a task's pull on the backbone is the vector w_t g_t, of norm
abs(w_t) ||g_t||. Loss values and gradient norms need not rank the tasks
alike (chapter 5 measures a small triplet loss with the largest gradient).

Functions
---------
multitask_loss, MultiTaskLoss   the weighted sum; fixed or learned weights
task_gradients                  g_t at the shared parameters (autograd)
task_gradient_norms             ||w_t g_t|| for every task (autograd)
weighted_gradient_norms         ||w_t g_t|| from given gradients
dominant_by_gradient            the task with the largest ||w_t g_t||
uncertainty_optimum             the minimiser s_t of Kendall et al.'s terms
pcgrad                          Yu et al.'s projection of conflicting g_t

Learned uncertainty weights (Kendall, Gal & Cipolla, 2018). A Gaussian
likelihood with noise sigma gives, per regression task,
(1 / (2 sigma^2)) L + log sigma; a softmax likelihood with logits scaled
by 1 / sigma^2 gives, approximately, (1 / sigma^2) L + log sigma. With
s = log sigma^2:

    regression       1/2 exp(-s) L + s/2      minimised at exp(-s) = 1 / L
    classification       exp(-s) L + s/2      minimised at exp(-s) = 1 / (2L)

At the optimum both kinds put the same effective weight on L:
1/2 exp(-s*) (regression) = exp(-s*) (classification) = 1 / (2 L).
``MultiTaskLoss(weighting="uncertainty")`` uses exp(-s_t) L_t + s_t for
every task: twice the regression term, so the minimiser
exp(-s_t) = 1 / L_t and the effective weight 1 / L_t, twice the paper's
for every task (departure from the paper: one form for all tasks; see
the class docstring).
"""
from __future__ import annotations

import math

import torch

from .._arrays import check_choice, like_input, to_tensor

__all__ = ["multitask_loss", "weighted_terms", "MultiTaskLoss",
           "task_gradients", "task_gradient_norms",
           "weighted_gradient_norms", "dominant_by_gradient",
           "uncertainty_optimum", "pcgrad"]

UNCERTAINTY_KINDS = ("regression", "classification")


def _check_names(losses: dict, weights: dict, what: str = "losses") -> None:
    if set(losses) != set(weights):
        missing = sorted(set(weights) - set(losses))
        extra = sorted(set(losses) - set(weights))
        raise ValueError(f"{what} and weights must name the same tasks; "
                         f"missing {what} for {missing}, no weight for "
                         f"{extra}.")


def _value(x) -> float:
    """A float from a Python number or a scalar tensor (detached)."""
    return float(x.detach()) if isinstance(x, torch.Tensor) else float(x)


def weighted_terms(losses: dict, weights: dict) -> dict:
    """{name: w_t * L_t}."""
    _check_names(losses, weights)
    return {name: weights[name] * losses[name] for name in weights}


def multitask_loss(losses: dict, weights: dict):
    r"""Weighted sum sum_t w_t L_t of named losses (floats or tensors).

    Taught in :doc:`chapter 5 </book/chapters/05_multitask>`:

    .. math::

       \mathcal{L} = \sum_t w_t \mathcal{L}_t .

    >>> multitask_loss({"cls": 2.5, "seg": 0.8, "triplet": 0.3},
    ...                {"cls": 1.0, "seg": 2.0, "triplet": 5.0})  # ~5.6
    """
    return sum(weighted_terms(losses, weights).values())


# ---------------------------------------------------------------- gradients
def task_gradients(losses: dict, shared_params) -> dict:
    r"""Each task's gradient g_t = dL_t / dtheta at the shared parameters.

    Taught in :doc:`chapter 5 </book/chapters/05_multitask>`:

    .. math::

       g_t = \frac{\partial \mathcal{L}_t}{\partial \theta} .

    Parameters
    ----------
    losses : dict name -> scalar tensor
        The task losses L_t of one batch, all computed from the same
        forward pass (the graph is kept between tasks:
        ``torch.autograd.grad(..., retain_graph=True)``).
    shared_params : iterable of tensors
        theta, the parameters every head depends on (e.g.
        ``net.backbone.parameters()``).

    Returns
    -------
    dict name -> (P,) tensor
        The gradients of all shared parameters, flattened and
        concatenated (detached). A loss that does not depend on theta (no
        graph, or a flat hinge with L_t = 0) has g_t = 0.
    """
    params = list(shared_params)
    if not params:
        raise ValueError("shared_params is empty; pass the parameters the "
                         "tasks share, e.g. net.backbone.parameters().")
    if not losses:
        raise ValueError("losses is empty; pass a dict name -> scalar "
                         "loss, e.g. {'cls': L_cls, 'triplet': L_trip}.")
    grads = {}
    for name, L in losses.items():                   # one pass per task
        if not isinstance(L, torch.Tensor) or L.ndim != 0:
            raise ValueError(f"losses[{name!r}] must be a scalar tensor "
                             "(0-D) computed from shared_params.")
        if L.requires_grad:
            parts = torch.autograd.grad(L, params, retain_graph=True,
                                        allow_unused=True)
        else:
            parts = [None] * len(params)
        grads[name] = torch.cat([
            (torch.zeros_like(p) if g is None else g).detach().reshape(-1)
            for p, g in zip(params, parts)])           # (P,)
    return grads


def weighted_gradient_norms(grads: dict, weights: dict) -> dict:
    r"""||w_t g_t||_2 = abs(w_t) ||g_t||_2 for every task (the book's 5.4).

    Taught in :doc:`chapter 5 </book/chapters/05_multitask>`:

    .. math::

       \lVert w_t g_t \rVert_2 = \lvert w_t \rvert\, \lVert g_t \rVert_2 .

    This is the size of task t's contribution to the update of the shared
    parameters, sum_t w_t g_t; GradNorm (Chen et al., 2018) calls it
    G_W^(t) and measures it at the last shared layer W.

    Parameters
    ----------
    grads : dict name -> array or tensor
        g_t, each task's gradient at the shared parameters (any shape; the
        norm is taken over all entries), e.g. from :func:`task_gradients`.
    weights : dict name -> float
        w_t, the same task names.

    Returns
    -------
    dict name -> float
        The norm of each task's weighted gradient.
    """
    _check_names(grads, weights, "grads")
    out = {}
    for name in weights:                              # one entry per task
        g = to_tensor(grads[name], f"grads[{name!r}]")
        norm = float(torch.linalg.vector_norm(g))        # ||g_t||_2
        out[name] = abs(float(weights[name])) * norm
    return out


def task_gradient_norms(losses: dict, shared_params,
                        weights: dict | None = None) -> dict:
    r"""||w_t dL_t / dtheta||_2 for every task, measured by autograd.

    Taught in :doc:`chapter 5 </book/chapters/05_multitask>`:

    .. math::

       \Big\lVert w_t \frac{\partial \mathcal{L}_t}{\partial \theta}
       \Big\rVert_2 .

    theta are the shared parameters (``shared_params``); ``weights``
    default to 1 (the raw gradient norms ||g_t||). See
    :func:`task_gradients` for the arguments and
    :func:`weighted_gradient_norms` for the formula. Returns dict
    name -> float.
    """
    if weights is None:
        weights = {name: 1.0 for name in losses}
    _check_names(losses, weights)
    return weighted_gradient_norms(task_gradients(losses, shared_params),
                                   weights)


def dominant_by_gradient(grads: dict, weights: dict) -> str:
    r"""The task whose weighted gradient w_t g_t has the largest norm.

    Taught in :doc:`chapter 5 </book/chapters/05_multitask>`:

    .. math::

       t^\star = \operatorname*{arg\,max}_t \lVert w_t g_t \rVert_2 .

    This is the task that moves the shared parameters most in one step of
    gradient descent on sum_t w_t L_t (book, 5.4); ranking the tasks by
    their weighted losses w_t L_t instead is only a heuristic, and can
    give the opposite order. Ties go to the first task in ``weights``.
    """
    norms = weighted_gradient_norms(grads, weights)
    return max(norms, key=norms.get)


# -------------------------------------------------------------- uncertainty
def uncertainty_optimum(L, kind: str = "regression"):
    r"""The s = log sigma^2 that minimises Kendall et al.'s term for loss L.

    Taught in :doc:`chapter 5 </book/chapters/05_multitask>`:

    .. math::

       \text{regression:}\quad
       \tfrac12 e^{-s} L + \tfrac{s}{2} \;\to\; s^\star = \log L,

       \text{classification:}\quad
       e^{-s} L + \tfrac{s}{2} \;\to\; s^\star = \log(2L).

    (Kendall, Gal & Cipolla, 2018: the Gaussian likelihood gives
    L / (2 sigma^2) + log sigma, the softmax likelihood scaled by
    1 / sigma^2 approximately L / sigma^2 + log sigma.) Setting the
    derivative in s to zero gives exp(-s*) = 1 / L and 1 / (2 L).
    ``MultiTaskLoss(weighting="uncertainty")`` has the regression optimum
    for every task. ``L`` (> 0) may be a number, an array or a tensor;
    the result has the same kind (numpy in, numpy out).
    """
    check_choice(kind, "kind", UNCERTAINTY_KINDS)
    t = to_tensor(L, "L")
    if not bool(torch.all(t > 0)):
        raise ValueError("L must be > 0: a loss of 0 has no minimiser "
                         "(s -> -infinity, infinite weight).")
    scale = 1.0 if kind == "regression" else 2.0
    return like_input(torch.log(scale * t), L)


# ------------------------------------------------------------------ PCGrad
def pcgrad(g1, g2):
    r"""Yu et al. (2020)'s projection of g1 when it conflicts with g2.

    Taught in :doc:`chapter 5 </book/chapters/05_multitask>`:

    .. math::

       g_1' = \begin{cases}
         g_1 - \dfrac{g_1 \cdot g_2}{\lVert g_2 \rVert^2}\, g_2
           & \text{if } g_1 \cdot g_2 < 0, \\
         g_1 & \text{otherwise.}
       \end{cases}

    The projected g1' lies on the normal plane of g2 (g1' . g2 = 0), so a
    step along it no longer increases task 2's loss to first order.
    PCGrad applies this to every task's gradient against every other task
    (in random order) and sums the results. Vectorised over leading axes:
    g1, g2 of shape (..., P) give (..., P); numpy in, numpy out. A zero
    g2 never conflicts, so g1 is returned unchanged.
    """
    a, b = to_tensor(g1, "g1"), to_tensor(g2, "g2")
    if a.shape != b.shape or a.ndim == 0:
        raise ValueError(f"g1 and g2 must have the same shape (..., P), "
                         f"got {tuple(a.shape)} and {tuple(b.shape)}.")
    dot = (a * b).sum(-1, keepdim=True)                 # (..., 1)
    sq = (b * b).sum(-1, keepdim=True)                  # (..., 1)
    tiny = torch.finfo(sq.dtype).tiny
    coef = torch.where(dot < 0, dot / sq.clamp_min(tiny), 0.0)
    return like_input(a - coef * b, g1)


# ------------------------------------------------------------------ module
class MultiTaskLoss(torch.nn.Module):
    r"""Combine named scalar losses into one, with fixed or learned weights.

    Taught in :doc:`chapter 5 </book/chapters/05_multitask>`. With fixed
    weights, and with Kendall et al.'s (2018) learned s_t = log sigma_t^2:

    .. math::

       \mathcal{L} = \sum_t w_t \mathcal{L}_t
       \quad\text{or}\quad
       \mathcal{L} = \sum_t \big(e^{-s_t} \mathcal{L}_t + s_t\big).

    Call it as ``loss(losses)`` with a dict name -> scalar tensor; it
    returns the total.

    Parameters
    ----------
    weights : dict name -> float
        The tasks and, for ``weighting="fixed"``, their weights w_t. For
        ``"uncertainty"`` only the names are used; s_t starts at
        ``-log(w_t)`` so that exp(-s_t) = w_t at the start.
    weighting : {"fixed", "uncertainty"}
        ``"fixed"``: sum_t w_t L_t. ``"uncertainty"``: sum_t exp(-s_t) L_t
        + s_t with learnable s_t = log sigma_t^2 (Kendall et al., 2018).
        This is twice the paper's regression term (1/2) exp(-s) L + s/2
        for every task, so each weight tends to exp(-s_t) = 1 / L_t (see
        :func:`uncertainty_optimum`). The paper's classification term
        exp(-s) L + s/2 has its optimum at s_t = log(2 L_t) instead, but
        there its effective weight, 1 / (2 L_t), equals the regression
        term's: at the optimum our weights are the paper's times a
        common factor 2, whatever the kinds. We use one form because the
        losses it combines (cross-entropy, a triplet hinge) are not all
        likelihoods of the paper's two kinds.

    Attributes
    ----------
    last_terms
        dict name -> float: the last weighted terms (without the + s_t),
        for reporting.
    log_vars
        (T,) ``nn.Parameter`` holding the learnable s_t (None for fixed
        weights).
    """

    def __init__(self, weights: dict, weighting: str = "fixed"):
        super().__init__()
        if weighting not in ("fixed", "uncertainty"):
            raise ValueError(f"weighting={weighting!r} is not supported; "
                             "choose 'fixed' or 'uncertainty'.")
        if not weights:
            raise ValueError("weights is empty; name at least one task, "
                             "e.g. {'cls': 1.0, 'triplet': 1.0}.")
        # a fixed weight of 0 switches a head off; uncertainty weighting
        # starts at s_t = -log(w_t), so its weights must be positive
        floor_ok = (lambda w: w >= 0) if weighting == "fixed" else \
            (lambda w: w > 0)
        bad = [k for k, w in weights.items() if not floor_ok(float(w))]
        if bad:
            sign = ">= 0" if weighting == "fixed" else "> 0 (s_t = -log w_t)"
            raise ValueError(f"weights must be {sign}; fix those of {bad}.")
        self.names = list(weights)
        self.weighting = weighting
        self.weights = {k: float(w) for k, w in weights.items()}
        self.log_vars = None
        if weighting == "uncertainty":
            s0 = torch.tensor([-math.log(w) for w in self.weights.values()])
            self.log_vars = torch.nn.Parameter(s0)             # (T,)
        self.last_terms = {}

    def forward(self, losses: dict):
        _check_names(losses, self.weights)
        if self.weighting == "fixed":
            terms = weighted_terms(losses, self.weights)
            total = sum(terms.values())
        else:
            s = self.log_vars
            terms = {k: torch.exp(-s[t]) * losses[k]
                     for t, k in enumerate(self.names)}
            total = sum(terms.values()) + s.sum()
        self.last_terms = {k: _value(v) for k, v in terms.items()}
        return total
