"""Small ready-made embedding networks for the course's data sets.

* :class:`MLPEmbedder` - any MLP, L2-normalised output by default (the
  drug-compound case study's 2-layer net is ``MLPEmbedder(12, 32, 2)``);
* :func:`paper_mlp`   - Chen & Verma's d-128-128-64-64-2 fully connected net;
* :class:`DigitsCNN`  - Chen & Verma's 3-conv + 3-FC net, sized for 8 x 8
  digits (scikit-learn's, :func:`dml.digits_coarse`).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .._arrays import check_positive_int

__all__ = ["MLPEmbedder", "paper_mlp", "DigitsCNN"]


def _hidden_sizes(hidden) -> tuple:
    if isinstance(hidden, (int,)) and not isinstance(hidden, bool):
        hidden = (hidden,)
    if not isinstance(hidden, Sequence):
        raise ValueError(f"hidden must be an int or a sequence of ints, got "
                         f"{hidden!r}.")
    return tuple(check_positive_int(h, "hidden") for h in hidden)


class MLPEmbedder(nn.Module):
    r"""x -> Linear -> ReLU -> ... -> Linear -> (x / ||x||) embedding.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`, used in
    chapters 4, 6 and 7:

    .. math::

       f(x) = \frac{h(x)}{\lVert h(x) \rVert},

       h = W_L \circ \mathrm{ReLU} \circ \dots \circ
           \mathrm{ReLU} \circ W_1 .

    Parameters
    ----------
    in_dim : int
        Input features D.
    hidden : int or tuple of int
        Width of each hidden layer (an int for one layer, a tuple for
        several, ``()`` for a linear map x -> W x).
    out_dim : int
        Embedding dimension.
    normalize : bool
        L2-normalise the output onto the unit sphere (then
        ||u - v||^2 = 2 - 2 cos(u, v), and distances are at most 2).
    """

    def __init__(self, in_dim: int, hidden=(64,), out_dim: int = 2,
                 normalize: bool = True):
        super().__init__()
        sizes = (check_positive_int(in_dim, "in_dim"),
                 *_hidden_sizes(hidden),
                 check_positive_int(out_dim, "out_dim"))
        layers = []
        for i in range(len(sizes) - 1):           # loop over layers
            layers.append(nn.Linear(sizes[i], sizes[i + 1]))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.net = nn.Sequential(*layers)
        self.normalize = bool(normalize)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.net(x)                                       # (N, out)
        return F.normalize(z, dim=1) if self.normalize else z


def paper_mlp(in_dim: int, out_dim: int = 2,
              normalize: bool = False) -> MLPEmbedder:
    """Chen & Verma's net for non-image data: d-128-128-64-64-2 with ReLU.

    From *Weak Metric Learning*, section 4.3, the paper taught in :doc:`chapter
    7 </book/chapters/07_weak>` (the chapter trains smaller nets).

    Chen & Verma (weak metric learning) train it with a contrastive loss on
    raw (not normalised) 2-D outputs, hence ``normalize=False``.
    """
    return MLPEmbedder(in_dim, (128, 128, 64, 64), out_dim, normalize)


def _conv_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1),
                         nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2))


class DigitsCNN(nn.Module):
    """Chen & Verma's image net (4.3) for 8 x 8 digits: 3 conv + 3 FC layers.

    From the paper taught in :doc:`chapter 7 </book/chapters/07_weak>` (the
    chapter trains smaller nets).

    Conv 3x3 (16, 32, 64 filters, padding 1) each followed by BatchNorm,
    ReLU and 2x2 max pooling: 8x8 -> 4x4 -> 2x2 -> 1x1, then FC
    64 -> 128 -> 64 -> out_dim with ReLU between. Departure from the paper:
    its first FC layer takes 64 x 3 x 3 inputs (28 x 28 images); ours takes
    64 x 1 x 1. Accepts (N, 64) rows (as in :func:`dml.digits_coarse`) or
    (N, 1, 8, 8) images.
    """

    def __init__(self, out_dim: int = 2, normalize: bool = False):
        super().__init__()
        out_dim = check_positive_int(out_dim, "out_dim")
        self.features = nn.Sequential(_conv_block(1, 16), _conv_block(16, 32),
                                      _conv_block(32, 64))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(),
                                  nn.Linear(128, 64), nn.ReLU(),
                                  nn.Linear(64, out_dim))
        self.normalize = bool(normalize)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 2:
            if x.shape[1] != 64:
                raise ValueError(f"DigitsCNN takes (N, 64) rows or (N, 1, 8,"
                                 f" 8) images, got shape {tuple(x.shape)}.")
            x = x.reshape(-1, 1, 8, 8)                        # (N, 1, 8, 8)
        z = self.head(self.features(x))                       # (N, out)
        return F.normalize(z, dim=1) if self.normalize else z
