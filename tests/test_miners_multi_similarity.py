"""Multi-similarity mining (Wang et al., 2019) against a plain loop.

The loop follows the paper's rule pair by pair: a positive pair (a, p)
is kept when s_ap - epsilon < max_n s_an, a negative pair (a, n) when
s_an + epsilon > min_p s_ap (mirrored for a distance: d_ap + epsilon >
min_n d_an, d_an - epsilon < max_p d_ap).
"""
import numpy as np
import pytest
import torch

import dml.miners as mn
from dml.distances import (CosineSimilarity, DotProductSimilarity,
                           LpDistance)

pytestmark = pytest.mark.usefixtures("one_thread")


def loop_multi_similarity(M, labels, ref_labels, epsilon, inverted,
                          self_pairs_excluded):
    """Pairs kept by the rule, by looping over every (a, b)."""
    M = M.tolist()
    B, R = len(labels), len(ref_labels)

    def is_pos(a, b):
        if self_pairs_excluded and a == b:
            return False
        return labels[a] == ref_labels[b]

    def is_neg(a, b):
        return labels[a] != ref_labels[b]

    pos, neg = set(), set()
    for a in range(B):
        ap = [M[a][b] for b in range(R) if is_pos(a, b)]
        an = [M[a][b] for b in range(R) if is_neg(a, b)]
        if not ap or not an:
            continue
        for b in range(R):
            m = M[a][b]
            if inverted:             # similarities: larger = closer
                if is_pos(a, b) and m - epsilon < max(an):
                    pos.add((a, b))
                if is_neg(a, b) and m + epsilon > min(ap):
                    neg.add((a, b))
            else:
                if is_pos(a, b) and m + epsilon > min(an):
                    pos.add((a, b))
                if is_neg(a, b) and m - epsilon < max(ap):
                    neg.add((a, b))
    return pos, neg


def as_sets(out):
    a1, p, a2, n = (t.tolist() for t in out)
    return set(zip(a1, p)), set(zip(a2, n))


DISTANCES = [CosineSimilarity(), LpDistance(),
             LpDistance(normalize_embeddings=False, power=2),
             DotProductSimilarity(normalize_embeddings=False)]


@pytest.mark.parametrize("distance", DISTANCES,
                         ids=lambda d: type(d).__name__)
@pytest.mark.parametrize("epsilon", [0.0, 0.1, 0.5])
def test_pairs_match_the_loop(distance, epsilon):
    g = torch.Generator().manual_seed(0)
    E = torch.randn(30, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (30,), generator=g)
    got = as_sets(mn.MultiSimilarityMiner(epsilon, distance=distance)(E, y))
    want = loop_multi_similarity(distance(E), y.tolist(), y.tolist(),
                                 epsilon, distance.is_inverted, True)
    assert got == want and len(want[0]) > 0 and len(want[1]) > 0


@pytest.mark.parametrize("distance", DISTANCES[:2],
                         ids=lambda d: type(d).__name__)
def test_reference_set_pairs_match_the_loop(distance):
    g = torch.Generator().manual_seed(1)
    E = torch.randn(12, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (12,), generator=g)
    R = torch.cat([E[:5], torch.randn(20, 4, generator=g,
                                      dtype=torch.float64)])
    r = torch.cat([y[:5], torch.randint(0, 3, (20,), generator=g)])
    miner = mn.MultiSimilarityMiner(0.1, distance=distance)
    got = as_sets(miner(E, y, R, r))
    want = loop_multi_similarity(distance(E, R), y.tolist(), r.tolist(),
                                 0.1, distance.is_inverted, False)
    assert got == want
    # rows 0..4 of R are the anchors themselves: with a reference set
    # they are ordinary positives, not excluded self pairs
    assert any(a == p for a, p in got[0])


def test_default_is_pml_cosine_similarity_and_epsilon_0_1():
    miner = mn.MultiSimilarityMiner()
    assert miner.epsilon == 0.1
    assert isinstance(miner.distance, CosineSimilarity)
    g = torch.Generator().manual_seed(2)
    E, y = torch.randn(16, 3, generator=g), torch.randint(0, 3, (16,),
                                                           generator=g)
    same = mn.MultiSimilarityMiner(0.1, distance="cosine")(E, y)
    assert all(torch.equal(s, t) for s, t in zip(miner(E, y), same))


def test_epsilon_widens_the_selection_monotonically():
    g = torch.Generator().manual_seed(3)
    E, y = torch.randn(24, 4, generator=g), torch.randint(0, 3, (24,),
                                                           generator=g)
    sizes = [tuple(map(len, as_sets(mn.MultiSimilarityMiner(e)(E, y))))
             for e in (0.0, 0.1, 0.3, 2.1)]
    assert sizes == sorted(sizes)
    pos, neg = as_sets(mn.MultiSimilarityMiner(2.1)(E, y))   # cos in [-1, 1]
    assert len(pos) == int(((y[:, None] == y) .sum() - 24))
    assert len(neg) == int((y[:, None] != y).sum())


@pytest.mark.parametrize("labels", [[0, 0, 0, 0], [0, 1, 2, 3], [5]],
                         ids=["one class", "no positives", "one sample"])
def test_no_pairs_when_positives_or_negatives_are_missing(labels):
    E = torch.randn(len(labels), 3)
    out = mn.MultiSimilarityMiner()(E, torch.tensor(labels))
    assert len(out) == 4 and all(len(t) == 0 for t in out)
    assert all(t.dtype == torch.int64 for t in out)


def test_numpy_in_numpy_out_and_half_precision():
    rng = np.random.default_rng(0)
    E, y = rng.standard_normal((10, 3)), rng.integers(0, 2, 10)
    out = mn.MultiSimilarityMiner()(E, y)
    assert all(isinstance(t, np.ndarray) for t in out)
    half = mn.MultiSimilarityMiner()(torch.tensor(E, dtype=torch.float16),
                                     torch.tensor(y))
    full = mn.MultiSimilarityMiner()(torch.tensor(E, dtype=torch.float16)
                                     .float(), torch.tensor(y))
    assert all(torch.equal(s, t) for s, t in zip(half, full))


def test_bad_epsilon_and_distance_are_refused():
    with pytest.raises(ValueError, match="epsilon must be a finite number"):
        mn.MultiSimilarityMiner(-0.1)
    with pytest.raises(ValueError, match="distance='manhattan' is not"):
        mn.MultiSimilarityMiner(distance="manhattan")


@pytest.mark.gpu
def test_cuda_gives_the_cpu_pairs_on_the_device():
    g = torch.Generator().manual_seed(4)
    E, y = torch.randn(40, 6, generator=g), torch.randint(0, 4, (40,),
                                                           generator=g)
    R, r = torch.randn(25, 6, generator=g), torch.randint(0, 4, (25,),
                                                           generator=g)
    miner = mn.MultiSimilarityMiner()
    for args in ((E, y), (E, y, R, r)):
        cpu = miner(*args)
        gpu = miner(*(t.cuda() for t in args))
        assert all(t.is_cuda for t in gpu)
        assert as_sets(cpu) == as_sets(tuple(t.cpu() for t in gpu))
