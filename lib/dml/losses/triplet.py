"""Triplet loss (Weinberger & Saul, 2009; Schroff et al., 2015).

    L(a, p, n) = [d(a, p) - d(a, n) + m]_+                 (book, chapter 3)

The anchor a must be closer to its positive p than to its negative n by at
least the margin m; triplets that already are cost nothing. Two
conventions are in use. Weinberger & Saul's LMNN hinge (2009) and
FaceNet (Schroff et al., 2015, on L2-normalised embeddings, margin alpha)
use squared distances, d(a, p)^2 - d(a, n)^2 + m (``squared=True``); the
online notes "Metric Learning" and pytorch-metric-learning's
``TripletMarginLoss`` use plain distances (``squared=False``, the
default here).

``TripletMarginLoss`` follows pytorch-metric-learning 2.9: margin 0.05,
``LpDistance()`` (the Euclidean distance of L2-normalised embeddings);
the chapters pass ``distance="euclidean"`` and FaceNet's margin 0.2 where
they mean the raw distance.

The soft-margin version (Hermans, Beyer & Leibe, 2017) replaces the hinge
by softplus, log(1 + exp(d_ap - d_an + m)): no flat region, so every
triplet keeps a gradient. Hermans et al. drop the margin (m = 0); like
pytorch-metric-learning's ``smooth_loss``, we keep it inside.

Worked example (from the online notes "Metric Learning"): d(a, p) = 0.5,
d(a, n) = 0.6, m = 0.2 gives [0.5 - 0.6 + 0.2]_+ = 0.1, a semi-hard
triplet; the squared form gives 0.25 - 0.36 + 0.2 = 0.09.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .._arrays import like_input, to_tensor
from ._base import BaseMetricLoss
from ._distance import orientation, tuple_distances
from ._reduce import zero_loss
from ._tuples import anchor_chunks, as_triplets, pair_masks

__all__ = ["triplet_loss", "TripletMarginLoss"]


def triplet_loss(d_ap, d_an, margin: float = 0.2, *, squared: bool = False,
                 soft: bool = False):
    r"""Triplet loss of each triplet, elementwise (broadcasting).

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`. With
    d_ap = d(a, p), d_an = d(a, n) and margin m, the hinge, its squared
    form (LMNN, FaceNet: Schroff et al., 2015) and the soft margin
    (Hermans, Beyer & Leibe, 2017):

    .. math::

       \begin{aligned}
       \ell &= [d_{ap} - d_{an} + m]_+, \\
       \ell_{\text{squared}} &= [d_{ap}^2 - d_{an}^2 + m]_+, \\
       \ell_{\text{soft}} &= \log\big(1 + e^{d_{ap} - d_{an} + m}\big).
       \end{aligned}

    Parameters
    ----------
    d_ap, d_an : tensors
        Anchor-positive and anchor-negative distances, d(a, p) and d(a, n).
    margin : float
        m in the equation (0.2 here, FaceNet's alpha; the class's default
        is pml's 0.05).
    squared : bool
        Use d(a, p)^2 - d(a, n)^2 (LMNN, FaceNet) instead of plain
        distances (the "Metric Learning" notes, pml).
    soft : bool
        softplus instead of the hinge [.]_+.

    Returns
    -------
    tensor
        The loss of each triplet, of the broadcast shape of d_ap and d_an
        (numpy for a numpy d_ap).
    """
    reference = d_ap
    d_ap = to_tensor(d_ap, "d_ap")
    d_an = to_tensor(d_an, "d_an").to(d_ap.device)
    if squared:
        d_ap, d_an = d_ap * d_ap, d_an * d_an
    violation = d_ap - d_an + margin
    loss = F.softplus(violation) if soft else F.relu(violation)
    return like_input(loss, reference)


class TripletMarginLoss(BaseMetricLoss):
    r"""Triplet loss over the triplets of a batch, a module.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`. Schroff,
    Kalenichenko & Philbin (2015), with pytorch-metric-learning 2.9's
    ``TripletMarginLoss`` defaults: with T the valid triplets of the batch
    (y_a = y_p != y_n, a != p) and d_ap = d(a, p), d_an = d(a, n)
    (``LpDistance()``: Euclidean on L2-normalised embeddings),

    .. math::

       \mathcal{L} = \operatorname{mean}_{(a, p, n) \in T}
           [d_{ap} - d_{an} + m]_+,

    the mean taken over the nonzero terms (``AvgNonZeroReducer``).

    Parameters
    ----------
    margin : float
        m (0.05, pml's; FaceNet's alpha is 0.2).
    swap : bool
        Replace d_an by min(d_an, d_pn) when the positive is closer to the
        negative than the anchor is (Balntas et al., 2016; pml's
        ``swap``).
    smooth_loss : bool
        Soft margin, softplus(d_ap - d_an + m) (Hermans et al., 2017,
        with the margin kept; pml's ``smooth_loss``).
    triplets_per_anchor : "all" or int
        "all": every valid triplet. An int k: k random triplets per anchor
        that has a positive and a negative (positive and negative drawn
        uniformly, with replacement), as pml's random sampling; not the
        same draws as pml's.
    squared : bool
        Square the distances, d_ap^2 - d_an^2 (LMNN, FaceNet); dml extra,
        default False (pml). Needs a distance, not a similarity.
    distance : None, str or dml.distances object
        Default ``LpDistance()`` (pml's). ``"euclidean"`` is the distance
        of the embeddings as given; with a similarity (``"cosine"``,
        ``CosineSimilarity()``) the term is [s_an - s_ap + m]_+, pml's.
    normalize : bool or None
        Override the normalisation of the default or of a name
        (``normalize=False``: the plain Euclidean distance).
    reducer, reduction
        Default ``AvgNonZeroReducer()`` / "mean_nonzero".

    Notes
    -----
    Call it as ``loss(embeddings, labels, indices_tuple=None, ref_emb=None,
    ref_labels=None)``. Without indices_tuple every valid triplet is used,
    in lexicographic (a, p, n) order. There are about B^3 / 2 of them, so
    they are evaluated in chunks of anchors, each chunk under
    ``torch.utils.checkpoint``: memory stays O(B^2) plus one chunk,
    forward and backward. With a miner's triplets (a, p, n) exactly those
    are used; pairs (a1, p, a2, n) are matched by anchor into triplets.
    With ``ref_emb`` the positives and negatives come from the reference
    set (and ``swap`` compares ref_emb[p] with ref_emb[n]).
    """

    default_reduction = "mean_nonzero"
    labels_required = False     # pml: labels or indices_tuple

    def __init__(self, margin: float = 0.05, swap: bool = False,
                 smooth_loss: bool = False, triplets_per_anchor="all", *,
                 squared: bool = False, **kwargs):
        super().__init__(**kwargs)
        if squared and (self.distance.is_inverted
                        or self.distance.power != 1):
            raise ValueError("squared=True squares a distance of power 1; "
                             f"got {self.distance!r}. Use LpDistance() or "
                             "distance='euclidean' with squared=True.")
        if triplets_per_anchor != "all" and (
                isinstance(triplets_per_anchor, bool)
                or not isinstance(triplets_per_anchor, int)
                or triplets_per_anchor < 1):
            raise ValueError("triplets_per_anchor must be 'all' or a "
                             f"positive int, got {triplets_per_anchor!r}.")
        self.margin, self.swap, self.smooth_loss = margin, swap, smooth_loss
        self.triplets_per_anchor = triplets_per_anchor
        self.squared = squared

    def _terms(self, d_ap, d_an):
        return triplet_loss(d_ap, d_an, self.margin, squared=self.squared,
                            soft=self.smooth_loss)

    def compute_loss(self, embeddings, labels, indices_tuple, ref_emb,
                     ref_labels):
        sign = orientation(self.distance, "distance")
        if indices_tuple is None and self.triplets_per_anchor != "all":
            indices_tuple = _random_triplets(labels, ref_labels,
                                             self.triplets_per_anchor)
        if indices_tuple is not None:
            a, p, n = as_triplets(indices_tuple, labels, ref_labels)
            d_ap, d_an = tuple_distances(self.distance, embeddings,
                                         [(a, p), (a, n)], ref_emb)
            d_ap, d_an = sign * d_ap, sign * d_an               # (T,)
            if self.swap:
                R = embeddings if ref_emb is None else ref_emb
                d_pn = sign * tuple_distances(self.distance, R,
                                              [(p, n)])[0]     # (T,)
                d_an = torch.minimum(d_an, d_pn)
            return self.reducer(self._terms(d_ap, d_an), embeddings)
        D = sign * self.distance(embeddings, ref_emb)           # (B, R)
        D_pn = None
        if self.swap:
            D_pn = D if ref_emb is None else \
                sign * self.distance(ref_emb)                   # (R, R)
        return self._all_triplets(D, D_pn, labels, ref_labels, embeddings)

    def _block(self, D_c, D_pn):
        """Terms of one chunk of anchors: (c, R, R) over (p, n)."""
        d_an = D_c[:, None, :]                                  # (c, 1, R)
        if D_pn is not None:
            d_an = torch.minimum(d_an, D_pn[None])              # (c, R, R)
        return self._terms(D_c[:, :, None], d_an)               # (c, R, R)

    def _chunk(self, D_c, pos_c, neg_c, D_pn):
        """Sum and number of positive terms of one chunk of anchors."""
        valid = pos_c[:, :, None] & neg_c[:, None, :]           # (c, R, R)
        block = self._block(D_c, D_pn)
        block = torch.where(valid, block, torch.zeros_like(block))
        # summed in float32 at least (half-precision terms), no host sync
        return block.sum(dtype=torch.promote_types(block.dtype,
                                                   torch.float32)), \
            (block > 0).sum()

    def _all_triplets(self, D, D_pn, labels, ref_labels, embeddings):
        pos, neg = pair_masks(labels, ref_labels)               # (B, R)
        B, R = D.shape
        chunks = list(anchor_chunks(B, max(1, (2 ** 22) * B * B
                                           // max(1, R * R))))
        if self.reduction == "none":                           # all terms
            parts = []
            for s in chunks:
                valid = pos[s][:, :, None] & neg[s][:, None, :]  # (c, R, R)
                parts.append(self._block(D[s], D_pn)[valid])
            return torch.cat(parts)
        n_valid = int((pos.sum(1) * neg.sum(1)).sum())
        if n_valid == 0:
            return zero_loss(embeddings)
        total = D.new_zeros((), dtype=torch.promote_types(D.dtype,
                                                          torch.float32))
        n_positive = D.new_zeros((), dtype=torch.int64)   # on the device
        for s in chunks:
            if D.requires_grad and torch.is_grad_enabled():
                part, count = checkpoint(self._chunk, D[s], pos[s], neg[s],
                                         D_pn, use_reentrant=False)
            else:
                part, count = self._chunk(D[s], pos[s], neg[s], D_pn)
            total, n_positive = total + part, n_positive + count
        if self.reduction == "sum":
            return total
        if self.reduction == "mean":
            return total / n_valid
        return torch.where(n_positive > 0,
                           total / n_positive.clamp_min(1), total * 0.0)

    def extra_repr(self) -> str:
        return (f"margin={self.margin}, swap={self.swap}, smooth_loss="
                f"{self.smooth_loss}, triplets_per_anchor="
                f"{self.triplets_per_anchor!r}, " + super().extra_repr())


def _random_triplets(labels, ref_labels, k: int):
    """k random (a, p, n) per anchor with a positive and a negative.

    Positive and negative drawn uniformly (with replacement) among the
    anchor's, as pytorch-metric-learning's ``get_random_triplet_indices``
    (per anchor, not per label; other draws than pml's).
    """
    pos, neg = pair_masks(labels, ref_labels)                   # (B, R)
    anchors = torch.nonzero(pos.any(1) & neg.any(1)).flatten()  # (A,)
    if len(anchors) == 0:
        empty = labels.new_zeros(0)
        return empty, empty, empty
    p = torch.multinomial(pos[anchors].float(), k, replacement=True)
    n = torch.multinomial(neg[anchors].float(), k, replacement=True)
    a = anchors.repeat_interleave(k)                            # (A k,)
    return a, p.flatten(), n.flatten()
