"""A pytorch-metric-learning user's training loop, run on dml.

The only change a PML user makes is the import line:

    from pytorch_metric_learning import losses, miners   # before
    from dml import losses, miners                        # after

The loops below are written once, for either pair of modules. The
expected numbers were computed by pytorch-metric-learning 2.9.0 itself
(torch 2.13.0, CPU, float64) with the same loops:

    benchmarks/.venv-pml/bin/python benchmarks/pml_parity.py --training-loop

(benchmarks/pml_parity.py imports ``triplet_loop`` and ``xbm_loop`` from
this file and runs them with PML's modules). PML is not installed in the
test environment; the numbers are constants here.
"""
import math

import torch

from dml import losses, miners

STEPS = 4
B, D_IN, D_OUT = 12, 6, 4


def batch(step):
    """Deterministic inputs (no random generator): (B, D_IN), labels."""
    i = torch.arange(B * D_IN, dtype=torch.float64).reshape(B, D_IN)
    X = torch.sin(1.9 * i + 1.3 * step) + 0.1 * torch.cos(2.1 * i)
    labels = (torch.arange(B) * 7 + step) % 3
    return X, labels


def small_net():
    """6 -> 16 -> 4, float64, weights set by a formula."""
    net = torch.nn.Sequential(torch.nn.Linear(D_IN, 16), torch.nn.ReLU(),
                              torch.nn.Linear(16, D_OUT)).double()
    with torch.no_grad():
        for k, param in enumerate(net.parameters()):
            n = param.numel()
            j = torch.arange(n, dtype=torch.float64)
            param.copy_((0.5 * torch.sin(1.7 * j + k)).reshape(param.shape))
    return net


def triplet_loop(losses, miners):
    """TripletMarginLoss(margin=0.1) on MultiSimilarityMiner(epsilon=0.1)
    pairs, SGD; returns the loss values and the mined pair counts."""
    net = small_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    loss_func = losses.TripletMarginLoss(margin=0.1)
    miner = miners.MultiSimilarityMiner(epsilon=0.1)
    values, counts = [], []
    for step in range(STEPS):
        X, labels = batch(step)
        emb = net(X)
        hard_pairs = miner(emb, labels)
        loss = loss_func(emb, labels, hard_pairs)
        opt.zero_grad()
        loss.backward()
        opt.step()
        values.append(loss.item())
        counts.append([len(t) for t in hard_pairs])
    return values, counts


def xbm_loop(losses, miners=None):
    """NTXentLoss wrapped in CrossBatchMemory (memory of 30 < 4 x 12
    rows, so the ring wraps), SGD; returns the loss values."""
    net = small_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    loss_func = losses.CrossBatchMemory(losses.NTXentLoss(),
                                        embedding_size=D_OUT,
                                        memory_size=30)
    values = []
    for step in range(STEPS):
        X, labels = batch(step)
        loss = loss_func(net(X), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        values.append(loss.item())
    return values


# pytorch-metric-learning 2.9.0's numbers (command in the docstring)
PML_TRIPLET_VALUES = [0.2805916490953587, 0.2752085599989362,
                      0.32086064529790703, 0.29618475419965196]
PML_TRIPLET_COUNTS = [[36, 36, 76, 76], [36, 36, 74, 74], [36, 36, 82, 82],
                      [36, 36, 87, 87]]
PML_XBM_VALUES = [2.482038923992366, 3.431819809777881, 3.674194477616075,
                  3.3986015042668782]


def test_triplet_loss_on_multi_similarity_pairs_gives_pml_values():
    values, counts = triplet_loop(losses, miners)
    assert counts == PML_TRIPLET_COUNTS
    for got, want in zip(values, PML_TRIPLET_VALUES, strict=True):
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)


def test_ntxent_in_cross_batch_memory_gives_pml_values():
    values = xbm_loop(losses)
    for got, want in zip(values, PML_XBM_VALUES, strict=True):
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)
