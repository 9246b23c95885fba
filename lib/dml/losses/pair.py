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
  metric-learning's ``ContrastiveLoss``, the class's default)

m_pos (``pos_margin``) is 0 in the paper: similar pairs closer than m_pos
are not pulled further.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .._arrays import check_choice, like_input, to_tensor
from ._base import BaseMetricLoss
from ._distance import orientation
from ._tuples import as_pairs

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


class ContrastiveLoss(BaseMetricLoss):
    r"""Contrastive loss over the pairs of a batch, a module.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`. Hadsell,
    Chopra & LeCun (2006), with pytorch-metric-learning 2.9's
    ``ContrastiveLoss`` defaults (its arguments, in its order): with d_ij
    the distance between embeddings i and j (``LpDistance()``: on
    L2-normalised embeddings), P the similar and N the dissimilar pairs,

    .. math::

       \begin{aligned}
       \mathcal{L} = {} & \operatorname{mean}_{(i, j) \in P}
           [d_{ij} - m_{pos}]_+ \\
         & + \operatorname{mean}_{(i, j) \in N} [m_{neg} - d_{ij}]_+,
       \end{aligned}

    each mean taken over the nonzero terms (``AvgNonZeroReducer``, pml's
    default). ``form="hadsell"`` squares both hinges (the paper's form,
    without its 1/2), ``form="margin_on_d2"`` puts the margins on d^2
    (:func:`contrastive_loss`).

    Parameters
    ----------
    pos_margin : float
        m_pos, below which similar pairs feel no pull (0, the paper's).
    neg_margin : float
        m_neg, the m of :func:`contrastive_loss` (1).
    form : {"linear", "hadsell", "margin_on_d2"}
        The variant of each term; "linear" is pml's (dml extra).
    balance : bool
        True (pml's ``MultipleReducers``): reduce the similar-pair terms
        and the dissimilar-pair terms separately and add the two results,
        so the many dissimilar pairs of a batch do not drown the few
        similar ones. False: reduce all pair terms together, the plain
        mean of the formula (dml extra).
    distance : None, str or dml.distances object
        Default ``LpDistance()`` (pml's). With a similarity
        (``CosineSimilarity()``) the margins are similarities, as in pml:
        similar pairs below m_pos and dissimilar pairs above m_neg pay.
        ``"euclidean"`` is the distance of the embeddings as given.
    normalize : bool or None
        Override the normalisation of the default or of a name
        (``normalize=False``: the plain Euclidean distance).
    reducer, reduction
        Default ``AvgNonZeroReducer()`` / "mean_nonzero"; "none" returns
        the terms of the positive pairs, then of the negative pairs.

    Notes
    -----
    Call it as ``loss(embeddings, labels, indices_tuple=None, ref_emb=None,
    ref_labels=None)``. Without indices_tuple every ordered pair (i, j),
    i != j, of the batch is used (every (i, j) against ``ref_emb``); with
    a miner's pairs (a1, p, a2, n) exactly those; with triplets (a, p, n)
    the pairs (a, p) and (a, n) of each. pml returns 0 when every index
    tensor holds at most one pair; here such a pair counts.
    """

    default_reduction = "mean_nonzero"
    labels_required = False     # pml: labels or indices_tuple

    def __init__(self, pos_margin: float = 0.0, neg_margin: float = 1.0, *,
                 form: str = "linear", balance: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.pos_margin, self.neg_margin = pos_margin, neg_margin
        self.form = _check_form(form)
        if self.form == "margin_on_d2" and self.distance.is_inverted:
            raise ValueError("form='margin_on_d2' squares a distance; it "
                             "needs a distance, not a similarity such as "
                             f"{type(self.distance).__name__}.")
        self.balance = balance

    def compute_loss(self, embeddings, labels, indices_tuple, ref_emb,
                     ref_labels):
        a1, p, a2, n = as_pairs(indices_tuple, labels, ref_labels)
        sign = orientation(self.distance, "distance")
        D = sign * self.distance(embeddings, ref_emb)           # (B, R)
        kw = dict(margin=sign * self.neg_margin,
                  pos_margin=sign * self.pos_margin, form=self.form)
        pos = contrastive_loss(D[a1, p], torch.ones_like(a1), **kw)  # (P,)
        neg = contrastive_loss(D[a2, n], torch.zeros_like(a2), **kw)  # (N,)
        if self.reduction == "none" or not self.balance:
            return self.reducer(torch.cat([pos, neg]), embeddings)
        return self.reducer(pos, embeddings) + self.reducer(neg, embeddings)

    def extra_repr(self) -> str:
        return (f"pos_margin={self.pos_margin}, neg_margin="
                f"{self.neg_margin}, form={self.form!r}, "
                f"balance={self.balance}, " + super().extra_repr())
