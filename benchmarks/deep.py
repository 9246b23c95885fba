"""Deep-metric-learning losses: dml vs pytorch-metric-learning 2.9.

Forward + backward of four losses on the same batches, in one run:

* batch-hard triplet   BatchHardMiner + TripletMarginLoss (both libraries)
* semi-hard triplet    ours: SemiHardMiner (FaceNet, one negative per
                       positive pair, O(B^2)); pml: TripletMarginMiner
                       ("semihard", every semi-hard triplet, B^3 mask);
* semi-hard (all)      TripletMarginMiner("semihard") in both, so the two
                       definitions agree (the loss values are compared);
* multi-similarity     MultiSimilarityLoss, no miner;
* NT-Xent / InfoNCE    NTXentLoss with label-defined positives.

Embeddings: x ~ N(0, I) of shape (B, D), requires_grad, L2-normalised
inside the timed function (pml's default distance normalises too); labels
in a P x K layout with K = 4. Before timing, the script prints both loss
values at B = 128 wherever the definitions agree.

Time: median of ``--repeats`` runs after one warm-up; for the triplet
rows the miner alone is timed too ("mine ms" columns), so that mining and
loss costs can be told apart. Peak memory: on CUDA
torch.cuda.max_memory_allocated minus the memory already allocated; on
the CPU the peak of the process RSS (sampled every 0.5 ms by a thread in a
separate run) minus the RSS before the run, with glibc's mmap threshold
lowered to 64 KiB for that run only, so that tensors go back to the OS
when freed (the timed runs use glibc's usual threshold). CPU threads:
``--threads`` (default 1) for both libraries. pml runs are skipped where
a rough estimate of their memory exceeds 8 GiB (80 % of the GPU's memory
on CUDA): its semi-hard miner builds a (B, B, B) mask, its NT-Xent a
(positive pairs x negative pairs) one.

pml is installed in its own venv (benchmarks/.venv-pml, created on first
use with ``python3 -m venv``: torch==2.13.0, pytorch-metric-learning==
2.9.0); the script re-executes itself inside it and imports dml from the
repository's lib/. Run with ``flock /tmp/bench.lock python3
benchmarks/deep.py --sizes 256,1024``. ``--no-venv`` runs in the
interpreter that started the script instead (benchmarks/gpu_check.sh
installs the peers there); without pytorch-metric-learning the pml columns
are skipped, and the script says so. ``--quick`` is a small rehearsal
(B = 64, D = 16, one repeat) that checks the script runs, not a timing.
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import glob
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VENV = os.path.join(HERE, ".venv-pml")
VENV_PY = os.path.join(VENV, "bin", "python")
GiB = 2 ** 30
PML_LIMIT = 8 * GiB


# ---------------------------------------------------------------- venv
def ensure_venv() -> None:
    """Create benchmarks/.venv-pml and re-execute this script inside it."""
    if "--no-venv" in sys.argv:
        sys.path.insert(0, os.path.join(ROOT, "lib"))
        return
    if os.path.abspath(sys.prefix) == os.path.abspath(VENV):
        sys.path.insert(0, os.path.join(ROOT, "lib"))
        return
    if not os.path.exists(VENV_PY):
        print(f"creating {VENV} (one time) ...", flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        wheels = glob.glob("/opt/wheels/torch-2.13.0*.whl")
        torch_req = wheels[0] if wheels else "torch==2.13.0"
        pip = [VENV_PY, "-m", "pip", "install", "-q"]
        subprocess.check_call(pip + [torch_req])
        subprocess.check_call(pip + ["pytorch-metric-learning==2.9.0",
                                     "numpy", "scipy", "scikit-learn",
                                     "tqdm", "psutil"])
    os.execv(VENV_PY, [VENV_PY, os.path.abspath(__file__)] + sys.argv[1:])


ensure_venv()

import psutil  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
try:
    import pytorch_metric_learning as pml  # noqa: E402
    from pytorch_metric_learning import losses as pl, miners as pm  # noqa
except ImportError:                   # --no-venv without the peer
    pml = pl = pm = None

import dml.losses as dl  # noqa: E402
import dml.miners as dm  # noqa: E402

K = 4           # samples per class in a batch


# ------------------------------------------------------------ the cases
def ours_triplet(miner, margin=0.2):
    loss = dl.TripletMarginLoss(margin=margin)      # PML's defaults
    return lambda e, y: loss(e, y, miner(e, y))


def pml_triplet(miner, margin=0.2):
    loss = pl.TripletMarginLoss(margin=margin)
    return lambda e, y: loss(e, y, miner(e, y))


def ours_ms():
    loss = dl.MultiSimilarityLoss(alpha=2.0, beta=50.0, base=0.5)  # noqa
    return lambda e, y: loss(e, y)


def ours_ntxent():
    loss = dl.NTXentLoss(temperature=0.07)
    return lambda e, y: loss(e, y)


def pml_plain(loss):
    return lambda e, y: loss(e, y)


def pml_bytes(case: str, B: int) -> float:
    """Rough peak memory of pml's version (bytes), to skip OOM risks."""
    n_pos, n_neg = B * (K - 1), B * (B - K)
    if case.startswith("semihard"):
        return 2.0 * B ** 3                   # (B, B, B) masks
    if case == "ntxent":
        return 16.0 * n_pos * n_neg           # (pos pairs, neg pairs)
    return 64.0 * B * B


def pml_semihard_miner():
    return pm.TripletMarginMiner(0.2, type_of_triplets="semihard")


# name: (ours factory, pml factory, same definition?, max B for ours,
#        (our miner, pml miner) factories or None)
CASES = {
    "batch_hard": (lambda: ours_triplet(dm.BatchHardMiner()),
                   lambda: pml_triplet(pm.BatchHardMiner()), True, None,
                   (dm.BatchHardMiner, lambda: pm.BatchHardMiner())),
    "semihard": (lambda: ours_triplet(dm.SemiHardMiner(0.2)),
                 lambda: pml_triplet(pml_semihard_miner()), False, None,
                 (lambda: dm.SemiHardMiner(0.2), pml_semihard_miner)),
    "semihard_all": (lambda: ours_triplet(dm.TripletMarginMiner(
                         0.2, "semihard")),
                     lambda: pml_triplet(pml_semihard_miner()), True, None,
                     (lambda: dm.TripletMarginMiner(0.2, "semihard"),
                      pml_semihard_miner)),
    "multi_similarity": (ours_ms, lambda: pml_plain(pl.MultiSimilarityLoss(
        alpha=2, beta=50, base=0.5)), True, None, None),
    "ntxent": (ours_ntxent, lambda: pml_plain(pl.NTXentLoss(
        temperature=0.07)), True, None, None),
}


# ----------------------------------------------------------- measuring
def batch(B: int, D: int, device, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, D, generator=g)
    y = torch.arange(B) // K
    y = y[torch.randperm(B, generator=g)]
    return x.to(device), y.to(device)


def step(fn, x, y, grad=True):
    """One forward + backward; returns the loss value.

    With ``grad=False``: just ``fn(x, y)`` (used to time a miner).
    """
    if not grad:
        return fn(x, y)
    x = x.detach().clone().requires_grad_()
    value = fn(F.normalize(x, dim=1), y)
    value.backward()
    return float(value.detach())


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_it(fn, x, y, repeats: int, grad=True) -> float:
    step(fn, x, y, grad)                                # warm-up
    times = []
    for _ in range(repeats):
        sync(x.device)
        t0 = time.perf_counter()
        step(fn, x, y, grad)
        sync(x.device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_mining(miner, x, y, repeats: int) -> float:
    """Median time of the miner alone (no loss, no backward)."""
    e = F.normalize(x, dim=1)
    with torch.no_grad():
        return time_it(miner, e, y, repeats, grad=False)


def peak_bytes(fn, x, y) -> float:
    if x.device.type == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step(fn, x, y)
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - base
    with small_mmap_threshold():
        return _peak_rss_growth(fn, x, y)


@contextlib.contextmanager
def small_mmap_threshold():
    """glibc: serve blocks >= 64 KiB by mmap while measuring memory.

    Then every tensor's pages come and go with it, so RSS shows the peak
    of the step itself rather than the heap's high-water mark. Timing
    runs outside this block, with glibc's usual (adaptive) threshold:
    forcing mmap for every medium tensor doubles the time of small steps,
    for both libraries. After the block the threshold is set to 32 MiB,
    the ceiling the adaptive one reaches in a long-running process.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:                                   # not glibc
        yield
        return
    M_MMAP_THRESHOLD = -3
    libc.malloc_trim(0)
    libc.mallopt(M_MMAP_THRESHOLD, 64 * 1024)
    try:
        yield
    finally:
        libc.mallopt(M_MMAP_THRESHOLD, 32 * 2 ** 20)


def _peak_rss_growth(fn, x, y):
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.0005)

    t = threading.Thread(target=sample)
    t.start()
    step(fn, x, y)
    done.set()
    t.join()
    return max(peak[0] - base, 0)


def available(factory) -> bool:
    """False when dml.losses lacks the loss (a partial checkout)."""
    try:
        factory()
    except AttributeError:
        return False
    return True


def check_values(device) -> None:
    """Print ours vs pml at B = 128 where the definitions agree."""
    x, y = batch(128, 64, device, seed=1)
    print(f"\nloss values at B=128, D=64 on {device} (same definition):")
    for name, (ours, theirs, same, _, _) in CASES.items():
        if not same:
            continue
        if not available(ours):
            print(f"  {name:17s} ours missing in dml.losses")
            continue
        a, b = step(ours(), x, y), step(theirs(), x, y)
        flag = "ok" if abs(a - b) <= 1e-4 * max(1.0, abs(b)) else "DIFFER"
        print(f"  {name:17s} ours {a:.6f}  pml {b:.6f}  {flag}")


def fmt_ms(t):
    return "-" if t is None else f"{1e3 * t:9.1f}"


def fmt_mib(b):
    return "-" if b is None else f"{b / 2 ** 20:8.1f}"


def memory_limit(device) -> float:
    """8 GiB on the CPU; 80 % of the GPU's memory on CUDA."""
    if device.type == "cuda":
        return 0.8 * torch.cuda.get_device_properties(device).total_memory
    return PML_LIMIT


def measure(make_fn, make_miner, x, y, repeats):
    """One library's (median step time, peak memory, miner-alone time).

    The miner time is None where the case has no miner.
    """
    fn = make_fn()
    seconds, peak = time_it(fn, x, y, repeats), peak_bytes(fn, x, y)
    mine = time_mining(make_miner(), x, y, repeats) if make_miner else None
    return seconds, peak, mine


def run(device, sizes, dims, repeats, cases, skip_pml):
    rows = []
    for name in cases:
        ours_f, pml_f, _, max_b, miners = CASES[name]
        for B in sizes:
            for D in dims:
                x, y = batch(B, D, device)
                row = {"case": name, "B": B, "D": D}
                if not available(ours_f):
                    print(f"| {name} | {B} | {D} | - | - | - | - | - | - | "
                          "- | ours missing in dml.losses |")
                    continue
                t_o = m_o = t_p = m_p = None
                if max_b is not None and B > max_b:
                    row["note"] = "ours skipped"
                else:
                    t_o, m_o, row["ours_mine"] = measure(
                        ours_f, miners and miners[0], x, y, repeats)
                need = pml_bytes(name, B)
                if skip_pml:
                    row["note"] = "pml not run"
                elif need > memory_limit(device):
                    row["note"] = "pml skipped (OOM risk)"
                else:
                    t_p, m_p, row["pml_mine"] = measure(
                        pml_f, miners and miners[1], x, y, repeats)
                row.update(ours_ms=t_o, pml_ms=t_p, ours_mem=m_o,
                           pml_mem=m_p)
                rows.append(row)
                print_row(row)
    return rows


def print_row(r):
    speed = "-"
    if r["ours_ms"] and r["pml_ms"]:
        speed = f"{r['pml_ms'] / r['ours_ms']:.1f}x"
    print(f"| {r['case']:16s} | {r['B']:5d} | {r['D']:4d} | "
          f"{fmt_ms(r['ours_ms'])} | {fmt_ms(r['pml_ms'])} | {speed:>7s} | "
          f"{fmt_mib(r['ours_mem'])} | {fmt_mib(r['pml_mem'])} | "
          f"{fmt_ms(r.get('ours_mine'))} | {fmt_ms(r.get('pml_mine'))} | "
          f"{r.get('note', '')} |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="256,1024",
                    help="batch sizes B, comma-separated "
                         "(the issue's full set: 256,1024,4096)")
    ap.add_argument("--dims", default="128,512", help="embedding dims D")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="all", choices=["all", "cpu",
                                                        "cuda"])
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads for both libraries (default 1:"
                         " on a shared 2-core machine, OpenMP barriers "
                         "under load make 2 threads many times slower)")
    ap.add_argument("--cases", default=",".join(CASES))
    ap.add_argument("--no-pml", action="store_true",
                    help="time ours only")
    ap.add_argument("--no-venv", action="store_true",
                    help="run in this interpreter (no benchmarks/.venv-pml)")
    ap.add_argument("--quick", action="store_true",
                    help="rehearsal: B=64, D=16, 1 repeat (not a timing)")
    args = ap.parse_args()
    if args.quick:
        args.sizes, args.dims, args.repeats = "64", "16", 1
    if pml is None:
        print("pytorch-metric-learning is not installed here: the pml "
              "columns are skipped")
        args.no_pml = True
    torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    dims = [int(s) for s in args.dims.split(",")]
    cases = args.cases.split(",")
    devices = {"cpu": ["cpu"], "cuda": ["cuda"],
               "all": ["cpu", "cuda"] if torch.cuda.is_available()
               else ["cpu"]}[args.device]
    devices = [torch.device(d) for d in devices]
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() \
        else "none"
    print(f"torch {torch.__version__}, pytorch-metric-learning "
          f"{pml.__version__ if pml else 'absent'}, {os.cpu_count()} CPU "
          f"cores, threads "
          f"{torch.get_num_threads()}, CUDA: {gpu}")
    for device in devices:
        if not args.no_pml:
            check_values(device)
        print(f"\nforward + backward on {device}: median of {args.repeats}"
              " (ms), peak memory (MiB)")
        print("| case             |     B |    D |   ours ms |    pml ms | "
              "speedup | ours MiB |  pml MiB | ours mine ms | pml mine ms "
              "| note |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        run(device, sizes, dims, args.repeats, cases, args.no_pml)


if __name__ == "__main__":
    main()
