"""Chunking of the linear learners' loss and gradient (issue 15): block
sizes chosen per device, Z centred once per evaluation, and the same
numbers whatever the chunking."""
import pytest
import torch
from torch.overrides import TorchFunctionMode

from dml.linear import lmnn_loss_grad, lmnn_target_neighbors, nca_loss_grad
from dml.linear._base import CHUNK_BUDGET, chunk_budget, chunk_rows


def data(N=60, D=5, L=3):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(N) % 3
    X = torch.randn(N, D, generator=g, dtype=torch.float64) + y[:, None]
    W = torch.randn(L, D, generator=g, dtype=torch.float64)
    return W, X, y


class CountMeans(TorchFunctionMode):
    """Counts Tensor.mean / torch.mean calls."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") == "mean":
            self.n += 1
        return func(*args, **(kwargs or {}))


def lmnn(W, X, y, chunk_size):
    T = lmnn_target_neighbors(X, y, 3)
    return lmnn_loss_grad(W, X, y, T, chunk_size=chunk_size)


@pytest.mark.parametrize("loss_grad", [lmnn, nca_loss_grad],
                         ids=["lmnn", "nca"])
def test_z_is_centred_once_per_evaluation_not_per_chunk(loss_grad):
    W, X, y = data()
    if loss_grad is lmnn:
        T = lmnn_target_neighbors(X, y, 3)
        run = lambda: lmnn_loss_grad(W, X, y, T, chunk_size=7)  # noqa
    else:
        run = lambda: nca_loss_grad(W, X, y, chunk_size=7)      # noqa
    with CountMeans() as c:
        run()                                      # 9 chunks of 7 rows
    assert c.n == 1


@pytest.mark.parametrize("loss_grad", [lmnn, nca_loss_grad],
                         ids=["lmnn", "nca"])
def test_the_chunking_does_not_change_loss_or_gradient(loss_grad):
    W, X, y = data()
    loss_1, grad_1 = loss_grad(W, X, y, chunk_size=7)
    loss_2, grad_2 = loss_grad(W, X, y, chunk_size=None)     # one chunk
    assert float(loss_1) == pytest.approx(float(loss_2), rel=1e-12)
    torch.testing.assert_close(torch.as_tensor(grad_1),
                               torch.as_tensor(grad_2), rtol=1e-10,
                               atol=1e-12)


def test_cpu_chunks_stay_mmap_friendly():
    assert chunk_budget("cpu") == CHUNK_BUDGET
    assert chunk_rows(50_000, 50_000, device="cpu") == 41


def test_cuda_chunks_follow_the_free_memory(monkeypatch):
    """40 GiB free: a quarter of it for a block and 4 temporaries of
    float64, i.e. 2^28 entries, 5 368 rows of 50 000 (41 on a CPU)."""
    monkeypatch.setattr(torch.cuda, "mem_get_info",
                        lambda device=None: (40 * 2 ** 30, 80 * 2 ** 30))
    assert chunk_rows(50_000, 50_000, device="cuda") == 2 ** 28 // 50_000
    monkeypatch.setattr(torch.cuda, "mem_get_info",
                        lambda device=None: (2 ** 20, 80 * 2 ** 30))
    assert chunk_budget("cuda") == CHUNK_BUDGET      # never below the CPU's


def test_itml_fits_on_the_host_without_a_device_round_trip():
    """ITML's sweeps are numpy: fit must not move X to ``device`` and
    back. The meta device stands for a GPU here (nothing can be copied
    back from it, so a round trip raises)."""
    from dml.linear import ITML
    W, X, y = data()
    want = ITML(random_state=0).fit(X, y).components_
    got = ITML(random_state=0, device="meta").fit(X, y).components_
    torch.testing.assert_close(torch.as_tensor(got), torch.as_tensor(want))


def _lmnn_problem(seed=0, N=240, D=6, classes=5):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(N) % classes
    X = torch.randn(N, D, generator=g, dtype=torch.float64) + 0.7 * y[:, None]
    W = torch.randn(4, D, generator=g, dtype=torch.float64)
    return W, X, y, lmnn_target_neighbors(X, y, 3)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("chunk_size", [None, 1, 7, 100])
def test_lmnn_dense_chunks_give_the_candidate_lists_numbers(seed,
                                                            chunk_size):
    """The GPU's path (a dense (c, N, k) hinge per chunk) and the CPU's
    (candidate impostors only) compute the same loss and gradient."""
    from dml.linear.lmnn import _lmnn_loss_grad_t
    W, X, y, T = _lmnn_problem(seed)
    for mu, margin in [(0.5, 1.0), (0.2, 5.0)]:
        want = _lmnn_loss_grad_t(W, X, y, T, mu, margin, chunk_size,
                                 "candidates")
        got = _lmnn_loss_grad_t(W, X, y, T, mu, margin, chunk_size, "dense")
        torch.testing.assert_close(got[0], want[0], rtol=1e-12, atol=0)
        torch.testing.assert_close(got[1], want[1], rtol=1e-10, atol=1e-9)


def test_lmnn_waits_for_the_device_in_no_chunk_on_a_gpu():
    """No host synchronisation inside the chunk loop on a GPU (issue 15):
    the dense path makes none at all, whatever the number of chunks; the
    CPU's candidate list makes one per chunk (free on the host)."""
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).parent))
    from _device_sim import SyncCounter
    from dml.linear.lmnn import _lmnn_loss_grad_t
    W, X, y, T = _lmnn_problem()
    with SyncCounter() as c:
        _lmnn_loss_grad_t(W, X, y, T, 0.5, 1.0, 7, "dense")
    assert c.total == 0, c.counts
    with SyncCounter() as c:
        _lmnn_loss_grad_t(W, X, y, T, 0.5, 1.0, 7, "candidates")
    assert c.counts == {"nonzero": 240 // 7 + 1}


def test_lmnn_takes_the_dense_path_off_the_cpu():
    """On another device (here ``meta``, which refuses any data-sized
    output such as nonzero) the default is the path without syncs (the
    public function's input checks read values, so its core is called)."""
    from dml.linear.lmnn import _lmnn_loss_grad_t
    W, X, y, T = _lmnn_problem()
    loss, grad = _lmnn_loss_grad_t(*(t.to("meta") for t in (W, X, y, T)),
                                   0.5, 1.0, 7)
    assert loss.device.type == "meta" and grad.shape == W.shape
    with pytest.raises(NotImplementedError):      # nonzero: data-sized
        _lmnn_loss_grad_t(*(t.to("meta") for t in (W, X, y, T)), 0.5, 1.0,
                          7, "candidates")
