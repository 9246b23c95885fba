"""Softmax classifiers on cosines with a margin on the target class.

ArcFace (``arcface.py``) and CosFace (``cosface.py``) share everything but
where the margin goes: class weights W, one column per class; the cosines
cos_bc between the embedding x_b and the column w_c,

    cos_bc = x_b . w_c / (||x_b|| ||w_c||);

the logits s * cos_bc, of which the target one, c = y_b, gets the margin;
and the cross-entropy of those logits. This module holds the shared part,
``MarginSoftmaxLoss``, as pytorch-metric-learning's
``LargeMarginSoftmaxLoss`` holds it for its ``ArcFaceLoss`` and
``CosFaceLoss``: W, the cosines, ``get_logits``, a miner's sample weights
and the reduction. A subclass names its functional loss
(``loss_function(cos, labels, margin, scale)``, the paper's formula).
"""
from __future__ import annotations

import torch

from .._arrays import check_positive_int
from ..distances import CosineSimilarity
from ._base import BaseMetricLoss
from ._tuples import _check_indices

__all__ = ["MarginSoftmaxLoss", "miner_weights"]


def miner_weights(indices_tuple, batch_size: int, like: torch.Tensor):
    """Each sample's weight from how often a miner's output lists it.

    pytorch-metric-learning's ``convert_to_weights``: with n_b the number
    of times sample b occurs in ``indices_tuple`` (every tensor counted,
    anchors, positives and negatives alike), w_b = n_b / max_b' n_b', so
    a sample the miner never lists weighs 0. None, or a tuple of empty
    tensors, gives None: every sample weighs 1.

    Returns a (B,) tensor of ``like``'s dtype and device, or None.
    """
    if indices_tuple is None:
        return None
    idx = _check_indices(indices_tuple, batch_size)
    flat = torch.cat([t.to(like.device) for t in idx])          # (N,)
    if flat.numel() == 0:
        return None
    counts = torch.bincount(flat, minlength=batch_size).to(like.dtype)
    return counts / counts.max()                                 # (B,)


class MarginSoftmaxLoss(BaseMetricLoss):
    r"""A softmax classifier on scaled cosines with a target margin.

    The base of :class:`dml.losses.ArcFaceLoss` and
    :class:`dml.losses.CosFaceLoss` (pytorch-metric-learning's
    ``LargeMarginSoftmaxLoss`` plays this part there). With cos the (B, C)
    cosines between the embeddings and the columns of W, w_b the miner's
    sample weights (1 without a miner, ``miner_weights``) and L_b the
    subclass's ``loss_function(cos, labels, margin, scale)``:

    .. math::

       \mathcal{L} = \frac{1}{B} \sum_b w_b L_b

    with the default ``MeanReducer()``.

    Parameters
    ----------
    num_classes : int
        C.
    embedding_size : int
        D.
    margin, scale : float
        m and s of the subclass's formula.
    distance : None, "cosine" or dml.distances.CosineSimilarity
        The default; anything else is refused (as in pml).
    reducer, reduction
        ``MeanReducer()`` / ``"mean"`` by default (over samples);
        ``AvgNonZeroReducer()``, ``SumReducer()``, ``DoNothingReducer()``
        or their names.

    Attributes
    ----------
    W
        (D, C) ``nn.Parameter``, pml's layout; initialised normal(0, 1)
        like pml. It keeps its dtype; a call casts a copy to the
        embeddings' dtype (pml casts ``W`` itself, in place).
    """

    default_distance = CosineSimilarity
    default_reduction = "mean"
    loss_function = None        # (cos, labels, margin, scale) -> (B,)

    def __init__(self, num_classes: int, embedding_size: int,
                 margin: float, scale: float, *, distance=None,
                 reducer=None, reduction: str | None = None):
        super().__init__(distance=distance, reducer=reducer,
                         reduction=reduction)
        if not isinstance(self.distance, CosineSimilarity):
            raise ValueError(
                f"{type(self).__name__} needs distance=CosineSimilarity() "
                "(its logits are cosines), got "
                f"{type(self.distance).__name__}.")
        self.num_classes = check_positive_int(num_classes, "num_classes")
        size = check_positive_int(embedding_size, "embedding_size")
        self.W = torch.nn.Parameter(torch.empty(size, self.num_classes))
        torch.nn.init.normal_(self.W)
        self.margin, self.scale = margin, scale

    def margin_of_formula(self) -> float:
        """m as ``loss_function`` takes it (ArcFace: degrees -> radians)."""
        return self.margin

    def get_cosine(self, embeddings):
        """(B, C) cosines between the embeddings and the columns of W."""
        return self.distance(embeddings, self.W.to(embeddings.dtype).T)

    def get_logits(self, embeddings):
        """(B, C) logits s cos_bc *without* the margin: the classifier's
        scores at test time (pml's ``get_logits``)."""
        return self.get_cosine(embeddings) * self.scale

    def compute_loss(self, embeddings, labels, indices_tuple, ref_emb,
                     ref_labels):
        if ref_emb is not None:
            raise ValueError(f"{type(self).__name__} does not take ref_emb: "
                             "it compares embeddings with its class "
                             "weights W, not with other embeddings.")
        # one host synchronisation for both ends of the range
        if labels.numel() and bool((labels.min() < 0) |
                                   (labels.max() >= self.num_classes)):
            raise ValueError("labels must lie in 0..num_classes-1 = 0.."
                             f"{self.num_classes - 1}; got values in "
                             f"{int(labels.min())}..{int(labels.max())}.")
        terms = type(self).loss_function(
            self.get_cosine(embeddings), labels, self.margin_of_formula(),
            self.scale)                                      # (B,)
        weights = miner_weights(indices_tuple, len(labels), terms)
        if weights is not None:
            terms = terms * weights
        return self.reducer(terms, embeddings)

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, "
                f"embedding_size={self.W.shape[0]}, margin={self.margin}, "
                f"scale={self.scale}, {super().extra_repr()}")
