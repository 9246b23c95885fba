"""pytorch-metric-learning 2.9's ``tests/losses/test_losses_without_labels.py``,
ported to ``dml.losses``.

The logic is PML's (commit 216a792): a loss that needs labels only to
build pairs gives the same value from a miner's ``indices_tuple`` without
labels (with or without ``ref_emb=emb``, which is no reference), refuses a
call with neither, and a classifier-like loss refuses ``indices_tuple``
without labels. The imports point at dml; the adaptations are listed in
tests/peers/README.md ("PML losses (existing classes)", adaptation 10) and
marked below.
"""
import unittest

import torch

from dml import losses
from dml.miners import MultiSimilarityMiner, TripletMarginMiner
from dml.losses import all_pairs as get_all_pairs_indices

from _pml_testing_utils import TEST_DEVICE


# adaptation 10 (README): the lists keep the losses dml has; PML's others
# (IntraPairVariance, GeneralizedLiftedStructure, Margin, SignalToNoise-
# RatioContrastive, TupletMargin; Angular, FastAP, Instance,
# LargeMarginSoftmax, NCA, NormalizedSoftmax, ProxyNCA, SoftTriple,
# SphereFace, SubCenterArcFace) are not in dml
def get_compatible_losses():
    return [
        losses.CircleLoss(),
        losses.ContrastiveLoss(),
        losses.LiftedStructureLoss(),
        losses.MultiSimilarityLoss(),
        losses.NTXentLoss(),
        losses.SupConLoss(),
        losses.TripletMarginLoss(),
    ]


def get_incompatible_losses():
    return [
        losses.ArcFaceLoss(10, 32),
        losses.CosFaceLoss(10, 32),
        losses.NPairsLoss(),
        losses.ProxyAnchorLoss(10, 32),
    ]


class TestLossesWithoutLabels(unittest.TestCase):
    def test(self):
        emb = torch.randn(32, 32, device=TEST_DEVICE)
        labels = torch.randint(0, 10, size=(32,), device=TEST_DEVICE)
        pairs1 = get_all_pairs_indices(labels)
        pairs2 = MultiSimilarityMiner()(emb, labels)
        pairs3 = TripletMarginMiner()(emb, labels)
        compatible_losses = get_compatible_losses()
        incompatible_losses = get_incompatible_losses()

        for p in [pairs1, pairs2, pairs3]:
            for loss_fn in compatible_losses:
                loss_with_labels = loss_fn(emb, labels, p)
                loss_without_labels1 = loss_fn(emb, indices_tuple=p)
                loss_without_labels2 = loss_fn(emb, indices_tuple=p, ref_emb=emb)
                self.assertEqual(loss_with_labels.item(), loss_without_labels1.item())
                self.assertEqual(loss_with_labels.item(), loss_without_labels2.item())

            for loss_fn in compatible_losses:
                with self.assertRaises(ValueError):
                    loss_fn(emb)
                with self.assertRaises(ValueError):
                    loss_fn(emb, ref_emb=emb)

            for loss_fn in incompatible_losses:
                loss_fn(emb, labels)  # should work
                with self.assertRaises(ValueError):
                    loss_fn(emb, indices_tuple=p)
