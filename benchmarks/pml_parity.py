"""Same names, same values: dml vs pytorch-metric-learning 2.9 (issue 16).

For every class of ``dml.losses`` and ``dml.miners`` that carries a
pytorch-metric-learning (pml) name, both libraries run on the same inputs
with the same arguments (the defaults, unless a row says otherwise) and
the script prints one table:

* losses: the loss value of each library and the largest absolute
  difference of the values and of the gradients w.r.t. the embeddings,
  for every pair (``loss(emb, labels)``), for pml's multi-similarity pairs
  (the same tuples given to both; the class-weight losses weight their
  samples by them) and, where pml accepts one, with a reference set
  (``ref_emb``, ``ref_labels``; the rows say which library refuses it). Losses with parameters
  (proxies, class weights W) get pml's initial values copied into dml's.
* miners: whether both return the same tuples (compared as sorted lists;
  pairs: positive and negative pairs each sorted) and their number, with and without a reference set;
  ``DistanceWeightedMiner`` draws at random, so the row compares the mean
  anchor-negative distance of 200 draws instead of tuples.
* ``CrossBatchMemory``: the loss values of 6 steps (the ring wraps) for
  every supported loss dml has, with and without a miner.
* the training loops of ``tests/peers/test_pml_training_loop.py``.

Inputs: float64, B = 32 embeddings of width 8 with 4 classes; a reference
set of 20 (the first 6 rows are batch rows). pml is installed in its own
venv (``benchmarks/.venv-pml``: torch 2.13.0 CPU, pytorch-metric-learning
2.9.0, as for ``benchmarks/deep.py``); the script re-executes itself there
and imports dml from the repository's lib/. Run::

    python3 benchmarks/pml_parity.py                 # the table
    python3 benchmarks/pml_parity.py --training-loop # the test's constants

A class that pml has but dml has not, or that dml adds, is not listed.
"""
from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VENV = os.path.join(HERE, ".venv-pml")
VENV_PY = os.path.join(VENV, "bin", "python")


def ensure_venv() -> None:
    """Create benchmarks/.venv-pml if needed and re-execute inside it."""
    if os.path.abspath(sys.prefix) == os.path.abspath(VENV):
        sys.path.insert(0, os.path.join(ROOT, "lib"))
        sys.path.insert(0, os.path.join(ROOT, "tests", "peers"))
        return
    if not os.path.exists(VENV_PY):
        print(f"creating {VENV} (one time) ...", flush=True)
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        wheels = glob.glob("/opt/wheels/torch-2.13.0*.whl")
        pip = [VENV_PY, "-m", "pip", "install", "-q"]
        subprocess.check_call(pip + [wheels[0] if wheels else "torch==2.13.0"])
        subprocess.check_call(pip + ["pytorch-metric-learning==2.9.0",
                                     "numpy", "scipy", "scikit-learn",
                                     "tqdm", "psutil"])
    os.execv(VENV_PY, [VENV_PY, os.path.abspath(__file__)] + sys.argv[1:])


ensure_venv()

import torch  # noqa: E402
from pytorch_metric_learning import losses as pl, miners as pm  # noqa: E402

from dml import losses as dl, miners as dm  # noqa: E402

B, D, C, R = 32, 8, 4, 20

# (name, constructor arguments): every pml-named loss class of dml
LOSSES = [
    ("ContrastiveLoss", {}), ("TripletMarginLoss", {}),
    ("TripletMarginLoss", {"margin": 0.1}),
    ("TripletMarginLoss", {"swap": True}), ("NTXentLoss", {}),
    ("MultiSimilarityLoss", {}), ("LiftedStructureLoss", {}),
    ("NPairsLoss", {}), ("SupConLoss", {}), ("CircleLoss", {}),
    ("ProxyAnchorLoss", {"num_classes": C, "embedding_size": D}),
    ("ArcFaceLoss", {"num_classes": C, "embedding_size": D}),
    ("CosFaceLoss", {"num_classes": C, "embedding_size": D}),
]
MINERS = [
    ("BatchHardMiner", {}), ("TripletMarginMiner", {}),
    ("TripletMarginMiner", {"margin": 0.1, "type_of_triplets": "hard"}),
    ("TripletMarginMiner", {"margin": 0.1,
                            "type_of_triplets": "semihard"}),
    ("TripletMarginMiner", {"margin": 0.1, "type_of_triplets": "easy"}),
    ("MultiSimilarityMiner", {}), ("MultiSimilarityMiner", {"epsilon": 0.3}),
]


def inputs():
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(B, D, generator=g, dtype=torch.float64)
    labels = torch.randint(0, C, (B,), generator=g)
    ref = torch.cat([emb[:6], torch.randn(R - 6, D, generator=g,
                                           dtype=torch.float64)])
    ref_labels = torch.cat([labels[:6], torch.randint(0, C, (R - 6,),
                                                      generator=g)])
    return emb, labels, ref, ref_labels


def label(name, kwargs):
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items()
                     if k not in ("num_classes", "embedding_size"))
    return f"{name}({args})"


def value_and_grad(loss, emb, *args):
    x = emb.clone().requires_grad_(True)
    value = loss(x, *args)
    value.backward()
    return value.detach(), x.grad


def run(loss, emb, *args):
    try:
        return value_and_grad(loss, emb, *args)
    except Exception as err:          # a refusal, reported in the table
        return type(err).__name__


def loss_rows():
    emb, labels, ref, ref_labels = inputs()
    pairs = pm.MultiSimilarityMiner()(emb, labels)
    rows = []
    for name, kwargs in LOSSES:
        if not hasattr(dl, name):
            rows.append((label(name, kwargs), "not in dml", "", "", "", ""))
            continue
        ours, theirs = getattr(dl, name)(**kwargs), getattr(pl, name)(
            **kwargs)
        with torch.no_grad():        # pml's initial parameters into dml's
            for pname, param in theirs.named_parameters():
                getattr(ours, pname).copy_(param)
        for case, args in (("all pairs", (labels,)),
                           ("MS-miner pairs", (labels, pairs)),
                           ("ref_emb", (labels, None, ref, ref_labels))):
            if case == "ref_emb" and ("Proxy" in name or "Face" in name):
                continue          # class-weight losses: no reference set
            a, b = run(theirs, emb, *args), run(ours, emb, *args)
            rows.append(compare(label(name, kwargs), case, a, b))
    return rows


def compare(name, case, pml, ours):
    if isinstance(pml, str) or isinstance(ours, str):
        text = lambda r: r if isinstance(r, str) else f"{r[0].item():.6f}"
        return (name, case, text(pml), text(ours), "", "")
    dv = (pml[0] - ours[0]).abs().item()
    dg = (pml[1] - ours[1]).abs().max().item()
    return (name, case, f"{pml[0].item():.6f}", f"{ours[0].item():.6f}",
            f"{dv:.1e}", f"{dg:.1e}")


def tuples(out):
    """Sorted triplets, or sorted positive pairs + sorted negative pairs
    (the order inside each list is not part of a miner's meaning)."""
    out = [t.tolist() for t in out]
    if len(out) == 3:
        return sorted(zip(*out))
    return sorted(zip(*out[:2])) + sorted(zip(*out[2:]))


def miner_rows():
    emb, labels, ref, ref_labels = inputs()
    rows = []
    for name, kwargs in MINERS:
        ours, theirs = getattr(dm, name)(**kwargs), getattr(pm, name)(
            **kwargs)
        for case, args in (("batch", (labels,)),
                           ("ref_emb", (labels, ref, ref_labels))):
            a, b = tuples(theirs(emb, *args)), tuples(ours(emb, *args))
            rows.append((label(name, kwargs), case, f"{len(a)} tuples",
                         f"{len(b)} tuples", "same" if a == b else
                         f"{len(set(a) ^ set(b))} differ", ""))
    # random draws: compare the mean anchor-negative distance
    U = torch.nn.functional.normalize(emb)
    D_mat = torch.cdist(U, U)
    for lib, miner in (("pml", pm.DistanceWeightedMiner()),
                       ("dml", dm.DistanceWeightedMiner(seed=0))):
        torch.manual_seed(0)
        d = torch.cat([D_mat[a, n] for a, _, n in
                       (miner(emb, labels) for _ in range(200))])
        if lib == "pml":
            pml_mean = d.mean().item()
        else:
            rows.append(("DistanceWeightedMiner()", "mean d_an, 200 draws",
                         f"{pml_mean:.4f}", f"{d.mean().item():.4f}",
                         f"{abs(pml_mean - d.mean().item()):.1e}", ""))
    return rows


def xbm_rows():
    rows = []
    g = torch.Generator().manual_seed(1)
    data = [(torch.randn(12, D, generator=g, dtype=torch.float64),
             torch.randint(0, C, (12,), generator=g)) for _ in range(6)]
    for inner, extra in (("NTXentLoss", {}), ("ContrastiveLoss", {}),
                         ("TripletMarginLoss", {"margin": 0.1}),
                         ("MultiSimilarityLoss", {}), ("SupConLoss", {}),
                         ("CircleLoss", {}), ("LiftedStructureLoss", {})):
        for use_miner in (False, True):
            values = []
            for lib_l, lib_m in ((pl, pm), (dl, dm)):
                miner = lib_m.MultiSimilarityMiner() if use_miner else None
                xbm = lib_l.CrossBatchMemory(getattr(lib_l, inner)(**extra),
                                             embedding_size=D,
                                             memory_size=30, miner=miner)
                values.append(torch.stack([xbm(E, y).detach()
                                           for E, y in data]))
            case = "6 steps" + (", MS miner" if use_miner else "")
            rows.append((f"CrossBatchMemory({label(inner, extra)}, "
                         "memory_size=30)", case,
                         f"{values[0][-1].item():.6f}",
                         f"{values[1][-1].item():.6f}",
                         f"{(values[0] - values[1]).abs().max().item():.1e}",
                         ""))
    return rows


def loop_rows():
    import test_pml_training_loop as loop
    rows = []
    for fn in (loop.triplet_loop, loop.xbm_loop):
        a, b = fn(pl, pm), fn(dl, dm)
        va, vb = (a[0], b[0]) if fn is loop.triplet_loop else (a, b)
        diff = max(abs(x - y) for x, y in zip(va, vb))
        rows.append((f"training loop: {fn.__name__}", f"{len(va)} steps",
                     f"{va[-1]:.6f}", f"{vb[-1]:.6f}", f"{diff:.1e}", ""))
    return rows


def print_table(rows):
    head = ("class", "case", "pml", "dml", "max |diff|", "grad |diff|")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(6)]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in
                                        zip(r, widths)) + " |"
    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


def training_loop_constants():
    import test_pml_training_loop as loop
    values, counts = loop.triplet_loop(pl, pm)
    print(f"PML_TRIPLET_VALUES = {values!r}")
    print(f"PML_TRIPLET_COUNTS = {counts!r}")
    print(f"PML_XBM_VALUES = {loop.xbm_loop(pl, pm)!r}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--training-loop", action="store_true",
                        help="print pml's numbers for "
                             "tests/peers/test_pml_training_loop.py")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import pytorch_metric_learning
    print(f"torch {torch.__version__}, pytorch-metric-learning "
          f"{pytorch_metric_learning.__version__}, float64, CPU\n")
    if args.training_loop:
        training_loop_constants()
        return
    print_table(loss_rows() + miner_rows() + xbm_rows() + loop_rows())


if __name__ == "__main__":
    main()
