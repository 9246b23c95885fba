"""P x K batches: P classes, K samples of each (Hermans et al., 2017).

Batch-hard, semi-hard and most pair losses need positives in every batch;
a random batch of 64 from 100 classes has almost none. A P x K batch has
P * (K - 1) positives per class-mate group by construction.

Use :class:`PKSampler` as a ``batch_sampler`` of a
``torch.utils.data.DataLoader`` (each item it yields is a list of P * K
indices), or iterate over it directly.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Sampler

from ._arrays import check_labels, check_positive_int

__all__ = ["PKSampler"]


class PKSampler(Sampler):
    r"""Batches of P distinct classes with K samples each, seeded.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`, used in
    every training run from there on. A batch has B = P K samples and, by
    construction,

    .. math::

       \lvert \mathcal{P} \rvert = P K (K - 1),

       \lvert \mathcal{N} \rvert = P K (P - 1) K

    ordered positive and negative pairs (Hermans et al., 2017).
    ``len(sampler)`` is the number of batches per epoch.

    Parameters
    ----------
    labels : (N,) array, list or tensor
        Class labels of the data set.
    P : int
        Classes per batch, 1 <= P <= number of classes.
    K : int
        Samples per class in a batch.
    seed : int or None
        Seed of the sampler's own ``torch.Generator``; the sequence of
        epochs is the same for the same seed (each ``iter`` continues the
        generator, so successive epochs differ). None: a random seed.
    n_batches : int or None
        Batches per epoch; default max(1, N // (P * K)), so that one epoch
        shows about N samples.

    Notes
    -----
    How a batch is drawn: P classes uniformly at random without
    replacement; for each, the next K indices of that class's own shuffled
    order (a new shuffle starts when it runs out; the K indices of one
    batch are then still distinct, the leftovers of the old order first).
    With P equal to the number of classes and every class of the same
    size, a multiple of K, an epoch visits every sample exactly once.
    A class with fewer than K samples is drawn with replacement (its K
    indices repeat some samples), as pytorch-metric-learning's
    MPerClassSampler does.
    """

    def __init__(self, labels, P: int, K: int, seed: int | None = 0,
                 n_batches: int | None = None):
        y = check_labels(labels, len(labels), "labels").cpu()
        self.classes, inverse = torch.unique(y, return_inverse=True)
        C = len(self.classes)
        self.P = check_positive_int(P, "P")
        if self.P > C:
            raise ValueError(f"P={P} but the labels have only {C} "
                             f"classes; use P <= {C}.")
        self.K = check_positive_int(K, "K")
        order = torch.argsort(inverse, stable=True)
        counts = torch.bincount(inverse, minlength=C)
        self._members = list(torch.split(order, counts.tolist()))
        self.n_samples = len(y)
        self._labels = y
        if n_batches is None:
            n_batches = max(1, self.n_samples // (self.P * self.K))
        self.n_batches = check_positive_int(n_batches, "n_batches")
        self.generator = torch.Generator()
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(int(seed))
        self._queues = [torch.empty(0, dtype=torch.int64)] * C

    def __len__(self) -> int:
        return self.n_batches

    def _take(self, c: int) -> torch.Tensor:
        """The next K indices of class c (distinct if the class has K)."""
        members, g = self._members[c], self.generator
        if len(members) < self.K:                 # with replacement
            pick = torch.randint(len(members), (self.K,), generator=g)
            return members[pick]
        queue = self._queues[c]
        if len(queue) < self.K:                   # reshuffle, leftovers 1st
            fresh = members[torch.randperm(len(members), generator=g)]
            fresh = fresh[~torch.isin(fresh, queue)]
            queue = torch.cat([queue, fresh])
        self._queues[c] = queue[self.K:]
        return queue[:self.K]

    def __iter__(self):
        C = len(self._members)
        for _ in range(self.n_batches):           # loop over batches
            chosen = torch.randperm(C, generator=self.generator)[:self.P]
            batch = torch.cat([self._take(int(c)) for c in chosen])
            yield batch.tolist()

    def batch_labels(self, batch) -> np.ndarray:
        """Labels of a yielded batch (string labels come back as their
        codes 0..C-1 in sorted order)."""
        return self._labels[torch.as_tensor(batch)].numpy()
