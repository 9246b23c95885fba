"""dml.widgets._static: explorers as precomputed frames for the static book.

The browser test (test_browser.py) moves the controls of every chapter's
explorer in the built pages; these tests check the pieces on a tiny
explorer, without a browser.
"""
import json
import re

import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from dml.widgets import Explorer  # noqa: E402
from dml.widgets import _static  # noqa: E402


class Line(Explorer):
    """A line whose slope and colour the reader chooses."""

    def __init__(self, grid=None):
        if grid is not None:
            self.STATIC_GRID = grid
        super().__init__({
            "slope": widgets.FloatSlider(value=0.5, min=0.0, max=2.0,
                                         step=0.25, description="slope"),
            "colour": widgets.Dropdown(options=["C0", "C3"], value="C0",
                                       description="colour"),
            "n": widgets.IntSlider(value=3, min=1, max=9, description="n"),
            "dashed": widgets.Checkbox(value=False, description="dashed")})
        self.calls = 0

    def compute(self, slope, colour, n, dashed):
        self.calls = getattr(self, "calls", 0) + 1
        return {"slope": slope, "colour": colour, "n": n, "dashed": dashed}

    def draw(self, state):
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([0, state["n"]], [0, state["slope"] * state["n"]],
                color=state["colour"], ls="--" if state["dashed"] else "-")
        return fig


def test_grid_takes_every_option_and_spaced_slider_values_with_defaults():
    grid = _static.static_grid(Line().controls)
    assert list(grid) == ["slope", "colour", "n", "dashed"]
    assert grid["colour"] == ["C0", "C3"]
    assert grid["dashed"] == [False, True]
    assert 0.5 in grid["slope"] and 3 in grid["n"]
    assert all(isinstance(v, int) for v in grid["n"])
    assert all(abs(v / 0.25 - round(v / 0.25)) < 1e-9 for v in grid["slope"])
    total = len(grid["slope"]) * 2 * len(grid["n"]) * 2
    assert total <= _static.MAX_FRAMES


def test_a_given_grid_is_used_and_must_hold_the_default():
    ex = Line(grid={"slope": [0.0, 0.5, 1.0], "n": [3]})
    grid = _static.static_grid(ex.controls, ex.STATIC_GRID)
    assert grid["slope"] == [0.0, 0.5, 1.0] and grid["n"] == [3]
    with pytest.raises(ValueError, match="must contain the control's "
                                         "default value 0.5"):
        _static.static_grid(ex.controls, {"slope": [0.0, 1.0]})
    with pytest.raises(ValueError, match="budget is 4"):
        _static.static_grid(ex.controls, {"n": [1, 2, 3]}, max_frames=4)


def test_html_holds_one_frame_per_combination_and_controls_for_each():
    ex = Line(grid={"slope": [0.0, 0.5, 2.0], "n": [3]})
    page = _static.static_html(ex)
    data = json.loads(re.search(
        r'<script type="application/json" class="dml-explorer-data">'
        r"(.*?)</script>", page, re.S).group(1))
    assert len(data["frames"]) == 3 * 2 * 1 * 2
    assert set(data["frames"]) == {f"{a}-{b}-0-{d}" for a in range(3)
                                   for b in range(2) for d in range(2)}
    assert all(f.startswith("data:image/png;base64,")
               for f in data["frames"].values())
    # frames differ where the figure does
    assert data["frames"]["0-0-0-0"] != data["frames"]["2-0-0-0"]
    assert data["frames"]["1-0-0-0"] != data["frames"]["1-1-0-0"]
    # the default frame is shown first; sliders are ranges, menus selects
    assert 'data-key="1-0-0-0"' in page
    assert page.count('type="range"') == 2
    assert page.count("<select") == 2
    assert data["shown"][0] == ["0", "0.5", "2"]
    assert "A line whose slope" in data["alt"]
    assert "6 figures" not in page and "12 figures" in page


def test_over_budget_frames_are_refused(monkeypatch):
    monkeypatch.setattr(_static, "MAX_BYTES", 1000)
    with pytest.raises(ValueError, match="over the budget"):
        _static.static_html(Line(grid={"slope": [0.5], "n": [3]}))


def test_show_writes_static_html_in_the_book_build_and_widgets_otherwise(
        monkeypatch):
    shown = []
    monkeypatch.setattr("IPython.display.display",
                        lambda obj, **kw: shown.append(obj))
    ex = Line(grid={"slope": [0.5], "n": [3], "dashed": [False]})
    monkeypatch.setenv("DML_STATIC_EXPLORERS", "1")
    assert _static.static_mode()
    ex.show()
    assert len(shown) == 1 and 'class="dml-explorer"' in shown[0].data
    shown.clear()
    monkeypatch.setenv("DML_STATIC_EXPLORERS", "0")
    assert not _static.static_mode()
    ex.show()
    assert isinstance(shown[0], widgets.VBox)
