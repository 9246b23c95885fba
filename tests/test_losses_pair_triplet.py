"""Contrastive and triplet losses against plain loops, hand values and
autograd."""
import itertools
import math

import numpy as np
import pytest
import torch

from dml.losses import (ContrastiveLoss, TripletMarginLoss, contrastive_loss,
                        triplet_loss)
from _helpers import batch


def dist(x, z, distance="euclidean"):
    """d(x, z), or the similarity cos(x, z) for distance="cosine"."""
    x, z = x.tolist(), z.tolist()
    if distance == "cosine":
        dot = sum(a * b for a, b in zip(x, z))
        return dot / math.sqrt(sum(a * a for a in x) *
                               sum(b * b for b in z))
    d2 = sum((a - b) ** 2 for a, b in zip(x, z))
    return d2 if distance == "sqeuclidean" else math.sqrt(d2)


def unit(X):
    return X / X.norm(dim=1, keepdim=True)


def mean_nonzero(terms):
    nz = [t for t in terms if t > 0]
    return sum(nz) / len(nz) if nz else 0.0


# --------------------------------------------------------------- contrastive
def contrastive_ref(d, same, m, m_pos, form, inverted=False):
    """One pair's term; a similarity (inverted) pays below m_pos (similar
    pairs) and above m (dissimilar pairs), pml's margin rule."""
    if form == "margin_on_d2":
        d = d * d
    if same:
        t = max(0.0, m_pos - d if inverted else d - m_pos)
        return t * t if form == "hadsell" else t
    t = max(0.0, d - m if inverted else m - d)
    return t * t if form == "hadsell" else t


def test_contrastive_hand_values():
    # similar pair at d = 0.5: 0.25; dissimilar at 0.5 with m = 1: 0.25;
    # dissimilar at 1.5: 0; margin on d^2: [1 - 0.25]_+ = 0.75
    d = torch.tensor([0.5, 0.5, 1.5])
    same = torch.tensor([1, 0, 0])
    assert torch.allclose(contrastive_loss(d, same),
                          torch.tensor([0.25, 0.25, 0.0]))
    assert contrastive_loss(0.5, 0, form="margin_on_d2") == pytest.approx(
        0.75)
    assert contrastive_loss(np.array([0.2]), [1], form="linear",
                            pos_margin=0.1)[0] == pytest.approx(0.1)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("form,distance,m,m_pos", [
    ("hadsell", "euclidean", 0.8, 0.1), ("margin_on_d2", "euclidean", 0.8,
                                         0.1),
    ("linear", "euclidean", 0.8, 0.1), ("hadsell", "cosine", 0.2, 0.7),
    ("linear", "cosine", 0.2, 0.7), ("linear", None, 0.8, 0.1)])
def test_contrastive_module_equals_the_pair_loop(seed, form, distance, m,
                                                 m_pos):
    X, y = batch(seed)
    B = len(y)
    Xd = unit(X) if distance is None else X     # None: pml's LpDistance()
    pos, neg = [], []
    for i, j in itertools.product(range(B), repeat=2):
        if i == j:
            continue
        t = contrastive_ref(dist(Xd[i], Xd[j], distance or "euclidean"),
                            y[i] == y[j], m, m_pos, form,
                            inverted=distance == "cosine")
        (pos if y[i] == y[j] else neg).append(t)
    kw = dict(pos_margin=m_pos, form=form, distance=distance)
    balanced = ContrastiveLoss(neg_margin=m, **kw)(X, y)
    assert balanced.item() == pytest.approx(mean_nonzero(pos) +
                                            mean_nonzero(neg), rel=1e-10)
    joint = ContrastiveLoss(neg_margin=m, balance=False, reduction="mean",
                            **kw)
    assert joint(X, y).item() == pytest.approx(
        sum(pos + neg) / len(pos + neg), rel=1e-10)


def test_contrastive_with_given_pairs_uses_exactly_them():
    X, y = batch(5)
    a1, p = torch.tensor([0, 0, 3]), torch.tensor([1, 1, 2])
    a2, n = torch.tensor([4]), torch.tensor([6])
    loss = ContrastiveLoss(neg_margin=2.0, form="hadsell",
                           distance="euclidean", reduction="sum")
    ref = sum(dist(X[i], X[j]) ** 2 for i, j in [(0, 1), (0, 1), (3, 2)])
    ref += max(0, 2.0 - dist(X[4], X[6])) ** 2
    assert loss(X, y, (a1, p, a2, n)).item() == pytest.approx(ref)
    # triplets (a, p, n) become the pairs (a, p) and (a, n)
    trip = (torch.tensor([0]), torch.tensor([1]), torch.tensor([6]))
    ref = dist(X[0], X[1]) ** 2 + max(0, 2.0 - dist(X[0], X[6])) ** 2
    assert loss(X, y, trip).item() == pytest.approx(ref)


@pytest.mark.parametrize("form", ["hadsell", "margin_on_d2", "linear"])
def test_contrastive_gradient_matches_autograd(form):
    X, y = batch(1, B=6)
    X.requires_grad_(True)
    loss = ContrastiveLoss(0.05, 1.5, form=form, distance="euclidean")
    assert torch.autograd.gradcheck(lambda Z: loss(Z, y), (X,))


def test_contrastive_rejects_an_unknown_form():
    with pytest.raises(ValueError, match="form='siamese' is not"):
        ContrastiveLoss(form="siamese")
    with pytest.raises(ValueError, match="distance='manhattan'"):
        ContrastiveLoss(distance="manhattan")
    with pytest.raises(ValueError, match="margin_on_d2.*needs a distance"):
        ContrastiveLoss(form="margin_on_d2", distance="cosine")


def test_contrastive_defaults_are_pml_linear_on_normalised_embeddings():
    """pml 2.9: ContrastiveLoss(pos_margin=0, neg_margin=1), LpDistance()
    (unit rows), each half averaged over its nonzero terms."""
    X, y = batch(3)
    U = unit(X)
    B = len(y)
    pos, neg = [], []
    for i, j in itertools.product(range(B), repeat=2):
        if i != j:
            t = contrastive_ref(dist(U[i], U[j]), y[i] == y[j], 1.0, 0.0,
                                "linear")
            (pos if y[i] == y[j] else neg).append(t)
    assert ContrastiveLoss()(X, y).item() == pytest.approx(
        mean_nonzero(pos) + mean_nonzero(neg), rel=1e-10)
    # positional order is pml's: pos_margin first
    assert ContrastiveLoss(0.3).pos_margin == 0.3


# ------------------------------------------------------------------ triplet
def test_triplet_course_page_worked_example():
    # d(a,p) = 0.5, d(a,n) = 0.6, alpha = 0.2 -> 0.1 (semi-hard);
    # d(a,n) = 1.0 -> 0 (easy)
    assert triplet_loss(0.5, 0.6, 0.2) == pytest.approx(0.1)
    assert triplet_loss(0.5, 1.0, 0.2) == 0.0
    # squared (FaceNet, LMNN): 0.25 - 0.36 + 0.2 = 0.09
    assert triplet_loss(0.5, 0.6, 0.2, squared=True) == pytest.approx(0.09)
    assert triplet_loss(0.5, 0.6, 0.2, soft=True) == pytest.approx(
        math.log1p(math.exp(0.1)))


def triplet_terms_ref(X, y, margin, squared, soft, distance, triplets=None):
    B = len(y)
    if triplets is None:
        triplets = [(a, p, n) for a, p, n in
                    itertools.product(range(B), repeat=3)
                    if a != p and y[a] == y[p] and y[a] != y[n]]
    out = []
    for a, p, n in triplets:
        d_ap, d_an = dist(X[a], X[p], distance), dist(X[a], X[n], distance)
        if squared:
            d_ap, d_an = d_ap ** 2, d_an ** 2
        if distance == "cosine":               # similarities: s_an - s_ap
            d_ap, d_an = -d_ap, -d_an
        v = d_ap - d_an + margin
        out.append(math.log1p(math.exp(v)) if soft else max(0.0, v))
    return out


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("squared,soft,distance", [
    (False, False, "euclidean"), (True, False, "euclidean"),
    (False, True, "euclidean"), (False, False, "cosine"),
    (False, False, "sqeuclidean")])
def test_triplet_module_equals_the_triplet_loop(seed, squared, soft,
                                                distance):
    X, y = batch(seed, B=12)
    ref = triplet_terms_ref(X, y, 0.3, squared, soft, distance)
    kw = dict(squared=squared, smooth_loss=soft, distance=distance)
    for reduction, value in [("mean_nonzero", mean_nonzero(ref)),
                             ("mean", sum(ref) / len(ref)),
                             ("sum", sum(ref))]:
        out = TripletMarginLoss(0.3, reduction=reduction, **kw)(X, y)
        assert out.item() == pytest.approx(value, rel=1e-10)
    terms = TripletMarginLoss(0.3, reduction="none", **kw)(X, y)
    assert np.allclose(terms.numpy(), ref)


def test_triplet_chunking_does_not_change_the_value(monkeypatch):
    import dml.losses.triplet as triplet_module
    X, y = batch(7, B=12)
    X.requires_grad_(True)
    whole = TripletMarginLoss(0.5, distance="euclidean")(X, y)
    g_whole, = torch.autograd.grad(whole, X)
    real = triplet_module.anchor_chunks
    monkeypatch.setattr(triplet_module, "anchor_chunks",
                        lambda B, max_elements: real(B, 3 * B * B))
    chunked = TripletMarginLoss(0.5, distance="euclidean")(X, y)
    g_chunked, = torch.autograd.grad(chunked, X)
    assert chunked.item() == pytest.approx(whole.item(), rel=1e-12)
    assert torch.allclose(g_chunked, g_whole)


def test_triplet_with_given_triplets_uses_exactly_them():
    X, y = batch(2, B=12)
    trips = [(0, 1, 2), (0, 1, 2), (5, 3, 4)]
    idx = tuple(torch.tensor(c) for c in zip(*trips))
    ref = triplet_terms_ref(X, y, 2.0, False, False, "euclidean", trips)
    out = TripletMarginLoss(2.0, distance="euclidean",
                            reduction="sum")(X, y, idx)
    assert out.item() == pytest.approx(sum(ref))
    # pairs are matched by anchor into triplets: (0,1)+(0,2) and (0,3)
    pairs = (torch.tensor([0]), torch.tensor([1]),
             torch.tensor([0, 0]), torch.tensor([2, 3]))
    ref = triplet_terms_ref(X, y, 2.0, False, False, "euclidean",
                            [(0, 1, 2), (0, 1, 3)])
    out = TripletMarginLoss(2.0, distance="euclidean",
                            reduction="sum")(X, y, pairs)
    assert out.item() == pytest.approx(sum(ref))


@pytest.mark.parametrize("soft,squared", [(False, False), (True, False),
                                          (False, True)])
def test_triplet_gradient_matches_autograd(soft, squared):
    X, y = batch(4, B=7)
    X.requires_grad_(True)
    loss = TripletMarginLoss(0.5, smooth_loss=soft, squared=squared,
                             distance="euclidean")
    assert torch.autograd.gradcheck(lambda Z: loss(Z, y), (X,))


def test_triplet_squared_twice_is_rejected():
    with pytest.raises(ValueError, match="squares a distance of power 1"):
        TripletMarginLoss(squared=True, distance="sqeuclidean")
    with pytest.raises(ValueError, match="squares a distance of power 1"):
        TripletMarginLoss(squared=True, distance="cosine")


def test_triplet_defaults_are_pml_on_normalised_embeddings():
    """pml 2.9: margin 0.05, LpDistance() (unit rows), AvgNonZero."""
    X, y = batch(6, B=12)
    ref = triplet_terms_ref(unit(X), y, 0.05, False, False, "euclidean")
    assert TripletMarginLoss()(X, y).item() == pytest.approx(
        mean_nonzero(ref), rel=1e-10)
    assert TripletMarginLoss(normalize=False)(X, y).item() == \
        pytest.approx(mean_nonzero(triplet_terms_ref(
            X, y, 0.05, False, False, "euclidean")), rel=1e-10)


def test_triplet_swap_takes_the_closer_of_anchor_and_positive():
    """Balntas et al. (2016) / pml's swap: d_an -> min(d_an, d_pn)."""
    X, y = batch(8, B=10)
    B = len(y)
    ref = []
    for a, p, n in itertools.product(range(B), repeat=3):
        if a != p and y[a] == y[p] and y[a] != y[n]:
            d_an = min(dist(X[a], X[n]), dist(X[p], X[n]))
            ref.append(max(0.0, dist(X[a], X[p]) - d_an + 0.4))
    for idx in (None, tuple(torch.tensor(c) for c in zip(
            *[(a, p, n) for a, p, n in itertools.product(range(B), repeat=3)
              if a != p and y[a] == y[p] and y[a] != y[n]]))):
        out = TripletMarginLoss(0.4, swap=True, distance="euclidean",
                                reduction="sum")(X, y, idx)
        assert out.item() == pytest.approx(sum(ref), rel=1e-10)


def test_triplets_per_anchor_samples_k_valid_triplets_per_anchor():
    X, y = batch(9, B=12)
    torch.manual_seed(0)
    terms = TripletMarginLoss(0.3, triplets_per_anchor=5,
                              distance="euclidean", reduction="none")(X, y)
    anchors = sum(1 for a in range(len(y))
                  if any(y[b] == y[a] for b in range(len(y)) if b != a)
                  and any(y[b] != y[a] for b in range(len(y))))
    assert terms.shape == (5 * anchors,)
    with pytest.raises(ValueError, match="triplets_per_anchor must be"):
        TripletMarginLoss(triplets_per_anchor=0)


# ------------------------------------------------------ shared edge cases
@pytest.mark.parametrize("make", [lambda: ContrastiveLoss(),
                                  lambda: TripletMarginLoss()])
def test_coinciding_embeddings_give_finite_gradients(make):
    X, y = batch(0, B=8)
    X = torch.cat([X, X[:2]]).requires_grad_(True)   # rows 8, 9 = 0, 1
    y = torch.cat([y, y[:2]])
    make()(X, y).backward()
    assert torch.isfinite(X.grad).all()


@pytest.mark.parametrize("make", [lambda: ContrastiveLoss(),
                                  lambda: TripletMarginLoss()])
@pytest.mark.parametrize("reduction", ["mean_nonzero", "mean", "sum"])
def test_a_batch_without_valid_tuples_gives_zero_with_grad(make, reduction):
    loss = make()
    loss.reduction = reduction
    X = torch.randn(4, 3, requires_grad=True)
    y = torch.zeros(4, dtype=torch.int64)       # no negative at all
    out = loss(X, y) if isinstance(loss, TripletMarginLoss) else \
        loss(X, y, (torch.zeros(0, dtype=torch.int64),) * 4)
    out.backward()
    assert out.item() == 0.0 and torch.isfinite(X.grad).all()


def test_bad_batches_get_precise_errors():
    with pytest.raises(ValueError, match="labels has 3 labels but X has 4"):
        TripletMarginLoss()(torch.randn(4, 2), torch.tensor([0, 1, 0]))
    with pytest.raises(ValueError, match="2-D float tensor"):
        TripletMarginLoss()(torch.randn(4), torch.tensor([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="reduction='avg' is not"):
        TripletMarginLoss(reduction="avg")


@pytest.mark.parametrize("distance", ["euclidean", "sqeuclidean", "cosine"])
def test_mined_triplets_use_row_distances_equal_to_the_matrix(distance):
    """With few tuples the loss computes d_ap, d_an from the rows only;
    the values and gradients equal those read off the (B, B) matrix."""
    from dml.losses._distance import resolve_distance, tuple_distances
    g = torch.Generator().manual_seed(0)
    E = torch.randn(16, 3, generator=g, dtype=torch.float64,
                    requires_grad=True)
    a = torch.arange(16)
    p, n = (a + 1) % 16, (a + 5) % 16
    dist_obj = resolve_distance(distance)
    d_ap, d_an = tuple_distances(dist_obj, E, [(a, p), (a, n)])
    M = dist_obj(E)
    torch.testing.assert_close(d_ap, M[a, p])
    torch.testing.assert_close(d_an, M[a, n])
    assert torch.autograd.gradcheck(
        lambda X: tuple_distances(dist_obj, X, [(a, p), (a, n)])[1], (E,))
