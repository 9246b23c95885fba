"""Shared fixtures and markers for the test suite.

Tests marked ``gpu`` run only where CUDA is present; elsewhere they are
skipped with a reason, so CI (which has no GPU) stays green and honest.
"""
import numpy as np
import pytest
import torch


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; none is present")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    """A fresh, seeded numpy generator for each test."""
    return np.random.default_rng(0)
