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

from ..distances import LpDistance
from ._base import Miner, label_masks

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


class DistanceWeightedMiner(Miner):
    r"""One negative per positive pair (a, p), drawn with weight 1 / q(d_an).

    Taught in :doc:`chapter 4 </book/chapters/04_mining>`. Wu, Manmatha,
    Smola & Kraehenbuehl (2017): on the unit sphere in R^n the distance d
    of two uniform points has density q(d) (0 < d < 2), so a negative n of
    anchor a is drawn with probability P(n | a), c the cutoff and tau the
    nonzero-loss cutoff (P = 0 where max(d_an, c) >= tau):

    .. math::

       \begin{aligned}
       q(d) &\propto d^{\,n-2} \Big(1 - \frac{d^2}{4}\Big)^{(n-3)/2}, \\
       P(n \mid a) &\propto \frac{1}{q(\max(d_{an}, c))}.
       \end{aligned}

    Like the authors' code (and pytorch-metric-learning) we leave out the
    paper's cap lambda on the weight and normalise per anchor. Defaults
    and rules are those of pytorch-metric-learning 2.9's
    ``DistanceWeightedMiner``: c = 0.5, tau = 1.4, d the Euclidean
    distance of the L2-normalised embeddings (its only allowed distance,
    ``LpDistance()``), weight 0 where 1 / q is not finite, and an anchor
    whose negatives all have weight 0 (all at or beyond tau) gives no
    triplet.

    Parameters
    ----------
    cutoff : float
        c >= 0: distances below it are raised to it before weighting (Wu
        et al.'s 0.5).
    nonzero_loss_cutoff : float
        tau: negatives with max(d_an, c) >= tau get weight 0 (Wu et al.'s
        1.4). tau <= c leaves no negative: no triplet (as in pml).
    seed : int or None
        Seed of the miner's own ``torch.Generator`` (one per device); a
        fixed seed gives the same draws for the same inputs and device.
        None seeds it non-deterministically. (pml draws from torch's
        global generator.)
    distance : None or LpDistance()
        Accepted for pml's signature; only the default distance is
        allowed, as in pml.

    Notes
    -----
    Departures from pytorch-metric-learning, none of which changes P(n | a):
    one draw per positive pair (a, p), as in the authors' code (pml draws,
    per anchor, as many triplets as its class has samples, with random
    positives); the weights are shifted by each anchor's maximum before
    exponentiating (pml: by the batch's maximum, which can underflow a
    whole row for large n); 0 * log 0 counts as 0 in log q
    (``sphere_distance_log_density``), where pml gets NaN and weight
    0: this only differs for a negative exactly on the anchor with c = 0
    and n = 2, or exactly antipodal with n = 3. Anchors without a positive
    or a negative give no triplet. Draws for one anchor are independent
    (with replacement) via ``torch.multinomial`` on a (B, R) weight
    matrix: O(B^2). Called as ``miner(embeddings, labels, ref_emb,
    ref_labels)``, it returns (a, p, n) with the (a, p) in row-major order;
    with a reference set, p and n index it.
    """

    def __init__(self, cutoff: float = 0.5,
                 nonzero_loss_cutoff: float = 1.4, seed: int | None = 0,
                 distance=None):
        d = LpDistance() if distance is None else distance
        if not (isinstance(d, LpDistance) and d.p == 2 and d.power == 1
                and d.normalize_embeddings):
            raise ValueError(
                "DistanceWeightedMiner needs distance=LpDistance(p=2, "
                "power=1, normalize_embeddings=True), the default (the "
                f"weights hold on the unit sphere); got {d!r}.")
        super().__init__(d)
        if not 0.0 <= float(cutoff) < float("inf"):
            raise ValueError(f"cutoff must be a finite number >= 0, got "
                             f"{cutoff!r}.")
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
        d = D.clamp(min=self.cutoff)                          # (B, R)
        log_w = -sphere_distance_log_density(d, dim)          # (B, R)
        # with cutoff = 0 a negative at distance 0 has 1 / q = inf: it gets
        # weight 0, as in pytorch-metric-learning (no inf - inf = NaN)
        allowed = neg & (d < self.nonzero_loss_cutoff) & log_w.isfinite()
        return log_w.masked_fill(~allowed, float("-inf"))

    def mine(self, E, labels, R=None, ref_labels=None):
        D = self.dissimilarity(E, R)                          # (B, R)
        pos, neg = label_masks(labels, ref_labels)
        log_w = self.log_weights(D, neg, E.shape[1])          # (B, R)
        has_neg = log_w.amax(1) > float("-inf")               # (B,)
        keep_anchor = pos.any(1) & has_neg                    # (B,)
        rows = keep_anchor.nonzero(as_tuple=True)[0]
        empty = torch.empty(0, dtype=torch.int64, device=E.device)
        if len(rows) == 0:
            return empty, empty, empty
        n_pos = pos.sum(1)                                    # (B,)
        lw = log_w[rows]                                      # (A, R)
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
