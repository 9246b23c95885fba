"""Chapter 4's explorer: which triplets each miner picks from a batch."""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ..datasets import drug_compounds
from ..distances import euclidean_matrix
from ..losses import all_triplets
from ..miners import (TRIPLET_TYPES, BatchHardMiner, SemiHardMiner,
                      TripletMarginMiner, triplet_type_codes)
from ._base import LABEL_STYLE, Explorer

__all__ = ["MiningExplorer", "TYPE_COLORS"]

TYPE_COLORS = {"hard": "#d62728", "semi-hard": "#ff7f0e", "easy": "#2ca02c"}


class MiningExplorer(Explorer):
    """Which triplets of a batch each mining strategy picks.

    Taught in :doc:`chapter 4 </book/chapters/04_mining>`. The batch is P classes x K drug compounds (raw descriptors, so many
    triplets are hard). Every valid triplet is a point (d(a,p), d(a,n)),
    coloured by its type under the current margin (chapter 4's table,
    :func:`dml.miners.classify_triplets`); the triplets the chosen miner
    returns are ringed in black. The bar chart counts the types.
    """

    # the static book: 5 margins x every miner (the page-weight budget)
    STATIC_GRID = {"margin": [0.25, 0.5, 1.0, 2.0, 4.0]}

    STRATEGIES = {
        "all triplets": lambda m: None,
        "semi-hard (FaceNet)": lambda m: SemiHardMiner(margin=m,
                                                       fallback="skip"),
        "batch-hard": lambda m: BatchHardMiner(distance="euclidean"),
        "hard only": lambda m: TripletMarginMiner(m, "hard", "euclidean"),
        "easy only": lambda m: TripletMarginMiner(m, "easy", "euclidean"),
    }

    def __init__(self, P: int = 4, K: int = 6, seed: int = 0):
        import ipywidgets as widgets
        import torch
        X, y, _ = drug_compounds(seed=seed)
        rng = np.random.default_rng(seed)
        idx = np.concatenate([rng.choice(np.flatnonzero(y == c), K,
                                         replace=False) for c in range(P)])
        self.E = torch.as_tensor(X[idx])                         # (B, D)
        self.labels = torch.as_tensor(y[idx])                    # (B,)
        a, p, n = all_triplets(self.labels)
        D = euclidean_matrix(self.E)                             # (B, B)
        self.triplets = (a, p, n)
        self.d_ap, self.d_an = D[a, p].numpy(), D[a, n].numpy()  # (T,)
        self._D = D
        super().__init__({
            "margin": widgets.FloatSlider(value=1.0, min=0.0, max=4.0,
                                          step=0.1, description="margin m",
                                          style=LABEL_STYLE),
            "strategy": widgets.Dropdown(options=list(self.STRATEGIES),
                                         value="all triplets",
                                         description="miner",
                                         style=LABEL_STYLE),
        })

    def compute(self, margin: float, strategy: str) -> dict:
        codes = triplet_type_codes(self.d_ap, self.d_an, margin)    # (T,)
        counts = {name: int((codes == c).sum())
                  for c, name in enumerate(TRIPLET_TYPES)}
        miner = self.STRATEGIES[strategy](margin)
        if miner is None:
            mined = np.ones(len(codes), dtype=bool)
        else:
            a, p, n = (t.numpy() for t in miner(self.E, self.labels))
            B = len(self.labels)
            key = lambda a, p, n: (a * B + p) * B + n           # noqa: E731
            mined = np.isin(key(*(t.numpy() for t in self.triplets)),
                            key(a, p, n))
        return {"margin": margin, "strategy": strategy, "codes": codes,
                "counts": counts, "mined": mined,
                "mined_counts": {name: int(((codes == c) & mined).sum())
                                 for c, name in enumerate(TRIPLET_TYPES)}}

    def draw(self, state: dict):
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4),
                                       gridspec_kw={"width_ratios": [3, 2]})
        codes, mined, m = state["codes"], state["mined"], state["margin"]
        for c, name in enumerate(TRIPLET_TYPES):
            sel = codes == c
            ax1.scatter(self.d_ap[sel], self.d_an[sel], s=6, alpha=0.35,
                        color=TYPE_COLORS[name], label=name)
        if not mined.all():
            ax1.scatter(self.d_ap[mined], self.d_an[mined], s=22,
                        facecolors="none", edgecolors="k", lw=0.7,
                        label="mined")
        top = float(max(self.d_ap.max(), self.d_an.max())) * 1.05
        line = np.array([0.0, top])
        ax1.plot(line, line, "k--", lw=0.8)
        ax1.plot(line, line + m, "k:", lw=0.8)
        ax1.set(xlim=(0, top), ylim=(0, top), xlabel="d(a, p)",
                ylabel="d(a, n)", title=f"{state['strategy']}: "
                f"{int(mined.sum())} of {len(mined)} triplets")
        ax1.legend(fontsize=9, loc="lower right")
        names = list(TRIPLET_TYPES)
        ax2.bar(names, [state["counts"][k] for k in names],
                color=[TYPE_COLORS[k] for k in names], alpha=0.4,
                label="in the batch")
        ax2.bar(names, [state["mined_counts"][k] for k in names],
                color=[TYPE_COLORS[k] for k in names], label="mined")
        ax2.set(title=f"triplet types at m = {m:.1f}", ylabel="count")
        ax2.legend(fontsize=9)
        fig.tight_layout()
        return fig
