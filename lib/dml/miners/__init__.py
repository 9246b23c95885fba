"""Miners: choose index tuples (pairs or triplets) from a batch.

A miner is called as ``miner(embeddings, labels)`` (or, with a reference
set, ``miner(embeddings, labels, ref_emb, ref_labels)``, as in
pytorch-metric-learning) and returns triplets
``(a, p, n)`` or pairs ``(a1, p, a2, n)`` as int64 tensors on the
embeddings' device, which every loss of :mod:`dml.losses` accepts as
``indices_tuple``. Mining runs under ``torch.no_grad()`` on the (B, B)
dissimilarity matrix (smaller = closer; for a similarity s it is -s, see
``dml/miners/_base.py``). ``distance`` is a :mod:`dml.distances` object or
a name; the miners named after pytorch-metric-learning's have its
defaults.

* ``classify.py``   hard / semi-hard / easy (Schroff et al. 2015)
* ``exhaustive.py`` all pairs, all triplets, batch-all, TripletMarginMiner
* ``hard.py``       batch-hard, semi-hard, hardest negative (O(B^2))
* ``weighted.py``   distance-weighted sampling
* ``multi_similarity.py`` multi-similarity pairs (Wang et al. 2019)
* ``random.py``     one random triplet per anchor (the baseline)
"""
from ._base import DISTANCES, Miner
from .classify import (EASY, HARD, SEMIHARD, TRIPLET_TYPES,
                       classify_triplets, triplet_type_codes)
from .exhaustive import (TRIPLET_MARGIN_TYPES, AllPairsMiner,
                         AllTripletsMiner, BatchAllMiner,
                         TripletMarginMiner)
from .hard import (BatchHardMiner, HardestNegativeMiner, SemiHardMiner,
                   hardest_negatives, semihard_negatives)
from .random import RandomTripletMiner
from .weighted import DistanceWeightedMiner, sphere_distance_log_density
from .multi_similarity import MultiSimilarityMiner, multi_similarity_pairs

__all__ = ["DISTANCES", "Miner", "TRIPLET_TYPES", "HARD", "SEMIHARD", "EASY",
           "classify_triplets", "triplet_type_codes", "AllPairsMiner",
           "AllTripletsMiner", "BatchAllMiner", "TripletMarginMiner",
           "TRIPLET_MARGIN_TYPES",
           "BatchHardMiner", "SemiHardMiner", "HardestNegativeMiner",
           "hardest_negatives", "semihard_negatives",
           "DistanceWeightedMiner", "sphere_distance_log_density",
           "RandomTripletMiner",
           "MultiSimilarityMiner", "multi_similarity_pairs"]
