"""Losses of deep metric learning (book, chapters 3, 4 and 7).

Each loss comes twice: a function on explicit inputs (distances,
similarities or logits, as the book's formula has them) and a
``torch.nn.Module`` called as ``loss(embeddings, labels, indices_tuple)``,
where ``indices_tuple`` is an optional miner's output (``dml.miners``).
Class names, arguments and defaults are pytorch-metric-learning 2.9's (its
``loss(embeddings, labels, indices_tuple, ref_emb, ref_labels)``, its
``distance=`` objects from ``dml.distances`` and its common reducers), so
code switches between the two by changing the import; each docstring
names the paper and the pml class its defaults follow. The files::

    pair.py              contrastive (Hadsell et al., 2006)
    triplet.py           triplet margin, soft margin
    softmax.py           N-pairs, InfoNCE, NT-Xent
    lifted.py            lifted structure (Oh Song et al., 2016)
    multi_similarity.py  multi-similarity (Wang et al., 2019)
    proxy.py             proxy-anchor (Kim et al., 2020)
    arcface.py           additive angular margin (Deng et al., 2019)
    cosface.py           additive cosine margin (Wang et al., 2018)
    margin_softmax.py    what ArcFace and CosFace share (W, get_logits)
    supcon.py            supervised contrastive (Khosla et al., 2020)
    circle.py            circle loss (Sun et al., 2020)
    cross_batch_memory.py  XBM, a memory of past batches (Wang et al., 2020)
    multitask.py         weighted sums of losses, per-task gradients,
                         uncertainty weights, PCGrad
    weak.py              uniformity and locality penalties (Chen & Verma)
    _base.py             the base class: distance, reducer, ref_emb
    _tuples.py           pairs, triplets and their conversions
    _distance.py         distance objects from names, and their direction
    _reduce.py           reductions, reducers, a masked, stable logsumexp
"""
from ._base import BaseMetricLoss
from ._distance import DISTANCE_NAMES, resolve_distance
from ._reduce import (REDUCTIONS, AvgNonZeroReducer, DoNothingReducer,
                      MeanReducer, SumReducer, masked_logsumexp,
                      reduce_terms)
from ._tuples import (all_pairs, all_triplets, anchor_chunks,
                      indices_to_masks, pair_masks, pairs_to_triplets,
                      triplets_to_pairs, valid_triplet_count)
from .arcface import ArcFaceLoss, arcface_logits, arcface_loss
from .circle import CircleLoss, circle_loss
from .cosface import CosFaceLoss, cosface_logits, cosface_loss
from .cross_batch_memory import CrossBatchMemory, remove_self_comparisons
from .lifted import LiftedStructureLoss, lifted_structure_loss
from .multi_similarity import MultiSimilarityLoss, multi_similarity_loss
from .multitask import (MultiTaskLoss, dominant_by_gradient,
                        multitask_loss, pcgrad, task_gradient_norms,
                        task_gradients, uncertainty_optimum,
                        weighted_gradient_norms)
from .pair import ContrastiveLoss, contrastive_loss
from .proxy import ProxyAnchorLoss, proxy_anchor_loss
from .softmax import NPairsLoss, NTXentLoss, info_nce_loss, npairs_loss
from .supcon import SupConLoss, supcon_loss
from .triplet import TripletMarginLoss, triplet_loss
from .weak import (locality_penalty, tsne_affinities, uniformity_penalty,
                   weak_contrastive_loss)

__all__ = [
    "contrastive_loss", "ContrastiveLoss",
    "triplet_loss", "TripletMarginLoss",
    "info_nce_loss", "npairs_loss", "NTXentLoss", "NPairsLoss",
    "lifted_structure_loss", "LiftedStructureLoss",
    "multi_similarity_loss", "MultiSimilarityLoss",
    "proxy_anchor_loss", "ProxyAnchorLoss",
    "arcface_logits", "arcface_loss", "ArcFaceLoss",
    "supcon_loss", "SupConLoss", "circle_loss", "CircleLoss",
    "cosface_logits", "cosface_loss", "CosFaceLoss",
    "CrossBatchMemory", "remove_self_comparisons",
    "multitask_loss", "MultiTaskLoss", "task_gradients",
    "task_gradient_norms", "weighted_gradient_norms",
    "dominant_by_gradient", "uncertainty_optimum", "pcgrad",
    "uniformity_penalty", "tsne_affinities", "locality_penalty",
    "weak_contrastive_loss",
    "all_pairs", "all_triplets", "pair_masks", "indices_to_masks",
    "triplets_to_pairs", "pairs_to_triplets", "valid_triplet_count",
    "anchor_chunks", "BaseMetricLoss", "resolve_distance", "DISTANCE_NAMES",
    "AvgNonZeroReducer", "MeanReducer", "SumReducer", "DoNothingReducer",
    "reduce_terms", "masked_logsumexp", "REDUCTIONS",
]
