"""The HTML book builds with warnings as errors, and shows what it should."""
import subprocess
import sys

import pytest
import yaml

from conftest import LAUNCH_ENV, ROOT

MODULE = {"pairwise_distances": "distances", "project_psd": "distances",
          "nearest_neighbors": "neighbors", "drug_compounds": "datasets"}


@pytest.fixture
def html(book_html):
    return book_html


def test_book_builds_with_warnings_as_errors(html):
    assert (html / "index.html").is_file()
    assert (html / "book" / "intro.html").is_file()


def test_intro_says_what_the_course_is_and_how_to_run_it(html):
    text = (html / "book" / "intro.html").read_text()
    assert "Distance Metric Learning" in text
    assert "scripts/book.sh" in text and "scripts/test.sh" in text
    # a reader who downloaded one chapter gets the one install command for
    # the repository the book was built for (tests build with one)
    import html as _html
    import re as _re
    words = _html.unescape(_re.sub(r"<[^>]+>", "", text))
    assert 'pip install "dml @ git+https://github.com/dml-course/' \
        'dml-course@main"' in words


def test_api_reference_documents_and_links_the_library_source(html):
    text = (html / "book" / "api.html").read_text()
    for name in ["pairwise_distances", "project_psd", "nearest_neighbors",
                 "drug_compounds"]:
        assert f"id=\"dml.{MODULE[name]}.{name}\"" in text
    assert (html / "_modules" / "dml" / "distances.html").is_file()


def test_chapter_pages_offer_download_and_launch_buttons(html):
    """With a repository (and a hub) given at build time, every chapter
    links to Binder, Colab and the JupyterHub for its own notebook."""
    page = (html / "book" / "chapters" / "02_linear.html").read_text()
    repo = "dml-course/dml-course"
    nb = "book/chapters/02_linear.ipynb"
    assert f"https://mybinder.org/v2/gh/{repo}/main?urlpath=" in page
    assert f"https://colab.research.google.com/github/{repo}/blob/main/" \
        f"{nb}" in page
    assert "https://hub.example.edu/hub/user-redirect/git-pull?" in page
    assert "_sources/book/chapters/02_linear.ipynb" in page    # download


def _book_config(tmp_name, **env):
    out = ROOT / tmp_name
    try:
        run = subprocess.run([sys.executable, "scripts/book_config.py",
                              str(out)], cwd=ROOT, env=env,
                             capture_output=True, text=True)
        config = yaml.safe_load(out.read_text()) if out.exists() else None
    finally:
        out.unlink(missing_ok=True)
    return run, config


def test_launch_config_adds_repository_and_hubs_to_the_book_config():
    run, config = _book_config(".test_launch_config.yml", **LAUNCH_ENV)
    assert run.returncode == 0, run.stderr
    base = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["repository"]["url"] == LAUNCH_ENV["DML_REPOSITORY_URL"]
    assert config["repository"]["branch"] == "main"
    assert config["launch_buttons"]["jupyterhub_url"] == \
        "https://hub.example.edu"
    assert config["launch_buttons"]["binderhub_url"] == "https://mybinder.org"
    assert config["sphinx"] == base["sphinx"]         # the rest is unchanged
    # the intro's install command names the repository
    assert config["parse"]["myst_substitutions"]["install_dml"] == \
        '`pip install "dml @ git+https://github.com/dml-course/dml-course' \
        '@main"`'
    assert config["parse"]["myst_enable_extensions"] == \
        base["parse"]["myst_enable_extensions"]
    run, config = _book_config(".test_launch_config.yml",
                               DML_REPOSITORY_URL="https://x.org/a/b")
    assert "jupyterhub_url" not in config["launch_buttons"]


def test_launch_config_rejects_a_url_that_is_not_one():
    run, config = _book_config(".test_launch_config.yml",
                               DML_REPOSITORY_URL="github.com/a/b")
    assert run.returncode != 0 and config is None
    assert "not an http(s) URL" in run.stderr


def test_page_fixes_take_alt_text_and_font_size_from_the_figure(tmp_path):
    """Chapter figures get their description as alt text (not the file
    name) and their smallest text size, from the PNG the build wrote."""
    import io
    import sys
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import page_fixes
    fig, ax = plt.subplots()
    ax.set(title="ROC <curve>", xlabel="FPR")
    (tmp_path / "_images").mkdir()
    fig.savefig(tmp_path / "_images" / "a.png", metadata={
        "Description": "panel: ROC <curve>; x: FPR.",
        "dml:smallest-font-px": "11.25"})
    fig.savefig(tmp_path / "_images" / "b.png")
    plt.close(fig)
    page = tmp_path / "chapter.html"
    text = ('<p><img alt="_images/a.png" src="_images/a.png" /></p>'
            '<p><img alt="_images/b.png" src="_images/b.png" /></p>')
    fixed = page_fixes.describe_images(text, page)
    assert '<img alt="panel: ROC &lt;curve&gt;; x: FPR." ' \
        'data-font-px="11.25" src="_images/a.png"' in fixed
    assert '<img alt="_images/b.png" src="_images/b.png"' in fixed


def test_page_fixes_keep_an_alt_text_the_cell_gave(tmp_path):
    import sys
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import page_fixes
    fig, _ = plt.subplots()
    fig.savefig(tmp_path / "a.png", metadata={
        "Description": "auto", "dml:smallest-font-px": "12.5"})
    plt.close(fig)
    fixed = page_fixes.describe_images(
        '<img alt="Recall rises with gamma" src="a.png" />',
        tmp_path / "page.html")
    assert fixed == '<img alt="Recall rises with gamma" ' \
        'data-font-px="12.5" src="a.png" />'


def test_bibliography_entries_link_back_to_the_pages_that_cite_them(
        tmp_path):
    import sys
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import page_fixes
    bib = tmp_path / "book" / "bibliography.html"
    ch = tmp_path / "book" / "chapters" / "02.html"
    cite = '<a class="reference internal" href="../bibliography.html#id7"'
    pages = {
        bib: '<div class="citation" id="id7" role="doc-biblioentry">\n'
             '<span>[1]</span>\n<p>Weinberger and Saul.</p>\n</div>\n'
             '<div class="citation" id="id8" role="doc-biblioentry">\n'
             '<p>Never cited.</p>\n</div>',
        ch: f"<title>2. Linear &#8212; Book</title>{cite}>W</a> {cite}>W</a>"}
    out = page_fixes.add_back_links(pages, bib)
    assert out.count("cited-in") == 1
    assert '<p class="cited-in">Cited in: <a href="chapters/02.html#cite-' \
        'id7">2. Linear</a></p>' in out
    marked = page_fixes.mark_first_citations(pages[ch])
    assert marked.count('id="cite-id7"') == 1


PAGE_BUDGET = 2_500_000     # bytes: a chapter's HTML plus its own images


def test_every_chapter_page_stays_within_its_weight_budget(html):
    """A chapter (its explorer's precomputed frames included) weighs at
    most 2.5 MB besides the theme's shared files; the widget manager it
    replaced weighed 3.5 MB by itself."""
    import re as _re
    for page in sorted((html / "book" / "chapters").glob("*.html")):
        text = page.read_text()
        images = {m for m in _re.findall(r'src="([^"]+\.(?:png|svg))"', text)}
        size = len(text.encode()) + sum(
            (page.parent / src).stat().st_size for src in images)
        assert size <= PAGE_BUDGET, (page.name, size)
