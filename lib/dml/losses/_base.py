"""What every embedding loss class shares: distance, reducer, ref_emb.

A loss class of ``dml.losses`` is called as pytorch-metric-learning's:

    loss(embeddings, labels, indices_tuple=None, ref_emb=None,
         ref_labels=None)

* ``embeddings`` (B, D), ``labels`` (B,);
* ``indices_tuple``: a miner's pairs (a1, p, a2, n) or triplets (a, p, n),
  or None for every pair / triplet of the batch;
* ``ref_emb`` (R, D), ``ref_labels`` (R,): compare the batch with these
  instead of with itself (pml's semantics). Anchors a, a1, a2 index
  ``embeddings``; p and n index ``ref_emb``; every (anchor, reference)
  pair counts, also one whose two rows are equal: there is no self pair
  to exclude. Passing the batch's own tensors (the same objects; or
  ``ref_emb=embeddings`` without ``ref_labels``) means no reference, as
  in pml.

:class:`BaseMetricLoss` validates that, holds the ``distance`` object and
the ``reducer`` object (pml's attribute names), and hands the loss's
``compute_loss`` the batch with ``ref_emb`` and ``ref_labels`` set to None
when the batch is compared with itself.
"""
from __future__ import annotations

import torch

from .._arrays import check_labels
from ..distances import LpDistance
from ._distance import resolve_distance
from ._reduce import REDUCTIONS, resolve_reducer
from ._tuples import as_pairs, check_batch, indices_to_masks, pair_masks

__all__ = ["BaseMetricLoss", "check_loss_inputs", "pair_masks_of"]


def check_loss_inputs(embeddings, labels, indices_tuple=None, ref_emb=None,
                      ref_labels=None, labels_required: bool = True):
    """Validate a loss call; return (labels, ref_emb, ref_labels).

    ``ref_emb`` and ``ref_labels`` come back as None when there is no
    reference set (not given, or the batch's own tensors), else on the
    embeddings' device, ``ref_labels`` as int64. Labels a miner's
    ``indices_tuple`` makes unnecessary (pml: "labels or indices_tuple
    required") may be None; they come back as zeros, which only carry the
    sizes and the device.
    """
    given_labels = labels
    if labels is None:
        if labels_required or indices_tuple is None:
            raise ValueError("labels are required: pass one integer label "
                             "per row of embeddings.")
        labels = _placeholder(len(check_batch(
            embeddings, torch.zeros(len(embeddings)))), embeddings)
    else:
        labels = check_batch(embeddings, labels)
    if ref_emb is None and ref_labels is not None:
        raise ValueError("ref_labels was given without ref_emb; pass the "
                         "reference embeddings too.")
    if ref_emb is None or (ref_emb is embeddings and (
            ref_labels is None or ref_labels is given_labels)):
        return labels, None, None      # the batch against itself (pml)
    if not isinstance(ref_emb, torch.Tensor) or ref_emb.ndim != 2 or \
            ref_emb.shape[1] != embeddings.shape[1]:
        raise ValueError(f"ref_emb must be a 2-D tensor (R, "
                         f"{embeddings.shape[1]}) like embeddings, got "
                         f"{getattr(ref_emb, 'shape', type(ref_emb))}.")
    ref_emb = ref_emb.to(device=embeddings.device)
    if ref_labels is None:
        if indices_tuple is None:
            raise ValueError("ref_emb needs ref_labels (one label per row "
                             "of ref_emb) unless indices_tuple is given.")
        return labels, ref_emb, _placeholder(len(ref_emb), embeddings)
    ref_labels = check_labels(ref_labels, ref_emb.shape[0], "ref_labels",
                              device=embeddings.device)
    return labels, ref_emb, ref_labels


def _placeholder(n: int, like: torch.Tensor) -> torch.Tensor:
    """n zero labels on ``like``'s device: sizes for a miner's indices."""
    return torch.zeros(n, dtype=torch.int64, device=like.device)


def pair_masks_of(indices_tuple, labels, ref_labels=None, ref_size=None):
    """(B, R) boolean masks of the positive and negative pairs to use.

    All pairs of the batch (against ``ref_labels`` if given) when
    ``indices_tuple`` is None, else the listed pairs (triplets give their
    pairs (a, p) and (a, n); a pair listed twice counts once).
    """
    if indices_tuple is None:
        return pair_masks(labels, ref_labels)
    R = ref_size if ref_labels is None else len(ref_labels)
    return indices_to_masks(*as_pairs(indices_tuple, labels, ref_labels),
                            len(labels), R)


class BaseMetricLoss(torch.nn.Module):
    """Base of the embedding losses: distance, reducer, ref_emb plumbing.

    Subclasses set the class attributes ``default_distance`` (pml's
    ``get_default_distance``, a class of :mod:`dml.distances`),
    ``default_reduction`` (pml's ``get_default_reducer``, as a name:
    "mean_nonzero", "mean", "sum" or "none") and ``reductions`` (the names
    they accept), pass ``distance``, ``normalize``, ``reducer`` and
    ``reduction`` on to ``__init__``, and implement
    ``compute_loss(embeddings, labels, indices_tuple, ref_emb,
    ref_labels)``, where ``ref_emb`` / ``ref_labels`` are None for the
    batch against itself; it returns the reduced loss (use
    ``self.reducer(terms, embeddings)``).

    Parameters
    ----------
    distance : None, str or dml.distances object
        None: ``default_distance()``; a name ("euclidean",
        "sqeuclidean", "cosine", "dot": the objects of
        ``dml.losses._distance.resolve_distance``, on the embeddings as
        given); or a distance object.
    normalize : bool or None
        Override the normalisation of a name or of the default.
    reducer : dml reducer object or None
        ``AvgNonZeroReducer()``, ``MeanReducer()``, ``SumReducer()``,
        ``DoNothingReducer()`` (pml's names).
    reduction : str or None
        The same as a name: "mean_nonzero", "mean", "sum", "none". Give
        ``reducer`` or ``reduction``, not both; neither is the default.
    """

    default_distance = LpDistance
    default_reduction = "mean"
    reductions = REDUCTIONS
    labels_required = True

    def __init__(self, *, distance=None, normalize: bool | None = None,
                 reducer=None, reduction: str | None = None):
        super().__init__()
        self.distance = resolve_distance(distance, normalize,
                                         type(self).default_distance)
        self.reducer = resolve_reducer(reducer, reduction,
                                       self.default_reduction,
                                       self.reductions)

    @property
    def reduction(self) -> str:
        """The name of the reducer's reduction ("mean_nonzero", ...);
        setting it replaces the reducer."""
        return self.reducer.reduction

    @reduction.setter
    def reduction(self, name: str):
        self.reducer = resolve_reducer(None, name, self.default_reduction,
                                       self.reductions)

    def forward(self, embeddings, labels=None, indices_tuple=None,
                ref_emb=None, ref_labels=None):
        labels, ref_emb, ref_labels = check_loss_inputs(
            embeddings, labels, indices_tuple, ref_emb, ref_labels,
            self.labels_required)
        return self.compute_loss(embeddings, labels, indices_tuple, ref_emb,
                                 ref_labels)

    def compute_loss(self, embeddings, labels, indices_tuple, ref_emb,
                     ref_labels):  # pragma: no cover - abstract
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"
