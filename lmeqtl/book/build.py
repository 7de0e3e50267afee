"""``lmeqtl book``: run the chapter notebooks (:mod:`lmeqtl.book.pipeline`), then build the book.

The build copies the run's executed notebooks into ``book/chapters/`` (gitignored), writes
the pages that come from the run (the reproducibility page, the "this build" box of the
intro, the table of contents) and renders the Jupyter Book 1.x HTML with warnings as errors.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat

from lmeqtl.book.pipeline import (
    CHAPTERS_DIR,
    RunSettings,
    Step,
    load_state,
)
from lmeqtl.book.reproducibility import render_reproducibility, render_this_build
from lmeqtl.data.io import atomic_path

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
BOOK_SOURCE = REPO_ROOT / "book"
CONFIG = REPO_ROOT / "_config.yml"
CONFIG_SUPPORT = ("references.bib", "_static")  # files in book/ that _config.yml refers to


class BookBuildError(RuntimeError):
    """jupyter-book failed (a warning counts: the build runs with -W)."""


def build_html(book_dir: Path = BOOK_SOURCE, config: Path = CONFIG, toc: Path | None = None,
               quiet: bool = False) -> Path:
    """Render ``book_dir`` to HTML with warnings as errors; return the path of index.html."""
    jupyter_book = shutil.which("jupyter-book") or str(Path(sys.executable).parent / "jupyter-book")
    book_dir, config = Path(book_dir).resolve(), Path(config).resolve()
    toc = Path(toc).resolve() if toc is not None else book_dir / "_toc.yml"
    command = [jupyter_book, "build", str(book_dir), "--config", str(config), "--toc", str(toc),
               "--path-output", str(book_dir), "-W", "-n", "--keep-going"]
    result = subprocess.run(command, capture_output=quiet, text=True)
    if result.returncode != 0:
        output = (result.stdout or "") + (result.stderr or "")
        problems = [line for line in output.splitlines() if "WARNING" in line or "ERROR" in line]
        detail = "\n".join(problems[:20]) if problems else output[-3000:]
        raise BookBuildError(f"jupyter-book failed on {book_dir} (warnings are errors)\n{detail}".rstrip())
    index = book_dir / "_build" / "html" / "index.html"
    if not index.exists():
        raise BookBuildError(f"jupyter-book finished but {index} is missing")
    return index


def _chapter_copy(executed: Path, target: Path) -> None:
    """Copy an executed notebook into the book, hiding papermill's injected-parameters cell
    (``notebook_setup`` prints the same values in words)."""
    notebook = nbformat.read(executed, as_version=4)
    for cell in notebook.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            cell.metadata["tags"] = [*tags, "remove-cell"]
    with atomic_path(target) as tmp:
        nbformat.write(notebook, tmp)


def _toc(chapters: list[str], pages: list[str]) -> dict[str, Any]:
    parts = []
    if chapters:
        parts.append({"caption": "Results", "chapters": [{"file": f"{CHAPTERS_DIR}/{c}"} for c in chapters]})
    parts.append({"caption": "About this book", "chapters": [{"file": p} for p in pages]})
    return {"format": "jb-book", "root": "intro", "parts": parts}


def assemble_book(settings: RunSettings, steps: list[Step], book_dir: Path = BOOK_SOURCE,
                  source_dir: Path = BOOK_SOURCE) -> Path:
    """Lay out the book's sources in ``book_dir`` from the run; return its table of contents.

    When ``book_dir`` is not ``source_dir``, the hand-written pages are copied there first.
    The chapters are the steps that succeeded in ``settings.run_dir``, in step order; the
    "About" part is every other top-level page of the book, then the reproducibility page.
    """
    book_dir, source_dir = Path(book_dir).resolve(), Path(source_dir).resolve()
    run_dir = Path(settings.run_dir).resolve()
    if book_dir != source_dir:
        shutil.copytree(source_dir, book_dir, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("_build", CHAPTERS_DIR, ".*"))
    for support in CONFIG_SUPPORT:  # what _config.yml names, even when other pages are given
        if (book_dir / support).exists():
            continue
        if (BOOK_SOURCE / support).is_dir():
            shutil.copytree(BOOK_SOURCE / support, book_dir / support)
        else:
            with atomic_path(book_dir / support) as tmp:
                shutil.copy2(BOOK_SOURCE / support, tmp)
    chapters = book_dir / CHAPTERS_DIR
    shutil.rmtree(chapters, ignore_errors=True)
    chapters.mkdir(parents=True)
    state = load_state(run_dir)
    done = [s for s in steps if s.name in state["steps"] and (run_dir / CHAPTERS_DIR / f"{s.name}.ipynb").exists()]
    for step in done:
        _chapter_copy(run_dir / CHAPTERS_DIR / f"{step.name}.ipynb", chapters / f"{step.name}.ipynb")
    pages = sorted(p.stem for p in book_dir.glob("*.md") if p.stem != "intro")
    toc = chapters / "_toc.yml"
    for target, text in ((chapters / "reproducibility.md", render_reproducibility(settings, steps, state)),
                         (chapters / "this_build.md", render_this_build(settings, steps, done)),
                         (toc, json.dumps(_toc([s.name for s in done], [*pages, f"{CHAPTERS_DIR}/reproducibility"]),
                                          indent=2))):
        with atomic_path(target) as tmp:
            tmp.write_text(text)
    return toc


def build_book(settings: RunSettings, steps: list[Step], book_dir: Path = BOOK_SOURCE,
               source_dir: Path = BOOK_SOURCE, config: Path = CONFIG, quiet: bool = False) -> Path:
    """:func:`assemble_book`, then :func:`build_html`; return the path of index.html."""
    toc = assemble_book(settings, steps, book_dir, source_dir)
    return build_html(book_dir, config, toc, quiet=quiet)

