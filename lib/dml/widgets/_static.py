"""Explorers in a page without a kernel: precomputed frames, live controls.

A static HTML book has no Python behind it, so an ipywidgets slider there
would move and change nothing. Instead, when the book is built
(``DML_STATIC_EXPLORERS=1``, set by ``scripts/book.sh``), an explorer's
``show()`` draws its figure once for every point of a small grid of control
values and writes plain HTML controls (``<input type="range">``,
``<select>``) with a few lines of JavaScript that swap in the precomputed
frame for the values chosen. Every control on the page changes the figure;
values between grid points are not offered. In Jupyter, Binder or Colab
the same explorer runs live on the kernel (``Explorer.show``).

The idea is the one of server-less explainers (Distill, MLU-Explain):
compute ahead, redraw in the browser. Frames are PNGs at 1.6 times an
800 px column's resolution, quantised to 64 colours to keep pages light.
"""
from __future__ import annotations

import base64
import html
import io
import itertools
import json
import os
import uuid

import numpy as np

__all__ = ["static_mode", "static_grid", "render_frames", "static_html",
           "MAX_FRAMES", "MAX_BYTES", "FRAME_DPI", "STATIC_NOTE"]

# The page-weight budget: at most MAX_FRAMES frames and MAX_BYTES of them
# per explorer (a frame is 20-45 kB), against the 3.5 MB of widget
# JavaScript that a page with live ipywidgets loads.
MAX_FRAMES = 40
MAX_BYTES = 1_500_000
FRAME_DPI = 130       # a 10-inch figure is 1 300 px: 1.6x an 800 px column
COLOURS = 64          # quantised: a third of the size, no visible banding
STATIC_NOTE = ("Precomputed when the book was built: {n} figures, one for "
               "each combination of the values offered. Run this notebook "
               "(download or launch it from the top of the page) to choose "
               "any value.")


def static_mode() -> bool:
    """True while the book is being built into static HTML."""
    return os.environ.get("DML_STATIC_EXPLORERS", "") not in ("", "0")


def _options(widget) -> list | None:
    """The values a selection-type control offers, or None."""
    values = getattr(widget, "_options_values", None)   # ipywidgets 8
    return None if values is None else list(values)


def _slider_values(widget, n: int) -> list:
    """n values from the slider's range, on its step, with its default."""
    lo, hi, step = widget.min, widget.max, widget.step
    snapped = lo + np.round((np.linspace(lo, hi, n) - lo) / step) * step
    nearest = int(np.argmin(np.abs(snapped - widget.value)))
    if isinstance(widget.value, (int, np.integer)):
        cast = int
    else:
        cast = lambda v: round(float(v), 10)  # noqa: E731  (no 0.30000000000000004)
    values = {cast(v) for k, v in enumerate(snapped) if k != nearest}
    return sorted(values | {widget.value})


def static_grid(controls: dict, given: dict | None = None,
                max_frames: int = MAX_FRAMES) -> dict:
    """The values each control takes on the static page.

    ``given`` (an explorer's ``STATIC_GRID``) fixes some controls' values;
    a selection control (drop-down, selection slider, check box) takes all
    its options; a numeric slider takes evenly spaced values on its step,
    its default included, as many as fit ``max_frames`` frames in all.
    """
    given = dict(given or {})
    grid = {}
    sliders = []
    for name, widget in controls.items():
        if name in given:
            grid[name] = list(given[name])
        elif isinstance(widget.value, bool):
            grid[name] = [False, True]
        elif _options(widget) is not None:
            grid[name] = _options(widget)
        else:
            sliders.append(name)
    fixed = int(np.prod([len(v) for v in grid.values()])) if grid else 1
    for n in (13, 9, 7, 5, 3, 2):
        if fixed * n ** len(sliders) <= max_frames or n == 2:
            break
    for name in sliders:
        grid[name] = _slider_values(controls[name], n)
    for name, values in grid.items():
        if controls[name].value not in values:
            raise ValueError(
                f"STATIC_GRID[{name!r}] must contain the control's default "
                f"value {controls[name].value!r}")
    total = int(np.prod([len(v) for v in grid.values()]))
    if total > max_frames:
        raise ValueError(f"the static grid has {total} frames; the budget "
                         f"is {max_frames}: give STATIC_GRID fewer values")
    return {name: grid[name] for name in controls}


def legibility(figure) -> dict:
    """The frame's design width and smallest text, in CSS pixels (96 per
    inch), for the page script that keeps that text >= 9 px (figures.js)."""
    from ..plots import smallest_font_pt
    return {"design_width": round(figure.get_figwidth() * 96),
            "font_px": round(smallest_font_pt(figure) * 96 / 72, 2)}


def _png(figure) -> str:
    """A figure as a data URI: PNG at FRAME_DPI, COLOURS colours."""
    from PIL import Image
    raw = io.BytesIO()
    figure.savefig(raw, format="png", dpi=FRAME_DPI, facecolor="white")
    image = Image.open(raw).convert("RGB").quantize(
        colors=COLOURS, method=Image.Quantize.MEDIANCUT,
        dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, format="png", optimize=True)
    return "data:image/png;base64," + base64.b64encode(
        out.getvalue()).decode("ascii")


def _key(indices) -> str:
    return "-".join(str(i) for i in indices)


def render_frames(explorer, grid: dict) -> dict:
    """{key: data URI} for every combination of the grid's values; the key
    is the values' indices joined by '-', in the controls' order."""
    import matplotlib.pyplot as plt
    names = list(grid)
    combos = itertools.product(*(range(len(grid[n])) for n in names))
    frames = {}
    for idx in combos:
        values = {n: grid[n][i] for n, i in zip(names, idx)}
        figure = explorer.draw(explorer.compute(**values))
        frames[_key(idx)] = _png(figure)
        plt.close(figure)
    return frames


def _label(widget, name: str) -> str:
    return getattr(widget, "description", "") or name


def _shown(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


_SCRIPT = """
(function () {
  var root = document.getElementById(%(id)s);
  var data = JSON.parse(root.querySelector(".dml-explorer-data").textContent);
  var img = root.querySelector("img.dml-explorer-frame");
  var inputs = root.querySelectorAll("[data-control]");
  function show() {
    var key = [], said = [];
    inputs.forEach(function (el, i) {
      var k = parseInt(el.value, 10);
      key.push(k);
      var text = data.shown[i][k];
      var out = root.querySelector('output[data-for="' + i + '"]');
      if (out) out.textContent = text;
      said.push(data.labels[i] + " = " + text);
    });
    key = key.join("-");
    img.src = data.frames[key];
    img.dataset.key = key;
    img.alt = data.alt + " (" + said.join(", ") + ")";
  }
  inputs.forEach(function (el) { el.addEventListener("input", show); });
  show();
})();
"""

_STYLE = """<style>
.dml-explorer { margin: 0.5em 0 1em; }
.dml-explorer-controls { display: flex; flex-wrap: wrap; gap: 0.4em 1.5em;
  align-items: center; margin-bottom: 0.4em; font-size: 0.95em; }
.dml-explorer-controls label { display: flex; align-items: center;
  gap: 0.5em; }
.dml-explorer-controls input[type=range] { width: 11em; }
.dml-explorer-controls output { min-width: 3.5em;
  font-variant-numeric: tabular-nums; }
.dml-explorer-figure { overflow-x: auto; }
.dml-explorer-figure img { width: 100%; height: auto; }
.dml-explorer-note { font-size: 0.85em; color: var(--pst-color-text-muted); }
</style>"""


def static_html(explorer, frames: dict | None = None,
                grid: dict | None = None) -> str:
    """The explorer as self-contained HTML: controls, frames, script."""
    controls = explorer.controls
    grid = grid or static_grid(controls, getattr(explorer, "STATIC_GRID",
                                                 None))
    frames = frames or render_frames(explorer, grid)
    size = sum(len(f) for f in frames.values())
    if size > MAX_BYTES:
        raise ValueError(f"{type(explorer).__name__}: {len(frames)} frames "
                         f"take {size / 1e6:.1f} MB, over the budget of "
                         f"{MAX_BYTES / 1e6:.1f} MB: give STATIC_GRID "
                         "fewer values")
    names = list(grid)
    uid = "dml-explorer-" + uuid.uuid4().hex[:10]
    parts = []
    for i, name in enumerate(names):
        widget, values = controls[name], grid[name]
        label = html.escape(_label(widget, name))
        default = values.index(widget.value)
        if not type(widget).__name__.endswith("Slider"):   # menu
            options = "".join(
                f'<option value="{k}"{" selected" if k == default else ""}>'
                f"{html.escape(_shown(v))}</option>"
                for k, v in enumerate(values))
            parts.append(f'<label>{label} <select data-control="{i}" '
                         f'aria-label="{label}">{options}</select></label>')
        else:
            parts.append(
                f'<label>{label} <input type="range" data-control="{i}" '
                f'min="0" max="{len(values) - 1}" step="1" '
                f'value="{default}" aria-label="{label}">'
                f'<output data-for="{i}">{html.escape(_shown(widget.value))}'
                f"</output></label>")
    doc = (type(explorer).__doc__ or "").strip().split("\n")[0]
    data = {"frames": frames,
            "labels": [_label(controls[n], n) for n in names],
            "shown": [[_shown(v) for v in grid[n]] for n in names],
            "alt": doc or type(explorer).__name__}
    default_key = _key(grid[n].index(controls[n].value) for n in names)
    payload = json.dumps(data).replace("</", "<\\/")
    size = legibility(explorer.figure)
    note = STATIC_NOTE.format(n=len(frames))
    return (
        f'{_STYLE}<div class="dml-explorer" id="{uid}">'
        f'<div class="dml-explorer-controls">{"".join(parts)}</div>'
        f'<div class="dml-explorer-figure"><img class="dml-explorer-frame" '
        f'src="{frames[default_key]}" data-key="{default_key}" '
        f'data-design-width="{size["design_width"]}" '
        f'data-font-px="{size["font_px"]}" '
        f'alt="{html.escape(data["alt"])}"></div>'
        f'<p class="dml-explorer-note">{note}</p>'
        f'<script type="application/json" class="dml-explorer-data">'
        f"{payload}</script>"
        f"<script>{_SCRIPT % {'id': json.dumps(uid)}}</script></div>")
