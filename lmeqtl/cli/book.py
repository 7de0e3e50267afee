"""``lmeqtl book``: run the notebooks with papermill and build the HTML book."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from lmeqtl.book.build import BOOK_SOURCE, NOTEBOOKS_DIR, BookBuildError, build_book
from lmeqtl.book.notebook import default_run_dir
from lmeqtl.book.pipeline import (
    RunSettings,
    StepFailed,
    discover_steps,
    run_steps,
)
from lmeqtl.cli.options import checked
from lmeqtl.config import PRESETS
from lmeqtl.config.validate import COUNT, POSITIVE_INT
from lmeqtl.errors import InputError


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
    parser.add_argument("--checkpoint", type=Path, help="a pretrained MLM checkpoint (training is skipped); "
                        "default: the weights lmeqtl ships for the preset when they fit the cohort and settings")
    parser.add_argument("--retrain", action="store_true", help="train the MLM from scratch even when the "
                        "shipped weights fit")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (default: auto, "
                        "which picks cuda when a GPU is visible)")
    parser.add_argument("--seed", type=checked(COUNT), help="replace every seed of the preset")
    parser.add_argument("--epochs", type=checked(POSITIVE_INT), help="MLM training epochs (default: the preset's)")
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
        data_dir=args.data_dir, checkpoint=args.checkpoint, retrain=args.retrain, device=args.device,
        seed=args.seed, epochs=args.epochs, overrides=dict(args.overrides))
    try:
        preset = settings.resolved_preset()
    except InputError:
        raise
    except (ValueError, TypeError) as err:  # an unknown SECTION.FIELD of --set, a value of the wrong type
        raise InputError(str(err), where="option --set / --seed / --epochs") from None
    try:
        print(preset.describe())
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
    except (StepFailed, BookBuildError) as err:
        print(f"lmeqtl book: {err}", file=sys.stderr)
        return 1
    return 0
