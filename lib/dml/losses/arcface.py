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
continues as cos(theta) - m sin(m), which meets cos(theta + m) at
theta = pi - m and keeps falling (pytorch-metric-learning's rule since
2.0, a variant of insightface's ``th``/``mm`` fall-back):

    cos_m = cos(theta + m)          if theta <= pi - m  (cos >= -cos m)
            cos(theta) - m sin(m)   otherwise

With that rule the values equal pytorch-metric-learning 2.9's; no "easy
margin".
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .._arrays import check_positive_int
from ..distances import cosine_matrix, safe_sqrt
from ._reduce import check_reduction, reduce_terms
from ._tuples import as_pairs, check_batch

__all__ = ["arcface_logits", "arcface_loss", "ArcFaceLoss"]


def arcface_logits(cos, labels, margin: float = 0.5, scale: float = 64.0):
    """Scaled logits with the angular margin on the target class.

    cos : (B, C) cosines between embeddings and class weights.
    labels : (B,) int64 in 0..C-1. margin : m in *radians*. scale : s.
    """
    target = F.one_hot(labels, cos.shape[1]).bool()      # (B, C)
    sin = safe_sqrt(1.0 - cos * cos)                     # (B, C)
    cos_m = cos * math.cos(margin) - sin * math.sin(margin)
    # past theta = pi - m, keep the target logit falling (module docstring)
    cos_m = torch.where(cos >= -math.cos(margin), cos_m,
                        cos - margin * math.sin(margin))
    return scale * torch.where(target, cos_m, cos)      # (B, C)


def arcface_loss(cos, labels, margin: float = 0.5, scale: float = 64.0):
    """ArcFace loss of each sample, (B,) (module docstring); m in radians."""
    logits = arcface_logits(cos, labels, margin, scale)
    return F.cross_entropy(logits, labels, reduction="none")


class ArcFaceLoss(torch.nn.Module):
    """ArcFace loss with learnable class weights (module docstring).

    Parameters
    ----------
    num_classes : int, C
    embedding_size : int, D
    margin : float
        m in *degrees*, as pytorch-metric-learning (28.6 degrees ~ 0.5
        rad, the paper's value); the function :func:`arcface_loss` takes
        radians.
    scale : float, s (64).
    reduction : {"mean", "mean_nonzero", "sum", "none"}, over samples.

    ``W`` is a (D, C) ``nn.Parameter`` (pml's layout; init normal(0, 1)
    like pml). With a miner's output only the samples that occur in it
    count (pml weights samples by their number of occurrences).
    """

    def __init__(self, num_classes: int, embedding_size: int,
                 margin: float = 28.6, scale: float = 64.0, *,
                 reduction: str = "mean"):
        super().__init__()
        self.num_classes = check_positive_int(num_classes, "num_classes")
        size = check_positive_int(embedding_size, "embedding_size")
        self.W = torch.nn.Parameter(torch.empty(size, num_classes))
        torch.nn.init.normal_(self.W)
        self.margin, self.scale = margin, scale
        self.reduction = check_reduction(reduction)

    def forward(self, embeddings, labels, indices_tuple=None):
        labels = check_batch(embeddings, labels)
        if int(labels.min()) < 0 or int(labels.max()) >= self.num_classes:
            raise ValueError("labels must lie in 0..num_classes-1 = 0.."
                             f"{self.num_classes - 1}; got values in "
                             f"{int(labels.min())}..{int(labels.max())}.")
        cos = cosine_matrix(embeddings, self.W.to(embeddings.dtype).T)
        terms = arcface_loss(cos, labels, math.radians(self.margin),
                             self.scale)                 # (B,)
        if indices_tuple is not None:
            keep = torch.zeros_like(labels, dtype=torch.bool)
            for idx in as_pairs(indices_tuple, labels):
                keep[idx] = True
            terms = terms[keep]
        return reduce_terms(terms, self.reduction, embeddings)
