"""Evaluation metrics of the course (chapter 6 and every evaluation cell).

Three families, one module each:

* :mod:`.verification`  pairs scored by a similarity or a distance:
  confusion counts, TPR / FPR, ROC curve and AUC, TPR@FPR, EER;
  :mod:`.pairs` builds the genuine / impostor pairs of a labelled set;
* :mod:`.retrieval`     a query against a gallery (or leave-one-out):
  Recall@K, Precision@K, R-precision, MAP@R, MAP, k-NN accuracy;
* :mod:`.structure`     structure kept inside classes (Chen and Verma,
  *Weak Metric Learning*):
  neighbourhood purity, graded nDCG, context-sensitive loss.

Every metric is exact; each docstring gives its formula and the reference
implementation it agrees with (scikit-learn or pytorch-metric-learning).
"""
from .pairs import PairScores, pair_scores, upper_pair_index
from .retrieval import (knn_accuracy, map_at_r, mean_average_precision,
                        precision_at_k, r_precision, recall_at_k,
                        retrieval_report)
from .structure import (context_sensitive_loss, lca_height_table, ndcg,
                        neighborhood_purity)
from .verification import (OperatingPoint, auc, confusion_counts,
                           equal_error_rate, operating_point, roc_auc,
                           roc_curve, tpr_at_fpr, tpr_fpr)

__all__ = [
    "confusion_counts", "tpr_fpr", "roc_curve", "auc", "roc_auc",
    "OperatingPoint", "operating_point", "tpr_at_fpr", "equal_error_rate",
    "PairScores", "pair_scores", "upper_pair_index",
    "recall_at_k", "precision_at_k", "r_precision", "map_at_r",
    "mean_average_precision", "retrieval_report", "knn_accuracy",
    "neighborhood_purity", "ndcg", "lca_height_table",
    "context_sensitive_loss",
]
