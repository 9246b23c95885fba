"""pytorch-metric-learning's test helpers, for the ported PML tests.

From PML 2.9 (commit 216a792): ``tests/zzz_testing_utils/testing_utils.py``
(``angle_to_coord``) and ``tests/losses/utils.py``
(``get_pair_embeddings_with_ref``, ``get_triplet_embeddings_with_ref``),
unchanged except for the imports. ``TEST_DEVICE`` and ``TEST_DTYPES``
replace PML's ``tests/__init__.py``: the CPU (PML's default is "cuda")
and its three dtypes.
"""
import numpy as np
import torch

TEST_DEVICE = torch.device("cpu")
TEST_DTYPES = [torch.float16, torch.float32, torch.float64]


def angle_to_coord(angle, normalized=False):
    # multiply to unnormalize
    x = np.cos(np.radians(angle))
    y = np.sin(np.radians(angle))
    if not normalized:
        x *= 2
        y *= 0.5
    return x, y


def get_triplet_embeddings_with_ref(dtype, device):
    embeddings = torch.randn(4, 32, requires_grad=True, device=device, dtype=dtype)
    embeddings = torch.nn.functional.normalize(embeddings)
    labels = torch.LongTensor([0, 0, 1, 1])

    ref_emb = torch.randn(3, 32, requires_grad=True, device=device, dtype=dtype)
    ref_emb = torch.nn.functional.normalize(ref_emb)
    ref_labels = torch.LongTensor([0, 1, 2])

    triplets = [
        (0, 0, 1),
        (0, 0, 2),
        (1, 0, 1),
        (1, 0, 2),
        (2, 1, 0),
        (2, 1, 2),
        (3, 1, 0),
        (3, 1, 2),
    ]

    return embeddings, labels, ref_emb, ref_labels, triplets


def get_pair_embeddings_with_ref(dtype, device):
    embeddings = torch.randn(4, 32, requires_grad=True, device=device, dtype=dtype)
    embeddings = torch.nn.functional.normalize(embeddings)
    labels = torch.LongTensor([0, 0, 1, 1])

    ref_emb = torch.randn(3, 32, requires_grad=True, device=device, dtype=dtype)
    ref_emb = torch.nn.functional.normalize(ref_emb)
    ref_labels = torch.LongTensor([0, 1, 2])

    pos_pairs = [
        (0, 0),
        (1, 0),
        (2, 1),
        (3, 1),
    ]

    neg_pairs = [
        (0, 1),
        (0, 2),
        (1, 1),
        (1, 2),
        (2, 0),
        (2, 2),
        (3, 0),
        (3, 2),
    ]
    return embeddings, labels, ref_emb, ref_labels, pos_pairs, neg_pairs


# PML's tests/__init__.py default (WITH_COLLECT_STATS unset: "false") and
# tests/zzz_testing_utils/testing_utils.py, unchanged (H1, for the ports
# of the existing losses): dml's distances record no statistics, so with
# condition False the check asserts the attributes are absent (None).
WITH_COLLECT_STATS = False


def is_not_none_if_condition(cls, x, y, condition):
    for i in y:
        attr = getattr(x, i, None)
        if condition:
            cls.assertTrue(attr is not None)
        else:
            cls.assertTrue(attr is None)
