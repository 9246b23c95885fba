"""Offline data sets of the course: nothing is downloaded, everything seeded.

* :func:`drug_compounds`  chapters 1-4: 4 mechanisms of action described by
  12 molecular descriptors, of which only 3 separate the classes (the
  drug-compound case study notebook, *Learning Distance Metrics*).
* :func:`animals`         chapter 7: cats, dogs and snakes in R^3, with the
  coarse labels mammal / reptile (Chen & Verma, *Weak Metric
  Learning*, section 4.1).
* :func:`merged_blobs`    chapter 7: five Gaussian clusters in R^3 of which
  two share one coarse label (Chen & Verma, figure 2).
* :func:`digits_coarse`   chapter 7: scikit-learn's bundled 8x8 digits with
  their 10 labels and 5 coarse labels (digits 2c and 2c+1 merged).

Every generator returns a :class:`LabelledData` (a named tuple: unpack it as
``X, y, names = drug_compounds()``) or a :class:`HierarchicalData` with fine
and coarse labels.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from ._arrays import check_positive_int, to_numpy

__all__ = ["LabelledData", "HierarchicalData", "drug_compounds", "animals",
           "merged_blobs", "digits_coarse", "train_test_split",
           "DRUG_DISCRIMINATIVE"]


class LabelledData(NamedTuple):
    """A labelled data set ``(X, y, names)``, unpacked like a tuple.

    Taught in :doc:`chapter 1 </book/chapters/01_distances>`.
    """
    X: np.ndarray
    y: np.ndarray
    names: tuple


LabelledData.X.__doc__ = "The (N, D) float64 array of samples, one per row."
LabelledData.y.__doc__ = "The (N,) int64 array of class labels in 0..C-1."
LabelledData.names.__doc__ = "The C class names; names[c] is class c's name."


class HierarchicalData(NamedTuple):
    """Data with fine labels y and coarse labels y_coarse (a coarsening).

    Taught in :doc:`chapter 7 </book/chapters/07_weak>`.
    """
    X: np.ndarray
    y: np.ndarray
    y_coarse: np.ndarray
    names: tuple
    coarse_names: tuple
    fine_to_coarse: np.ndarray


HierarchicalData.X.__doc__ = "The (N, D) float64 array of samples, one a row."
HierarchicalData.y.__doc__ = "The (N,) int64 array of fine labels in 0..C-1."
HierarchicalData.y_coarse.__doc__ = (
    "The (N,) int64 array of coarse labels, fine_to_coarse[y].")
HierarchicalData.names.__doc__ = "The C fine class names, a tuple."
HierarchicalData.coarse_names.__doc__ = "The coarse class names, a tuple."
HierarchicalData.fine_to_coarse.__doc__ = (
    "The (C,) int64 array mapping fine class c to its coarse label.")


#: Indices of the three descriptors that carry the mechanism of action.
DRUG_DISCRIMINATIVE = (0, 1, 2)

_DRUG_NAMES = ("kinase inhibitor", "HDAC inhibitor", "proteasome inhibitor",
               "DNA alkylator")
# Class means on the three informative descriptors (the case study's
# scenario); the other nine
# descriptors have mean 0 for every class.
_DRUG_CENTERS = np.array([[2.0, 1.5, 0.5],
                          [-1.5, 2.0, -1.0],
                          [-1.0, -2.0, 2.0],
                          [1.0, -1.5, -1.5]])


def _check_seed(seed):
    if seed is not None and (isinstance(seed, bool) or
                             not isinstance(seed, (int, np.integer))):
        raise ValueError(f"seed must be an integer or None, got {seed!r}.")
    return np.random.default_rng(seed)


def _gaussian_classes(rng, centers, scales, n_per_class):
    """Stack n_per_class draws of N(centers[c], diag(scales^2)) per class."""
    C, D = centers.shape
    noise = rng.standard_normal((C, n_per_class, D)) * scales  # (C, n, D)
    X = (centers[:, None, :] + noise).reshape(C * n_per_class, D)
    y = np.repeat(np.arange(C), n_per_class)
    return X, y


def drug_compounds(n_per_class: int = 50, seed: int | None = 0,
                   n_noise: int = 9, noise_var: float = 5.0,
                   signal_var: float = 0.8,
                   standardize: bool = True) -> LabelledData:
    r"""Synthetic drug compounds: 4 mechanisms of action, 3 + n_noise features.

    The scenario of the drug-compound case study notebook (*Learning
    Distance Metrics*). Taught in :doc:`chapter 1
    </book/chapters/01_distances>`, used again in chapters 2 to 4.

    Class c draws its descriptors from a Gaussian whose mean mu_c is
    non-zero on the first three descriptors only (``DRUG_DISCRIMINATIVE``):

    .. math::

       x \sim \mathcal{N}(\mu_c, \Sigma),

       \Sigma = \operatorname{diag}(\sigma_s^2 I_3,\;
                                    \sigma_n^2 I_{n_\mathrm{noise}}),

    with sigma_s^2 = ``signal_var`` and sigma_n^2 = ``noise_var``. The noisy
    descriptors have six times the spread of the informative ones, so they
    dominate the
    Euclidean distance: the chapter-1 failure that metric learning repairs.
    With ``standardize`` every descriptor is scaled to mean 0 and variance 1,
    as a practitioner would do first (it does not remove the problem).
    """
    n_per_class = check_positive_int(n_per_class, "n_per_class")
    if n_noise < 0:
        raise ValueError(f"n_noise must be >= 0, got {n_noise}.")
    if noise_var <= 0 or signal_var <= 0:
        raise ValueError("noise_var and signal_var must be positive.")
    rng = _check_seed(seed)
    centers = np.hstack([_DRUG_CENTERS, np.zeros((4, n_noise))])   # (4, D)
    scales = np.sqrt(np.r_[np.full(3, signal_var),
                           np.full(n_noise, noise_var)])
    X, y = _gaussian_classes(rng, centers, scales, n_per_class)
    if standardize:
        X = (X - X.mean(0)) / X.std(0)
    return LabelledData(X, y, _DRUG_NAMES)


def animals(n_per_class: int = 100, seed: int | None = 0,
            spread: float = 0.35) -> HierarchicalData:
    r"""Three measured features of cats, dogs and snakes (Chen & Verma, 4.1).

    Taught in :doc:`chapter 7 </book/chapters/07_weak>`. Each class is one
    Gaussian cluster,

    .. math::

       x \sim \mathcal{N}(\mu_c,\ \mathrm{spread}^2 I_3)
       \quad \text{for class } c.

    Cats and dogs (both mammals) sit near each other, snakes (reptiles) far
    away; the two mammal clusters are still clearly separate in the raw
    space, which a contrastive loss on mammal/reptile pairs destroys.
    """
    n_per_class = check_positive_int(n_per_class, "n_per_class")
    rng = _check_seed(seed)
    centers = np.array([[1.0, 1.0, 0.0],     # cat
                        [2.2, 1.8, 0.4],     # dog
                        [-1.5, -1.0, 2.5]])  # snake
    X, y = _gaussian_classes(rng, centers, spread, n_per_class)
    f2c = np.array([0, 0, 1])
    return HierarchicalData(X, y, f2c[y], ("cat", "dog", "snake"),
                            ("mammal", "reptile"), f2c)


def merged_blobs(n_per_class: int = 100, seed: int | None = 0,
                 spread: float = 0.5) -> HierarchicalData:
    r"""Five Gaussian clusters in R^3; the last two share coarse label 3.

    Taught in :doc:`chapter 7 </book/chapters/07_weak>`. Chen & Verma's
    figure 2 (*Weak Metric Learning*): the coarse labelling shows 4
    classes, but 5 generating clusters exist. Fine labels 0..4, coarse
    labels 0..3, and

    .. math::

       x \sim \mathcal{N}(\mu_c,\ \mathrm{spread}^2 I_3)
       \quad \text{for class } c.
    """
    n_per_class = check_positive_int(n_per_class, "n_per_class")
    rng = _check_seed(seed)
    centers = np.array([[0.0, 4.0, 3.0],
                        [4.0, 4.0, 3.0],
                        [-4.0, 4.0, 3.0],
                        [-1.5, -2.0, 0.0],   # the two 'bottom' clusters ...
                        [1.5, -2.0, 0.0]])   # ... merged into one label
    X, y = _gaussian_classes(rng, centers, spread, n_per_class)
    f2c = np.array([0, 1, 2, 3, 3])
    names = tuple(f"blob {c}" for c in range(5))
    coarse = ("blob 0", "blob 1", "blob 2", "blobs 3+4")
    return HierarchicalData(X, y, f2c[y], names, coarse, f2c)


def digits_coarse(scale: bool = True) -> HierarchicalData:
    r"""scikit-learn's 1 797 handwritten 8x8 digits (bundled, offline).

    Fine labels are the digits 0..9; coarse label c merges digits 2c and
    2c + 1 ({0,1}, {2,3}, ..., {8,9}):

    .. math::

       y_\mathrm{coarse} = \lfloor y / 2 \rfloor .

    With ``scale`` the pixel values (0..16) are divided by 16. First used in
    :doc:`chapter 4 </book/chapters/04_mining>`; its coarse labels are taught
    in :doc:`chapter 7 </book/chapters/07_weak>`.
    """
    from sklearn.datasets import load_digits
    digits = load_digits()
    X = digits.data / 16.0 if scale else digits.data.astype(np.float64)
    y = digits.target.astype(np.int64)
    f2c = np.arange(10) // 2
    names = tuple(str(d) for d in range(10))
    coarse = tuple(f"{2 * c} or {2 * c + 1}" for c in range(5))
    return HierarchicalData(X, y, f2c[y], names, coarse, f2c)


def train_test_split(X, y, test_size: float = 0.3, seed: int | None = 0,
                     stratify: bool = True):
    """Split into (X_train, X_test, y_train, y_test), scikit-learn's order.

    Stratified by default, so every class keeps its share in both parts;
    the drug-compound case study uses an unstratified 70/30 split of 200
    compounds. Taught in :doc:`chapter 1 </book/chapters/01_distances>`.
    """
    from sklearn.model_selection import train_test_split as _split
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must be a fraction in (0, 1), got "
                         f"{test_size}.")
    _check_seed(seed)
    if not isinstance(X, torch.Tensor) and not isinstance(y, torch.Tensor):
        return _split(X, y, test_size=test_size, random_state=seed,
                      stratify=y if stratify else None)
    # tensors (CUDA ones too): split row numbers on the host, with the
    # same random draw as for numpy input, and index each on its device
    y_host = to_numpy(y)
    train, test = _split(np.arange(len(y_host)), test_size=test_size,
                         random_state=seed,
                         stratify=y_host if stratify else None)
    return [_take(A, rows) for A in (X,) for rows in (train, test)] + \
        [_take(y, rows) for rows in (train, test)]


def _take(A, rows: np.ndarray):
    """Rows of A (a tensor on its device, or an array-like)."""
    if isinstance(A, torch.Tensor):
        return A[torch.from_numpy(rows).to(A.device)]
    return np.asarray(A)[rows]
