"""Which distance (or similarity) a loss sees: an object, or a name.

Every loss class takes ``distance=`` as pytorch-metric-learning does: a
:mod:`dml.distances` object (``LpDistance()``, ``CosineSimilarity()``,
``DotProductSimilarity()``), whose ``is_inverted`` flag says whether
larger means closer. ``None`` is the loss's default, pml's default for
that loss (``LpDistance()``, normalised embeddings, for most). dml's short
names are the same objects on the embeddings *as given*:

* ``"euclidean"``    ``LpDistance(normalize_embeddings=False)``
* ``"sqeuclidean"``  ``LpDistance(normalize_embeddings=False, power=2)``
* ``"cosine"``       ``CosineSimilarity()``
* ``"dot"``          ``DotProductSimilarity(normalize_embeddings=False)``

and ``normalize=True`` / ``False`` switches the normalisation of a name
or of the default (it is refused next to an object: set the object's
``normalize_embeddings``).

A formula written for distances (contrastive, triplet, lifted) meets a
similarity s as the distance d = -s with every margin negated, and one
written for similarities (N-pairs, NT-Xent, multi-similarity) meets a
distance d as s = -d, margins negated: :func:`orientation` gives that
sign. This is pml's ``distance.margin(x, y)`` rule, so a margin means
what it means in pml (with ``CosineSimilarity`` a contrastive
``neg_margin`` is a similarity above which negatives are pushed).
"""
from __future__ import annotations

import torch

from .._arrays import check_choice
from ..distances import (BaseDistance, CosineSimilarity,
                         DotProductSimilarity, LpDistance)

__all__ = ["DISTANCE_NAMES", "distance_from_name", "resolve_distance",
           "orientation", "tuple_distances"]

DISTANCE_NAMES = ("euclidean", "sqeuclidean", "cosine", "dot")


def distance_from_name(name: str,
                       normalize: bool | None = None) -> BaseDistance:
    """The distance object a name of :data:`DISTANCE_NAMES` stands for."""
    check_choice(name, "distance", DISTANCE_NAMES, alternative=(
        " or a dml.distances object (LpDistance(), CosineSimilarity(), "
        "DotProductSimilarity())"))
    if name == "cosine":
        return CosineSimilarity(True if normalize is None else normalize)
    nz = bool(normalize)                    # names: embeddings as given
    if name == "dot":
        return DotProductSimilarity(normalize_embeddings=nz)
    return LpDistance(normalize_embeddings=nz,
                      power=2 if name == "sqeuclidean" else 1)


def resolve_distance(distance=None, normalize: bool | None = None,
                     default=LpDistance) -> BaseDistance:
    """A loss's distance object from its ``distance=`` and ``normalize=``.

    Parameters
    ----------
    distance : None, str or BaseDistance
        None: ``default()``; a name of :data:`DISTANCE_NAMES`; or an
        object of :mod:`dml.distances`, used as it is.
    normalize : bool or None
        None: as the object or name says. True / False: L2-normalise the
        embeddings first, or not (with None or a name only).
    default : callable
        The loss's default distance class (pml's), called with
        ``normalize_embeddings=normalize`` when normalize is given.
    """
    if isinstance(distance, BaseDistance):
        if normalize is not None and \
                bool(normalize) != distance.normalize_embeddings:
            raise ValueError(
                f"normalize={normalize} contradicts the distance object "
                f"{distance!r}; set its normalize_embeddings instead.")
        return distance
    if distance is None:
        if normalize is None:
            return default()
        return default(normalize_embeddings=bool(normalize))
    if isinstance(distance, str):
        return distance_from_name(distance, normalize)
    raise ValueError(
        f"distance must be None, one of {DISTANCE_NAMES} or a "
        "dml.distances object (LpDistance(), CosineSimilarity(), "
        f"DotProductSimilarity()), got {type(distance).__module__}."
        f"{type(distance).__name__}.")


def orientation(distance: BaseDistance, formula: str = "distance") -> float:
    """+1 if ``distance`` already points the way ``formula`` is written,
    else -1: multiply the matrix *and the margins* by it.

    ``formula="distance"``: smaller = closer (d = -s for a similarity);
    ``formula="similarity"``: larger = closer (s = -d for a distance).
    """
    inverted = distance.is_inverted
    return 1.0 if inverted == (formula == "similarity") else -1.0


def tuple_distances(distance: BaseDistance, X: torch.Tensor, pairs,
                    ref: torch.Tensor | None = None):
    """Values m(x_i, r_j) of given index pairs only, in ``distance``'s own
    orientation (a similarity stays a similarity).

    ``pairs`` is a list of (i, j) index tensors, e.g. [(a, p), (a, n)] for
    the triplets a miner returned; i indexes X and j indexes ``ref`` (X if
    None). When the pairs are few the values come straight from the rows
    (``distance.paired``) and the (B, R) matrix with its gradient is never
    built: batch-hard mining needs 2B distances, not B^2. Otherwise the
    matrix is cheaper and is used. The rule compares measured costs (CPU,
    float32, forward + backward): about 2.5 ns per gathered number (T * D
    of them) against, for the matrix, 0.07 ns per multiply-add of the Gram
    product (B R D) plus 13 ns per matrix entry for the elementwise passes
    (sqrt, masks) and their backward. E.g. B = 256 with the 768 triplets
    of a 4-per-class semi-hard miner: rows, 0.6 ms for D = 128 (matrix
    1.4 ms) and 1.4 ms for D = 512 (3.2 ms). Rows are gathered with
    ``index_select``, once per index tensor (the anchors of [(a, p),
    (a, n)] once): its backward is a plain ``index_add``, several times
    faster than that of ``X[i]``. Returns one (T,) tensor per pair.
    """
    R = X if ref is None else ref
    B, D = X.shape
    T = sum(len(i) for i, _ in pairs)
    if 2.5 * T * D >= B * len(R) * (0.07 * D + 13.0):
        M = distance(X, ref)                                    # (B, R)
        return [M[i, j] for i, j in pairs]
    # normalise the B (and R) rows once, not each gathered copy: the same
    # numbers (a row-wise operation), a quarter of the work and of the
    # backward for the two pair lists of a triplet
    Xn = distance.maybe_normalize(X)                            # (B, D)
    Rn = Xn if ref is None else distance.maybe_normalize(R)     # (R, D)
    gathered = {}                           # one gather per index tensor

    def rows(src, idx):
        key = (id(src), id(idx))
        if key not in gathered:
            gathered[key] = (idx, src.index_select(0, idx))     # (T, D)
        return gathered[key][1]

    return [distance.paired(rows(Xn, i), rows(Rn, j), normalized=True)
            for i, j in pairs]                                  # (T,) each
