"""Distance-weighted sampling (Wu et al., 2017): validity, seeds, weights.

The sampling probabilities are recomputed in the test with a plain loop
from the formula P(n | a) ∝ 1 / q(max(d, cutoff)) for d < tau, with
q(d) = d^(n-2) (1 - d^2/4)^((n-3)/2), and compared with the empirical
frequencies of many draws.
"""
import math

import numpy as np
import pytest
import torch

import dml.miners as mn


pytestmark = pytest.mark.usefixtures("one_thread")



def unit(X):
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def test_sphere_distance_density_matches_monte_carlo():
    g = np.random.default_rng(0)
    n = 5
    U, V = unit(g.standard_normal((200_000, n))), \
        unit(g.standard_normal((200_000, n)))
    d = np.linalg.norm(U - V, axis=1)
    hist, edges = np.histogram(d, bins=20, range=(0, 2), density=True)
    grid = torch.linspace(1e-4, 2 - 1e-4, 20001, dtype=torch.float64)
    q = torch.exp(mn.sphere_distance_log_density(grid, n))
    q = q / torch.trapezoid(q, grid)
    mid = torch.from_numpy((edges[:-1] + edges[1:]) / 2)
    q_mid = np.interp(mid.numpy(), grid.numpy(), q.numpy())
    assert np.abs(hist - q_mid).max() < 0.05


def test_every_positive_pair_gets_one_valid_negative(rng):
    E = torch.from_numpy(rng.standard_normal((24, 6)))
    y = torch.from_numpy(np.r_[rng.integers(0, 4, 22), 9, 9])
    y[5] = 7                                          # a singleton class
    a, p, n = mn.DistanceWeightedMiner()(E, y)
    assert (y[a] == y[p]).all() and (a != p).all() and (y[n] != y[a]).all()
    pairs = [(i, j) for i in range(24) for j in range(24)
             if i != j and y[i] == y[j]]
    assert list(zip(a.tolist(), p.tolist())) == pairs


def test_one_class_batch_gives_no_triplet():
    E = torch.randn(5, 3)
    out = mn.DistanceWeightedMiner()(E, torch.zeros(5, dtype=torch.int64))
    assert all(len(t) == 0 for t in out)


def test_same_seed_same_draws_other_seed_other_draws(rng):
    E = torch.from_numpy(rng.standard_normal((40, 8)))
    y = torch.from_numpy(rng.integers(0, 3, 40))
    first = mn.DistanceWeightedMiner(seed=3)(E, y)[2]
    again = mn.DistanceWeightedMiner(seed=3)(E, y)[2]
    other = mn.DistanceWeightedMiner(seed=4)(E, y)[2]
    assert torch.equal(first, again) and not torch.equal(first, other)


def expected_probabilities(E, a, negs, cutoff, tau):
    U = unit(E)
    n = E.shape[1]
    w = []
    for j in negs:
        d = float(np.linalg.norm(U[a] - U[j]))
        if d >= tau:
            w.append(0.0)
            continue
        d = max(d, cutoff)
        q = d ** (n - 2) * (1 - d * d / 4) ** ((n - 3) / 2)
        w.append(1.0 / q)
    w = np.array(w)
    return w / w.sum()


def test_draw_frequencies_follow_inverse_sphere_density():
    g = np.random.default_rng(1)
    n_dim, n_pos = 5, 300
    x0 = unit(g.standard_normal((1, n_dim)))
    # negatives at chosen distances from x0 (one beyond tau = 1.4)
    negs = []
    for target in (0.3, 0.7, 1.0, 1.2, 1.35, 1.6):
        v = unit(g.standard_normal((1, n_dim)))
        v = unit(v - (v @ x0.T) * x0)              # orthogonal to x0
        theta = 2 * math.asin(target / 2)          # chord -> angle
        negs.append(math.cos(theta) * x0 + math.sin(theta) * v)
    E = np.vstack([x0] * (n_pos + 1) + negs)
    y = np.r_[np.zeros(n_pos + 1), np.arange(1, 7)].astype(np.int64)
    miner = mn.DistanceWeightedMiner(seed=0)
    counts = np.zeros(len(y))
    for _ in range(20):
        a, p, n = miner(torch.from_numpy(E), torch.from_numpy(y))
        counts += np.bincount(n[a == 0].numpy(), minlength=len(y))
    neg_idx = list(range(n_pos + 1, len(y)))
    freq = counts[neg_idx] / counts.sum()
    want = expected_probabilities(E, 0, neg_idx, 0.5, 1.4)
    assert counts[neg_idx[-1]] == 0               # d >= tau: never drawn
    assert np.abs(freq - want).sum() < 0.03


def test_anchor_with_only_far_negatives_gives_no_triplet():
    """pytorch-metric-learning's rule: an anchor whose negatives all lie at
    or beyond tau has no negative to draw, so no triplet (Wu et al.'s code
    would draw uniformly)."""
    # two points at the north pole, two negatives at the south pole, and a
    # fifth point (class 2) near the equator, within tau of the pole pair
    E = torch.tensor([[0., 0, 1], [0, 0, 1], [0, 0, -1], [0.1, 0, -1],
                      [1, 0, 0.3]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1, 2])
    a, p, n = mn.DistanceWeightedMiner(seed=0)(E, y)
    assert a.tolist() == [0, 1] and n.tolist() == [4, 4]
    a, p, n = mn.DistanceWeightedMiner(seed=0)(E[:4], y[:4])
    assert len(a) == len(p) == len(n) == 0


def test_tau_at_or_below_cutoff_leaves_no_negative():
    """As in pml: distances are raised to the cutoff before the tau test,
    so tau <= cutoff excludes every negative."""
    E = torch.randn(12, 4, dtype=torch.float64)
    y = torch.arange(12) % 3
    out = mn.DistanceWeightedMiner(cutoff=0.5, nonzero_loss_cutoff=0.5)(E, y)
    assert all(len(t) == 0 for t in out)


def test_distance_weighted_miner_validates_arguments():
    with pytest.raises(ValueError, match="cutoff must be a finite number"):
        mn.DistanceWeightedMiner(cutoff=-0.1)
    with pytest.raises(ValueError, match="needs distance=LpDistance"):
        mn.DistanceWeightedMiner(distance="cosine")
    from dml.distances import LpDistance
    with pytest.raises(ValueError, match="needs distance=LpDistance"):
        mn.DistanceWeightedMiner(distance=LpDistance(power=2))
    mn.DistanceWeightedMiner(distance=LpDistance())       # the default


def test_reference_set_draws_negatives_from_it(rng):
    E = torch.from_numpy(rng.standard_normal((10, 5)))
    y = torch.from_numpy(rng.integers(0, 2, 10))
    R = torch.from_numpy(rng.standard_normal((30, 5)))
    r = torch.from_numpy(rng.integers(0, 3, 30))
    a, p, n = mn.DistanceWeightedMiner(cutoff=0.0, nonzero_loss_cutoff=2.1,
                                       seed=1)(E, y, R, r)
    pairs = [(i, j) for i in range(10) for j in range(30) if y[i] == r[j]]
    assert list(zip(a.tolist(), p.tolist())) == pairs
    assert (r[n] != y[a]).all()


@pytest.mark.gpu
def test_distance_weighted_miner_on_cuda_gives_valid_seeded_draws(rng):
    E = torch.from_numpy(rng.standard_normal((40, 8))).cuda()
    y = torch.from_numpy(rng.integers(0, 3, 40)).cuda()
    a, p, n = mn.DistanceWeightedMiner(seed=1)(E, y)
    assert n.is_cuda and (y[n] != y[a]).all() and (y[a] == y[p]).all()
    assert torch.equal(n, mn.DistanceWeightedMiner(seed=1)(E, y)[2])


@pytest.mark.parametrize("dim", [2, 3, 8])
def test_cutoff_zero_and_a_negative_at_distance_zero_give_valid_draws(dim):
    """cutoff=0 with a negative exactly on the anchor: 1/q(0) is infinite;
    that negative gets weight 0 (as in pytorch-metric-learning) and the
    others are drawn, no NaN reaches torch.multinomial (issue 16)."""
    E = torch.zeros(6, dim)
    E[:, 0] = 1.0
    E[3:, 1] = torch.tensor([0.5, 1.0, 1.5])        # class 1, away from 0
    E[2] = E[0]                                      # a negative at d = 0
    labels = torch.tensor([0, 0, 1, 1, 1, 1])
    miner = mn.DistanceWeightedMiner(cutoff=0.0, nonzero_loss_cutoff=1.99)
    from dml.distances import euclidean_matrix
    D = euclidean_matrix(torch.nn.functional.normalize(E))
    log_w = miner.log_weights(D, labels[:, None] != labels[None], dim)
    assert not log_w.isnan().any()
    if dim > 2:                   # q(0) = 0 only from n = 3 on
        assert log_w[0, 2] == float("-inf")          # excluded, not inf
    a, p, n = miner(E, labels)
    assert len(a) > 0
    assert (labels[a] == labels[p]).all() and (labels[a] != labels[n]).all()
    if dim > 2:
        assert not ((a == 0) & (n == 2)).any()


def test_sphere_density_is_finite_where_a_zero_coefficient_meets_log_0():
    d = torch.tensor([0.0, 1.0, 2.0])
    assert mn.sphere_distance_log_density(d[:1], 2).item() == 0.0
    # n = 3 at d = 2: log 2 + 0 * log 0
    assert mn.sphere_distance_log_density(d[2:], 3).item() == \
        pytest.approx(math.log(2.0))
