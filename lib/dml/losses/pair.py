"""Contrastive loss (Hadsell, Chopra & LeCun, 2006): one term per pair.

    L(d, y) = y * d^2 + (1 - y) * [m - d]_+^2            (book, chapter 3)

y = 1 for a similar pair, y = 0 for a dissimilar one (the book's convention
and Chen & Verma's; Hadsell et al. write Y = 0 for a *similar* pair and a
factor 1/2 on both terms, so check before you port a formula). Similar
pairs are pulled together; dissimilar pairs are pushed until they are at
least the margin m apart, then left alone.

Three variants are in use, chosen here by ``form``:

* ``"hadsell"``       y [d - m_pos]_+^2 + (1 - y) [m - d]_+^2  (Hadsell et
  al., without their 1/2; the drug-compound case study; Chen & Verma's
  Eq. 3 once its typo is fixed)
* ``"margin_on_d2"``  y [d^2 - m_pos]_+ + (1 - y) [m - d^2]_+  (the margin
  is on the squared distance; Chen & Verma's Eq. 3 as printed)
* ``"linear"``        y [d - m_pos]_+ + (1 - y) [m - d]_+      (pytorch-
  metric-learning's ``ContrastiveLoss``)

m_pos (``pos_margin``) is 0 in the paper: similar pairs closer than m_pos
are not pulled further.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .._arrays import check_choice, like_input, to_tensor
from ._distance import DISTANCES, check_distance, distance_matrix
from ._reduce import check_reduction, reduce_terms
from ._tuples import as_pairs, check_batch

__all__ = ["CONTRASTIVE_FORMS", "contrastive_loss", "ContrastiveLoss"]

CONTRASTIVE_FORMS = ("hadsell", "margin_on_d2", "linear")


def _check_form(form: str) -> str:
    return check_choice(form, "form", CONTRASTIVE_FORMS)


def contrastive_loss(d, same, margin: float = 1.0, *,
                     pos_margin: float = 0.0, form: str = "hadsell"):
    r"""Contrastive loss of each pair, elementwise.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`. Hadsell,
    Chopra & LeCun (2006), with y = 1 for a similar pair and 0 for a
    dissimilar one, in three forms:

    .. math::

       \begin{aligned}
       \text{hadsell:} \quad & y\, [d - m_{pos}]_+^2 \\
           & + (1 - y)\, [m - d]_+^2, \\
       \text{margin_on_d2:} \quad & y\, [d^2 - m_{pos}]_+ \\
           & + (1 - y)\, [m - d^2]_+, \\
       \text{linear:} \quad & y\, [d - m_{pos}]_+ \\
           & + (1 - y)\, [m - d]_+.
       \end{aligned}

    "hadsell" is the paper's squared hinge without its factor 1/2 (the
    paper writes Y = 0 for a similar pair); "margin_on_d2" puts the margin
    on the squared distance; "linear" is pytorch-metric-learning's.

    Parameters
    ----------
    d : tensor (any shape)
        Distance of each pair (d in the equation), >= 0.
    same : tensor of the same shape, bool or 0/1
        y in the equation: 1 (True) for a similar pair, 0 for dissimilar.
    margin : float
        m, the distance dissimilar pairs are pushed beyond.
    pos_margin : float
        m_pos, the distance below which similar pairs feel no pull
        (0 in the paper).
    form : {"hadsell", "margin_on_d2", "linear"}
        Which variant of the equation above.

    Returns
    -------
    tensor
        The loss of each pair, of the shape of d (numpy for a numpy d).
    """
    _check_form(form)
    d_in, d = d, to_tensor(d, "d")
    same = to_tensor(same, "same").to(d.device).bool()
    if form == "margin_on_d2":
        d = d * d
    pull = F.relu(d - pos_margin)                      # similar pairs
    push = F.relu(margin - d)                          # dissimilar pairs
    if form == "hadsell":
        pull, push = pull * pull, push * push
    return like_input(torch.where(same, pull, push), d_in)


class ContrastiveLoss(torch.nn.Module):
    r"""Contrastive loss over the pairs of a batch, a module.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`. Hadsell,
    Chopra & LeCun (2006): with d_ij the distance between embeddings i and
    j, P the similar and N the dissimilar pairs of the batch, the default
    form="hadsell" and balance=True give

    .. math::

       \begin{aligned}
       \mathcal{L} = {} & \operatorname{mean}_{(i, j) \in P}
           [d_{ij} - m_{pos}]_+^2 \\
         & + \operatorname{mean}_{(i, j) \in N} [m - d_{ij}]_+^2,
       \end{aligned}

    each mean taken over the nonzero terms (reduction="mean_nonzero"). The
    other forms are those of :func:`contrastive_loss`.

    Parameters
    ----------
    margin : float
        m, for dissimilar pairs (pytorch-metric-learning: ``neg_margin``).
    pos_margin : float
        m_pos, for similar pairs (0 here and in pml).
    form : {"hadsell", "margin_on_d2", "linear"}
        Default "hadsell", the squared hinge of the paper; pml computes
        "linear".
    distance : {"euclidean", "sqeuclidean", "cosine"}
        d; "cosine" is 1 - cos (smaller = closer). pml's ``CosineSimilarity``
        margins map to ours as margin = 1 - neg_margin and
        pos_margin = 1 - pml's pos_margin.
    normalize : bool
        L2-normalise embeddings first. Default False; pml's default
        distance normalises (``LpDistance(normalize_embeddings=True)``).
    balance : bool
        True (as pml): reduce the similar-pair terms and the dissimilar-pair
        terms separately and add the two results, so the many dissimilar
        pairs of a batch do not drown the few similar ones. False: reduce
        all pair terms together, the plain mean of the formula.
    reduction : {"mean_nonzero", "mean", "sum", "none"}
        "none" returns the terms of the positive pairs, then of the
        negative pairs.

    Notes
    -----
    Call it as ``loss(embeddings, labels, indices_tuple=None)``. Without
    indices_tuple every ordered pair (i, j), i != j, of the batch is used;
    with a miner's pairs (a1, p, a2, n) exactly those; with triplets
    (a, p, n) the pairs (a, p) and (a, n) of each.
    """

    def __init__(self, margin: float = 1.0, *, pos_margin: float = 0.0,
                 form: str = "hadsell", distance: str = "euclidean",
                 normalize: bool = False, balance: bool = True,
                 reduction: str = "mean_nonzero"):
        super().__init__()
        self.margin, self.pos_margin = margin, pos_margin
        self.form = _check_form(form)
        self.distance = check_distance(distance, DISTANCES)
        self.normalize, self.balance = normalize, balance
        self.reduction = check_reduction(reduction)

    def forward(self, embeddings, labels, indices_tuple=None):
        labels = check_batch(embeddings, labels)
        a1, p, a2, n = as_pairs(indices_tuple, labels)
        D = distance_matrix(embeddings, self.distance, self.normalize)
        kw = dict(margin=self.margin, pos_margin=self.pos_margin,
                  form=self.form)
        pos = contrastive_loss(D[a1, p], torch.ones_like(a1), **kw)  # (P,)
        neg = contrastive_loss(D[a2, n], torch.zeros_like(a2), **kw)  # (N,)
        if self.reduction == "none" or not self.balance:
            return reduce_terms(torch.cat([pos, neg]), self.reduction,
                                embeddings)
        return (reduce_terms(pos, self.reduction, embeddings)
                + reduce_terms(neg, self.reduction, embeddings))
