"""dml.neighbors: exact chunked kNN against scikit-learn and brute force."""
import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

import dml


def test_neighbors_match_scikit_learn_on_tie_free_data(rng):
    X, Q = rng.standard_normal((300, 6)), rng.standard_normal((70, 6))
    d, i = dml.nearest_neighbors(Q, X, k=7, chunk_size=16)
    d_sk, i_sk = NearestNeighbors(n_neighbors=7).fit(X).kneighbors(Q)
    np.testing.assert_array_equal(i, i_sk)
    np.testing.assert_allclose(d, d_sk, rtol=1e-9)


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cosine"])
def test_leave_one_out_excludes_each_point_itself(rng, metric):
    X = rng.standard_normal((60, 4))
    d, i = dml.nearest_neighbors(X, k=5, metric=metric, chunk_size=7)
    assert not (i == np.arange(60)[:, None]).any()
    D = dml.pairwise_distances(X, metric=metric)
    np.fill_diagonal(D, np.inf)
    np.testing.assert_array_equal(i, np.argsort(D, axis=1, kind="stable")[:,
                                                                           :5])


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cosine"])
def test_chunked_and_unchunked_results_are_identical(rng, metric):
    """200 rows in chunks of 3: 67 blocks written into one reused buffer,
    the last one shorter."""
    X = np.round(rng.standard_normal((200, 3)), 1)     # many ties
    a = dml.nearest_neighbors(X, k=9, metric=metric, chunk_size=3)
    b = dml.nearest_neighbors(X, k=9, metric=metric, chunk_size=10_000)
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[0], b[0])


def test_many_candidates_are_re_ranked_in_slices_exactly(rng):
    """1 100 queries x 20 candidates x 256 features exceed one re-rank
    slice (2^22 numbers): the slices share one buffer, and the result is
    still scikit-learn's (float64, tie-free data)."""
    X = rng.standard_normal((1100, 256))
    d, i = dml.nearest_neighbors(X, k=12, chunk_size=2048)
    ref_d, ref_i = NearestNeighbors(n_neighbors=13).fit(X).kneighbors(X)
    np.testing.assert_array_equal(i, ref_i[:, 1:])
    np.testing.assert_allclose(d, ref_d[:, 1:], rtol=1e-12)


def test_wide_galleries_use_the_block_search_and_stay_exact(rng):
    """3 000 gallery items are enough for the two-stage candidate search
    (block minima first, ``topk`` on the survivors); with many exact ties
    (coordinates rounded to 0.5, so float64 distances are exact) the
    lists equal a stable sort of all distances, for any chunk size."""
    X = np.round(2 * rng.standard_normal((3000, 4))) / 2
    D = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)          # exact
    np.fill_diagonal(D, np.inf)
    ref = np.argsort(D, axis=1, kind="stable")[:, :7]
    for chunk in (333, 4096):
        d, i = dml.nearest_neighbors(X, k=7, metric="sqeuclidean",
                                     chunk_size=chunk)
        np.testing.assert_array_equal(i, ref)
        np.testing.assert_array_equal(d, np.take_along_axis(D, ref, 1))
    a = dml.nearest_neighbors(X, k=7, metric="cosine", chunk_size=333)
    b = dml.nearest_neighbors(X, k=7, metric="cosine", chunk_size=4096)
    np.testing.assert_array_equal(a[1], b[1])


def test_block_search_returns_topk_values():
    """The candidate search alone: topk's values on a block-aligned
    matrix of small integers (ties everywhere)."""
    from dml.neighbors import BLOCK, _smallest
    g = torch.Generator().manual_seed(0)
    T = torch.randint(0, 50, (64, 40 * BLOCK), generator=g).float()
    v, c = _smallest(T, 9)
    torch.testing.assert_close(v, torch.topk(T, 9, largest=False).values)
    torch.testing.assert_close(T.gather(1, c), v)
    cs = c.sort(1).values
    assert bool((cs[:, 1:] > cs[:, :-1]).all())          # distinct columns


def test_ties_go_to_the_smaller_gallery_index():
    """Query 0 is at distance 1 from gallery items 1, 2, 3 and 4: the two
    nearest are 1 and 2 (smaller indices), whatever topk would pick."""
    G = np.array([[5.0, 5.0], [1.0, 0.0], [0.0, 1.0], [-1.0, 0.0],
                  [0.0, -1.0]])
    d, i = dml.nearest_neighbors(np.zeros((1, 2)), G, k=2)
    assert i.tolist() == [[1, 2]] and d.tolist() == [[1.0, 1.0]]
    # ordered by (distance, index): 0.5 first, then the tied 1s by index
    G1 = np.array([[3.0], [1.0], [1.0], [0.5], [1.0], [1.0]])
    d, i = dml.nearest_neighbors(np.zeros((1, 1)), G1, k=3)
    assert i.tolist() == [[3, 1, 2]] and d.tolist() == [[0.5, 1, 1]]


def test_knn_classifier_matches_scikit_learn(rng):
    X, y, _ = dml.drug_compounds(seed=3)
    Xtr, Xte, ytr, yte = dml.train_test_split(X, y, seed=3)
    for k in [1, 4, 5]:                         # k = 4 has vote ties
        clf = KNeighborsClassifier(n_neighbors=k).fit(Xtr, ytr)
        np.testing.assert_array_equal(dml.knn_predict(Xtr, ytr, Xte, k=k),
                                      clf.predict(Xte))
        assert dml.knn_accuracy(Xtr, ytr, Xte, yte, k=k) == pytest.approx(
            clf.score(Xte, yte))


def test_leave_one_out_accuracy_matches_a_plain_loop(rng):
    X, y = rng.standard_normal((80, 3)), rng.integers(0, 3, 80)
    D = dml.pairwise_distances(X)
    correct = 0
    for i in range(len(X)):                    # the textbook loop
        others = np.delete(np.arange(len(X)), i)
        nn = others[np.argsort(D[i, others], kind="stable")[:5]]
        votes = np.bincount(y[nn], minlength=3)
        correct += votes.argmax() == y[i]
    assert dml.knn_accuracy(X, y, k=5) == pytest.approx(correct / len(X))


def test_string_and_non_contiguous_labels_come_back_unchanged(rng):
    X = np.r_[rng.normal(0, .1, (10, 2)), rng.normal(5, .1, (10, 2))]
    y_int = np.r_[np.full(10, 7), np.full(10, 42)]
    y_str = np.where(y_int == 7, "cat", "dog")
    np.testing.assert_array_equal(dml.knn_predict(X, y_int, k=3), y_int)
    np.testing.assert_array_equal(dml.knn_predict(X, y_str, k=3), y_str)
    assert dml.knn_accuracy(X, y_str, k=3) == 1.0


def test_transform_W_and_mahalanobis_M_give_the_same_neighbours(rng):
    X = rng.standard_normal((50, 4))
    W = rng.standard_normal((2, 4))
    _, i_W = dml.nearest_neighbors(X, k=4, W=W)
    _, i_T = dml.nearest_neighbors(X @ W.T, k=4)
    _, i_M = dml.nearest_neighbors(X, k=4, metric="mahalanobis", M=W.T @ W)
    np.testing.assert_array_equal(i_W, i_T)
    np.testing.assert_array_equal(i_W, i_M)


def test_tensor_in_gives_tensor_out(rng):
    X = torch.tensor(rng.standard_normal((20, 3)), dtype=torch.float32)
    d, i = dml.nearest_neighbors(X, k=2)
    assert isinstance(d, torch.Tensor) and d.dtype == torch.float32
    assert i.dtype == torch.int64


def test_large_leave_one_out_runs_in_bounded_memory():
    """20 000 points: the full matrix would be 3.2 GB in float64; in chunks
    of 512 rows one block is 82 MB."""
    X = torch.randn(20_000, 8, generator=torch.Generator().manual_seed(0))
    d, i = dml.nearest_neighbors(X, k=3, chunk_size=512)
    assert i.shape == (20_000, 3)
    assert not (i == torch.arange(20_000)[:, None]).any()


@pytest.mark.parametrize("call,match", [
    (lambda X, y: dml.nearest_neighbors(X, k=20), "k=20 but the gallery"),
    (lambda X, y: dml.nearest_neighbors(X, k=0), "k must be >= 1"),
    (lambda X, y: dml.nearest_neighbors(X, k=2.5), "k must be a positive"),
    (lambda X, y: dml.nearest_neighbors(X, X[:, :2]), "features"),
    (lambda X, y: dml.nearest_neighbors(X, chunk_size=0), "chunk_size"),
    (lambda X, y: dml.knn_accuracy(X, y[:-1]), "y_train has 9 labels"),
    (lambda X, y: dml.knn_accuracy(X, y, X), "together"),
    (lambda X, y: dml.knn_accuracy(X, y, X, y[:5], k=3), "y_test has 5"),
    (lambda X, y: dml.nearest_neighbors(X, metric="mahalanobis"),
     "exactly one of M"),
    (lambda X, y: dml.knn_accuracy(X, np.full(10, 0.5)), "integer class"),
])
def test_bad_input_raises_a_value_error(call, match):
    X, y = np.random.default_rng(0).standard_normal((10, 3)), np.arange(10) % 2
    with pytest.raises(ValueError, match=match):
        call(X, y)


@pytest.mark.gpu
def test_cuda_neighbours_match_cpu(rng):
    X = torch.tensor(rng.standard_normal((3000, 32)), dtype=torch.float32)
    d_c, i_c = dml.nearest_neighbors(X, k=10, chunk_size=256)
    d_g, i_g = dml.nearest_neighbors(X.cuda(), k=10, chunk_size=256)
    assert i_g.device.type == "cuda"
    assert (i_g.cpu() == i_c).float().mean() > 0.999   # float32 near-ties
    torch.testing.assert_close(d_g.cpu(), d_c, rtol=1e-4, atol=1e-4)
