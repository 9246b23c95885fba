"""Miners: choose index tuples (pairs or triplets) from a batch.

A miner is called as ``miner(embeddings, labels)`` and returns triplets
``(a, p, n)`` or pairs ``(a1, p, a2, n)`` as int64 tensors on the
embeddings' device, which every loss of :mod:`dml.losses` accepts as
``indices_tuple``. Mining runs under ``torch.no_grad()`` on the (B, B)
dissimilarity matrix (smaller = closer; for ``distance="cosine"`` it is
-cos, see ``dml/miners/_base.py``).

* ``classify.py``   hard / semi-hard / easy (Schroff et al. 2015)
* ``exhaustive.py`` all pairs, all triplets, batch-all, TripletMarginMiner
* ``hard.py``       batch-hard, semi-hard, hardest negative (O(B^2))
* ``weighted.py``   distance-weighted sampling
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

__all__ = ["DISTANCES", "Miner", "TRIPLET_TYPES", "HARD", "SEMIHARD", "EASY",
           "classify_triplets", "triplet_type_codes", "AllPairsMiner",
           "AllTripletsMiner", "BatchAllMiner", "TripletMarginMiner",
           "TRIPLET_MARGIN_TYPES",
           "BatchHardMiner", "SemiHardMiner", "HardestNegativeMiner",
           "hardest_negatives", "semihard_negatives",
           "DistanceWeightedMiner", "sphere_distance_log_density",
           "RandomTripletMiner"]
