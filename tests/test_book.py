"""The HTML book builds with warnings as errors, and shows what it should."""
import pytest

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


def test_api_reference_documents_and_links_the_library_source(html):
    text = (html / "book" / "api.html").read_text()
    for name in ["pairwise_distances", "project_psd", "nearest_neighbors",
                 "drug_compounds"]:
        assert f"id=\"dml.{MODULE[name]}.{name}\"" in text
    assert (html / "_modules" / "dml" / "distances.html").is_file()
