"""benchmarks/gpu_check.sh: its CPU rehearsal runs, so the script the first
GPU run depends on cannot rot (issue 15).

The rehearsal (--device cpu --quick) skips the installs and the peers
that are not installed, and must say so; pip is pointed at no index, so a
download attempt would fail the run.
"""
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"
STEPS = ("pytest -m gpu", "deep losses vs pytorch-metric-learning (cpu)",
         "LMNN and NCA fits (cpu)",
         "retrieval metrics vs pml + faiss-cpu (cpu)")


def run(*args, timeout=600):
    env = dict(os.environ, PIP_NO_INDEX="1", PYTHON=str(
        ROOT / ".venv" / "bin" / "python"))
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_cpu_rehearsal_runs_every_step_and_logs_every_figure(tmp_path):
    log = tmp_path / "gpu_check.log"
    out = run("--device", "cpu", "--quick", "--log", str(log))
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    text = log.read_text()
    assert "installs skipped (--quick rehearsal)" in text
    assert "GPU: none" in text                  # the device's name line
    for step in STEPS:
        assert f"  {step}: ok in" in text, step
    assert "| batch_hard       |    64 |   16 |" in text   # deep.py's table
    assert "| synthetic 1000x8 | LMNN | dml |" in text    # linear.py's
    assert "| 2000 | " in text and "| dml |" in text      # metrics.py's
    if "peer pytorch_metric_learning: not installed, skipped" in text:
        assert "the pml columns are skipped" in text        # deep.py
        assert "the pml + faiss rows are skipped" in text   # metrics.py


@pytest.mark.parametrize("args, message", [
    (("--device", "tpu"), "--device 'tpu' is not supported; use cuda or "
                          "cpu"),
    (("--fast",), "unknown option '--fast'; use --device cuda|cpu, "
                  "--quick, --no-install, --log FILE"),
])
def test_bad_options_stop_before_anything_runs(args, message):
    out = run(*args, timeout=60)
    assert out.returncode == 2
    assert message in out.stderr
    assert out.stdout == ""


def test_cuda_run_without_a_gpu_fails_with_a_reason(tmp_path):
    pytest.importorskip("torch")
    import torch
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the full run is the real check")
    log = tmp_path / "log"
    out = run("--device", "cuda", "--no-install", "--log", str(log),
              timeout=120)
    assert out.returncode == 1
    assert "--device cuda but torch sees no CUDA device" in log.read_text()
