"""What a reader sees: every page of the built book in headless Chromium.

The site is served on 127.0.0.1 and every request to any other host is
aborted, so the test also proves the book reads offline (MathJax, RequireJS
and the widget manager are served by the site itself). Chromium comes from
Debian's package (scripts/test.sh installs it where apt can); Playwright
drives it through ``executable_path``, no browser download. Where neither is
available the tests skip and say why.
"""
import functools
import http.server
import pathlib
import re
import shutil
import threading
import urllib.parse

import pytest

sync_api = pytest.importorskip("playwright.sync_api",
                               reason="playwright is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (apt-get "
    "install chromium); scripts/test.sh installs it where apt works")

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "_build" / "screenshots"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--disable-quic"]


def toc_pages():
    """Pages of _toc.yml as paths relative to the site root (.html)."""
    import yaml
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            files.append(chapter["file"])
            files += [s["file"] for s in chapter.get("sections", [])]
    return [f + ".html" for f in files]


@pytest.fixture(scope="module")
def site(book_html):
    handler = functools.partial(_QuietHandler, directory=str(book_html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=ARGS)
        yield b
        b.close()


def open_page(browser, site, path):
    """Load a page offline; return (page, problems) after it settles."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = []
    page.on("console", lambda m: problems.append(f"console: {m.text}")
            if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(
        f"failed request: {r.url}") if r.url.startswith(site) else None)
    page.on("response", lambda r: problems.append(
        f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)

    def offline(route):
        if route.request.url.startswith(site):
            route.continue_()
        else:                       # the network is closed for the reader
            problems.append(f"outside request: {route.request.url}")
            route.abort()
    page.route("**/*", offline)
    page.goto(site + path, wait_until="networkidle")
    page.wait_for_function("() => !window.MathJax || !window.MathJax."
                           "startup || window.MathJax.startup.promise")
    page.evaluate("() => window.MathJax && window.MathJax.startup ? "
                  "window.MathJax.startup.promise : null")
    page.wait_for_timeout(300)
    return page, problems


@pytest.mark.parametrize("path", toc_pages())
def test_page_loads_offline_and_shows_what_it_should(browser, site, path):
    page, problems = open_page(browser, site, path)
    text = page.inner_text("article")
    html = page.content()
    assert problems == [], problems
    # math typeset by MathJax, nothing left raw
    if "\\(" in html or "\\[" in html or "$$" in text:
        assert page.locator("mjx-container").count() > 0
    assert "$$" not in text
    # every figure loaded
    broken = page.evaluate("Array.from(document.images).filter(i => "
                           "!i.complete || i.naturalWidth === 0)"
                           ".map(i => i.src)")
    assert broken == []
    # no traceback, no solution or hidden test leaked into the page
    for leak in ["Traceback (most recent call last)",
                 "### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS"]:
        assert leak not in text
    page.close()


def test_every_internal_link_resolves(browser, site):
    seen, broken = set(), []
    for path in toc_pages():
        page, _ = open_page(browser, site, path)
        hrefs = page.evaluate("Array.from(document.querySelectorAll('a"
                              "[href]')).map(a => a.href)")
        page.close()
        for href in hrefs:
            url = href.split("#")[0]
            if not url.startswith(site) or url in seen:
                continue
            seen.add(url)
            rel = urllib.parse.urlparse(url).path.lstrip("/")
            if not _served(site + rel):
                broken.append(f"{path} -> {href}")
    assert seen, "no internal links found"
    assert broken == [], broken


def _served(url):
    import urllib.request
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status == 200
    except OSError:
        return False


def test_widgets_render_with_their_default_figure(browser, site):
    page, problems = open_page(browser, site,
                               "book/chapters/01_distances.html")
    page.wait_for_selector(".widget-slider", timeout=15000)
    assert page.locator(".widget-slider").count() >= 2
    assert "Run the notebook to move the controls" in page.inner_text(
        "article")
    assert problems == [], problems
    page.close()


def test_full_page_screenshots_of_representative_pages(browser, site):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    chapters = [p for p in toc_pages() if "/chapters/" in p]
    for path in ["book/intro.html", chapters[0], "book/api.html"]:
        page, _ = open_page(browser, site, path)
        name = re.sub(r"[^a-z0-9]+", "_", path.lower()).strip("_") + ".png"
        page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
        page.close()
        assert (SCREENSHOTS / name).stat().st_size > 10_000


def test_search_finds_the_lmnn_chapter_for_impostor(browser, site):
    page, problems = open_page(browser, site, "search.html?q=impostor")
    page.wait_for_selector("#search-results li a", timeout=20000)
    hrefs = page.evaluate("Array.from(document.querySelectorAll("
                          "'#search-results li a')).map(a => a.href)")
    page.close()
    assert any("02_linear" in h for h in hrefs), hrefs
    assert problems == [], problems
