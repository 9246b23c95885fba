"""What every loss class shares: ref_emb / ref_labels, distance objects and
names, reducer objects; against plain loops (pytorch-metric-learning's
semantics: anchors index the batch, positives and negatives the reference
set, no self pair is excluded)."""
import itertools
import math

import pytest
import torch

from dml import reducers
from dml.distances import CosineSimilarity, DotProductSimilarity, LpDistance
from dml.losses import (ContrastiveLoss, LiftedStructureLoss,
                        MultiSimilarityLoss, NPairsLoss, NTXentLoss,
                        ProxyAnchorLoss, TripletMarginLoss)
from dml.losses._distance import resolve_distance
from _helpers import batch, cos


def unit(x):
    return x / x.norm()


def euclid(x, z):
    return math.sqrt(sum((a - b) ** 2 for a, b in zip(x.tolist(),
                                                       z.tolist())))


def mean_nonzero(terms):
    nz = [t for t in terms if t > 0]
    return sum(nz) / len(nz) if nz else 0.0


def with_reference(seed=0, B=8, R=6, C=3):
    X, y = batch(seed, B=B, C=C)
    Xr, yr = batch(seed + 100, B=R, C=C)
    return X, y, Xr, yr


def pairs(y, yr):
    P = [(i, j) for i in range(len(y)) for j in range(len(yr))
         if y[i] == yr[j]]
    N = [(i, j) for i in range(len(y)) for j in range(len(yr))
         if y[i] != yr[j]]
    return P, N


# ------------------------------------------------- each loss with ref_emb
@pytest.mark.parametrize("seed", range(2))
def test_contrastive_with_ref_emb_equals_the_pair_loop(seed):
    X, y, Xr, yr = with_reference(seed)
    P, N = pairs(y, yr)
    d = {(i, j): euclid(unit(X[i]), unit(Xr[j])) for i, j in P + N}
    pos = [max(0.0, d[k] - 0.1) for k in P]
    neg = [max(0.0, 0.9 - d[k]) for k in N]
    out = ContrastiveLoss(0.1, 0.9)(X, y, ref_emb=Xr, ref_labels=yr)
    assert out.item() == pytest.approx(mean_nonzero(pos) + mean_nonzero(neg),
                                       rel=1e-10)


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("distance", [None, "cosine"])
def test_triplet_with_ref_emb_equals_the_triplet_loop(seed, distance):
    X, y, Xr, yr = with_reference(seed)
    terms = []
    for a, p, n in itertools.product(range(len(y)), range(len(yr)),
                                     range(len(yr))):
        if y[a] == yr[p] and y[a] != yr[n]:
            if distance is None:
                v = euclid(unit(X[a]), unit(Xr[p])) - \
                    euclid(unit(X[a]), unit(Xr[n]))
            else:
                v = cos(X[a], Xr[n]) - cos(X[a], Xr[p])
            terms.append(max(0.0, v + 0.3))
    loss = TripletMarginLoss(0.3, distance=distance, reduction="sum")
    out = loss(X, y, ref_emb=Xr, ref_labels=yr)
    assert out.item() == pytest.approx(sum(terms), rel=1e-10)
    # a miner's triplets index the batch (a) and the reference (p, n)
    trip = [(0, 1, 2), (3, 0, 5)]
    idx = tuple(torch.tensor(c) for c in zip(*trip))
    ref = sum(max(0.0, euclid(unit(X[a]), unit(Xr[p]))
                  - euclid(unit(X[a]), unit(Xr[n])) + 0.3)
              for a, p, n in trip)
    out = TripletMarginLoss(0.3, reduction="sum")(X, y, idx, Xr, yr)
    assert out.item() == pytest.approx(ref, rel=1e-10)


@pytest.mark.parametrize("seed", range(2))
def test_ntxent_with_ref_emb_equals_the_pair_loop(seed):
    X, y, Xr, yr = with_reference(seed)
    P, N = pairs(y, yr)
    tau, terms = 0.2, []
    for a, p in P:
        negs = [cos(X[a], Xr[n]) / tau for i, n in N if i == a]
        logits = [cos(X[a], Xr[p]) / tau] + negs
        top = max(logits)
        lse = top + math.log(sum(math.exp(v - top) for v in logits))
        terms.append(lse - logits[0])
    out = NTXentLoss(tau)(X, y, ref_emb=Xr, ref_labels=yr)
    assert out.item() == pytest.approx(sum(terms) / len(terms), rel=1e-10)


@pytest.mark.parametrize("seed", range(2))
def test_multi_similarity_with_ref_emb_equals_the_anchor_loop(seed):
    X, y, Xr, yr = with_reference(seed)
    alpha, beta, base = 2.0, 10.0, 0.5
    terms = []
    for i in range(len(y)):
        sp = [cos(X[i], Xr[j]) for j in range(len(yr)) if yr[j] == y[i]]
        sn = [cos(X[i], Xr[j]) for j in range(len(yr)) if yr[j] != y[i]]
        terms.append(
            math.log1p(sum(math.exp(-alpha * (s - base)) for s in sp)) / alpha
            + math.log1p(sum(math.exp(beta * (s - base)) for s in sn)) / beta)
    out = MultiSimilarityLoss(alpha, beta, base)(X, y, ref_emb=Xr,
                                                 ref_labels=yr)
    assert out.item() == pytest.approx(sum(terms) / len(terms), rel=1e-10)


def test_lifted_with_ref_emb_uses_the_negatives_of_the_anchor():
    X, y, Xr, yr = with_reference(3)
    P, N = pairs(y, yr)
    terms = []
    for i, j in P:
        e = [math.exp(1.0 - euclid(X[i], Xr[k])) for a, k in N if a == i]
        J = math.log(sum(e)) + euclid(X[i], Xr[j])
        terms.append(max(0.0, J) ** 2 / 2)
    out = LiftedStructureLoss(distance="euclidean")(X, y, ref_emb=Xr,
                                                    ref_labels=yr)
    assert out.item() == pytest.approx(sum(terms) / len(terms), rel=1e-10)


def test_the_batch_as_its_own_reference_means_no_reference():
    """pml: ref_emb that *is* the embeddings (same tensor) is no reference;
    an equal copy is a reference set, whose (i, i) pairs count."""
    X, y = batch(4, B=8)
    loss = ContrastiveLoss(reduction="sum")
    plain = loss(X, y)
    assert loss(X, y, ref_emb=X, ref_labels=y).item() == plain.item()
    copy = loss(X, y, ref_emb=X.clone(), ref_labels=y.clone())
    # the (i, i) pairs are positive pairs at distance 0: no extra loss with
    # pos_margin 0, but the negatives are the same, so the sums agree ...
    assert copy.item() == pytest.approx(plain.item(), rel=1e-12)
    # ... while NT-Xent's (i, i) pairs are extra positive terms
    nt = NTXentLoss(0.5, reduction="sum")
    assert nt(X, y, ref_emb=X.clone(), ref_labels=y).item() > \
        nt(X, y).item()
    # pml: the same embeddings with other label objects are a reference too
    assert nt(X, y, ref_emb=X, ref_labels=y.clone()).item() == \
        pytest.approx(nt(X, y, ref_emb=X.clone(), ref_labels=y).item())
    assert nt(X, y, ref_emb=X).item() == nt(X, y).item()


def test_gradient_flows_to_the_reference_set_and_matches_autograd():
    X, y, Xr, yr = with_reference(5, B=5, R=4)
    X.requires_grad_(True)
    Xr.requires_grad_(True)
    for loss in (TripletMarginLoss(0.5), ContrastiveLoss(),
                 NTXentLoss(0.5), MultiSimilarityLoss(2, 10, 0.5)):
        assert torch.autograd.gradcheck(
            lambda A, R: loss(A, y, ref_emb=R, ref_labels=yr), (X, Xr))


# ------------------------------------------- distance objects and names
def test_distance_names_are_the_objects_on_the_embeddings_as_given():
    for name, want in [("euclidean", (LpDistance, False, 1)),
                       ("sqeuclidean", (LpDistance, False, 2)),
                       ("cosine", (CosineSimilarity, True, 1)),
                       ("dot", (DotProductSimilarity, False, 1))]:
        d = resolve_distance(name)
        assert (type(d), d.normalize_embeddings, d.power) == want, name
    assert resolve_distance(None).normalize_embeddings      # pml's default
    assert not resolve_distance(None, normalize=False).normalize_embeddings
    assert resolve_distance("euclidean", normalize=True).normalize_embeddings
    X, y = batch(6)
    a = TripletMarginLoss(0.2, distance="euclidean")(X, y)
    b = TripletMarginLoss(0.2, normalize=False)(X, y)
    c = TripletMarginLoss(0.2, distance=LpDistance(normalize_embeddings=False))
    assert a.item() == b.item() == c(X, y).item()


def test_pml_default_distance_of_each_loss():
    assert isinstance(TripletMarginLoss().distance, LpDistance)
    assert isinstance(ContrastiveLoss().distance, LpDistance)
    assert isinstance(LiftedStructureLoss().distance, LpDistance)
    assert isinstance(NTXentLoss().distance, CosineSimilarity)
    assert isinstance(MultiSimilarityLoss().distance, CosineSimilarity)
    assert type(NPairsLoss().distance) is DotProductSimilarity
    assert NPairsLoss().distance.normalize_embeddings
    assert isinstance(ProxyAnchorLoss(3, 2).distance, CosineSimilarity)
    assert TripletMarginLoss().margin == 0.05
    assert (ContrastiveLoss().pos_margin, ContrastiveLoss().neg_margin) == \
        (0.0, 1.0)
    assert (LiftedStructureLoss().neg_margin,
            LiftedStructureLoss().pos_margin) == (1.0, 0.0)


def test_a_distance_loss_with_a_similarity_follows_pml_margin_rule():
    """MultiSimilarity with LpDistance: pml's distance.margin flips the
    signs, pos exponent alpha (d - base), neg exponent beta (base - d)."""
    X, y = batch(7)
    U = [unit(x) for x in X]
    alpha, beta, base = 2.0, 5.0, 0.8
    terms = []
    for i in range(len(y)):
        dp = [euclid(U[i], U[j]) for j in range(len(y))
              if j != i and y[j] == y[i]]
        dn = [euclid(U[i], U[j]) for j in range(len(y)) if y[j] != y[i]]
        terms.append(
            math.log1p(sum(math.exp(alpha * (d - base)) for d in dp)) / alpha
            + math.log1p(sum(math.exp(beta * (base - d)) for d in dn)) / beta)
    out = MultiSimilarityLoss(alpha, beta, base, distance=LpDistance())(X, y)
    assert out.item() == pytest.approx(sum(terms) / len(terms), rel=1e-10)


# --------------------------------------------------------------- reducers
@pytest.mark.parametrize("reducer,name", [
    (reducers.AvgNonZeroReducer, "mean_nonzero"),
    (reducers.MeanReducer, "mean"), (reducers.SumReducer, "sum"),
    (reducers.DoNothingReducer, "none")])
def test_reducer_objects_equal_the_reduction_names(reducer, name):
    X, y = batch(8)
    for make in (TripletMarginLoss, ContrastiveLoss, NTXentLoss):
        a = make(reducer=reducer())(X, y)
        b = make(reduction=name)(X, y)
        torch.testing.assert_close(a, b)
        assert make(reducer=reducer()).reduction == name


def test_reducers_reduce_as_pml():
    t = torch.tensor([0.0, 1.0, 3.0, 0.0])
    ref = torch.zeros(1, requires_grad=True)
    assert reducers.AvgNonZeroReducer()(t, ref).item() == 2.0
    assert reducers.MeanReducer()(t, ref).item() == 1.0
    assert reducers.SumReducer()(t, ref).item() == 4.0
    assert reducers.DoNothingReducer()(t, ref) is t
    assert reducers.AvgNonZeroReducer()(torch.zeros(3), ref).item() == 0.0
    for reducer in (reducers.AvgNonZeroReducer(), reducers.MeanReducer(),
                    reducers.SumReducer()):
        zero = reducer(torch.zeros(0), ref)           # no term: a zero ...
        assert zero.item() == 0.0 and zero.requires_grad  # ... with a graph


# ------------------------------------------------------------------ errors
def test_bad_arguments_get_precise_errors():
    X, y, Xr, yr = with_reference(9)
    with pytest.raises(ValueError, match="either reducer= .* or "
                                         "reduction="):
        TripletMarginLoss(reducer=reducers.SumReducer(), reduction="sum")

    class PMLReducer(torch.nn.Module):                 # not a dml reducer
        pass
    with pytest.raises(ValueError, match="reducer must be a dml reducer"):
        TripletMarginLoss(reducer=PMLReducer())
    with pytest.raises(ValueError, match="reduction='mean_nonzero' is not"):
        ProxyAnchorLoss(3, 2, reduction="mean_nonzero")
    with pytest.raises(ValueError, match="distance='manhattan' is not "
                                         "supported.*dml.distances object"):
        NTXentLoss(distance="manhattan")
    with pytest.raises(ValueError, match="distance must be None"):
        NTXentLoss(distance=torch.nn.Identity())
    with pytest.raises(ValueError, match="normalize=False contradicts"):
        TripletMarginLoss(distance=LpDistance(), normalize=False)
    with pytest.raises(ValueError, match="always normalises"):
        NTXentLoss(normalize=False)
    with pytest.raises(ValueError, match="ref_labels was given without "
                                         "ref_emb"):
        TripletMarginLoss()(X, y, ref_labels=yr)
    with pytest.raises(ValueError, match="ref_emb needs ref_labels"):
        TripletMarginLoss()(X, y, ref_emb=Xr)
    with pytest.raises(ValueError, match=r"ref_emb must be a 2-D tensor "
                                         r"\(R, 3\)"):
        TripletMarginLoss()(X, y, ref_emb=Xr[:, :2], ref_labels=yr)
    with pytest.raises(ValueError, match="ref_labels has 5 labels"):
        TripletMarginLoss()(X, y, ref_emb=Xr, ref_labels=yr[:5])
    bad = (torch.tensor([0]), torch.tensor([6]), torch.tensor([1]))
    with pytest.raises(ValueError, match=r"indices_tuple\[1\] holds an "
                                         r"index outside 0..5; indices "
                                         r"refer to rows of ref_emb"):
        TripletMarginLoss()(X, y, bad, ref_emb=Xr, ref_labels=yr)
    with pytest.raises(ValueError, match="labels are required"):
        TripletMarginLoss()(X)
    for loss in (NPairsLoss(), ProxyAnchorLoss(3, 3)):
        with pytest.raises(ValueError, match="does not take ref_emb"):
            loss(X, y, ref_emb=Xr, ref_labels=yr)


@pytest.mark.parametrize("make", [
    ContrastiveLoss, TripletMarginLoss, NTXentLoss, NPairsLoss,
    LiftedStructureLoss, MultiSimilarityLoss, lambda: ProxyAnchorLoss(3, 3),
    lambda: TripletMarginLoss(swap=True),
    lambda: TripletMarginLoss(triplets_per_anchor=3)])
def test_an_empty_batch_or_reference_gives_zero_with_grad(make):
    loss = make()
    E = torch.zeros(0, 3, requires_grad=True)
    out = loss(E, torch.zeros(0, dtype=torch.int64))
    out.backward()
    assert out.item() == 0.0 and E.grad is not None
    if isinstance(loss, (NPairsLoss, ProxyAnchorLoss)):
        return                                   # no ref_emb (as pml)
    X, y = batch(1, B=4)
    Xr, yr = batch(2, B=5)
    assert loss(E, torch.zeros(0, dtype=torch.int64), ref_emb=Xr.float(),
                ref_labels=yr).item() == 0.0
    assert loss(X, y, ref_emb=Xr[:0], ref_labels=yr[:0]).item() == 0.0


def test_a_miners_tuples_need_no_labels_and_no_ref_labels():
    """pml: "labels or indices_tuple required"; with indices the labels
    (and ref_labels) only carry sizes."""
    X, y, Xr, yr = with_reference(10)
    trip = (torch.tensor([0, 1, 7]), torch.tensor([5, 0, 2]),
            torch.tensor([1, 3, 4]))
    for loss in (TripletMarginLoss(0.3), ContrastiveLoss(), NTXentLoss(),
                 LiftedStructureLoss(), MultiSimilarityLoss()):
        want = loss(X, y, trip, Xr, yr)
        assert loss(X, None, trip, Xr).item() == want.item()
        assert loss(X, indices_tuple=trip).item() == \
            loss(X, y, trip).item()
        with pytest.raises(ValueError, match=r"indices_tuple\[1\] holds an "
                                             r"index outside 0..5"):
            loss(X, None, (trip[0], trip[1] + 6, trip[2]), Xr)
    for loss in (NPairsLoss(), ProxyAnchorLoss(3, 3)):
        with pytest.raises(ValueError, match="labels are required"):
            loss(X, indices_tuple=trip)
