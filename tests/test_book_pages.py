"""Read the pages as a reader does: rendered in headless Chromium at 1280 px, no leftovers, nothing too wide."""

from pathlib import Path

import pytest

from lmeqtl.book.audit import audit_book, audit_page, book_pages, find_chromium

PAGES = Path(__file__).parent / "data" / "pages"
CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium not found: install the Debian package 'chromium' "
                             "(or set LMEQTL_CHROMIUM) to read the book's pages as a reader")


@pytest.fixture(scope="module")
def problems() -> list[str]:
    return audit_page(PAGES / "problems.html", chromium=CHROMIUM)


@needs_chromium
@pytest.mark.parametrize(("kind", "shown"), [
    ("raw glue placeholder", "'{glue:text}'"),
    ("Python repr", "<IPython.core.display.Markdown object>"),
    ("Python repr", "<Figure size"),
    ("Python repr", "np.float64("),
    ("Python repr", "<matplotlib"),
    ("traceback", "Traceback (most recent call last)"),
    ("error in an output cell", "ValueError: nothing to run"),
    ("progress bar", "it/s]"),
    ("wider than the page column", 'table "gene | method | spills out": 1'),
    ("wider than the page column", 'img "too wide": 1000 px in a 700 px column'),
])
def test_audit_page_names_each_problem_with_its_page_and_text(problems, kind, shown):
    lines = [line for line in problems if line.startswith(f"problems.html: {kind}")]
    assert any(shown in line for line in lines), f"{kind!r} with {shown!r} not in:\n" + "\n".join(problems)


@needs_chromium
def test_audit_page_passes_a_clean_page_and_counts_repeats(problems):
    assert audit_page(PAGES / "clean.html", chromium=CHROMIUM) == []
    assert any(line.startswith("problems.html: progress bar (") for line in problems)  # counted, not one per hit
    scrolled = audit_page(PAGES / "clean.html", chromium=CHROMIUM, scrolled_ok=False)
    assert len(scrolled) == 2 and all("scrolls sideways" in line for line in scrolled), scrolled


def test_book_pages_skip_redirects_and_sphinx_scaffolding(tmp_path):
    (tmp_path / "chapters").mkdir()
    (tmp_path / "_static").mkdir()
    for name in ("intro.html", "chapters/00_data.html", "search.html", "genindex.html", "_static/x.html"):
        (tmp_path / name).write_text("<html><body>page</body></html>")
    (tmp_path / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=intro.html" />')
    assert [p.relative_to(tmp_path).as_posix() for p in book_pages(tmp_path)] == ["chapters/00_data.html", "intro.html"]


@needs_chromium
@pytest.mark.slow
def test_smoke_book_reads_cleanly(smoke_book):
    """Every page of the smoke book: no glue placeholders, reprs, tracebacks, progress bars or spilling tables."""
    code, book = smoke_book  # the build of tests/test_book.py::test_smoke_book_end_to_end, not a second one
    assert code == 0, "the smoke book did not build"
    html = book / "_build" / "html"
    assert len(book_pages(html)) >= 5
    problems = audit_book(html, chromium=CHROMIUM)
    assert not problems, f"{len(problems)} problems a reader would see:\n" + "\n".join(problems)
