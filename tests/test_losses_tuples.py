"""Pairs, triplets, conversions and reductions of dml.losses."""
import itertools

import pytest
import torch

from dml.losses import (all_pairs, all_triplets, anchor_chunks,
                        masked_logsumexp, pairs_to_triplets, reduce_terms,
                        triplets_to_pairs, valid_triplet_count)
from dml.losses._tuples import as_pairs, as_triplets


def labels_of(seed, B=10, C=3):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, C, (B,), generator=g)


def loop_pairs(y):
    B = len(y)
    pos = [(i, j) for i in range(B) for j in range(B)
           if i != j and y[i] == y[j]]
    neg = [(i, j) for i in range(B) for j in range(B) if y[i] != y[j]]
    return pos, neg


def loop_triplets(y):
    B = len(y)
    return [(a, p, n) for a, p, n in itertools.product(range(B), repeat=3)
            if a != p and y[a] == y[p] and y[a] != y[n]]


@pytest.mark.parametrize("seed", range(4))
def test_all_pairs_lists_every_ordered_pair_once(seed):
    y = labels_of(seed)
    a1, p, a2, n = all_pairs(y)
    pos, neg = loop_pairs(y.tolist())
    assert list(zip(a1.tolist(), p.tolist())) == pos
    assert list(zip(a2.tolist(), n.tolist())) == neg
    assert a1.dtype == torch.int64


@pytest.mark.parametrize("seed", range(4))
def test_all_triplets_and_count_match_the_loop(seed):
    y = labels_of(seed)
    ref = loop_triplets(y.tolist())
    a, p, n = all_triplets(y)
    assert list(zip(a.tolist(), p.tolist(), n.tolist())) == ref
    assert valid_triplet_count(y) == len(ref)


def test_pairs_to_triplets_matches_anchors_like_a_loop():
    g = torch.Generator().manual_seed(3)
    a1 = torch.randint(0, 6, (9,), generator=g)
    p = torch.randint(0, 6, (9,), generator=g)
    a2 = torch.randint(0, 6, (7,), generator=g)
    n = torch.randint(0, 6, (7,), generator=g)
    ref = [(a1[i].item(), p[i].item(), n[k].item())
           for i in range(9) for k in range(7) if a1[i] == a2[k]]
    out = pairs_to_triplets(a1, p, a2, n)
    assert list(zip(*[t.tolist() for t in out])) == ref


def test_pairs_to_triplets_of_no_pairs_is_empty():
    e = torch.zeros(0, dtype=torch.int64)
    a, p, n = pairs_to_triplets(e, e, torch.tensor([1]), torch.tensor([2]))
    assert len(a) == len(p) == len(n) == 0


def test_triplets_to_pairs_keeps_every_tuple():
    a, p, n = torch.tensor([0, 0]), torch.tensor([1, 1]), torch.tensor([2, 3])
    assert [t.tolist() for t in triplets_to_pairs(a, p, n)] == \
        [[0, 0], [1, 1], [0, 0], [2, 3]]


def test_as_pairs_and_as_triplets_accept_both_kinds():
    y = torch.tensor([0, 0, 1, 1])
    trip = (torch.tensor([0]), torch.tensor([1]), torch.tensor([2]))
    assert len(as_pairs(trip, y)) == 4
    assert [t.tolist() for t in as_triplets(as_pairs(trip, y), y)] == \
        [[0], [1], [2]]


def test_indices_outside_the_batch_are_rejected():
    y = torch.tensor([0, 0, 1])
    with pytest.raises(ValueError, match="outside 0..2"):
        as_pairs((torch.tensor([0]), torch.tensor([5]), torch.tensor([2])), y)
    with pytest.raises(ValueError, match="triplets .a, p, n. or pairs"):
        as_pairs((torch.tensor([0]), torch.tensor([1])), y)


def test_anchor_chunks_cover_the_batch_in_bounded_blocks():
    chunks = list(anchor_chunks(100, max_elements=100 * 100 * 7))
    assert [s.stop - s.start for s in chunks] == [7] * 14 + [2]
    assert chunks[-1].stop == 100


def test_reductions_on_hand_made_terms():
    x = torch.tensor([0.0, 1.0, 3.0, 0.0])
    assert reduce_terms(x, "mean_nonzero", x).item() == 2.0
    assert reduce_terms(x, "mean", x).item() == 1.0
    assert reduce_terms(x, "sum", x).item() == 4.0
    assert reduce_terms(x, "none", x) is x


@pytest.mark.parametrize("reduction", ["mean_nonzero", "mean", "sum"])
def test_reducing_nothing_gives_a_zero_with_a_gradient(reduction):
    X = torch.randn(3, 2, requires_grad=True)
    out = reduce_terms(X[:0, 0], reduction, X)
    out.backward()
    assert out.item() == 0.0 and torch.equal(X.grad, torch.zeros(3, 2))


def test_masked_logsumexp_equals_the_loop_and_handles_empty_rows():
    x = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],
                     dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True, False, True], [False, False, False]])
    out = masked_logsumexp(x, mask, dim=1)
    ref = torch.log(torch.exp(x[0, 0]) + torch.exp(x[0, 2]))
    assert torch.allclose(out[0], ref)
    assert out[1] < -1e300                       # log 0, but finite
    one = masked_logsumexp(x, mask, dim=1, add_one=True)
    assert one[1].item() == 0.0
    (out[0] + one.sum()).backward()
    assert torch.isfinite(x.grad).all() and x.grad[1].abs().sum() == 0


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_masked_logsumexp_in_half_precision_sums_in_float32(dtype):
    """Terms far below the largest are neither raised to a floor nor lost
    (float16's own floor would be log(tiny) + 7 = -2.7; issue 16)."""
    x = torch.linspace(-12.0, 3.0, 61).reshape(1, -1)          # (1, 61)
    mask = torch.ones_like(x, dtype=torch.bool)
    mask[0, ::7] = False
    for add_one in (False, True):
        want = masked_logsumexp(x.double(), mask, add_one=add_one)
        got = masked_logsumexp(x.to(dtype), mask, add_one=add_one)
        assert got.dtype == torch.float32
        # only the rounding of the inputs to half precision remains
        assert got.double().item() == pytest.approx(want.item(), abs=2e-2)


def test_half_precision_losses_equal_float32_within_rounding():
    from dml.losses import MultiSimilarityLoss, ProxyAnchorLoss
    g = torch.Generator().manual_seed(0)
    X = torch.randn(64, 16, generator=g)
    y = torch.randint(0, 4, (64,), generator=g)
    proxy = ProxyAnchorLoss(4, 16)
    for loss in (MultiSimilarityLoss(), proxy):
        full = loss(X, y).item()
        half = loss(X.half(), y).item()
        assert half == pytest.approx(full, rel=2e-3), type(loss).__name__
