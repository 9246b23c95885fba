"""Retrieval metrics: dml.metrics vs pytorch-metric-learning, same data.

MAP@R, R-precision and Recall@1 / Recall@10 in the leave-one-out setting
(every embedding is a query, the others are its gallery) on N embeddings of
dimension D = 128, computed by

* ours: ``dml.metrics.retrieval_report`` (exact kNN in query chunks,
  torch on the CPU);
* theirs: pytorch-metric-learning 2.9's ``AccuracyCalculator`` with
  ``k="max_bin_count"`` and its faiss-cpu exact search (IndexFlatL2).
  Recall@10 is not one of its metrics: we compute it from the labels of
  the 10 nearest neighbours that its ``FaissKNN`` returns.

Values are printed side by side, with wall time and peak resident memory
(each library runs in a fresh child process so the peaks do not mix). The
machine is shared, so each library runs ``--repeats`` times, alternating
with the other, and the median time is reported with the range.

The peers live in their own virtual environment, benchmarks/.venv-pml
(never in the project's .venv): the script creates it on first use and
re-runs itself inside it.

    python benchmarks/metrics.py --sizes 10000
    python benchmarks/metrics.py --sizes 10000 100000
    python benchmarks/metrics.py --sizes 100000 --libs ours --chunk-size 256

``--device cuda`` runs ours on the GPU (pml + faiss-cpu stay on the CPU);
``--no-venv`` runs in this interpreter, and a peer that is not installed
there is skipped with a message; ``--quick`` is a small rehearsal
(N = 2 000, D = 16, one run) that checks the script, not a timing.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = HERE / ".venv-pml"
VPY = VENV / "bin" / "python"
TORCH_WHEEL_DIR = "/opt/wheels"
PEERS = ["torch==2.13.0", "pytorch-metric-learning==2.9.0", "faiss-cpu",
         "numpy", "scipy", "scikit-learn", "tqdm"]


def ensure_venv() -> None:
    """Create benchmarks/.venv-pml with the peers, then re-run inside it."""
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not VPY.exists():
        print(f"creating {VENV} (one-off) ...", flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
        subprocess.check_call([str(VPY), "-m", "pip", "install", "-q",
                               "--find-links", TORCH_WHEEL_DIR, *PEERS])
    os.execv(str(VPY), [str(VPY), *sys.argv])


def make_embeddings(n, dim, class_size, seed=0):
    """n points in R^dim around n // class_size Gaussian class centres.

    The noise is scaled so that MAP@R lands in a middling range (neither
    0 nor 1), where a wrong tie rule or an off-by-one would show.
    """
    import numpy as np
    rng = np.random.default_rng(seed)
    n_classes = max(2, n // class_size)
    y = rng.integers(0, n_classes, n)
    centres = rng.normal(size=(n_classes, dim))
    X = centres[y] + 1.8 * rng.normal(size=(n, dim))
    return X.astype(np.float32), y.astype(np.int64)


def rss_mb(field="VmRSS"):
    """Current (VmRSS) or peak (VmHWM) resident memory of this process."""
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker_ours(X, y, args):
    import torch
    sys.path.insert(0, str(ROOT / "lib"))
    from dml.metrics import retrieval_report
    device = torch.device(args.device)
    Xt = torch.from_numpy(X).to(device)
    yt = torch.from_numpy(y).to(device)
    base = rss_mb()
    t0 = time.perf_counter()
    rep = retrieval_report(Xt, yt, ks=(1, 10), chunk_size=args.chunk_size)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    values = {"recall@1": rep["recall@1"], "recall@10": rep["recall@10"],
              "r_precision": rep["r_precision"], "map@r": rep["map@r"]}
    return values, seconds, base


def worker_pml(X, y, args):
    import torch
    from pytorch_metric_learning.utils.accuracy_calculator import (
        AccuracyCalculator, try_getting_not_lone_labels)

    class WithRecallAt10(AccuracyCalculator):
        """pml's documented way to add a metric on its k-NN labels."""

        def calculate_recall_at_10(self, knn_labels, query_labels,
                                   not_lone_query_mask, **kwargs):
            knn_labels, query_labels = try_getting_not_lone_labels(
                knn_labels, query_labels, not_lone_query_mask)
            hit = (knn_labels[:, :10] == query_labels[:, None]).any(1)
            return hit.double().mean().item()

        def requires_knn(self):
            return super().requires_knn() + ["recall_at_10"]

    calc = WithRecallAt10(
        include=("precision_at_1", "r_precision",
                 "mean_average_precision_at_r", "recall_at_10"),
        k="max_bin_count", device=torch.device("cpu"))
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    base = rss_mb()
    t0 = time.perf_counter()
    acc = calc.get_accuracy(Xt, yt)
    seconds = time.perf_counter() - t0
    values = {"recall@1": acc["precision_at_1"],
              "recall@10": acc["recall_at_10"],
              "r_precision": acc["r_precision"],
              "map@r": acc["mean_average_precision_at_r"]}
    return values, seconds, base


def run_worker(args):
    import numpy as np
    data = np.load(args.data)
    X, y = data["X"], data["y"]
    fn = worker_ours if args.worker == "ours" else worker_pml
    values, seconds, base = fn(X, y, args)
    print(json.dumps({"values": values, "seconds": seconds,
                      "rss_before_mb": base, "peak_mb": rss_mb("VmHWM")}))


def main():
    import tempfile

    import numpy as np
    import torch
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--class-size", type=int, default=50,
                   help="mean class size (R is about this minus 1)")
    p.add_argument("--chunk-size", type=int, default=1024,
                   help="query rows per block for dml")
    p.add_argument("--libs", nargs="+", choices=["ours", "pml"],
                   default=["ours", "pml"], help="which side(s) to run")
    p.add_argument("--repeats", type=int, default=5,
                   help="fresh-process runs per library (median time)")
    p.add_argument("--worker", choices=["ours", "pml"])
    p.add_argument("--data")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="where ours runs (the peers use the CPU)")
    p.add_argument("--no-venv", action="store_true",
                   help="run in this interpreter (no benchmarks/.venv-pml)")
    p.add_argument("--quick", action="store_true",
                   help="rehearsal: N=2000, D=16, one run (not a timing)")
    args = p.parse_args()
    if args.quick:
        args.sizes, args.dim, args.repeats = [2000], 16, 1
    if args.worker:
        return run_worker(args)
    try:
        import faiss
        import pytorch_metric_learning as pml
        peers = (f"pytorch-metric-learning {pml.__version__}, faiss-cpu "
                 f"{faiss.__version__}")
    except ImportError:
        peers = "pytorch-metric-learning / faiss-cpu not installed"
        if "pml" in args.libs:
            print(f"{peers} here: the pml + faiss rows are skipped")
            args.libs = [lib for lib in args.libs if lib != "pml"]
    gpu = torch.cuda.get_device_name() if args.device == "cuda" else "none"
    print(f"torch {torch.__version__}, {peers}; "
          f"{os.cpu_count()} CPU core(s), ours on {args.device} (GPU: "
          f"{gpu}); dml chunk_size="
          f"{args.chunk_size}; D={args.dim}, leave-one-out, Euclidean, "
          f"classes of about {args.class_size}")
    rows = []
    for n in args.sizes:
        X, y = make_embeddings(n, args.dim, args.class_size)
        R_max = int(np.bincount(y).max()) - 1
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "data.npz")
            np.savez(path, X=X, y=y)
            runs = {who: [] for who in args.libs}
            for _ in range(args.repeats):       # alternate the libraries
                for who in args.libs:
                    out = subprocess.run(
                        [sys.executable, __file__, "--worker", who,
                         "--data", path, "--chunk-size",
                         str(args.chunk_size), "--device", args.device,
                         "--no-venv"],
                        check=True, capture_output=True, text=True).stdout
                    runs[who].append(json.loads(out.strip().splitlines()[-1]))
            for who in args.libs:
                times = sorted(r["seconds"] for r in runs[who])
                res = dict(runs[who][0], seconds=times[len(times) // 2],
                           spread=(times[0], times[-1]))
                rows.append((n, R_max, who, res))
                v = res["values"]
                print(f"N={n:>7} {who:>4}: " + ", ".join(
                    f"{k} {val:.10f}" for k, val in v.items()) +
                    f" | median {res['seconds']:.2f} s of {args.repeats}"
                    f" fresh runs ({res['spread'][0]:.2f}-"
                    f"{res['spread'][1]:.2f}), peak RSS "
                    f"{res['peak_mb']:.0f} MB (before the call "
                    f"{res['rss_before_mb']:.0f} MB)", flush=True)
    print()
    print("| N | max R | library | Recall@1 | Recall@10 | R-precision |"
          " MAP@R | time (s) | peak RSS (MB) | peak - before call (MB) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n, R_max, who, res in rows:
        v = res["values"]
        name = "dml" if who == "ours" else "pml 2.9 + faiss"
        print(f"| {n} | {R_max} | {name} | {v['recall@1']:.6f} | "
              f"{v['recall@10']:.6f} | {v['r_precision']:.6f} | "
              f"{v['map@r']:.6f} | {res['seconds']:.2f} | "
              f"{res['peak_mb']:.0f} | "
              f"{res['peak_mb'] - res['rss_before_mb']:.0f} |")
    for n in args.sizes if len(args.libs) == 2 else ():
        a, b = (r[3]["values"] for r in rows if r[0] == n)
        diffs = ", ".join(f"{k} {abs(a[k] - b[k]):.1e}" for k in a)
        print(f"N={n}: |dml - pml| = {diffs}")
    print("Differences of order 1e-7 come from float32 near-ties: faiss "
          "ranks by float32 Gram-trick distances, dml re-ranks candidates "
          "by direct float32 differences; two neighbours whose distances "
          "differ by < ~2e-7 (relative) can swap.")


if __name__ == "__main__":
    if "--setup-only" in sys.argv:
        ensure_venv()
        print("venv ready:", sys.prefix)
        sys.exit(0)
    if "--no-venv" not in sys.argv:
        ensure_venv()
    main()
