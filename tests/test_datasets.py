"""dml.datasets: offline, seeded, right shapes, the case study's claim."""
import numpy as np
import pytest

import dml


def test_drug_compounds_shapes_labels_and_standardisation():
    X, y, names = dml.drug_compounds(n_per_class=30, seed=1)
    assert X.shape == (120, 12) and y.shape == (120,)
    assert np.bincount(y).tolist() == [30] * 4 and len(names) == 4
    np.testing.assert_allclose(X.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(X.std(0), 1, atol=1e-12)


def test_generators_are_deterministic_per_seed():
    a, b = dml.drug_compounds(seed=5), dml.drug_compounds(seed=5)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, dml.drug_compounds(seed=6).X)
    np.testing.assert_array_equal(dml.merged_blobs(seed=2).X,
                                  dml.merged_blobs(seed=2).X)


def test_only_the_first_three_descriptors_separate_the_classes():
    X, y, _ = dml.drug_compounds(n_per_class=2000, seed=0,
                                 standardize=False)
    means = np.stack([X[y == c].mean(0) for c in range(4)])     # (4, 12)
    assert np.abs(means[:, 3:]).max() < 0.2                    # noise dims
    assert np.abs(means[:, :3]).min() > 0.3                    # signal dims
    var = np.stack([X[y == c].var(0) for c in range(4)]).mean(0)
    np.testing.assert_allclose(var[:3], 0.8, rtol=0.1)
    np.testing.assert_allclose(var[3:], 5.0, rtol=0.1)


def test_case_study_euclidean_knn_is_clearly_below_the_oracle():
    """Seed 000: kNN (K=5) reaches 83 % with all 12 descriptors but 97 %
    with the 3 discriminative ones. Averaged over 10 splits to keep a
    60-point test set's noise from deciding."""
    euclid, oracle = [], []
    dims = list(dml.DRUG_DISCRIMINATIVE)
    for seed in range(10):
        X, y, _ = dml.drug_compounds(seed=seed)
        Xtr, Xte, ytr, yte = dml.train_test_split(X, y, seed=seed)
        euclid.append(dml.knn_accuracy(Xtr, ytr, Xte, yte, k=5))
        oracle.append(dml.knn_accuracy(Xtr[:, dims], ytr, Xte[:, dims], yte,
                                       k=5))
    assert np.mean(oracle) >= 0.94
    assert np.mean(oracle) - np.mean(euclid) >= 0.08
    assert np.mean(euclid) <= 0.90


def test_hierarchical_sets_have_consistent_coarse_labels():
    for data, n_fine, n_coarse in [(dml.animals(), 3, 2),
                                   (dml.merged_blobs(), 5, 4),
                                   (dml.digits_coarse(), 10, 5)]:
        assert len(np.unique(data.y)) == n_fine == len(data.names)
        assert len(np.unique(data.y_coarse)) == n_coarse
        assert len(data.coarse_names) == n_coarse
        np.testing.assert_array_equal(data.fine_to_coarse[data.y],
                                      data.y_coarse)
        assert data.X.shape[0] == data.y.shape[0]


def test_mammals_are_closer_to_each_other_than_to_snakes():
    X, y, *_ = dml.animals(seed=0)
    c = np.stack([X[y == k].mean(0) for k in range(3)])
    d = lambda a, b: np.linalg.norm(c[a] - c[b])   # noqa: E731
    assert d(0, 1) < d(0, 2) and d(0, 1) < d(1, 2)
    # ... yet cats and dogs are separable in the raw space
    assert dml.knn_accuracy(X[y < 2], y[y < 2], k=5) > 0.95


def test_merged_blobs_hide_a_fifth_cluster_under_four_labels():
    data = dml.merged_blobs(seed=0)
    X3, X4 = data.X[data.y == 3], data.X[data.y == 4]
    assert (data.y_coarse[data.y == 3] == 3).all()
    assert (data.y_coarse[data.y == 4] == 3).all()
    spread = X3.std(0).mean()                      # per-axis spread ~ 0.5
    assert np.linalg.norm(X3.mean(0) - X4.mean(0)) > 4 * spread


def test_digits_coarse_is_the_bundled_scikit_learn_set():
    data = dml.digits_coarse()
    assert data.X.shape == (1797, 64)
    assert 0.0 <= data.X.min() and data.X.max() <= 1.0
    np.testing.assert_array_equal(data.y_coarse, data.y // 2)


def test_train_test_split_is_stratified_and_seeded():
    X, y, _ = dml.drug_compounds(seed=0)
    Xtr, Xte, ytr, yte = dml.train_test_split(X, y, test_size=0.3, seed=1)
    assert len(Xte) == 60 and np.bincount(yte).tolist() == [15] * 4
    again = dml.train_test_split(X, y, test_size=0.3, seed=1)
    np.testing.assert_array_equal(Xte, again[1])


@pytest.mark.parametrize("call,match", [
    (lambda: dml.drug_compounds(n_per_class=0), "n_per_class must be >= 1"),
    (lambda: dml.drug_compounds(seed="x"), "seed must be an integer"),
    (lambda: dml.drug_compounds(noise_var=0), "must be positive"),
    (lambda: dml.train_test_split(np.ones((4, 1)), [0, 0, 1, 1],
                                  test_size=2.0), "test_size"),
])
def test_bad_arguments_raise_value_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
