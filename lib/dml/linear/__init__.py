"""Linear metric learning: learn W (M = W^T W) from labels or pairs.

Book, chapter 2. Four scikit-learn estimators share one base class
(``_base.py``): :class:`Covariance` (the classical Mahalanobis distance),
:class:`LMNN`, :class:`NCA` and :class:`ITML`. The loss/gradient functions
of LMNN and NCA are public so the chapter and its exercises can call the
very code the estimators optimise.
"""
from .covariance import Covariance
from .itml import ITML
from .lmnn import LMNN, lmnn_loss_grad, lmnn_target_neighbors
from .nca import NCA, nca_loss_grad, nca_probabilities

__all__ = ["Covariance", "LMNN", "NCA", "ITML", "lmnn_loss_grad",
           "lmnn_target_neighbors", "nca_loss_grad", "nca_probabilities"]
