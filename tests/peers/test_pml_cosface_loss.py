"""pytorch-metric-learning 2.9's ``tests/losses/test_cosface_loss.py``,
ported to ``dml.losses.CosFaceLoss``.

The logic and expected values are PML's (commit 216a792); the imports
point at dml and at ``_pml_testing_utils`` (PML's helpers, CPU). The
adaptations are listed in tests/peers/README.md ("PML losses (new
classes)").
"""
import unittest

import pytest
import torch
import torch.nn.functional as F

from dml.losses import CosFaceLoss

from _pml_testing_utils import TEST_DEVICE, TEST_DTYPES, angle_to_coord

# adaptation 2 (README): PML's angle_to_coord given a torch scalar (from
# torch.arange) makes numpy warn; the values are right
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array_wrap__ must accept context:DeprecationWarning")


class TestCosFaceLoss(unittest.TestCase):
    def test_cosface_loss(self):
        margin = 0.5
        scale = 64

        for dtype in TEST_DTYPES:
            loss_func = CosFaceLoss(
                margin=margin, scale=scale, num_classes=10, embedding_size=2
            )

            embedding_angles = torch.arange(0, 180)
            embeddings = torch.tensor(
                [angle_to_coord(a) for a in embedding_angles],
                requires_grad=True,
                dtype=dtype,
            ).to(
                TEST_DEVICE
            )  # 2D embeddings
            labels = torch.randint(low=0, high=10, size=(180,))

            loss = loss_func(embeddings, labels)
            loss.backward()

            # adaptation 1 (README): PML casts W to the embeddings' dtype in
            # place on every call; dml keeps W as created (float32) and casts
            # a copy, so the reference casts it too
            weights = F.normalize(loss_func.W.to(dtype), p=2, dim=0)
            logits = torch.matmul(F.normalize(embeddings), weights)
            for i, c in enumerate(labels):
                logits[i, c] -= margin

            correct_loss = F.cross_entropy(logits * scale, labels.to(TEST_DEVICE))
            rtol = 1e-2 if dtype == torch.float16 else 1e-5
            # adaptation 3 (README): float16 losses are float32 in dml
            self.assertTrue(
                torch.isclose(loss, correct_loss.to(loss.dtype), rtol=rtol))

            # test get_logits
            logits_out = loss_func.get_logits(embeddings)
            self.assertTrue(
                torch.allclose(
                    logits_out, torch.matmul(F.normalize(embeddings), weights) * scale
                )
            )
