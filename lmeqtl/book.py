"""Build the results book: run the numbered notebooks with papermill, then Jupyter Book."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from lmeqtl.config import PRESETS, get_preset

REPO_ROOT = Path(__file__).resolve().parent.parent


def build_html(book_dir: Path = REPO_ROOT / "book", config: Path = REPO_ROOT / "_config.yml") -> Path:
    """Render ``book_dir`` to HTML with warnings as errors; return the path of index.html."""
    jupyter_book = shutil.which("jupyter-book") or str(Path(sys.executable).parent / "jupyter-book")
    book_dir, config = book_dir.resolve(), config.resolve()
    command = [jupyter_book, "build", str(book_dir), "--config", str(config),
               "--toc", str(book_dir / "_toc.yml"), "--path-output", str(book_dir),
               "-W", "-n", "--keep-going"]
    subprocess.run(command, check=True)
    index = book_dir / "_build" / "html" / "index.html"
    if not index.exists():
        raise RuntimeError(f"jupyter-book finished but {index} is missing")
    return index


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="top10", choices=list(PRESETS), help="which preset to run")


def run(args: argparse.Namespace) -> int:
    preset = get_preset(args.preset)
    print(preset.describe())
    index = build_html()
    print(f"book written to {index}")
    return 0
