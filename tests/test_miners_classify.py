"""classify_triplets / triplet_type_codes: the case study's table, exactly.

hard: d_an < d_ap; semi-hard: d_ap <= d_an < d_ap + m; easy: otherwise.
The expected labels below are read off that table by hand.
"""
import numpy as np
import pytest
import torch

import dml.miners as mn

D_AP = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
D_AN = [0.5, 1.0, 1.5, 2.0, 3.0, 0.999]
NAMES = ["hard", "semi-hard", "semi-hard", "easy", "easy", "hard"]


def test_classify_triplets_puts_both_ties_where_case_study_does():
    got = mn.classify_triplets(np.array(D_AP), np.array(D_AN), 1.0)
    assert isinstance(got, np.ndarray)
    assert got.tolist() == NAMES


def test_triplet_type_codes_for_tensors_keeps_kind_and_device():
    codes = mn.triplet_type_codes(torch.tensor(D_AP), torch.tensor(D_AN),
                                  1.0)
    assert isinstance(codes, torch.Tensor) and codes.dtype == torch.int64
    assert codes.tolist() == [mn.TRIPLET_TYPES.index(n) for n in NAMES]
    assert (mn.HARD, mn.SEMIHARD, mn.EASY) == (0, 1, 2)
    names = mn.classify_triplets(torch.tensor(D_AP), torch.tensor(D_AN), 1.)
    assert names.tolist() == NAMES


def test_triplet_type_codes_numpy_in_numpy_out():
    codes = mn.triplet_type_codes(np.array(D_AP), np.array(D_AN), 1.0)
    assert isinstance(codes, np.ndarray)
    assert codes.tolist() == [0, 1, 1, 2, 2, 0]


def test_zero_margin_leaves_no_semihard_triplet():
    # with m = 0, d_ap <= d_an < d_ap is empty: a tie is easy
    got = mn.classify_triplets([1.0, 1.0, 1.0], [0.5, 1.0, 2.0], 0.0)
    assert got.tolist() == ["hard", "easy", "easy"]


def test_classify_triplets_broadcasts_a_scalar_d_ap():
    got = mn.classify_triplets(1.0, [0.5, 1.5, 2.5], 1.0)
    assert got.tolist() == ["hard", "semi-hard", "easy"]


def test_classify_triplets_agrees_with_case_study_loop(rng):
    d_ap, d_an = rng.uniform(0, 3, 500), rng.uniform(0, 3, 500)
    margin = 1.0
    expected = []
    for ap, an in zip(d_ap, d_an):          # the case study's if / elif / else
        if an < ap:
            expected.append("hard")
        elif an < ap + margin:
            expected.append("semi-hard")
        else:
            expected.append("easy")
    assert mn.classify_triplets(d_ap, d_an, margin).tolist() == expected


def test_semihard_miner_only_returns_semihard_triplets(rng):
    E = torch.from_numpy(rng.standard_normal((30, 4)))
    y = torch.from_numpy(rng.integers(0, 4, 30))
    a, p, n = mn.SemiHardMiner(0.8, "euclidean", "skip")(E, y)
    D = torch.cdist(E, E)
    names = mn.classify_triplets(D[a, p], D[a, n], 0.8)
    assert len(a) > 0 and set(names.tolist()) == {"semi-hard"}


def test_classify_triplets_rejects_bad_arguments():
    with pytest.raises(ValueError, match="margin must be a finite"):
        mn.classify_triplets([1.0], [2.0], -0.5)
    with pytest.raises(ValueError, match="broadcastable"):
        mn.classify_triplets([1.0, 2.0], [1.0, 2.0, 3.0], 1.0)
