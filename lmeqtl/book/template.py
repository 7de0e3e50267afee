"""The chapter template (first cells every notebook copies) and the checks of a chapter.

``write_notebook_template(path, step, title)`` writes a new chapter that already follows
the conventions; ``check_notebook(path)`` says what a chapter breaks. The runner checks
the essentials before it runs a notebook; the tests check every committed notebook fully.
"""

from __future__ import annotations

import ast
import os
import re
import tomllib
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat

from lmeqtl.book.notebook import STANDARD_PARAMETERS
from lmeqtl.book.provenance import PACKAGE_DIR
from lmeqtl.data.io import atomic_path
from lmeqtl.errors import InputError

KERNEL = {"name": "lmeqtl", "display_name": "Python (lmeqtl)", "language": "python"}
STEP_NAME = re.compile(r"^(\d{2})_([a-z0-9_]+)$")


def repository_url() -> str:
    """The project's repository: ``[project.urls] Repository`` of pyproject.toml, the one place it is written.

    Read from pyproject.toml when lmeqtl runs from a clone (current even before ``make env``
    reinstalls the package), else from the installed package's metadata (``Project-URL``).
    """
    pyproject = PACKAGE_DIR.parent / "pyproject.toml"
    if pyproject.is_file():
        return tomllib.loads(pyproject.read_text())["project"]["urls"]["Repository"]
    urls = dict(entry.split(", ", 1) for entry in metadata.metadata("lmeqtl").get_all("Project-URL") or [])
    return urls["Repository"]


# What the Colab cell installs; LMEQTL_SOURCE (any pip requirement: a fork, a branch, a local path) overrides it.
COLAB_REQUIREMENT = f"lmeqtl[sim] @ git+{repository_url()}"

COLAB_CELL = f'''\
# In Google Colab, install lmeqtl first; this cell does nothing anywhere else. To install another version,
# run `%env LMEQTL_SOURCE=<pip requirement>` (e.g. a fork or a branch) before it.
# Each Colab notebook runs on its own machine: for the next chapter to find this one's outputs, uncomment
# the two drive lines and set run_dir below to a Drive folder, e.g. "/content/drive/MyDrive/lmeqtl-runs/top10".
import importlib.util, os, subprocess, sys

if "google.colab" in sys.modules and importlib.util.find_spec("lmeqtl") is None:
    requirement = os.environ.get("LMEQTL_SOURCE", "{COLAB_REQUIREMENT}")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", requirement], check=True)
# from google.colab import drive
# drive.mount("/content/drive")'''

# Typed (papermill --help-notebook shows the types); Optional, not `X | None`, which papermill cannot parse.
PARAMETERS_CELL = '''\
# Parameters: `lmeqtl book` replaces them (papermill); edit them to run this notebook by hand.
from typing import Optional

step: str = "{step}"  # this notebook; its outputs go to run_dir/step
preset: str = "{preset}"  # smoke | top10 | top10-gpu | top100 (see `lmeqtl presets`)
data_dir: Optional[str] = None  # a real-data directory (see "Using real data"); None: the simulated cohort
run_dir: Optional[str] = None  # where every step's outputs live; None: runs/<preset>; Colab: a Drive folder
checkpoint: Optional[str] = None  # a pretrained MLM checkpoint; None: the shipped weights when they fit, else train
retrain: bool = False  # True: train the MLM from scratch even when shipped weights fit
device: str = "auto"  # "auto": cuda when a GPU is visible, else cpu
seed: Optional[int] = None  # replaces every seed of the preset; None: the preset's seeds
epochs: Optional[int] = None  # MLM training epochs; None: the preset's
overrides: dict = {{}}  # any other preset field, e.g. {{"expression.outer_folds": 3}}'''

# The set-up cell is boilerplate on a page: its code is removed, its printout (preset, versions,
# device) stays behind a "Show output" button.
SETUP_TAGS = ("remove-input", "hide-output")
SETUP_CELL = '''\
from lmeqtl.book.notebook import glue, notebook_setup

run = notebook_setup(step, preset, data_dir=data_dir, run_dir=run_dir,
                     checkpoint=checkpoint, retrain=retrain, device=device,
                     seed=seed, epochs=epochs, overrides=overrides)'''


def notebook_template(step: str, title: str, summary: str = "", preset: str = "top10") -> nbformat.NotebookNode:
    """A new chapter: title, Colab cell, parameters cell, set-up cell, and a glue example."""
    code, markdown = nbformat.v4.new_code_cell, nbformat.v4.new_markdown_cell
    cells = [
        markdown(f"# {title}\n\n{summary}".rstrip()),
        code(COLAB_CELL, metadata={"tags": ["remove-cell"]}),
        code(PARAMETERS_CELL.format(step=step, preset=preset), metadata={"tags": ["parameters", "remove-cell"]}),
        code(SETUP_CELL, metadata={"tags": list(SETUP_TAGS)}),
        markdown("Numbers in the prose come from the run: this chapter ran with the "
                 "{glue:text}`preset_name` preset."),
        code('glue("preset_name", run.preset.name)'),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = dict(KERNEL)
    notebook.metadata["language_info"] = {"name": "python"}
    return notebook


def write_notebook_template(path: str | os.PathLike[str], step: str, title: str, summary: str = "") -> Path:
    """Write :func:`notebook_template` to ``path`` (refuses to overwrite)."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; not overwriting it")
    with atomic_path(path) as tmp:
        nbformat.write(notebook_template(step, title, summary), tmp)
    return path


def read_notebook(path: str | os.PathLike[str]) -> nbformat.NotebookNode:
    try:
        return nbformat.read(path, as_version=4)
    except Exception as err:  # nbformat raises several types for a broken file
        raise InputError(f"not a readable Jupyter notebook: {err}", path=path) from None


def _assignments(source: str) -> dict[str, Any]:
    """Top-level ``name = literal`` assignments of a cell (``...`` for non-literals)."""
    found: dict[str, Any] = {}
    for node in ast.parse(source).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            if isinstance(target, ast.Name):
                try:
                    found[target.id] = ast.literal_eval(node.value) if node.value is not None else None
                except ValueError:
                    found[target.id] = ...
    return found


def notebook_problems(path: str | os.PathLike[str], conventions: bool = True) -> list[str]:
    """What a chapter notebook gets wrong ([] when nothing).

    Always checked (the runner needs them): exactly one cell tagged ``parameters`` that
    assigns every standard parameter, with ``step`` equal to the file name. With
    ``conventions``: the template's Colab cell before it, the template's parameters cell (same
    ``step`` and ``preset``), ``notebook_setup(`` after it, the
    ``lmeqtl`` kernel, no committed outputs, and ``metadata.lmeqtl.needs`` (if any) a list.
    """
    path = Path(path)
    notebook = read_notebook(path)
    cells = notebook.cells
    tagged = [i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        return [f"expected exactly one cell tagged 'parameters', found {len(tagged)}"]
    index = tagged[0]
    problems = []
    try:
        defaults = _assignments(cells[index].source)
    except SyntaxError as err:
        return [f"the parameters cell is not valid Python: {err.msg} (line {err.lineno})"]
    missing = [name for name in STANDARD_PARAMETERS if name not in defaults]
    if missing:
        problems.append(f"the parameters cell does not define {', '.join(missing)}")
    if STEP_NAME.match(path.stem) and "step" in defaults and defaults["step"] != path.stem:
        problems.append(f"the parameters cell sets step = {defaults['step']!r}, expected {path.stem!r}")
    if not conventions:
        return problems
    code = [(i, c) for i, c in enumerate(cells) if c.cell_type == "code"]
    if not any(c.source.strip() == COLAB_CELL for i, c in code if i < index):
        problems.append("no Colab install cell (the template's, verbatim) before the parameters cell")
    if not missing and cells[index].source.strip() != PARAMETERS_CELL.format(step=defaults["step"],
                                                                              preset=defaults["preset"]):
        problems.append("the parameters cell is not the template's (lmeqtl.book.template.PARAMETERS_CELL)")
    if not any("notebook_setup(" in c.source for i, c in code if i > index):
        problems.append("no notebook_setup(...) call after the parameters cell")
    kernel = notebook.metadata.get("kernelspec", {}).get("name")
    if kernel != KERNEL["name"]:
        problems.append(f"kernelspec is {kernel!r}, expected {KERNEL['name']!r}")
    if any(c.get("outputs") or c.get("execution_count") for _, c in code):
        problems.append("has outputs: commit chapters without outputs (clear them)")
    needs = notebook.metadata.get("lmeqtl", {}).get("needs")
    if needs is not None and not (isinstance(needs, list) and all(isinstance(n, str) for n in needs)):
        problems.append("metadata.lmeqtl.needs must be a list of step names")
    return problems


def check_notebook(path: str | os.PathLike[str], conventions: bool = True) -> None:
    """Raise :class:`InputError` listing every problem of :func:`notebook_problems`."""
    problems = notebook_problems(path, conventions)
    if problems:
        raise InputError("; ".join(problems), path=path, expected="a chapter made from notebooks/TEMPLATE.ipynb")
