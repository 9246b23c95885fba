"""dml: distance metric learning, the library behind the course.

The public API is flat: ``import dml`` then ``dml.pairwise_distances``,
``dml.knn_accuracy``, ``dml.drug_compounds`` ... Modules stack in floors
(see ARCHITECTURE.md): ``_arrays`` < ``distances`` < ``neighbors``,
``linear``, ``losses``, ``miners`` < ``metrics``, ``train``; ``datasets`` stands alone. ``dml.plots`` and
``dml.widgets`` (the top floor) are imported explicitly by the chapters.
"""
from .datasets import (DRUG_DISCRIMINATIVE, HierarchicalData, LabelledData,
                       animals, digits_coarse, drug_compounds, merged_blobs,
                       train_test_split)
from .distances import (METRICS, cosine_similarity, l2_normalize,
                        mahalanobis, paired_distances, pairwise_distances,
                        project_psd)
from .linear import (ITML, LMNN, NCA, Covariance, lmnn_loss_grad,
                     lmnn_target_neighbors, nca_loss_grad, nca_probabilities)
from .losses import (ArcFaceLoss, ContrastiveLoss, LiftedStructureLoss,
                     MultiSimilarityLoss, MultiTaskLoss, NPairsLoss,
                     NTXentLoss, ProxyAnchorLoss, TripletMarginLoss,
                     arcface_loss, contrastive_loss,
                     dominant_by_gradient, info_nce_loss,
                     lifted_structure_loss,
                     locality_penalty, multi_similarity_loss,
                     multitask_loss, npairs_loss, pcgrad,
                     proxy_anchor_loss, task_gradient_norms,
                     task_gradients, uncertainty_optimum,
                     weighted_gradient_norms,
                     triplet_loss, tsne_affinities, uniformity_penalty,
                     weak_contrastive_loss)
from .losses import (CircleLoss, CosFaceLoss, SupConLoss, circle_loss,
                     cosface_loss, supcon_loss)
from .losses import CrossBatchMemory
from .metrics import (auc, confusion_counts, context_sensitive_loss,
                      equal_error_rate, lca_height_table, map_at_r,
                      mean_average_precision, ndcg, neighborhood_purity,
                      operating_point, pair_scores, precision_at_k,
                      r_precision, recall_at_k, retrieval_report, roc_auc,
                      roc_curve, tpr_at_fpr, tpr_fpr)
from .miners import (TRIPLET_TYPES, AllPairsMiner, AllTripletsMiner,
                     BatchAllMiner, BatchHardMiner, DistanceWeightedMiner,
                     HardestNegativeMiner, RandomTripletMiner, SemiHardMiner,
                     TripletMarginMiner, classify_triplets,
                     triplet_type_codes)
from .miners import MultiSimilarityMiner
from .neighbors import knn_accuracy, knn_predict, nearest_neighbors
from .samplers import PKSampler
from .train import DigitsCNN, MLPEmbedder, embed, fit_embedding, paper_mlp

__version__ = "0.1.0"

__all__ = [
    "pairwise_distances", "paired_distances", "cosine_similarity",
    "mahalanobis", "project_psd", "l2_normalize", "METRICS",
    "nearest_neighbors", "knn_predict", "knn_accuracy",
    "drug_compounds", "animals", "merged_blobs", "digits_coarse",
    "train_test_split", "LabelledData", "HierarchicalData",
    "DRUG_DISCRIMINATIVE",
    # linear metric learning
    "Covariance", "LMNN", "NCA", "ITML", "lmnn_loss_grad",
    "lmnn_target_neighbors", "nca_loss_grad", "nca_probabilities",
    # losses
    "contrastive_loss", "ContrastiveLoss", "triplet_loss",
    "TripletMarginLoss", "info_nce_loss", "npairs_loss", "NTXentLoss",
    "NPairsLoss", "lifted_structure_loss", "LiftedStructureLoss",
    "multi_similarity_loss", "MultiSimilarityLoss", "proxy_anchor_loss",
    "ProxyAnchorLoss", "arcface_loss", "ArcFaceLoss", "multitask_loss",
    "MultiTaskLoss", "task_gradients", "task_gradient_norms",
    "weighted_gradient_norms", "dominant_by_gradient",
    "uncertainty_optimum", "pcgrad", "uniformity_penalty",
    "tsne_affinities", "locality_penalty", "weak_contrastive_loss",
    "supcon_loss", "SupConLoss", "circle_loss", "CircleLoss",
    "cosface_loss", "CosFaceLoss",
    # miners, samplers, training
    "classify_triplets", "triplet_type_codes", "TRIPLET_TYPES",
    "AllPairsMiner", "AllTripletsMiner", "BatchAllMiner", "BatchHardMiner",
    "SemiHardMiner", "HardestNegativeMiner", "TripletMarginMiner",
    "DistanceWeightedMiner", "RandomTripletMiner", "PKSampler",
    "MultiSimilarityMiner", "CrossBatchMemory",
    "fit_embedding", "embed", "MLPEmbedder", "paper_mlp", "DigitsCNN",
    # metrics
    "confusion_counts", "tpr_fpr", "roc_curve", "auc", "roc_auc",
    "operating_point", "tpr_at_fpr", "equal_error_rate", "pair_scores",
    "recall_at_k", "precision_at_k", "r_precision", "map_at_r",
    "mean_average_precision", "retrieval_report", "neighborhood_purity",
    "ndcg", "lca_height_table", "context_sensitive_loss",
]
