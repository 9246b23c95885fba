"""RandomTripletMiner: valid triplets, one per eligible anchor, seeded."""
import torch

from dml.miners import RandomTripletMiner


def test_random_triplets_are_valid_and_one_per_eligible_anchor():
    g = torch.Generator().manual_seed(0)
    E = torch.randn(40, 5, generator=g)
    labels = torch.tensor([0] * 10 + [1] * 10 + [2] * 19 + [3])  # 3: alone
    a, p, n = RandomTripletMiner(seed=1)(E, labels)
    assert a.tolist() == list(range(39))          # anchor 39 has no positive
    assert (labels[a] == labels[p]).all() and (a != p).all()
    assert (labels[a] != labels[n]).all()


def test_random_triplets_are_seeded_and_cover_the_candidates():
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    E = torch.zeros(6, 2)
    first = RandomTripletMiner(seed=3)(E, labels)
    again = RandomTripletMiner(seed=3)(E, labels)
    assert all(torch.equal(x, y) for x, y in zip(first, again))
    miner, seen = RandomTripletMiner(seed=0), set()
    for _ in range(200):                           # uniform: all show up
        a, p, n = miner(E, labels)
        seen.update(zip(a.tolist(), p.tolist(), n.tolist()))
    assert len(seen) == 6 * 2 * 3                  # every valid triplet


def test_a_batch_of_one_class_gives_no_triplet():
    a, p, n = RandomTripletMiner()(torch.randn(4, 3), torch.zeros(4))
    assert len(a) == len(p) == len(n) == 0
