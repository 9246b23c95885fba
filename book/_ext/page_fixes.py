"""Sphinx extension: small repairs to every HTML page of the book.

* Under Jupyter Book 1, sphinx-thebe and sphinx-togglebutton register their
  inline configuration scripts twice, and the second ``const THEBE_JS_URL``
  is a JavaScript error on every page. After the build, drop an inline
  ``<script>`` line of the page head that repeats an earlier one verbatim.
"""
import pathlib
import re

_INLINE = re.compile(r"^\s*<script>.*</script>\s*$")


def dedupe_head_scripts(html: str) -> str:
    """Remove repeated identical one-line inline scripts from <head>."""
    head_end = html.find("</head>")
    if head_end < 0:
        return html
    seen, lines = set(), []
    for line in html[:head_end].split("\n"):
        if _INLINE.match(line):
            if line.strip() in seen:
                continue
            seen.add(line.strip())
        lines.append(line)
    return "\n".join(lines) + html[head_end:]


def _fix_pages(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for page in pathlib.Path(app.outdir).rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        fixed = dedupe_head_scripts(text)
        if fixed != text:
            page.write_text(fixed, encoding="utf-8")


def setup(app):
    app.connect("build-finished", _fix_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
