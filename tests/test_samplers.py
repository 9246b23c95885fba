"""PKSampler: P classes x K samples per batch, seeded, covering the data."""
from collections import Counter

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from dml.samplers import PKSampler


def labels_of(n_per_class):
    return np.repeat(np.arange(len(n_per_class)), n_per_class)


def test_every_batch_has_p_classes_with_k_distinct_samples_each():
    y = labels_of([12, 9, 15, 7, 10])
    sampler = PKSampler(y, P=3, K=4, seed=0, n_batches=30)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 30
    for batch in batches:
        assert len(batch) == 12 and len(set(batch)) == 12
        counts = Counter(y[batch].tolist())
        assert len(counts) == 3 and set(counts.values()) == {4}
        # the K samples of a class are contiguous, as P blocks of K
        blocks = y[batch].reshape(3, 4)
        assert (blocks == blocks[:, :1]).all()


def test_same_seed_gives_same_batches_and_other_seed_others():
    y = labels_of([10, 10, 10, 10])
    a = list(PKSampler(y, 2, 3, seed=5))
    b = list(PKSampler(y, 2, 3, seed=5))
    c = list(PKSampler(y, 2, 3, seed=6))
    assert a == b and a != c


def test_successive_epochs_differ_but_replay_from_the_seed():
    y = labels_of([8, 8, 8])
    s1, s2 = PKSampler(y, 3, 4, seed=1), PKSampler(y, 3, 4, seed=1)
    e1, e2 = list(s1), list(s1)
    assert e1 != e2 and [e1, e2] == [list(s2), list(s2)]


def test_balanced_epoch_visits_every_sample_exactly_once():
    y = labels_of([8, 8, 8, 8])
    sampler = PKSampler(y, P=4, K=4, seed=0)
    assert len(sampler) == 32 // 16
    seen = sorted(i for batch in sampler for i in batch)
    assert seen == list(range(32))


def test_unbalanced_data_is_covered_over_a_few_epochs():
    y = labels_of([30, 5, 12, 3, 20])
    sampler = PKSampler(y, P=3, K=3, seed=0)
    seen = set()
    for _ in range(10):
        seen.update(i for batch in sampler for i in batch)
    assert seen == set(range(len(y)))


def test_small_class_is_sampled_with_replacement():
    y = labels_of([2, 10])
    for batch in PKSampler(y, P=2, K=4, seed=0, n_batches=5):
        small = [i for i in batch if y[i] == 0]
        assert len(small) == 4 and set(small) <= {0, 1}


def test_works_as_batch_sampler_of_a_dataloader():
    y = labels_of([6, 6, 6])
    X = torch.arange(len(y), dtype=torch.float32)[:, None]
    sampler = PKSampler(y, P=2, K=3, seed=0)
    loader = DataLoader(TensorDataset(X, torch.from_numpy(y)),
                        batch_sampler=sampler)
    xb, yb = next(iter(loader))
    assert xb.shape == (6, 1) and len(set(yb.tolist())) == 2
    assert sampler.batch_labels(xb[:, 0].long().tolist()).tolist() == \
        yb.tolist()


def test_string_labels_are_accepted():
    y = np.array(["cat", "dog", "cat", "dog", "snake", "snake"])
    batch = next(iter(PKSampler(y, P=3, K=2, seed=0)))
    assert sorted(y[batch].tolist()) == ["cat", "cat", "dog", "dog",
                                         "snake", "snake"]


def test_bad_p_and_k_are_explained():
    y = labels_of([4, 4])
    with pytest.raises(ValueError, match="P=3 but the labels have only 2"):
        PKSampler(y, P=3, K=2)
    with pytest.raises(ValueError, match="K must be >= 1"):
        PKSampler(y, P=2, K=0)
