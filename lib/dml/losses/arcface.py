"""ArcFace: additive angular margin loss (Deng, Guo, Xue & Zafeiriou, 2019).

A softmax classifier whose logits are scaled cosines between the
(normalised) embedding x_b and (normalised) class weights w_c. For the
sample's own class y_b the angle theta = arccos(cos) is increased by a
margin m before taking the cosine:

    logit_bc = s * cos(theta_bc + m)   if c = y_b
               s * cos(theta_bc)       otherwise
    L_b = cross-entropy(logit_b, y_b)

so a sample must lie at least m radians closer to its own class centre
than the decision boundary. cos(theta + m) is evaluated as
cos * cos(m) - sin(theta) * sin(m) with sin(theta) = sqrt(1 - cos^2)
through ``safe_sqrt``: arccos has an infinite derivative at cos = +-1,
this form a finite one. The cross-entropy is log-softmax based, finite for
any logits.

Past theta + m = pi, cos(theta + m) would rise again as theta grows, so
a worse sample would get a *smaller* loss. There the target logit
continues as cos(theta) - m sin(m) and keeps falling
(pytorch-metric-learning's rule since 2.0, a variant of insightface's
``th``/``mm`` fall-back): cos(theta) - m sin(theta) is cos(theta + m) to
first order in m, with sin(theta) frozen at its value sin(m) at the
switch. The two do not meet there: at theta = pi - m the logit jumps
down from -1 to -cos(m) - m sin(m) (by 0.12 for m = 0.5, of order
m^2 / 2):

    cos_m = cos(theta + m)          if theta <= pi - m  (cos >= -cos m)
            cos(theta) - m sin(m)   otherwise

With that rule the values equal pytorch-metric-learning 2.9's; no "easy
margin". The classifier around the formula (W, cosines, ``get_logits``,
a miner's weights) is shared with CosFace (``margin_softmax.py``).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._arrays import to_device_of
from ..distances import safe_sqrt
from .margin_softmax import MarginSoftmaxLoss

__all__ = ["arcface_logits", "arcface_loss", "ArcFaceLoss"]


def arcface_logits(cos, labels, margin: float = 0.5, scale: float = 64.0):
    r"""Scaled logits with the angular margin on the target class.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`. With theta_bc =
    arccos(cos_bc):

    .. math::

       \mathrm{logit}_{bc} = \begin{cases}
           s \cos(\theta_{bc} + m)
               & c = y_b,\ \theta_{bc} \le \pi - m \\
           s\,(\cos\theta_{bc} - m \sin m)
               & c = y_b,\ \theta_{bc} > \pi - m \\
           s \cos\theta_{bc} & c \ne y_b .
       \end{cases}

    Parameters
    ----------
    cos : (B, C) tensor
        Cosines between embeddings and class weights.
    labels : (B,) int64 tensor
        Values in 0..C-1.
    margin : float
        m, in *radians*.
    scale : float
        s.

    Returns
    -------
    (B, C) tensor
        The logits.
    """
    labels = to_device_of(labels, cos, "labels", dtype=torch.int64)
    if cos.dtype in (torch.float16, torch.bfloat16):
        cos = cos.float()       # s cos(theta + m) needs more than 8 bits
    target = F.one_hot(labels, cos.shape[1]).bool()      # (B, C)
    sin = safe_sqrt(1.0 - cos * cos)                     # (B, C)
    cos_m = cos * math.cos(margin) - sin * math.sin(margin)
    # past theta = pi - m, keep the target logit falling (module docstring)
    cos_m = torch.where(cos >= -math.cos(margin), cos_m,
                        cos - margin * math.sin(margin))
    return scale * torch.where(target, cos_m, cos)      # (B, C)


def arcface_loss(cos, labels, margin: float = 0.5, scale: float = 64.0):
    r"""ArcFace loss of each sample, a (B,) tensor; m in radians.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>` (Deng et
    al., 2019): the cross-entropy of scaled cosine logits whose target
    angle theta_{b y_b} = arccos(cos_{b y_b}) gets the margin m,

    .. math::

       L_b = -\log \frac{e^{s \cos(\theta_{b y_b} + m)}}
                        {e^{s \cos(\theta_{b y_b} + m)}
                         + \sum_{c \ne y_b} e^{s \cos \theta_{bc}}};

    past theta = pi - m the target logit continues as
    s (cos theta - m sin m), so that it keeps falling
    (``dml.losses.arcface.arcface_logits``).

    Parameters
    ----------
    cos : (B, C) tensor
        Cosines between embeddings and class weights.
    labels : (B,) int64 tensor
        Values in 0..C-1.
    margin : float
        m, in *radians*.
    scale : float
        s.
    """
    labels = to_device_of(labels, cos, "labels", dtype=torch.int64)
    logits = arcface_logits(cos, labels, margin, scale)
    return F.cross_entropy(logits, labels, reduction="none")


class ArcFaceLoss(MarginSoftmaxLoss):
    r"""ArcFace loss with learnable class weights, a module.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`; the formula is
    that of :func:`arcface_loss`, with cos the cosines between the embeddings
    and the columns of W, averaged over the batch:

    .. math::

       \cos_{bc} = \frac{x_b \cdot W_{:, c}}
                         {\lVert x_b \rVert\, \lVert W_{:, c} \rVert},

       \mathcal{L} = \frac{1}{B} \sum_b L_b .

    pytorch-metric-learning 2.9's ``ArcFaceLoss``, with its defaults and
    values: m = 28.6 degrees, s = 64, ``CosineSimilarity()``,
    ``MeanReducer()``, W of shape (D, C) drawn from normal(0, 1).
    ``get_logits(embeddings)`` gives s cos, the logits without the margin
    (for classifying at test time). The shared classifier is
    ``dml.losses.margin_softmax.MarginSoftmaxLoss``, also the base of
    :class:`dml.losses.CosFaceLoss`.

    Parameters
    ----------
    num_classes : int
        C, the number of classes.
    embedding_size : int
        D, the embedding dimension.
    margin : float
        m in *degrees*, as pytorch-metric-learning (28.6 degrees ~ 0.5
        rad, the paper's value); the function :func:`arcface_loss` takes
        radians. (pml's attribute ``margin`` holds radians after
        construction; dml's keeps the degrees given.)
    scale : float
        s (64).
    distance : None, "cosine" or dml.distances.CosineSimilarity
        The default; anything else is refused (as in pml: the logits are
        cosines).
    reducer, reduction
        ``MeanReducer()`` / ``"mean"`` by default (over samples);
        ``AvgNonZeroReducer()``, ``SumReducer()``, ``DoNothingReducer()``
        or their names.

    Attributes
    ----------
    W
        (D, C) ``nn.Parameter``, pml's layout; initialised normal(0, 1)
        like pml.

    Notes
    -----
    With a miner's output, sample b's term is weighted by how often the
    output lists it, divided by the largest such count (pml's weights;
    0 for an unlisted sample), and the mean still runs over all B.
    """

    loss_function = staticmethod(arcface_loss)

    def __init__(self, num_classes: int, embedding_size: int,
                 margin: float = 28.6, scale: float = 64.0, *,
                 distance=None, reducer=None, reduction: str | None = None):
        super().__init__(num_classes, embedding_size, margin, scale,
                         distance=distance, reducer=reducer,
                         reduction=reduction)

    def margin_of_formula(self) -> float:
        """m in radians, as :func:`arcface_loss` takes it."""
        return math.radians(self.margin)
