"""Random triplets: the baseline that mining is measured against.

For every anchor a with at least one positive and one negative in the
batch, one positive p and one negative n drawn uniformly:

    p ~ U{p : y_p = y_a, p != a},   n ~ U{n : y_n != y_a}

(book, chapter 4). No distance is looked at, so most triplets are easy
once training has started: that is the point of the comparison.
"""
from __future__ import annotations

import torch

from ._base import Miner, label_masks

__all__ = ["RandomTripletMiner"]


class RandomTripletMiner(Miner):
    r"""One uniformly random (a, p, n) per anchor, seeded.

    Taught in :doc:`chapter 4 </book/chapters/04_mining>`, as the baseline
    that mining is measured against. For every anchor a with a positive
    and a negative in the batch, one of each drawn uniformly:

    .. math::

       \begin{aligned}
       p &\sim \mathcal{U}\{p : y_p = y_a,\ p \ne a\}, \\
       n &\sim \mathcal{U}\{n : y_n \ne y_a\}.
       \end{aligned}

    No distance is looked at, so most triplets are easy once training has
    started.

    Parameters
    ----------
    seed : int or None
        Seed of the miner's own generator: the same seed and the same
        sequence of batches give the same triplets. None draws from
        torch's global generator.

    Notes
    -----
    Called as ``miner(embeddings, labels, ref_emb=None, ref_labels=None)``,
    it returns (a, p, n), anchors in increasing order; anchors without a
    positive or without a negative are skipped. With a reference set, p
    and n are drawn from it.
    """

    def __init__(self, seed: int | None = 0):
        super().__init__("euclidean")
        self.seed = seed
        self._generators = {}

    def _generator(self, device):
        if self.seed is None:
            return None
        key = str(device)
        if key not in self._generators:
            self._generators[key] = torch.Generator(device=device)
            self._generators[key].manual_seed(int(self.seed))
        return self._generators[key]

    def mine(self, E, labels, R=None, ref_labels=None):
        pos, neg = label_masks(labels, ref_labels)              # (B, R)
        a = torch.nonzero(pos.any(1) & neg.any(1), as_tuple=True)[0]
        gen = self._generator(E.device)
        p = torch.multinomial(pos[a].float(), 1, generator=gen)[:, 0]
        n = torch.multinomial(neg[a].float(), 1, generator=gen)[:, 0]
        return a, p, n

    def extra_repr(self) -> str:
        return f"seed={self.seed!r}"
