"""Shared fixtures and markers for the test suite.

Tests marked ``gpu`` run only where CUDA is present; elsewhere they are
skipped with a reason, so CI (which has no GPU) stays green and honest.
"""
import os
import pathlib
import subprocess

import numpy as np
import pytest
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAUNCH_ENV = {"DML_REPOSITORY_URL": "https://github.com/dml-course/dml-course",
              "DML_JUPYTERHUB_URL": "https://hub.example.edu"}


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; none is present")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def one_thread():
    """One torch thread for tests of tiny tensors: on a busy 2-core machine
    OpenMP barriers make small operations many times slower."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def drug():
    """The drug compounds (X, y) of seed 0: the course's running example."""
    import dml
    return dml.drug_compounds(seed=0)[:2]


@pytest.fixture
def rng():
    """A fresh, seeded numpy generator for each test."""
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def book_html(tmp_path_factory):
    """Build the book once per test session (README command 1's build
    step, into a temporary folder) and return its _build/html folder.

    DML_BOOK_HTML=<folder> skips the build and serves that folder instead
    (for a developer re-running the browser tests; CI never sets it).

    The build is given a repository and a hub, as an instructor would
    (README, "For instructors"), so that the launch buttons can be checked;
    example.edu is reserved for examples and never contacted.
    """
    if os.environ.get("DML_BOOK_HTML"):    # a developer's quick re-run
        return pathlib.Path(os.environ["DML_BOOK_HTML"])
    out = tmp_path_factory.mktemp("book")
    env = dict(os.environ, BOOK_OUT=str(out), **LAUNCH_ENV)
    run = subprocess.run(["bash", str(ROOT / "scripts" / "book.sh")],
                         cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=1800)
    assert run.returncode == 0, (run.stdout + run.stderr)[-6000:]
    return out / "_build" / "html"
