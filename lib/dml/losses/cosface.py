"""CosFace: large margin cosine loss (Wang, Wang, Zhou, Ji, Gong, Zhou, Li
& Liu, 2018).

A softmax classifier on scaled cosines between the (normalised) embedding
x_b and the (normalised) class weights w_c, whose target cosine is lowered
by an additive margin m:

    logit_bc = s * (cos_bc - m)    if c = y_b
               s * cos_bc          otherwise
    L_b = cross-entropy(logit_b, y_b)

ArcFace (``arcface.py``) puts the margin on the angle instead, cos(theta +
m); the two share their classifier (``margin_softmax.py``). Values equal
pytorch-metric-learning 2.9's ``CosFaceLoss`` (m = 0.35, s = 64).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .._arrays import to_device_of
from .margin_softmax import MarginSoftmaxLoss

__all__ = ["cosface_logits", "cosface_loss", "CosFaceLoss"]


def cosface_logits(cos, labels, margin: float = 0.35, scale: float = 64.0):
    r"""Scaled logits with the cosine margin on the target class.

    Wang et al. (2018), the logits of their large margin cosine loss:

    .. math::

       \mathrm{logit}_{bc} = \begin{cases}
           s\,(\cos\theta_{bc} - m) & c = y_b \\
           s \cos\theta_{bc} & c \ne y_b .
       \end{cases}

    Parameters
    ----------
    cos : (B, C) tensor
        Cosines between embeddings and class weights.
    labels : (B,) int64 tensor
        Values in 0..C-1.
    margin : float
        m, subtracted from the target cosine.
    scale : float
        s.

    Returns
    -------
    (B, C) tensor
        The logits (float32 for half-precision cosines: s cos needs more
        than float16's 11 bits).
    """
    labels = to_device_of(labels, cos, "labels", dtype=torch.int64)
    if cos.dtype in (torch.float16, torch.bfloat16):
        cos = cos.float()
    target = F.one_hot(labels, cos.shape[1]).to(cos.dtype)    # (B, C)
    return scale * (cos - margin * target)                     # (B, C)


def cosface_loss(cos, labels, margin: float = 0.35, scale: float = 64.0):
    r"""CosFace loss of each sample, a (B,) tensor.

    Wang et al. (2018), the large margin cosine loss (LMCL):

    .. math::

       L_b = -\log \frac{e^{s (\cos\theta_{b y_b} - m)}}
                        {e^{s (\cos\theta_{b y_b} - m)}
                         + \sum_{c \ne y_b} e^{s \cos\theta_{bc}}} .

    Evaluated as the cross-entropy of :func:`cosface_logits` (log-softmax
    based: finite for any s). Parameters as there.
    """
    labels = to_device_of(labels, cos, "labels", dtype=torch.int64)
    logits = cosface_logits(cos, labels, margin, scale)
    return F.cross_entropy(logits, labels, reduction="none")


class CosFaceLoss(MarginSoftmaxLoss):
    r"""CosFace loss with learnable class weights, a module.

    Wang et al. (2018); the formula is that of :func:`cosface_loss`, with
    cos the cosines between the embeddings and the columns of W, averaged
    over the batch:

    .. math::

       \mathcal{L} = \frac{1}{B} \sum_b L_b .

    pytorch-metric-learning 2.9's ``CosFaceLoss``, with its defaults and
    values: m = 0.35 and s = 64 (the paper's), ``CosineSimilarity()``,
    ``MeanReducer()``, W of shape (D, C) drawn from normal(0, 1).
    ``get_logits(embeddings)`` gives s cos, the logits without the margin
    (for classifying at test time).

    Parameters
    ----------
    num_classes : int
        C.
    embedding_size : int
        D.
    margin : float
        m, subtracted from the target cosine.
    scale : float
        s.
    distance : None, "cosine" or dml.distances.CosineSimilarity
        The default; anything else is refused (as in pml: the logits are
        cosines).
    reducer, reduction
        ``MeanReducer()`` / ``"mean"`` by default (over samples);
        ``AvgNonZeroReducer()``, ``SumReducer()``, ``DoNothingReducer()``
        or their names.

    Notes
    -----
    With a miner's output, sample b's term is weighted by how often the
    output lists it, divided by the largest such count (pml's weights;
    0 for an unlisted sample), and the mean still runs over all B.
    """

    loss_function = staticmethod(cosface_loss)

    def __init__(self, num_classes: int, embedding_size: int,
                 margin: float = 0.35, scale: float = 64.0, *,
                 distance=None, reducer=None, reduction: str | None = None):
        super().__init__(num_classes, embedding_size, margin, scale,
                         distance=distance, reducer=reducer,
                         reduction=reduction)
