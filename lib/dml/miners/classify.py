"""Hard, semi-hard and easy triplets (Schroff, Kalenichenko & Philbin 2015).

For a triplet (a, p, n) with anchor-positive distance d_ap, anchor-negative
distance d_an and margin m (book, chapter 3):

=========== ================================ =========================
type        condition                        triplet loss
=========== ================================ =========================
hard        d_an < d_ap                      > m (negative is closer)
semi-hard   d_ap <= d_an < d_ap + m          in (0, m]
easy        d_an >= d_ap + m                 0 (beyond the margin)
=========== ================================ =========================

FaceNet and the drug-compound case study ("Learning Distance Metrics", a
worked notebook) write the conditions with strict inequalities and leave
the ties unassigned; the boundaries here follow the case study's code: a
tie d_an = d_ap is semi-hard and a tie d_an = d_ap + m is easy.
(pytorch-metric-learning's TripletMarginMiner puts both ties on the other
side; see :class:`dml.miners.TripletMarginMiner`.)
For a similarity (cosine), pass d = -s so that smaller still means closer.
"""
from __future__ import annotations

import numpy as np
import torch

from .._arrays import like_input, to_tensor
from ._base import check_margin

__all__ = ["TRIPLET_TYPES", "HARD", "SEMIHARD", "EASY",
           "triplet_type_codes", "classify_triplets"]

#: Names of the triplet types, indexed by their integer code.
TRIPLET_TYPES = ("hard", "semi-hard", "easy")
HARD, SEMIHARD, EASY = 0, 1, 2


def triplet_type_codes(d_ap, d_an, margin: float):
    r"""Integer code of each triplet: 0 hard, 1 semi-hard, 2 easy.

    Taught in :doc:`chapter 4 </book/chapters/04_mining>`. Schroff,
    Kalenichenko & Philbin (2015), with margin m:

    .. math::

       \text{code} = \begin{cases}
           0 & \text{if } d_{an} < d_{ap}, \\
           1 & \text{if } d_{ap} \le d_{an} < d_{ap} + m, \\
           2 & \text{if } d_{an} \ge d_{ap} + m.
       \end{cases}

    A hard triplet has a loss above m, a semi-hard one a loss in (0, m],
    an easy one no loss. A tie d_an = d_ap is semi-hard and a tie
    d_an = d_ap + m is easy (pytorch-metric-learning puts both ties on the
    other side). For a similarity s (cosine), pass d = -s.

    Parameters
    ----------
    d_ap, d_an : array or tensor
        Anchor-positive and anchor-negative distances (smaller = closer),
        of the same or broadcastable shapes.
    margin : float
        m >= 0 in the equation.

    Returns
    -------
    int64 array or tensor
        The codes, of the broadcast shape: numpy in, numpy out; a tensor
        in, a tensor out on the same device. ``TRIPLET_TYPES[code]`` is
        the name.
    """
    margin = check_margin(margin)
    ap = to_tensor(d_ap, "d_ap")
    an = to_tensor(d_an, "d_an").to(ap.device)
    try:
        ap, an = torch.broadcast_tensors(ap, an)
    except RuntimeError:
        raise ValueError(f"d_ap has shape {tuple(ap.shape)} and d_an has "
                         f"shape {tuple(an.shape)}; they must have the same "
                         "(or broadcastable) shapes.") from None
    codes = torch.full(ap.shape, EASY, dtype=torch.int64, device=ap.device)
    codes[an < ap + margin] = SEMIHARD
    codes[an < ap] = HARD
    if isinstance(d_ap, torch.Tensor) or isinstance(d_an, torch.Tensor):
        return codes
    return like_input(codes, np.asarray(d_ap))


def classify_triplets(d_ap, d_an, margin: float) -> np.ndarray:
    r"""Names "hard" / "semi-hard" / "easy" of each triplet.

    Taught in :doc:`chapter 4 </book/chapters/04_mining>`. With margin m:

    .. math::

       \begin{aligned}
       \text{hard:} \quad & d_{an} < d_{ap} \\
       \text{semi-hard:} \quad & d_{ap} \le d_{an} < d_{ap} + m \\
       \text{easy:} \quad & d_{an} \ge d_{ap} + m
       \end{aligned}

    Same rule and arguments as :func:`triplet_type_codes`; always returns
    a numpy array of strings (a tensor cannot hold strings), with the
    shape of the (broadcast) inputs.
    """
    codes = triplet_type_codes(d_ap, d_an, margin)
    codes = codes.cpu().numpy() if isinstance(codes, torch.Tensor) \
        else np.asarray(codes)
    return np.asarray(TRIPLET_TYPES)[codes]
