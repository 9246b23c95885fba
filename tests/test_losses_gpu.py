"""Every loss gives the same value and gradient on CUDA as on the CPU."""
import pytest
import torch

import dml.losses as L

pytestmark = pytest.mark.gpu

MODULES = {
    "contrastive": lambda: L.ContrastiveLoss(),
    "triplet": lambda: L.TripletMarginLoss(0.3),
    "triplet_soft": lambda: L.TripletMarginLoss(0.3, smooth_loss=True),
    "ntxent": lambda: L.NTXentLoss(0.1),
    "npairs": lambda: L.NPairsLoss(),
    "multi_similarity": lambda: L.MultiSimilarityLoss(),
    "lifted": lambda: L.LiftedStructureLoss(),
    "proxy_anchor": lambda: L.ProxyAnchorLoss(5, 8),
    "arcface": lambda: L.ArcFaceLoss(5, 8, scale=16),
    "cosface": lambda: L.CosFaceLoss(5, 8, scale=16),
    "supcon": lambda: L.SupConLoss(),
    "circle": lambda: L.CircleLoss(),
}


def run(loss, X, y, device, indices=None):
    Xd = X.detach().to(device).requires_grad_(True)
    idx = None if indices is None else tuple(t.to(device) for t in indices)
    out = loss.to(device)(Xd, y.to(device), idx)
    out.backward()
    return out.detach().cpu(), Xd.grad.cpu()


@pytest.mark.parametrize("name", sorted(MODULES))
@pytest.mark.parametrize("mined", [False, True])
def test_cuda_matches_cpu(name, mined):
    g = torch.Generator().manual_seed(0)
    X = torch.randn(64, 8, generator=g)
    y = torch.randint(0, 5, (64,), generator=g)
    indices = L.all_triplets(y) if mined else None
    if mined:
        indices = tuple(t[::7] for t in indices)
    torch.manual_seed(0)
    loss = MODULES[name]()
    v_cpu, g_cpu = run(loss, X, y, "cpu", indices)
    v_gpu, g_gpu = run(loss, X, y, "cuda", indices)
    assert torch.allclose(v_gpu, v_cpu, rtol=1e-4, atol=1e-5)
    assert torch.allclose(g_gpu, g_cpu, rtol=1e-3, atol=1e-5)


def test_cuda_weak_penalties_match_cpu():
    g = torch.Generator().manual_seed(1)
    X, Z = torch.randn(50, 6, generator=g), torch.randn(50, 2, generator=g)
    logits = torch.randn(50, 7, generator=g) * 5
    P = L.tsne_affinities(X, 10.0)
    P_gpu = L.tsne_affinities(X.cuda(), 10.0)
    assert P_gpu.is_cuda and torch.allclose(P_gpu.cpu(), P, atol=1e-6)
    assert torch.allclose(L.locality_penalty(P_gpu, Z.cuda()).cpu(),
                          L.locality_penalty(P, Z), rtol=1e-4)
    assert torch.allclose(L.uniformity_penalty(logits.cuda()).cpu(),
                          L.uniformity_penalty(logits), rtol=1e-4,
                          atol=1e-6)
