"""What a reader sees: every page of the built book in headless Chromium.

The site is served on 127.0.0.1 and every request to any other host is
aborted, so the test also proves the book reads offline (MathJax is served
by the site itself; the explorers need no widget library). Chromium comes from
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

import numpy as np
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


_EXPLORER_STATE = """root => {
  const data = JSON.parse(root.querySelector('.dml-explorer-data')
                            .textContent);
  const img = root.querySelector('img.dml-explorer-frame');
  return {key: img.dataset.key, src: img.src, alt: img.alt,
          frames: Object.keys(data.frames).length,
          expected: data.frames[img.dataset.key],
          sizes: Array.from(root.querySelectorAll('[data-control]'))
                      .map(el => el.tagName === 'SELECT'
                           ? el.options.length : +el.max + 1)};
}"""

_SET = """(root, [i, v]) => {
  const el = root.querySelectorAll('[data-control]')[i];
  el.value = String(v);
  el.dispatchEvent(new Event('input', {bubbles: true}));
}"""


@pytest.mark.parametrize("path", [p for p in toc_pages()
                                  if "/chapters/" in p])
def test_every_explorer_control_changes_the_figure(browser, site, path):
    """Each chapter's explorer works without a kernel: moving any control
    shows the precomputed frame for the new values, and every control
    changes the figure for at least one of its values. No widget library
    is loaded."""
    page, problems = open_page(browser, site, path)
    roots = page.locator(".dml-explorer").all()
    assert roots, f"no explorer on {path}"
    assert page.locator(".widget-slider, .jupyter-widgets").count() == 0
    for root in roots:
        state = root.evaluate(_EXPLORER_STATE)
        default = [int(k) for k in state["key"].split("-")]
        assert state["src"] == state["expected"]
        assert state["frames"] == int(np.prod(state["sizes"]))
        for i, size in enumerate(state["sizes"]):
            seen = set()
            for v in range(size):
                root.evaluate(_SET, [i, v])
                now = root.evaluate(_EXPLORER_STATE)
                want = default.copy()
                want[i] = v
                assert now["key"] == "-".join(map(str, want)), (path, i, v)
                assert now["src"] == now["expected"]
                assert now["alt"].strip()
                seen.add(now["src"])
            root.evaluate(_SET, [i, default[i]])
            assert len(seen) > 1, f"control {i} of an explorer on {path} " \
                "changes nothing"
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


WIDTHS = {"phone": 390, "desktop": 1366}


def _visible(page, selector):
    return page.evaluate(
        "s => Array.from(document.querySelectorAll(s)).filter(e => {"
        " const r = e.getBoundingClientRect(), st = getComputedStyle(e);"
        " return r.width > 0 && r.height > 0 && st.visibility !== 'hidden'"
        " && st.display !== 'none' && st.opacity !== '0'; }).length",
        selector)


def _open_at(browser, site, path, width):
    page, problems = open_page(browser, site, path)
    page.set_viewport_size({"width": width, "height": 844})
    page.wait_for_timeout(300)
    return page, problems


def _click_visible(page, selector):
    for button in page.locator(selector).all():
        if button.is_visible():
            button.click()
            page.wait_for_timeout(500)     # the sidebars' transition
            return
    raise AssertionError(f"no visible {selector}")


def test_phone_navigation_opens_and_closes_both_sidebars(browser, site):
    page, problems = _open_at(browser, site,
                              "book/chapters/02_linear.html", 390)
    for side in ["primary", "secondary"]:
        modal = f"#pst-{side}-sidebar-modal"
        assert not page.evaluate(f"document.querySelector('{modal}').open")
        _click_visible(page, f"button.{side}-toggle")
        assert page.evaluate(f"document.querySelector('{modal}').open"), \
            f"the {side} sidebar did not open at 390 px"
        links = page.locator(f"{modal} a")
        assert any(a.is_visible() for a in links.all()), side
        page.keyboard.press("Escape")
        page.wait_for_timeout(300)
        assert not page.evaluate(f"document.querySelector('{modal}').open")
    assert problems == [], problems
    page.close()


def test_desktop_menu_button_hides_and_shows_the_contents(browser, site):
    page, problems = _open_at(browser, site,
                              "book/chapters/02_linear.html", 1366)
    sidebar = "#pst-primary-sidebar"
    assert _visible(page, sidebar) == 1
    assert _visible(page, "#pst-secondary-sidebar") == 1   # on this page
    _click_visible(page, "button.primary-toggle")
    assert _visible(page, sidebar) == 0, "the menu button did not hide it"
    assert not page.evaluate(
        "document.querySelector('#pst-primary-sidebar-modal').open")
    _click_visible(page, "button.primary-toggle")
    assert _visible(page, sidebar) == 1
    assert problems == [], problems
    page.close()


def test_no_tooltip_stays_over_a_tapped_button(browser, site):
    context = browser.new_context(viewport={"width": 390, "height": 844},
                                  has_touch=True, is_mobile=True)
    page = context.new_page()
    page.goto(site + "book/chapters/01_distances.html",
              wait_until="networkidle")
    for selector in ["button.search-button", "button.theme-switch-button"]:
        for button in page.locator(selector).all():
            if button.is_visible():
                button.tap()
                page.wait_for_timeout(400)
                page.keyboard.press("Escape")
                page.wait_for_timeout(200)
                assert _visible(page, ".tooltip") == 0, selector
    context.close()


@pytest.mark.parametrize("device", sorted(WIDTHS))
def test_screenshots_of_every_chapter(browser, site, device):
    """Full-page screenshots at phone and desktop width, for a person to
    look at (_build/screenshots/); the page must not be wider than the
    screen."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    width = WIDTHS[device]
    for path in [p for p in toc_pages() if "/chapters/" in p]:
        page, _ = _open_at(browser, site, path, width)
        scroll = page.evaluate("document.documentElement.scrollWidth")
        assert scroll <= width, (path, device, scroll)
        name = pathlib.Path(path).stem + f"_{device}.png"
        page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
        page.close()


_FIGURES = """() => Array.from(document.querySelectorAll(
    'div.cell_output img, img.dml-explorer-frame')).map(img => ({
  src: img.src.slice(0, 80), alt: img.alt,
  font: parseFloat(img.dataset.fontPx),
  design: parseFloat(img.dataset.designWidth || img.getAttribute('width')
                     || img.style.maxWidth),
  shown: img.getBoundingClientRect().width}))"""


@pytest.mark.parametrize("device", sorted(WIDTHS))
def test_every_figure_is_legible_and_described(browser, site, device):
    """Rule: a figure's smallest text, as displayed, is >= 9 px (its size at
    design width, from the build, times the displayed scale); on a phone
    a wide figure keeps that width and scrolls sideways in its box. Every
    figure has alt text that describes it, not a file name."""
    small, nameless = [], []
    for path in [p for p in toc_pages() if "/chapters/" in p]:
        page, _ = _open_at(browser, site, path, WIDTHS[device])
        for fig in page.evaluate(_FIGURES):
            if not fig["alt"] or fig["alt"].endswith(".png"):
                nameless.append((path, fig["src"]))
            if not fig["font"] or not fig["design"]:
                small.append((path, fig["src"], "no size recorded"))
                continue
            shown_px = fig["font"] * fig["shown"] / fig["design"]
            if shown_px < 9 - 0.05:
                small.append((path, fig["src"], round(shown_px, 2)))
        page.close()
    assert nameless == [], nameless
    assert small == [], small


_MATH = """() => {
  const clipped = Array.from(document.querySelectorAll(
      'mjx-container[display="true"]')).filter(m => {
    const box = m.parentElement.getBoundingClientRect();
    const r = m.getBoundingClientRect();
    const inner = m.firstElementChild
      ? m.firstElementChild.getBoundingClientRect().width : r.width;
    return m.scrollWidth > m.clientWidth + 1 || inner > box.width + 1;
  }).map(m => m.textContent.slice(0, 60));
  const article = document.querySelector('article').cloneNode(true);
  article.querySelectorAll('pre, code, mjx-container, script, style')
         .forEach(e => e.remove());
  return {clipped: clipped, text: article.innerText};
}"""


@pytest.mark.parametrize("path", toc_pages())
def test_no_equation_is_clipped_and_no_tex_is_left_raw(browser, site, path):
    """At desktop width every display equation fits the column, and no
    TeX is shown raw outside code."""
    page, _ = _open_at(browser, site, path, WIDTHS["desktop"])
    found = page.evaluate(_MATH)
    page.close()
    assert found["clipped"] == [], found["clipped"]
    raw = re.findall(r"\\\\(?:frac|sum|mathbf|mathrm|begin|left|right|"
                     r"sqrt|log|exp|operatorname|text)\b|\$\$|\\\\\(|"
                     r"\\\\\[", found["text"])
    assert raw == [], raw[:5]


def test_search_snippets_show_no_raw_tex(browser, site):
    page, problems = open_page(browser, site, "search.html?q=triplet+margin")
    page.wait_for_selector("#search-results li p.context", timeout=30000)
    page.wait_for_timeout(1500)          # the other snippets arrive too
    snippets = page.evaluate("Array.from(document.querySelectorAll("
                             "'#search-results li p.context'))"
                             ".map(p => p.textContent)")
    page.close()
    assert len(snippets) >= 3
    raw = [s for s in snippets if re.search(r"\\\(|\\[a-zA-Z]{2,}\{", s)]
    assert raw == [], raw[:2]
    assert problems == [], problems
