"""``lmeqtl book``: run the chapter notebooks (:mod:`lmeqtl.pipeline`), then build the book.

The build copies the run's executed notebooks into ``book/chapters/`` (gitignored), writes
the pages that come from the run (the reproducibility page, the "this build" box of the
intro, the table of contents) and renders the Jupyter Book 1.x HTML with warnings as errors.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat

from lmeqtl.config import PRESETS
from lmeqtl.errors import InputError
from lmeqtl.io import atomic_path
from lmeqtl.notebook import default_run_dir
from lmeqtl.pipeline import (
    CHAPTERS_DIR,
    RunSettings,
    Step,
    StepFailed,
    discover_steps,
    load_state,
    run_steps,
)
from lmeqtl.reproducibility import render_reproducibility, render_this_build

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
BOOK_SOURCE = REPO_ROOT / "book"
CONFIG = REPO_ROOT / "_config.yml"


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


def _override(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or "." not in key:
        raise argparse.ArgumentTypeError(f"expected SECTION.FIELD=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value  # a bare word: a string


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Defaults are written into the help by hand: most are "None, meaning ...".
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.description = (
        "Run the numbered notebooks of notebooks/ in order with papermill, skipping the steps\n"
        "that are up to date, then build the Jupyter Book HTML (warnings are errors) into\n"
        "book/_build/html. A failed step keeps its executed notebook (the error says where);\n"
        "running the same command again resumes at that step.")
    parser.add_argument("--preset", default="top10", choices=list(PRESETS),
                        help="which preset to run (default: top10; see `lmeqtl presets`)")
    parser.add_argument("--data-dir", type=Path, help="real data: a real_data.json file, a directory holding "
                        "one, or a directory in the layout of `lmeqtl simulate` (see the book's 'Using real "
                        "data' page); default: the simulated cohort")
    parser.add_argument("--run-dir", type=Path, help="where the steps write their outputs, executed "
                        "notebooks and records (default: runs/PRESET in the repository)")
    parser.add_argument("--checkpoint", type=Path, help="a pretrained MLM checkpoint (training is skipped)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: auto, "
                        "which picks cuda when a GPU is visible)")
    parser.add_argument("--seed", type=int, help="replace every seed of the preset")
    parser.add_argument("--epochs", type=int, help="MLM training epochs (default: the preset's)")
    parser.add_argument("--set", dest="overrides", action="append", type=_override, default=[],
                        metavar="SECTION.FIELD=VALUE", help="override any preset field (a JSON value "
                        "or a word), e.g. --set expression.outer_folds=3; repeatable")
    parser.add_argument("--only", metavar="STEP", help="run just this step (name or number, e.g. 03); "
                        "the steps it needs must have succeeded before")
    parser.add_argument("--force", action="store_true", help="re-run the selected steps even when up to date")
    parser.add_argument("--no-html", action="store_true", help="run the steps, do not build the HTML")
    parser.add_argument("--book-dir", type=Path, default=BOOK_SOURCE, help="where the book is assembled "
                        "and built (default: book/; elsewhere, the pages of book/ are copied there)")
    parser.add_argument("--notebooks-dir", type=Path, default=NOTEBOOKS_DIR,
                        help="the chapter notebooks (default: notebooks/)")
    parser.add_argument("--kernel", default="lmeqtl", help="the Jupyter kernel that runs the notebooks "
                        "(default: lmeqtl, which `make env` registers)")
    parser.add_argument("--log-output", action="store_true", help="stream the notebooks' output to the "
                        "console instead of a progress bar")


def run(args: argparse.Namespace) -> int:
    settings = RunSettings(
        preset=args.preset, run_dir=args.run_dir or default_run_dir(args.preset),
        data_dir=args.data_dir, checkpoint=args.checkpoint, device=args.device,
        seed=args.seed, epochs=args.epochs, overrides=dict(args.overrides))
    try:
        print(settings.resolved_preset().describe())
        if not args.notebooks_dir.is_dir():
            raise InputError("no notebooks directory", path=args.notebooks_dir,
                             expected="a clone of the lmeqtl repository (pip install -e .)")
        steps = discover_steps(args.notebooks_dir)
        start = time.perf_counter()
        run_steps(settings, steps, only=args.only, force=args.force, kernel_name=args.kernel,
                  log_output=args.log_output)
        print(f"{len(steps)} steps in {time.perf_counter() - start:.0f} s; outputs in {settings.run_dir}")
        if not args.no_html:
            index = build_book(settings, steps, book_dir=args.book_dir)
            print(f"book written to {index}")
    except (InputError, ValueError) as err:
        print(f"lmeqtl book: {err}", file=sys.stderr)
        return 2
    except (StepFailed, BookBuildError) as err:
        print(f"lmeqtl book: {err}", file=sys.stderr)
        return 1
    return 0
