"""The explorer pattern shared by every chapter's widget (see the package
docstring): controls -> compute -> draw, with a display handle."""
from __future__ import annotations

import matplotlib.pyplot as plt

__all__ = ["Explorer", "LABEL_STYLE", "STATIC_NOTE"]

LABEL_STYLE = {"description_width": "initial"}   # labels not cut off
STATIC_NOTE = ("(Static page: this is the default setting. Run the notebook "
               "to move the controls.)")


class Explorer:
    """Base class: holds controls, recomputes and redraws on every change."""

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
        """Display the controls, the figure and the static-page note."""
        import ipywidgets as widgets
        from IPython.display import Markdown, display
        display(widgets.VBox(list(self.controls.values())))
        self._handle = display(self.figure, display_id=True)
        display(Markdown(f"*{STATIC_NOTE}*"))
