"""Training helpers: a seeded loop, an embedding helper and small models.

``fit_embedding(model, X, y, loss, miner)`` trains; ``embed(model, X)``
returns numpy embeddings for :func:`dml.knn_accuracy` and the metrics.
"""
from .coarse import train_coarse_classifier
from .loop import default_sampler, embed, fit_embedding
from .models import DigitsCNN, MLPEmbedder, paper_mlp

__all__ = ["fit_embedding", "embed", "default_sampler", "MLPEmbedder",
           "paper_mlp", "DigitsCNN", "train_coarse_classifier"]
