"""pytorch-metric-learning 2.9's ``tests/losses/test_npairs_loss.py``,
ported to ``dml.losses.NPairsLoss``.

The logic and expected values are PML's (commit 216a792); the imports
point at dml and at ``_pml_testing_utils`` (PML's helpers, CPU). The
adaptations are listed in tests/peers/README.md ("PML losses (existing
classes)") and marked "adaptation N" below.
"""
import unittest

import torch

from dml.losses import NPairsLoss

# adaptation 3 (README): dml's losses take no embedding_regularizer (pml's
# regularizers module); the regularised loss (loss_funcB) is skipped
LpRegularizer = None

from _pml_testing_utils import TEST_DEVICE, TEST_DTYPES
from _pml_testing_utils import angle_to_coord



def _isclose(loss, correct, **kwargs):
    """adaptation 4 (README): a float16 loss is float32 in dml; compare it
    with the reference cast to the loss's dtype (torch.isclose refuses
    mixed dtypes)."""
    return torch.isclose(loss, torch.as_tensor(correct).to(loss.dtype),
                         **kwargs)

class TestNPairsLoss(unittest.TestCase):
    def test_npairs_loss(self):
        loss_funcA = NPairsLoss()
        # adaptation 3 (README): no embedding_regularizer in dml
        # loss_funcB = NPairsLoss(embedding_regularizer=LpRegularizer(power=2))
        embedding_norm = 2.3

        for dtype in TEST_DTYPES:
            embedding_angles = list(range(0, 180, 20))[:7]
            embeddings = torch.tensor(
                [angle_to_coord(a) for a in embedding_angles],
                requires_grad=True,
                dtype=dtype,
            ).to(
                TEST_DEVICE
            )  # 2D embeddings
            embeddings_for_loss_fn = (
                embeddings * embedding_norm
            )  # scale by random amount to test l2 regularizer
            labels = torch.LongTensor([0, 0, 1, 1, 1, 2, 3])

            lossA = loss_funcA(embeddings_for_loss_fn, labels)
            # adaptation 3 (README)
            # lossB = loss_funcB(embeddings_for_loss_fn, labels)

            pos_pairs = [(0, 1), (2, 3)]
            neg_pairs = [(0, 3), (2, 1)]

            embeddings = torch.nn.functional.normalize(embeddings)
            total_loss = 0
            for a1, p in pos_pairs:
                anchor, positive = embeddings[a1], embeddings[p]
                numerator = torch.exp(torch.matmul(anchor, positive))
                denominator = numerator.clone()
                for a2, n in neg_pairs:
                    if a2 == a1:
                        negative = embeddings[n]
                        denominator += torch.exp(torch.matmul(anchor, negative))
                curr_loss = -torch.log(numerator / denominator)
                total_loss += curr_loss

            total_loss /= len(pos_pairs[0])
            # adaptation 6 (README): PML's float16 tolerance (1e-2) for the
            # float16 case; dml computes it in float32, PML in float16
            rtol = 1e-2 if dtype == torch.float16 else 1e-5
            self.assertTrue(_isclose(lossA, total_loss, rtol=rtol))
            # adaptation 3 (README): no embedding_regularizer in dml
            # self.assertTrue(
            #     _isclose(
            #         lossB,
            #         total_loss
            #         + torch.mean(torch.norm(embeddings_for_loss_fn, dim=1) ** 2),
            #     )
            # )  # l2_reg is going to be embedding_norm ** self.power

    def test_with_no_valid_pairs(self):
        for dtype in TEST_DTYPES:
            loss_func = NPairsLoss()
            embedding_angles = [0]
            embeddings = torch.tensor(
                [angle_to_coord(a) for a in embedding_angles],
                requires_grad=True,
                dtype=dtype,
            ).to(
                TEST_DEVICE
            )  # 2D embeddings
            labels = torch.LongTensor([0])
            loss = loss_func(embeddings, labels)
            loss.backward()
            self.assertEqual(loss, 0)

    def test_backward(self):
        loss_funcA = NPairsLoss()
        # adaptation 3 (README): no embedding_regularizer in dml
        # loss_funcB = NPairsLoss(embedding_regularizer=LpRegularizer())

        for dtype in TEST_DTYPES:
            for loss_func in [loss_funcA]:
                embedding_angles = list(range(0, 180, 20))[:7]
                embeddings = torch.tensor(
                    [angle_to_coord(a) for a in embedding_angles],
                    requires_grad=True,
                    dtype=dtype,
                ).to(
                    TEST_DEVICE
                )  # 2D embeddings
                labels = torch.LongTensor([0, 0, 1, 1, 1, 2, 3])

                loss = loss_func(embeddings, labels)
                loss.backward()
