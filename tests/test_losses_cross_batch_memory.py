"""Cross-batch memory (Wang et al., 2020): the ring buffer, the loss
against the memory, its gradient, and the errors.

The reference is a plain loop: a Python list as the memory (append, keep
the last M), the wrapped loss evaluated with every (batch, memory) pair
except each anchor's own slot.
"""
import pytest
import torch

from dml.losses import (ContrastiveLoss, CrossBatchMemory, NPairsLoss,
                        NTXentLoss, TripletMarginLoss, remove_self_comparisons)
from dml.miners import MultiSimilarityMiner, TripletMarginMiner

pytestmark = pytest.mark.usefixtures("one_thread")


def loop_reference(loss, batches, memory_size):
    """Loss values of XBM over a sequence of (E, y), by a list memory."""
    memory, values = [], []            # (embedding, label, step, row)
    for step, (E, y) in enumerate(batches):
        for i in range(len(y)):
            memory.append((E[i].detach(), int(y[i]), step, i))
        memory = memory[-memory_size:]
        pos, neg = [], []
        for a in range(len(y)):
            for j, (_, label, s, row) in enumerate(memory):
                if label == int(y[a]) and not (s == step and row == a):
                    pos.append((a, j))
                elif label != int(y[a]):
                    neg.append((a, j))
        M = torch.stack([m[0] for m in memory])
        L = torch.tensor([m[1] for m in memory])
        t = [torch.tensor(v, dtype=torch.int64).reshape(-1, 2)
             for v in (pos, neg)]
        indices = (t[0][:, 0], t[0][:, 1], t[1][:, 0], t[1][:, 1])
        values.append(loss(E, y, indices, M, L))
    return values


def batches(n, B=6, D=3, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(B, D, generator=g, dtype=torch.float64),
             torch.randint(0, classes, (B,), generator=g))
            for _ in range(n)]


@pytest.mark.parametrize("make_loss", [ContrastiveLoss, NTXentLoss,
                                       lambda: TripletMarginLoss(0.1)],
                         ids=["contrastive", "ntxent", "triplet"])
def test_loss_matches_a_list_memory_loop(make_loss):
    data = batches(7)                  # 42 embeddings through a memory of 16
    xbm = CrossBatchMemory(make_loss(), embedding_size=3, memory_size=16)
    got = [xbm(E, y) for E, y in data]
    want = loop_reference(make_loss(), data, 16)
    assert torch.allclose(torch.stack(got), torch.stack(want), atol=1e-12)


def test_ring_buffer_keeps_the_last_memory_size_rows_in_order():
    xbm = CrossBatchMemory(ContrastiveLoss(), embedding_size=3,
                           memory_size=10)
    data = batches(4, B=4)                     # 16 rows: wraps once
    for step, (E, y) in enumerate(data):
        xbm(E, y)
        assert xbm.queue_idx == (4 * (step + 1)) % 10
    rows = torch.cat([E for E, _ in data])
    slots = torch.arange(6, 16) % 10           # where rows 6..15 went
    assert torch.equal(xbm.embedding_memory[slots], rows[6:])
    assert xbm.has_been_filled
    assert torch.equal(xbm.curr_batch_idx, torch.tensor([2, 3, 4, 5]))
    xbm.reset_queue()
    assert xbm.queue_idx == 0 and not xbm.has_been_filled
    assert not xbm.embedding_memory.any()


def test_gradient_flows_into_the_batch_only_and_matches_finite_differences():
    g = torch.Generator().manual_seed(1)
    M0 = torch.randn(8, 3, generator=g, dtype=torch.float64)
    y_mem = torch.randint(0, 2, (8,), generator=g)
    y = torch.tensor([0, 1, 1, 0, 1])
    xbm = CrossBatchMemory(ContrastiveLoss(), embedding_size=3, memory_size=8)
    mask = torch.tensor([False] * 5 + [True] * 8)

    def f(E):                          # memory = M0 (constants), queries E
        xbm.reset_queue()
        return xbm(torch.cat([E, M0]), torch.cat([y, y_mem]),
                   enqueue_mask=mask)

    E = torch.randn(5, 3, generator=g, dtype=torch.float64,
                    requires_grad=True)
    assert torch.autograd.gradcheck(f, (E,))
    E2 = torch.randn(5, 3, generator=g, dtype=torch.float64,
                     requires_grad=True)
    xbm2 = CrossBatchMemory(ContrastiveLoss(), 3, memory_size=8)
    xbm2(E2, y).backward()
    assert not xbm2.embedding_memory.requires_grad
    assert E2.grad is not None and E2.grad.abs().sum() > 0


def test_miner_sees_the_memory_and_self_pairs_are_removed():
    data = batches(3, B=5)
    miner = TripletMarginMiner(margin=0.5)
    xbm = CrossBatchMemory(TripletMarginLoss(0.1), 3, memory_size=12,
                           miner=miner)
    for E, y in data:
        xbm(E, y)
    E, y = data[-1]
    mined = miner(E, y, xbm.embedding_memory, xbm.label_memory)
    a, p, n = xbm.create_indices_tuple(E, y, xbm.embedding_memory,
                                       xbm.label_memory, None, True)
    own = xbm.curr_batch_idx
    assert not (p == own[a]).any()
    want = {t for t in zip(*(x.tolist() for x in mined))
            if t[1] != int(own[t[0]])}
    assert set(zip(a.tolist(), p.tolist(), n.tolist())) == want


def test_remove_self_comparisons_keeps_negative_pairs():
    idx = torch.tensor([7, 8, 9])               # batch rows 0..2 at 7..9
    a1, p = torch.tensor([0, 0, 1, 2]), torch.tensor([7, 3, 8, 8])
    a2, n = torch.tensor([0, 2]), torch.tensor([9, 9])
    out = remove_self_comparisons((a1, p, a2, n), idx)
    assert [t.tolist() for t in out] == [[0, 2], [3, 8], [0, 2], [9, 9]]
    out = remove_self_comparisons((a1, p, torch.tensor([1, 1, 1, 1])), idx)
    assert [t.tolist() for t in out] == [[0, 2], [3, 8], [1, 1]]


def test_input_indices_are_appended_after_the_mined_ones():
    E, y = batches(1, B=6)[0]
    xbm = CrossBatchMemory(ContrastiveLoss(), 3, memory_size=20,
                           miner=MultiSimilarityMiner(0.1))
    extra = (torch.tensor([0]), torch.tensor([1]), torch.tensor([2]))
    xbm(E, y, extra)
    got = xbm.create_indices_tuple(E, y, xbm.embedding_memory[:6],
                                   xbm.label_memory[:6], extra, True)
    assert [t[-1].item() for t in got] == [0, 1, 0, 2]   # as pairs


def test_errors_are_precise():
    with pytest.raises(ValueError, match="does not support NPairsLoss"):
        CrossBatchMemory(NPairsLoss(), 3)
    with pytest.raises(ValueError, match="memory_size must be a positive"):
        CrossBatchMemory(ContrastiveLoss(), 3, memory_size=0)
    xbm = CrossBatchMemory(ContrastiveLoss(), 3, memory_size=4)
    E, y = torch.randn(5, 3), torch.arange(5) % 2
    with pytest.raises(ValueError, match="5 embeddings to enqueue but "
                                         "memory_size=4"):
        xbm(E, y)
    with pytest.raises(ValueError, match="have 2 columns but "
                                         "embedding_size=3"):
        xbm(E[:, :2], y)
    with pytest.raises(ValueError, match="mutually exclusive"):
        xbm(E[:4], y[:4], (y[:1], y[:1], y[:1]),
            torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="enqueue_mask must be a bool"):
        xbm(E[:4], y[:4], enqueue_mask=torch.ones(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="labels has 3 labels"):
        xbm(E[:4], y[:3])


@pytest.mark.gpu
def test_cuda_memory_follows_the_embeddings_and_matches_the_cpu():
    data = batches(4)
    values = []
    for device in ("cpu", "cuda"):
        xbm = CrossBatchMemory(NTXentLoss(), 3, memory_size=16,
                               miner=MultiSimilarityMiner())
        values.append(torch.stack([xbm(E.to(device), y.to(device)).cpu()
                                   for E, y in data]))
        assert xbm.embedding_memory.device.type == device
    assert torch.allclose(values[0], values[1], atol=1e-9)
