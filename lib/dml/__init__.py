"""dml: distance metric learning, the library behind the course.

The public API is flat: ``import dml`` then ``dml.pairwise_distances``,
``dml.knn_accuracy``, ``dml.drug_compounds`` ... Modules stack in floors
(see ARCHITECTURE.md): ``_arrays`` < ``distances`` < ``neighbors``;
``datasets`` stands alone.
"""
from .datasets import (DRUG_DISCRIMINATIVE, HierarchicalData, LabelledData,
                       animals, digits_coarse, drug_compounds, merged_blobs,
                       train_test_split)
from .distances import (METRICS, cosine_similarity, l2_normalize,
                        mahalanobis, paired_distances, pairwise_distances,
                        project_psd)
from .neighbors import knn_accuracy, knn_predict, nearest_neighbors

__version__ = "0.1.0"

__all__ = [
    "pairwise_distances", "paired_distances", "cosine_similarity",
    "mahalanobis", "project_psd", "l2_normalize", "METRICS",
    "nearest_neighbors", "knn_predict", "knn_accuracy",
    "drug_compounds", "animals", "merged_blobs", "digits_coarse",
    "train_test_split", "LabelledData", "HierarchicalData",
    "DRUG_DISCRIMINATIVE",
]
