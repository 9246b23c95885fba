"""Every public function listed in issue 15 gives on CUDA what it gives on
the CPU, and keeps its tensor results on the device of its input.

One table, ``CASES``: each entry takes ``to`` (a function that puts a
tensor on the device under test) and returns the function's results.
``test_cuda_matches_cpu`` (gpu-marked) runs every entry with ``to`` =
CUDA and with ``to`` = CPU and compares the results; the CPU test below
runs the same table on the CPU alone, so that a wrong call in the table is
caught without a GPU.
"""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import dml  # noqa: E402
import dml.losses as L  # noqa: E402
import dml.metrics as M  # noqa: E402
from dml.linear import (ITML, Covariance, lmnn_loss_grad,  # noqa: E402
                        lmnn_target_neighbors, nca_loss_grad,
                        nca_probabilities)
from dml.miners import RandomTripletMiner, classify_triplets  # noqa: E402

g = torch.Generator().manual_seed(0)
X = torch.randn(48, 5, generator=g, dtype=torch.float64)
Y = torch.randn(48, 5, generator=g, dtype=torch.float64)
y = torch.arange(48) % 4
X = X + y[:, None].double()
A = torch.randn(5, 5, generator=g, dtype=torch.float64)
PSD = A @ A.T + 0.1 * torch.eye(5, dtype=torch.float64)
W = torch.randn(3, 5, generator=g, dtype=torch.float64)
E = torch.randn(32, 8, generator=g)                     # float32 batch
yE = torch.arange(32) % 4
COS = torch.rand(32, 4, generator=g) * 2 - 1
SCORES = torch.rand(200, generator=g, dtype=torch.float64)
PARTNER = torch.arange(20) + 4 + torch.arange(20) % 2  # same, other, ...
SAME = SCORES + 0.3 * torch.rand(200, generator=g, dtype=torch.float64) > .7


def _model_out(to):
    torch.manual_seed(0)
    model = dml.train.MLPEmbedder(5, (16,), 3).to(to(X).device).double()
    return model(to(X)), dml.train.embed(model, to(X))


def _multitask(to):
    a, b = to(E).square().mean(), to(E).abs().sum() / 100
    loss = L.MultiTaskLoss({"a": 1.0, "b": 0.5}).to(to(E).device)
    return L.multitask_loss({"a": a, "b": b}, {"a": 1.0, "b": 0.5}), \
        loss({"a": a, "b": b})


def _random_triplets(to):
    a, p, n = RandomTripletMiner(seed=0)(to(E), to(yE))
    yy = to(yE)          # the draws differ per device; their validity not
    return bool((yy[a] == yy[p]).all()), bool((yy[a] != yy[n]).all()), a


def _pml_losses(to):
    """The PML-named classes of issue 16 (float64: their values compare
    tightly across devices), with and without a reference set."""
    R, yR = to(Y[:20]), to(y[:20])
    torch.manual_seed(0)
    cosface = L.CosFaceLoss(4, 5).to(to(X).device).double()
    return (L.ContrastiveLoss()(to(X), to(y)),
            L.TripletMarginLoss()(to(X), to(y), ref_emb=R, ref_labels=yR),
            L.SupConLoss()(to(X), to(y)),
            L.SupConLoss()(to(X), to(y), ref_emb=R, ref_labels=yR),
            L.CircleLoss()(to(X), to(y)),
            cosface(to(X), to(y)), cosface.get_logits(to(X)))


def _cross_batch_memory(to):
    xbm = L.CrossBatchMemory(L.NTXentLoss(), 5, memory_size=30).to(
        to(X).device)
    return [xbm(to(X[i:i + 16]), to(y[i:i + 16])) for i in (0, 16, 32)]


def _sampler(to):
    s = dml.PKSampler(to(y), P=2, K=3, seed=0)
    return [torch.as_tensor(b) for b in s]


CASES = {
    # distances
    "paired_distances": lambda to: (
        dml.paired_distances(to(X), to(Y)),
        dml.paired_distances(to(X), to(Y), "cosine"),
        dml.paired_distances(to(X), to(Y), "mahalanobis", M=to(PSD)),
        dml.paired_distances(to(X), to(Y), W=to(W))),
    "cosine_similarity": lambda to: dml.cosine_similarity(to(X), to(Y)),
    "mahalanobis": lambda to: dml.mahalanobis(to(X[0]), to(Y[0]), to(PSD)),
    "project_psd": lambda to: dml.project_psd(to(A + A.T)),
    "l2_normalize": lambda to: dml.l2_normalize(to(X)),
    # neighbours
    "knn_cosine": lambda to: dml.nearest_neighbors(to(X), None, 5,
                                                   "cosine"),
    "knn_M": lambda to: dml.nearest_neighbors(to(X), None, 3,
                                              "mahalanobis", M=to(PSD)),
    "knn_gallery": lambda to: dml.nearest_neighbors(to(Y), to(X), 4,
                                                    chunk_size=7),
    "knn_predict": lambda to: dml.knn_predict(to(X), to(y), to(Y), k=3),
    # linear
    "lmnn_loss_grad": lambda to: lmnn_loss_grad(
        to(W), to(X), to(y), lmnn_target_neighbors(to(X), to(y), 3),
        chunk_size=7),
    "nca_loss_grad": lambda to: nca_loss_grad(to(W), to(X), to(y),
                                              chunk_size=7),
    "nca_probabilities": lambda to: nca_probabilities(to(W), to(X)),
    "Covariance": lambda to: Covariance().fit(to(X)).components_,
    "ITML.fit_pairs": lambda to: ITML(random_state=0).fit_pairs(
        to(torch.stack([X[:20], X[PARTNER]], 1)),
        to(y[:20] == y[PARTNER])).components_,
    # losses
    "info_nce_loss": lambda to: L.info_nce_loss(
        to(COS[:, 0]), to(COS[:, 1:]), 0.1, to(COS[:, 1:] > -0.5)),
    "npairs_loss": lambda to: (L.npairs_loss(to(E[:8]), to(E[8:16])),
                               L.npairs_loss(to(E[:8]), to(E[8:16]),
                                             to(E[16:32].reshape(8, 2, 8)))),
    "proxy_anchor_loss": lambda to: L.proxy_anchor_loss(to(COS), to(yE)),
    "arcface_loss": lambda to: L.arcface_loss(to(COS), to(yE), scale=8.0),
    "multitask": _multitask,
    "weak_contrastive_loss": lambda to: L.weak_contrastive_loss(
        to(E), to(yE), L.tsne_affinities(to(E), 5.0)),
    "pml_losses": _pml_losses,
    "CrossBatchMemory": _cross_batch_memory,
    "distance_objects": lambda to: (
        dml.distances.LpDistance()(to(X)),
        dml.distances.LpDistance(power=2, normalize_embeddings=False)(
            to(X), to(Y)),
        dml.distances.CosineSimilarity()(to(X), to(Y)),
        dml.distances.DotProductSimilarity()(to(X))),
    # miners
    "MultiSimilarityMiner": lambda to: tuple(
        dml.miners.MultiSimilarityMiner(epsilon=0.1)(to(X), to(y))),
    "BatchHardMiner_ref": lambda to: tuple(dml.miners.BatchHardMiner()(
        to(X), to(y), to(Y[:20]), to(y[:20]))),
    "RandomTripletMiner": _random_triplets,
    "classify_triplets": lambda to: classify_triplets(
        to(SCORES[:50]), to(SCORES[50:100]), 0.1),
    # metrics
    "verification": lambda to: (
        M.roc_curve(to(SCORES), to(SAME)), M.roc_auc(to(SCORES), to(SAME)),
        M.confusion_counts(to(SCORES), to(SAME), 0.5),
        M.operating_point(to(SCORES), to(SAME), 0.1),
        M.tpr_at_fpr(to(SCORES), to(SAME), 0.1, interpolate=True),
        M.equal_error_rate(to(SCORES), to(SAME))),
    "pair_scores": lambda to: tuple(M.pair_scores(to(X), to(y))),
    "retrieval": lambda to: (
        M.recall_at_k(to(X), to(y), k=3), M.precision_at_k(to(X), to(y),
                                                          k=3),
        M.r_precision(to(X), to(y)), M.map_at_r(to(X), to(y)),
        M.mean_average_precision(to(X), to(y)),
        M.retrieval_report(to(Y), to(y), to(X), to(y))),
    "structure": lambda to: (
        M.neighborhood_purity(to(X), to(y), k=5),
        M.ndcg(to(X), to(y), k=5, fine_to_coarse=to(torch.tensor(
            [0, 0, 1, 1]))),
        M.lca_height_table(to(torch.tensor([0, 0, 1, 1]))),
        M.context_sensitive_loss(to(y), to(y.flip(0)), [0, 0, 1, 1],
                                 reduction="none")),
    "knn_accuracy": lambda to: M.knn_accuracy(to(X), to(y), to(Y), to(y)),
    # training, models, sampler
    "train_coarse_classifier": lambda to: dml.train.train_coarse_classifier(
        to(X.float()), to(y % 2), 4, 0.5, epochs=20),
    "models": _model_out,
    "PKSampler": _sampler,
    "train_test_split": lambda to: dml.datasets.train_test_split(
        to(X), to(y), seed=0),
}


def flatten(out):
    """Results as a flat list of numpy arrays / Python scalars, and the
    devices of the tensors among them."""
    if isinstance(out, dict):
        out = [out[k] for k in sorted(out)]
    if isinstance(out, (tuple, list)):
        vals, devs = [], []
        for o in out:
            v, d = flatten(o)
            vals += v
            devs += d
        return vals, devs
    if isinstance(out, torch.Tensor):
        return [out.detach().cpu().double().numpy()
                if out.is_floating_point() else out.cpu().numpy()], \
            [out.device]
    return [np.asarray(out)], []


def results(name, device):
    dev = torch.device(device)
    vals, devs = flatten(CASES[name](lambda t: t.to(dev)))
    return vals, devs


def test_every_case_runs_on_the_cpu_and_stays_there():
    for name in CASES:
        _, devs = results(name, "cpu")
        assert all(d.type == "cpu" for d in devs), name


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(CASES))
def test_cuda_matches_cpu(name):
    want, _ = results(name, "cpu")
    got, devs = results(name, "cuda")
    if name != "train_test_split" and name != "PKSampler":
        assert all(d.type == "cuda" for d in devs), (name, devs)
    assert len(got) == len(want)
    # float32 losses and trained models: kernels sum in other orders
    rtol = 1e-3 if name in ("train_coarse_classifier",
                            "weak_contrastive_loss") else 1e-5
    for g_, w_ in zip(got, want):
        np.testing.assert_allclose(g_, w_, rtol=rtol, atol=rtol * 1e-1,
                                   err_msg=name)


@pytest.mark.gpu
def test_roc_explorer_takes_cuda_pair_scores():
    pytest.importorskip("ipywidgets")
    from dml.widgets import ROCExplorer
    d = SCORES.cuda()
    ex = ROCExplorer(d, SAME.cuda())
    ex.controls["threshold"].value = 0.5
    t = ex.controls["threshold"].value
    s, same = SCORES.numpy(), SAME.numpy()
    assert ex.state["tp"] == int(((s <= t) & same).sum())


@pytest.fixture
def deterministic(monkeypatch):
    """torch.use_deterministic_algorithms(True) for one test (cuBLAS needs
    CUBLAS_WORKSPACE_CONFIG for deterministic products)."""
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    yield
    torch.use_deterministic_algorithms(before)


def test_every_case_avoids_what_deterministic_cuda_refuses(deterministic):
    """CudaDeterminism raises where deterministic mode raises on CUDA
    (e.g. a floating cumsum, which the CPU computes without complaint)."""
    from _device_sim import CudaDeterminism
    for name in CASES:
        with CudaDeterminism():
            results(name, "cpu")


@pytest.mark.gpu
@pytest.mark.parametrize("name", sorted(CASES))
def test_cuda_runs_in_deterministic_mode(name, deterministic):
    first, _ = results(name, "cuda")
    again, _ = results(name, "cuda")
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b, err_msg=name)
