"""Miners against brute-force enumeration with plain loops.

Each reference below walks over every (a, p, n) of the batch in Python
and applies the rule stated in the miner's docstring, on the same distance
matrix the miner uses (the distance kernels have their own tests). Batches
include one class, a singleton class and exact ties: integer embeddings in
float64 with B = 8 (their mean is a multiple of 1/8, so the Gram-trick
distances are exact and equal distances compare equal).
Tie rule: among equally good candidates the smallest index wins.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dml.miners as mn
from dml.distances import cosine_matrix, euclidean_matrix, \
    sq_euclidean_matrix


pytestmark = pytest.mark.usefixtures("one_thread")


DIST = {"euclidean": euclidean_matrix, "sqeuclidean": sq_euclidean_matrix,
        "cosine": lambda E: -cosine_matrix(E)}


# ---------------------------------------------------------------- batches
def random_batch(seed, B=10, D=3, n_classes=3):
    g = np.random.default_rng(seed)
    E = torch.from_numpy(g.standard_normal((B, D)))
    y = torch.from_numpy(g.integers(0, n_classes, B))
    return E, y


def tie_batch(seed):
    g = np.random.default_rng(seed)
    E = torch.from_numpy(g.integers(0, 3, (8, 2)).astype(np.float64))
    y = torch.from_numpy(g.integers(0, 3, 8))
    return E, y


def edge_batches():
    E = torch.from_numpy(np.random.default_rng(7).standard_normal((6, 2)))
    return [
        (E, torch.zeros(6, dtype=torch.int64)),              # one class
        (E, torch.tensor([0, 0, 0, 1, 1, 2])),          # singleton class 2
        (E, torch.arange(6)),                              # no positives
        (E[:1], torch.tensor([0])),                        # one sample
    ]


def all_batches():
    out = [random_batch(s) for s in range(4)]
    out += [tie_batch(s) for s in range(6)]
    return out + edge_batches()


BATCHES = all_batches()


def dmat(E, distance):
    return DIST[distance](E).tolist()


# ------------------------------------------------------------- references
def ref_valid(y):
    y = y.tolist()
    B = len(y)
    for a in range(B):
        for p in range(B):
            for n in range(B):
                if p != a and y[p] == y[a] and y[n] != y[a]:
                    yield a, p, n


def ref_triplet_margin(D, y, m, kind):
    out = []
    for a, p, n in ref_valid(y):
        delta = D[a][n] - D[a][p]
        ok = {"all": delta <= m, "hard": delta <= 0,
              "semihard": 0 < delta <= m, "easy": delta > m}[kind]
        if ok:
            out.append((a, p, n))
    return out


def ref_batch_hard(D, y):
    y = y.tolist()
    out = []
    for a in range(len(y)):
        ps = [p for p in range(len(y)) if p != a and y[p] == y[a]]
        ns = [n for n in range(len(y)) if y[n] != y[a]]
        if ps and ns:
            p = min(ps, key=lambda p: (-D[a][p], p))
            n = min(ns, key=lambda n: (D[a][n], n))
            out.append((a, p, n))
    return out


def ref_semihard(D, y, m, fallback):
    y = y.tolist()
    out = []
    for a in range(len(y)):
        ns = [n for n in range(len(y)) if y[n] != y[a]]
        for p in range(len(y)):
            if p == a or y[p] != y[a] or not ns:
                continue
            semi = [n for n in ns if D[a][p] <= D[a][n] < D[a][p] + m]
            if semi:
                out.append((a, p, min(semi, key=lambda n: (D[a][n], n))))
            elif fallback == "hardest":
                out.append((a, p, min(ns, key=lambda n: (D[a][n], n))))
    return out


def ref_hardest_negative(D, y, m):
    y = y.tolist()
    out = []
    for a in range(len(y)):
        ns = [n for n in range(len(y)) if y[n] != y[a]]
        for p in range(len(y)):
            if p == a or y[p] != y[a] or not ns:
                continue
            n = min(ns, key=lambda n: (D[a][n], n))
            if m is None or D[a][n] < D[a][p] + m:
                out.append((a, p, n))
    return out


def tuples(out):
    return sorted(zip(*[t.tolist() for t in out]))


# ------------------------------------------------------------------ tests
@pytest.mark.parametrize("distance", ["euclidean", "sqeuclidean", "cosine"])
@pytest.mark.parametrize("kind", ["all", "hard", "semihard", "easy"])
def test_triplet_margin_miner_returns_exactly_the_brute_force_set(
        distance, kind):
    for E, y in BATCHES:
        for m in (0.0, 1.0):
            miner = mn.TripletMarginMiner(m, kind, distance, chunk_size=3)
            got = miner(E, y)
            assert tuples(got) == ref_triplet_margin(dmat(E, distance), y,
                                                     m, kind)


def test_triplet_margin_miner_output_is_lexicographic_and_chunk_free():
    E, y = random_batch(3, B=12)
    ref = mn.TripletMarginMiner(0.5, "all")(E, y)
    for chunk in (1, 5, 100):
        got = mn.TripletMarginMiner(0.5, "all", chunk_size=chunk)(E, y)
        assert all(torch.equal(g, r) for g, r in zip(got, ref))
    assert list(zip(*[t.tolist() for t in ref])) == tuples(ref)


def test_all_triplets_and_batch_all_match_brute_force():
    for E, y in BATCHES:
        D = dmat(E, "euclidean")
        assert tuples(mn.AllTripletsMiner(chunk_size=2)(E, y)) == \
            list(ref_valid(y))
        assert tuples(mn.BatchAllMiner()(E, y)) == list(ref_valid(y))
        want = [t for t in ref_valid(y)
                if D[t[0]][t[2]] < D[t[0]][t[1]] + 1.0]
        assert tuples(mn.BatchAllMiner(1.0)(E, y)) == want


def test_all_pairs_miner_lists_every_positive_and_negative_pair():
    for E, y in BATCHES:
        a1, p, a2, n = mn.AllPairsMiner()(E, y)
        yl, B = y.tolist(), len(y)
        assert sorted(zip(a1.tolist(), p.tolist())) == [
            (i, j) for i in range(B) for j in range(B)
            if i != j and yl[i] == yl[j]]
        assert sorted(zip(a2.tolist(), n.tolist())) == [
            (i, j) for i in range(B) for j in range(B) if yl[i] != yl[j]]


@pytest.mark.parametrize("distance", ["euclidean", "sqeuclidean", "cosine"])
def test_batch_hard_miner_picks_hardest_positive_and_negative(distance):
    for E, y in BATCHES:
        got = mn.BatchHardMiner(distance)(E, y)
        assert tuples(got) == ref_batch_hard(dmat(E, distance), y)


@pytest.mark.parametrize("distance", ["euclidean", "sqeuclidean", "cosine"])
@pytest.mark.parametrize("fallback", ["hardest", "skip"])
@pytest.mark.parametrize("method", ["sort", "scan", "auto"])
def test_semihard_miner_matches_brute_force(distance, fallback, method):
    for E, y in BATCHES:
        for m in (0.0, 0.5, 1.0):
            got = mn.SemiHardMiner(m, distance, fallback, method)(E, y)
            assert tuples(got) == ref_semihard(dmat(E, distance), y, m,
                                               fallback)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_row_argmin_equals_torch_min_with_ties_to_the_first_column(dtype):
    """The vectorised arg-min behind the miners: same values and indices
    as ``Tensor.min(1)`` on rows full of ties, with +inf entries and with
    a row of nothing but +inf."""
    from dml.miners.hard import row_argmin
    g = torch.Generator().manual_seed(0)
    key = torch.randint(0, 4, (50, 37), generator=g).to(dtype)  # ties
    key[3] = float("inf")
    key[7, ::2] = float("inf")
    value, index = row_argmin(key)
    ref_value, ref_index = key.min(1)
    torch.testing.assert_close(value, ref_value)
    assert torch.equal(index, ref_index)
    assert index.dtype == torch.int64


def test_semihard_miner_counts_a_tie_with_the_positive_as_semihard():
    # anchor 0 at 0, positive 1 at 1, negatives at 1 (tie) and 1.5
    E = torch.tensor([[0.0], [1.0], [1.0], [1.5]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 1])
    a, p, n = mn.SemiHardMiner(1.0, "euclidean", "skip")(E, y)
    assert (a[0].item(), p[0].item(), n[0].item()) == (0, 1, 2)


@pytest.mark.parametrize("m", [None, 0.0, 1.0])
def test_hardest_negative_miner_matches_brute_force(m):
    for E, y in BATCHES:
        got = mn.HardestNegativeMiner(m, "sqeuclidean")(E, y)
        assert tuples(got) == ref_hardest_negative(dmat(E, "sqeuclidean"),
                                                   y, m)


def test_miners_return_int64_on_input_device_and_numpy_for_numpy():
    E, y = random_batch(0)
    for miner in (mn.BatchHardMiner(), mn.SemiHardMiner(),
                  mn.TripletMarginMiner(), mn.AllPairsMiner(),
                  mn.DistanceWeightedMiner()):
        out = miner(E, y)
        assert all(t.dtype == torch.int64 for t in out)
        out_np = miner(E.numpy(), y.numpy())
        assert all(isinstance(t, np.ndarray) for t in out_np)


def test_miners_do_not_touch_the_autograd_graph():
    E, y = random_batch(1)
    E = E.requires_grad_()
    out = mn.SemiHardMiner()(E, y)
    assert not any(t.requires_grad for t in out)


def test_miner_arguments_are_validated_with_precise_messages():
    with pytest.raises(ValueError, match="distance='manhattan'"):
        mn.BatchHardMiner("manhattan")
    with pytest.raises(ValueError, match="type_of_triplets='medium'"):
        mn.TripletMarginMiner(0.1, "medium")
    with pytest.raises(ValueError, match="fallback='random'"):
        mn.SemiHardMiner(0.1, fallback="random")
    with pytest.raises(ValueError, match="method='bisect'"):
        mn.SemiHardMiner(0.1, method="bisect")
    with pytest.raises(ValueError, match="margin must be a finite"):
        mn.SemiHardMiner(-1.0)
    with pytest.raises(ValueError, match="chunk_size must be a positive"):
        mn.AllTripletsMiner(chunk_size=0)
    with pytest.raises(ValueError, match="labels has 3 labels"):
        mn.BatchHardMiner()(torch.zeros(4, 2), torch.zeros(3))
    with pytest.raises(ValueError, match="embeddings must be 2-D"):
        mn.BatchHardMiner()(torch.zeros(4), torch.zeros(4))


@pytest.mark.gpu
def test_miners_on_cuda_give_the_same_tuples_as_on_cpu():
    miners = [mn.BatchHardMiner(), mn.SemiHardMiner(0.5, method="sort"),
              mn.SemiHardMiner(0.5, method="scan"),
              mn.SemiHardMiner(0.5, "cosine", "skip"),
              mn.HardestNegativeMiner(0.5), mn.AllTripletsMiner(),
              mn.BatchAllMiner(0.5), mn.AllPairsMiner()] + [
        mn.TripletMarginMiner(0.5, k) for k in
        mn.TRIPLET_MARGIN_TYPES]
    for E, y in BATCHES:
        for miner in miners:
            cpu = miner(E, y)
            gpu = miner(E.cuda(), y.cuda())
            assert all(g.is_cuda for g in gpu)
            assert all(torch.equal(c, g.cpu()) for c, g in zip(cpu, gpu))


def test_losses_accept_every_miners_tuples():
    from dml.losses import ContrastiveLoss, NTXentLoss, TripletMarginLoss
    E, y = random_batch(2, B=16)
    E = E.requires_grad_()
    triplet = TripletMarginLoss(0.3, reduction="sum")
    for miner in (mn.BatchHardMiner(), mn.SemiHardMiner(0.3),
                  mn.HardestNegativeMiner(0.3), mn.BatchAllMiner(),
                  mn.TripletMarginMiner(0.3), mn.DistanceWeightedMiner(),
                  mn.AllPairsMiner()):
        for loss in (triplet, ContrastiveLoss(), NTXentLoss()):
            value = loss(E, y, miner(E, y))
            assert torch.isfinite(value)
    # all valid triplets from the miner = the loss's own enumeration
    assert torch.allclose(triplet(E, y, mn.AllTripletsMiner()(E, y)),
                          triplet(E, y))


def test_pml_named_miners_default_to_pml_normalised_lp_distance():
    """BatchHardMiner, TripletMarginMiner and DistanceWeightedMiner use
    pml's default LpDistance() (unit rows); rescaling rows changes nothing,
    while distance="euclidean" (the embeddings as given) sees the scale."""
    from dml.distances import LpDistance
    g = torch.Generator().manual_seed(5)
    E = torch.randn(24, 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (24,), generator=g)
    scaled = E * torch.rand(24, 1, generator=g, dtype=torch.float64) * 10
    for make in (lambda d: mn.BatchHardMiner(distance=d),
                 lambda d: mn.TripletMarginMiner(0.2, "semihard", d)):
        default = make(None)
        assert isinstance(default.distance, LpDistance)
        assert default.distance.normalize_embeddings
        assert [t.tolist() for t in default(scaled, y)] == \
            [t.tolist() for t in make("euclidean")(F.normalize(E), y)]
        assert [t.tolist() for t in make("euclidean")(scaled, y)] != \
            [t.tolist() for t in default(scaled, y)]
    assert mn.DistanceWeightedMiner().distance.normalize_embeddings
