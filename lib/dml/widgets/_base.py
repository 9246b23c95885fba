"""The explorer pattern shared by every chapter's widget (see the package
docstring): controls -> compute -> draw, with a display handle; in the
static book, precomputed frames behind plain HTML controls (_static.py)."""
from __future__ import annotations

import matplotlib.pyplot as plt

from ._static import STATIC_NOTE, static_html, static_mode

__all__ = ["Explorer", "LABEL_STYLE", "STATIC_NOTE"]

LABEL_STYLE = {"description_width": "initial"}   # labels not cut off


class Explorer:
    """Base class: holds controls, recomputes and redraws on every change.

    Taught in every chapter, through one subclass each:
    :class:`NoiseWeightExplorer` (:doc:`chapter 1
    </book/chapters/01_distances>`), :class:`LMNNExplorer` (:doc:`chapter 2
    </book/chapters/02_linear>`), :class:`LossLandscapeExplorer`
    (:doc:`chapter 3 </book/chapters/03_deep_losses>`),
    :class:`MiningExplorer` (:doc:`chapter 4 </book/chapters/04_mining>`),
    :class:`MultiTaskWeightExplorer` (:doc:`chapter 5
    </book/chapters/05_multitask>`), :class:`ROCExplorer` (:doc:`chapter 6
    </book/chapters/06_evaluation>`) and :class:`UniformityExplorer`
    (:doc:`chapter 7 </book/chapters/07_weak>`). A subclass turns control
    values into numbers (``compute``) and numbers into a figure (``draw``).

    In Jupyter, Binder or Colab, ``show()`` displays live ipywidgets
    controls, and moving one recomputes and redraws the figure on the
    kernel. The static HTML book has no kernel: while it is built
    (``DML_STATIC_EXPLORERS=1``, set by scripts/book.sh) ``show()`` draws
    the figure once for every point of a small grid of control values and
    writes plain HTML controls whose JavaScript swaps in the precomputed
    frame for the values chosen (dml/widgets/_static.py). Every control on
    the page changes the figure; values between grid points are not
    offered.

    ``STATIC_GRID`` ({control: values}) chooses the values a control offers
    in the static book; controls it leaves out get all their options or
    evenly spaced slider values (``_static.static_grid``).
    """

    STATIC_GRID: dict = {}

    def __init__(self, controls: dict):
        self.controls = controls
        self._handle = None
        for widget in controls.values():
            widget.observe(self._on_change, names="value")
        self.update()

    @property
    def values(self) -> dict:
        return {name: w.value for name, w in self.controls.items()}

    def compute(self, **values) -> dict:          # pragma: no cover
        raise NotImplementedError

    def draw(self, state: dict):                  # pragma: no cover
        raise NotImplementedError

    def update(self):
        """Recompute the state and redraw the figure from the controls."""
        self.state = self.compute(**self.values)
        self.figure = self.draw(self.state)
        # Closed at once: pyplot must not show it again at the end of some
        # later cell. A closed figure still renders through the handle.
        plt.close(self.figure)
        if self._handle is not None:
            self._handle.update(self.figure)

    def _on_change(self, _change):
        self.update()

    def show(self):
        """Display the controls and the figure: live ipywidgets on a
        kernel; precomputed frames behind HTML controls while the static
        book is built (``DML_STATIC_EXPLORERS=1``)."""
        from IPython.display import HTML, display
        if static_mode():
            display(HTML(static_html(self)))
            return
        import ipywidgets as widgets
        display(widgets.VBox(list(self.controls.values())))
        self._handle = display(self.figure, display_id=True)
