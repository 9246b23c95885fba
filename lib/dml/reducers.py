"""Reducers under pytorch-metric-learning's names (``reducers`` module).

``from dml import reducers`` then ``reducers.AvgNonZeroReducer()``, as a
PML user writes. The classes live in ``dml.losses._reduce``, next to
``reduce_terms``, which they call: ``reducer(terms, reference)`` reduces
a 1-D tensor of loss terms (the batch's embeddings as ``reference`` give
the zero-with-gradient of a batch without a term).
"""
from .losses._reduce import (AvgNonZeroReducer, BaseReducer,
                             DoNothingReducer, MeanReducer, SumReducer)

__all__ = ["BaseReducer", "AvgNonZeroReducer", "MeanReducer", "SumReducer",
           "DoNothingReducer"]
