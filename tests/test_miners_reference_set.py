"""Every miner with a reference set: ``miner(emb, labels, ref, ref_labels)``.

pytorch-metric-learning's semantics: anchors index ``emb``, positives and
negatives index the reference set, and every (anchor, reference) pair
counts (no self pair is excluded). Each deterministic miner is checked
against a plain loop over the (B, R) pairs; passing the batch's own
tensors as the reference means no reference, as in pml.
"""
import numpy as np
import pytest
import torch

import dml.miners as mn
from dml.distances import CosineSimilarity, LpDistance

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    E = torch.randn(10, 4, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (10,), generator=g)
    R = torch.cat([E[:4].clone(),
                   torch.randn(14, 4, generator=g, dtype=torch.float64)])
    r = torch.cat([y[:4], torch.randint(0, 3, (14,), generator=g)])
    return E, y, R, r


def dissimilarity(distance, E, R):
    M = distance(E, R)
    return (-M if distance.is_inverted else M).tolist()


def pairs(y, r):
    pos = [(a, b) for a in range(len(y)) for b in range(len(r))
           if y[a] == r[b]]
    neg = [(a, b) for a in range(len(y)) for b in range(len(r))
           if y[a] != r[b]]
    return pos, neg


def triplets(out):
    return set(zip(*(t.tolist() for t in out)))


@pytest.mark.parametrize("distance", [LpDistance(), CosineSimilarity()],
                         ids=["LpDistance", "CosineSimilarity"])
def test_batch_hard_with_reference_matches_loop(batch, distance):
    E, y, R, r = batch
    D = dissimilarity(distance, E, R)
    pos, neg = pairs(y.tolist(), r.tolist())
    want = set()
    for a in range(len(y)):
        ps = [b for aa, b in pos if aa == a]
        ns = [b for aa, b in neg if aa == a]
        if ps and ns:   # first extremum wins ties, as max/min by index
            p = max(ps, key=lambda b: (D[a][b], -b))
            n = min(ns, key=lambda b: (D[a][b], b))
            want.add((a, p, n))
    got = mn.BatchHardMiner(distance=distance)(E, y, R, r)
    assert triplets(got) == want and type(got) is tuple


@pytest.mark.parametrize("kind", ["all", "hard", "semihard", "easy"])
def test_triplet_margin_with_reference_matches_loop(batch, kind):
    E, y, R, r = batch
    m = 0.3
    D = dissimilarity(LpDistance(), E, R)
    pos, neg = pairs(y.tolist(), r.tolist())
    want = set()
    for a, p in pos:
        for aa, n in neg:
            if aa != a:
                continue
            delta = D[a][n] - D[a][p]
            keep = {"all": delta <= m, "hard": delta <= min(0, m),
                    "semihard": 0 < delta <= m, "easy": delta > m}[kind]
            if keep:
                want.add((a, p, n))
    assert triplets(mn.TripletMarginMiner(m, kind)(E, y, R, r)) == want


def test_pair_and_triplet_enumerations_with_reference(batch):
    E, y, R, r = batch
    pos, neg = pairs(y.tolist(), r.tolist())
    a1, p, a2, n = mn.AllPairsMiner()(E, y, R, r)
    assert list(zip(a1.tolist(), p.tolist())) == pos
    assert list(zip(a2.tolist(), n.tolist())) == neg
    want = {(a, b, c) for a, b in pos for aa, c in neg if aa == a}
    assert triplets(mn.AllTripletsMiner()(E, y, R, r)) == want
    assert triplets(mn.BatchAllMiner()(E, y, R, r)) == want


def test_semihard_and_hardest_negative_with_reference(batch):
    E, y, R, r = batch
    m = 0.5
    D = dissimilarity(LpDistance(normalize_embeddings=False), E, R)
    pos, neg = pairs(y.tolist(), r.tolist())
    semi, hardest = set(), set()
    for a, p in pos:
        ns = [c for aa, c in neg if aa == a]
        if not ns:
            continue
        n_hard = min(ns, key=lambda c: (D[a][c], c))
        window = [c for c in ns if D[a][p] <= D[a][c] < D[a][p] + m]
        if window:
            semi.add((a, p, min(window, key=lambda c: (D[a][c], c))))
        if D[a][n_hard] < D[a][p] + m:
            hardest.add((a, p, n_hard))
    for method in ("sort", "scan"):
        miner = mn.SemiHardMiner(m, fallback="skip", method=method)
        assert triplets(miner(E, y, R, r)) == semi
    assert triplets(mn.HardestNegativeMiner(m)(E, y, R, r)) == hardest


def test_random_and_weighted_miners_draw_from_the_reference(batch):
    E, y, R, r = batch
    for miner in (mn.RandomTripletMiner(seed=0),
                  mn.DistanceWeightedMiner(cutoff=0.0,
                                           nonzero_loss_cutoff=2.1)):
        a, p, n = miner(E, y, R, r)
        assert len(a) > 0
        assert (y[a] == r[p]).all() and (y[a] != r[n]).all()
        assert int(p.max()) < len(r) and int(n.max()) < len(r)


def test_reference_rows_equal_to_anchors_are_positives(batch):
    E, y, R, r = batch
    a1, p, _, _ = mn.MultiSimilarityMiner(2.1)(E, y, R, r)
    assert {(i, i) for i in range(4)} <= set(zip(a1.tolist(), p.tolist()))
    # the batch's own tensors as reference: no reference (self excluded)
    own = mn.AllPairsMiner()(E, y, E, y)
    plain = mn.AllPairsMiner()(E, y)
    assert all(torch.equal(s, t) for s, t in zip(own, plain))
    clone = mn.AllPairsMiner()(E, y, E.clone(), y.clone())
    assert len(clone[0]) == len(plain[0]) + len(y)


def test_numpy_reference_gives_numpy_indices(batch):
    E, y, R, r = (t.numpy() for t in batch)
    out = mn.BatchHardMiner()(E, y, R, r)
    assert all(isinstance(t, np.ndarray) for t in out)


def test_reference_arguments_are_checked(batch):
    E, y, R, r = batch
    miner = mn.BatchHardMiner()
    with pytest.raises(ValueError, match="ref_emb was given without "
                                         "ref_labels"):
        miner(E, y, R)
    with pytest.raises(ValueError, match="ref_labels was given without "
                                         "ref_emb"):
        miner(E, y, ref_labels=r)
    with pytest.raises(ValueError, match="embeddings has 4 features but "
                                         "ref_emb has 3"):
        miner(E, y, R[:, :3], r)
    with pytest.raises(ValueError, match="ref_labels has 17 labels"):
        miner(E, y, R, r[:-1])
