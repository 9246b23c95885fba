"""IPython startup file for the book build: figures a reader can read.

scripts/book.sh copies this file into the build kernel's IPYTHONDIR
(``profile_default/startup/``), so it runs before every chapter while the
book is built, and nowhere else. It changes how matplotlib figures become
images, not what the chapters compute:

* every figure is rendered at twice its own dpi and shown at its own size
  (the PNG's ``width``/``height`` metadata), so it is sharp on a
  high-resolution screen;
* the PNG carries a text description (axes titles and labels), which
  ``page_fixes`` turns into the image's alt text, and the size of its
  smallest text in design pixels, which the page uses to keep that text
  at 9 px or more on a phone (the figure then scrolls sideways) and the
  browser test uses to check it;
* fonts default to sizes that stay legible when a figure is shrunk to the
  column (nothing under 9 pt).
"""
import io

import matplotlib
from matplotlib.figure import Figure

matplotlib.rcParams.update({
    "font.size": 10, "axes.titlesize": 10.5, "axes.labelsize": 10,
    "xtick.labelsize": 9, "ytick.labelsize": 9, "legend.fontsize": 9,
    "legend.title_fontsize": 9, "figure.titlesize": 11})


def _png(fig: Figure):
    """(PNG bytes at 2x, metadata) for IPython's display machinery."""
    from dml.plots import describe_figure, smallest_font_pt
    dpi = fig.dpi
    smallest_px = smallest_font_pt(fig) / 72 * dpi
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=2 * dpi, bbox_inches="tight",
                facecolor="white",
                metadata={"Description": describe_figure(fig),
                          "dml:smallest-font-px": f"{smallest_px:.2f}"})
    data = buf.getvalue()
    # PNG header: width and height (big-endian) at bytes 16-24
    w = int.from_bytes(data[16:20], "big")
    h = int.from_bytes(data[20:24], "big")
    return data, {"width": w // 2, "height": h // 2}


def _use_ours(*_):
    """(Re-)register the formatter: importing pyplot under the inline
    backend installs its own for Figure, so do it before every cell."""
    get_ipython().display_formatter.formatters[  # noqa: F821
        "image/png"].for_type(Figure, _png)


try:
    get_ipython().events.register("pre_run_cell", _use_ours)  # noqa: F821
except NameError:        # not in IPython: nothing to do
    pass
else:
    # matplotlib loads its backend lazily, at the first figure, and the
    # inline backend then installs its formatter: load it now, so that a
    # figure shown in a chapter's first cell with one is ours too
    import matplotlib.pyplot as _plt
    _plt.close(_plt.figure())
    _use_ours()
