"""Interactive explorers for the chapters (ipywidgets + matplotlib).

One module per chapter; the pattern lives in ``_base.py``.

Every explorer follows one pattern, so it can be tested without a browser:

* ``compute(**values) -> dict`` turns control values into numbers (pure);
* ``draw(state) -> Figure`` turns those numbers into a figure;
* ``show()`` displays the controls and the figure; moving a control
  recomputes and replaces the figure in place (an IPython display handle).

A static page has no kernel behind it, so while the book is built
(``DML_STATIC_EXPLORERS=1``) ``show()`` instead draws the figure for every
point of a small grid of control values (``STATIC_GRID``) and writes plain
HTML controls that swap in the precomputed frame (``_static.py``): every
control a reader sees changes the figure. Tests set
``explorer.controls[name].value`` and read ``explorer.state`` and
``explorer.figure``. Nothing else in ``dml`` imports this module.
"""
from ._base import LABEL_STYLE, STATIC_NOTE, Explorer
from .distances import NoiseWeightExplorer
from .evaluation import ROCExplorer
from .linear import LMNNExplorer
from .losses import LossLandscapeExplorer
from .mining import MiningExplorer
from .multitask import MultiTaskWeightExplorer
from .weak import UniformityExplorer

__all__ = ["Explorer", "NoiseWeightExplorer", "LMNNExplorer",
           "LossLandscapeExplorer", "MiningExplorer", "ROCExplorer",
           "UniformityExplorer", "MultiTaskWeightExplorer",
           "LABEL_STYLE", "STATIC_NOTE"]
