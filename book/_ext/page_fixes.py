"""Sphinx extension: small repairs to every HTML page of the book.

* Under Jupyter Book 1, sphinx-thebe and sphinx-togglebutton register their
  inline configuration scripts twice, and the second ``const THEBE_JS_URL``
  is a JavaScript error on every page. After the build, drop an inline
  ``<script>`` line of the page head that repeats an earlier one verbatim.
* A figure's alt text would be its file name. The build kernel writes a
  description of each matplotlib figure into its PNG
  (``figure_startup.py``); put it in the ``alt`` attribute, with the size
  of the figure's smallest text (``data-font-px``, design pixels), which
  the page script uses to keep that text legible on a phone.
* sphinxcontrib-bibtex links a citation to its bibliography entry but not
  back: under each entry, list the pages that cite it ("Cited in"), each
  a link to the page's first citation of it.
"""
import html
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


_IMG = re.compile(r'<img alt="([^"]*)" src="([^"]+\.png)"')


def png_text(path: pathlib.Path) -> dict:
    """The text chunks of a PNG (empty if none or unreadable)."""
    from PIL import Image
    try:
        with Image.open(path) as image:
            return {k: v for k, v in image.info.items()
                    if isinstance(v, str)}
    except OSError:
        return {}


def describe_images(page_html: str, page: pathlib.Path) -> str:
    """Alt text (where the cell gave none: the alt is the file name) and
    the smallest-font size, from each figure's own PNG."""
    def fix(m):
        alt, src = m.group(1), m.group(2)
        info = png_text((page.parent / src).resolve())
        if alt in ("", src) and "Description" in info:
            alt = info["Description"]
        font = info.get("dml:smallest-font-px", "")
        extra = f' data-font-px="{font}"' if font else ""
        return f'<img alt="{html.escape(alt, quote=True)}"{extra} ' \
            f'src="{src}"'
    return _IMG.sub(fix, page_html)


_CITE = re.compile(r'<a class="reference internal" href="([^"#]*bibliography'
                   r'\.html)#(id\d+)"')
_TITLE = re.compile(r"<title>(.*?)(?: &#8212;| —|</title>)", re.S)
_ENTRY = re.compile(r'(<div class="citation" id="(id\d+)" '
                    r'role="doc-biblioentry">.*?</p>\n)', re.S)


def add_back_links(pages: dict, bibliography: pathlib.Path) -> str:
    """The bibliography page with a "Cited in" line under each entry.

    ``pages`` maps each page's path to its HTML. A citation in a page is a
    link to ``bibliography.html#idN``; the first one in a page gets an id
    (``cite-idN``) to link back to.
    """
    import os
    cited = {}                                   # entry id -> [(href, title)]
    for path, text in sorted(pages.items()):
        title = _TITLE.search(text)
        title = title.group(1).strip() if title else path.stem
        rel = os.path.relpath(path, bibliography.parent)
        for entry in dict.fromkeys(m.group(2) for m in _CITE.finditer(text)):
            cited.setdefault(entry, []).append(
                (f"{rel}#cite-{entry}", title))

    def entry(m):
        links = cited.get(m.group(2))
        if not links:
            return m.group(1)
        items = ", ".join(f'<a href="{h}">{t}</a>' for h, t in links)
        return m.group(1) + f'<p class="cited-in">Cited in: {items}</p>\n'
    return _ENTRY.sub(entry, pages[bibliography])


def mark_first_citations(text: str) -> str:
    """Give the first citation of each entry on a page an id to link to."""
    seen = set()

    def mark(m):
        if m.group(2) in seen:
            return m.group(0)
        seen.add(m.group(2))
        return m.group(0).replace("<a ", f'<a id="cite-{m.group(2)}" ', 1)
    return _CITE.sub(mark, text)


def _fix_pages(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    out = pathlib.Path(app.outdir)
    bibliography = out / "book" / "bibliography.html"
    if bibliography.exists():
        pages = {p: p.read_text(encoding="utf-8") for p in out.rglob("*.html")
                 if "_modules" not in p.parts}
        pages[bibliography] = add_back_links(pages, bibliography)
        for p, text in pages.items():
            p.write_text(mark_first_citations(text) if p != bibliography
                         else text, encoding="utf-8")
    for page in out.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        fixed = describe_images(dedupe_head_scripts(text), page)
        if fixed != text:
            page.write_text(fixed, encoding="utf-8")


def setup(app):
    app.connect("build-finished", _fix_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
