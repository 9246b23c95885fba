"""Interactive explorers for the chapters (ipywidgets + matplotlib).

One module per chapter; the pattern lives in ``_base.py``.

Every explorer follows one pattern, so it can be tested without a browser:

* ``compute(**values) -> dict`` turns control values into numbers (pure);
* ``draw(state) -> Figure`` turns those numbers into a figure;
* ``show()`` displays the controls and the figure; moving a control
  recomputes and replaces the figure in place (an IPython display handle).

The figure is an ordinary image output, not a widget, so the static HTML
book shows the default figure even where no widget JavaScript runs; a note
under it tells the reader to run the notebook to move the sliders. Tests set
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
