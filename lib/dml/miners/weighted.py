"""Distance-weighted sampling (Wu, Manmatha, Smola & Kraehenbuehl, 2017).

On the unit sphere S^{n-1} in R^n, the distance d between two independent,
uniformly distributed points has the density

    q(d) ∝ d^{n-2} (1 - d^2 / 4)^{(n-3)/2},   0 < d < 2.

Drawing negatives uniformly therefore gives mostly d ≈ sqrt(2) (easy
negatives, no signal). Wu et al. draw a negative n for an anchor a with
probability

    P(n | a) ∝ min(lambda, 1 / q(max(d_an, cutoff))),  for d_an < tau,

where ``cutoff`` keeps the weights of very close negatives from exploding
and ``nonzero_loss_cutoff`` (tau) drops negatives whose loss would be 0
anyway. Like the authors' code (and pytorch-metric-learning) we leave out
lambda and normalise per anchor.
"""
from __future__ import annotations

import torch

from ._base import Miner, label_masks
from ..distances import euclidean_matrix

__all__ = ["DistanceWeightedMiner", "sphere_distance_log_density"]


def sphere_distance_log_density(d: torch.Tensor, dim: int) -> torch.Tensor:
    """log q(d) = (n - 2) log d + (n - 3) / 2 * log(1 - d^2 / 4) + const.

    The (unnormalised) log density of the distance between two uniform
    points on the unit sphere S^{dim-1} (Wu et al., 2017, Section 4);
    ``dim`` is n, the embedding dimension. Valid for 0 < d < 2; a zero
    coefficient times log 0 (n = 2 at d = 0, n = 3 at d = 2) counts as 0
    (``torch.xlogy``), not NaN.
    """
    n = torch.tensor(float(dim), dtype=d.dtype, device=d.device)
    return torch.xlogy(n - 2.0, d) + 0.5 * torch.xlogy(
        n - 3.0, 1.0 - 0.25 * d * d)


def _unit_rows(E: torch.Tensor) -> torch.Tensor:
    return E / E.norm(dim=1, keepdim=True).clamp_min(1e-12)


class DistanceWeightedMiner(Miner):
    r"""One negative per positive pair (a, p), drawn with weight 1 / q(d_an).

    Taught in :doc:`chapter 4 </book/chapters/04_mining>`. Wu, Manmatha,
    Smola & Kraehenbuehl (2017): on the unit sphere in R^n the distance d
    of two uniform points has density q(d) (0 < d < 2), so a negative n of
    anchor a with d_an < tau is drawn with probability P(n | a), c the
    cutoff and tau the nonzero-loss cutoff (P = 0 for d_an >= tau):

    .. math::

       \begin{aligned}
       q(d) &\propto d^{\,n-2} \Big(1 - \frac{d^2}{4}\Big)^{(n-3)/2}, \\
       P(n \mid a) &\propto \frac{1}{q(\max(d_{an}, c))}.
       \end{aligned}

    Like the authors' code (and pytorch-metric-learning) we leave out the
    paper's cap lambda on the weight and normalise per anchor.

    Parameters
    ----------
    cutoff : float
        c: distances below it are raised to it before weighting (Wu et
        al.'s 0.5).
    nonzero_loss_cutoff : float
        tau: negatives with d_an >= tau get weight 0 (Wu et al.'s 1.4).
    seed : int or None
        Seed of the miner's own ``torch.Generator`` (one per device); a
        fixed seed gives the same draws for the same inputs and device.
        None seeds it non-deterministically.

    Notes
    -----
    The embeddings are L2-normalised first (the formula holds on the unit
    sphere; a no-op for normalised embeddings) and d is the Euclidean
    distance between them. The weights are computed in log space and
    shifted by each anchor's maximum before exponentiating, so no
    overflow occurs for large n. An anchor whose negatives are all at or
    beyond tau draws its negatives uniformly (the authors' fallback).
    Anchors without a positive or a negative give no triplet.
    Draws for one anchor are independent (with replacement), one per
    positive, via ``torch.multinomial`` on a (B, B) weight matrix: O(B^2).
    Called as ``miner(embeddings, labels)``, it returns (a, p, n) with the
    (a, p) in row-major order.
    """

    def __init__(self, cutoff: float = 0.5,
                 nonzero_loss_cutoff: float = 1.4, seed: int | None = 0):
        super().__init__("euclidean")
        if not 0.0 <= float(cutoff) < float(nonzero_loss_cutoff):
            raise ValueError(f"need 0 <= cutoff < nonzero_loss_cutoff, got "
                             f"cutoff={cutoff}, nonzero_loss_cutoff="
                             f"{nonzero_loss_cutoff}.")
        self.cutoff = float(cutoff)
        self.nonzero_loss_cutoff = float(nonzero_loss_cutoff)
        self.seed = seed
        self._generators = {}

    def generator(self, device: torch.device) -> torch.Generator:
        """The miner's generator on ``device`` (created on first use)."""
        key = str(device)
        if key not in self._generators:
            g = torch.Generator(device=device)
            if self.seed is None:
                g.seed()
            else:
                g.manual_seed(int(self.seed))
            self._generators[key] = g
        return self._generators[key]

    def log_weights(self, D: torch.Tensor, neg: torch.Tensor,
                    dim: int) -> torch.Tensor:
        """log P(n | a) up to a per-row constant; -inf where excluded."""
        d = D.clamp(min=self.cutoff, max=2.0 - 1e-6)          # (B, B)
        log_w = -sphere_distance_log_density(d, dim)          # (B, B)
        # with cutoff = 0 a negative at distance 0 has 1 / q = inf: it gets
        # weight 0, as in pytorch-metric-learning (no inf - inf = NaN)
        allowed = neg & (D < self.nonzero_loss_cutoff) & log_w.isfinite()
        none = ~allowed.any(1, keepdim=True)                  # (B, 1)
        log_w = torch.where(none, torch.zeros_like(log_w), log_w)
        allowed = allowed | (none & neg)       # uniform fallback rows
        return log_w.masked_fill(~allowed, float("-inf"))

    def mine(self, E, labels):
        U = _unit_rows(E)
        D = euclidean_matrix(U)                               # (B, B)
        pos, neg = label_masks(labels)
        log_w = self.log_weights(D, neg, E.shape[1])          # (B, B)
        keep_anchor = pos.any(1) & neg.any(1)                 # (B,)
        rows = keep_anchor.nonzero(as_tuple=True)[0]
        n_pos = pos.sum(1)                                    # (B,)
        empty = torch.empty(0, dtype=torch.int64, device=E.device)
        if len(rows) == 0:
            return empty, empty, empty
        lw = log_w[rows]                                      # (R, B)
        w = torch.exp(lw - lw.max(1, keepdim=True).values)
        draws = torch.multinomial(w, int(n_pos[rows].max()),
                                  replacement=True,
                                  generator=self.generator(E.device))
        slot = torch.full((E.shape[0],), -1, dtype=torch.int64,
                          device=E.device)
        slot[rows] = torch.arange(len(rows), device=E.device)
        a, p = (pos & keep_anchor[:, None]).nonzero(as_tuple=True)
        rank = pos.cumsum(1)[a, p] - 1          # p is a's rank-th positive
        return a, p, draws[slot[a], rank]

    def extra_repr(self) -> str:
        return (f"cutoff={self.cutoff}, nonzero_loss_cutoff="
                f"{self.nonzero_loss_cutoff}, seed={self.seed}")
