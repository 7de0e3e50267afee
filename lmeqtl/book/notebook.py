"""The notebook side of the book: the set-up call every chapter starts with, and ``glue``.

A chapter notebook is thin. Its first cells are always the same (see
:mod:`lmeqtl.book.template`): a Colab install cell, a papermill ``parameters`` cell,
then ``run = notebook_setup(step, preset, ...)``, which resolves the preset, picks the
device, prints what the chapter runs with and returns a :class:`NotebookRun` that says
where to read upstream outputs and where to write this step's.

Nothing here imports papermill or Jupyter Book, so a notebook runs in Google Colab too.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

import lmeqtl
from lmeqtl.book import steps
from lmeqtl.book.provenance import (
    PACKAGE_DIR,
    describe_versions,
    file_digests,
    fingerprint,
    package_fingerprint,
    versions,
)
from lmeqtl.book.run import NotebookRun
from lmeqtl.config import Preset, get_preset
from lmeqtl.data.io import write_json
from lmeqtl.errors import InputError

# The parameters every chapter's ``parameters`` cell defines; the runner passes all of them.
STANDARD_PARAMETERS = ("step", "preset", "data_dir", "run_dir", "checkpoint", "retrain", "device",
                       "seed", "epochs", "overrides")
DIGEST_CACHE = ".digests.json"  # in the run directory: {path: [size, mtime_ns, sha256]}
PROVENANCE_FILE = "provenance.json"  # in each step's output directory


def resolve_preset(preset: str | Preset, seed: int | None = None, epochs: int | None = None,
                   overrides: dict[str, Any] | None = None) -> Preset:
    """The preset with a chapter's parameters applied.

    ``seed`` replaces every ``seed`` field, ``epochs`` sets ``train.epochs`` and
    ``overrides`` sets any field by its dotted name, e.g. ``{"expression.outer_folds": 3}``.
    """
    preset = get_preset(preset) if isinstance(preset, str) else preset
    changes: dict[str, dict[str, Any]] = {}
    if seed is not None:
        for section in dataclasses.fields(preset):
            value = getattr(preset, section.name)
            if dataclasses.is_dataclass(value) and hasattr(value, "seed"):
                changes.setdefault(section.name, {})["seed"] = int(seed)
    if epochs is not None:
        changes.setdefault("train", {})["epochs"] = int(epochs)
    for key, value in (overrides or {}).items():
        section, _, name = key.partition(".")
        config = getattr(preset, section, None)
        if not dataclasses.is_dataclass(config) or name not in {f.name for f in dataclasses.fields(config)}:
            sections = [f.name for f in dataclasses.fields(preset) if dataclasses.is_dataclass(getattr(preset, f.name))]
            raise ValueError(f"unknown preset field {key!r}: expected SECTION.FIELD with SECTION one of "
                             f"{', '.join(sections)} (see `lmeqtl presets {preset.name}`)")
        if isinstance(getattr(config, name), tuple) and isinstance(value, list):
            value = tuple(value)  # JSON and papermill give lists
        if isinstance(getattr(config, name), bool) and not isinstance(value, bool):  # "no" would be truthy
            raise InputError(f"preset field {key!r} is a switch, got {value!r}", expected="true or false")
        changes.setdefault(section, {})[name] = value
    replaced = {section: dataclasses.replace(getattr(preset, section), **fields)
                for section, fields in changes.items()}
    return dataclasses.replace(preset, **replaced)


def _device_name(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return f"{device} ({torch.get_num_threads()} CPU threads)"


def default_run_dir(preset: str) -> Path:
    """``runs/<preset>`` in the repository when lmeqtl runs from a clone, else in the cwd (Colab)."""
    repo = PACKAGE_DIR.parent
    return (repo if (repo / "notebooks").is_dir() else Path.cwd()) / "runs" / preset


def _data_summary(run: NotebookRun, cache: dict[str, list]) -> tuple[str, str]:
    """(description, fingerprint) of the data this chapter reads."""
    if run.data_dir is not None:
        digests = file_digests(run.data_dir, cache)
        return f"real data in {run.data_dir} ({len(digests)} files)", fingerprint(digests)
    if run.step == steps.DATA:
        return "simulated by this step", "-"
    digests = file_digests(run.run_dir / steps.DATA, cache)
    if not digests:
        return f"not written yet (run step {steps.DATA} first)", "-"
    return f"cohort written by {steps.DATA} ({len(digests)} files)", fingerprint(digests)


def notebook_setup(step: str, preset: str | Preset = "top10", data_dir: str | Path | None = None,
                   run_dir: str | Path | None = None, checkpoint: str | Path | None = None,
                   retrain: bool = False, device: str = "auto", seed: int | None = None, epochs: int | None = None,
                   overrides: dict[str, Any] | None = None, quiet: bool = False) -> NotebookRun:
    """Start a chapter: resolve the preset and device, print them, record them in the outputs.

    Prints the preset (``Preset.describe()``), the versions, the device and the data
    fingerprint, so every chapter starts the same way; writes ``provenance.json`` into the
    step's output directory (created) and sets readable figure defaults.
    """
    from lmeqtl.mlm.distributed import resolve_device  # torch only once a chapter starts

    resolved = resolve_preset(preset, seed=seed, epochs=epochs, overrides=overrides)
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(resolved.name)
    run = NotebookRun(step=step, preset=resolved, run_dir=run_dir.resolve(),
                      data_dir=Path(data_dir).resolve() if data_dir is not None else None,
                      checkpoint=Path(checkpoint).resolve() if checkpoint is not None else None,
                      device=str(resolve_device(device)), retrain=bool(retrain))
    run.out_dir.mkdir(parents=True, exist_ok=True)
    cache_path = run.run_dir / DIGEST_CACHE
    cache = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    data, data_fingerprint = _data_summary(run, cache)
    found = versions()
    write_json(run.out_dir / PROVENANCE_FILE, {
        "step": step, "preset": resolved.to_dict(), "device": _device_name(run.device),
        "data": data_fingerprint, "seed": seed, "epochs": epochs, "retrain": bool(retrain), "overrides": overrides or {},
        "checkpoint": fingerprint(file_digests(run.checkpoint, cache)), "versions": found,
        "lmeqtl_source": package_fingerprint(),
    })
    _figure_defaults()
    _quiet_progress_bars()
    if not quiet:
        print(f"step {step} · lmeqtl {lmeqtl.__version__} · device {_device_name(run.device)}")
        print(resolved.describe())
        print(f"data: {data}; fingerprint {data_fingerprint[:12]}")
        if run.checkpoint is not None:
            print(f"checkpoint: {run.checkpoint}")
        print(f"outputs: {run.out_dir}")
        print(f"versions: {describe_versions(found)}")
    return run


def _figure_defaults() -> None:
    """Readable figures in the HTML book: sharper, with room for titles and legends."""
    import matplotlib

    matplotlib.rcParams.update({"figure.dpi": 110, "figure.figsize": (7.0, 4.0),
                                "figure.constrained_layout.use": True,
                                "axes.spines.top": False, "axes.spines.right": False})


def _quiet_progress_bars() -> None:
    """Keep progress bars off the book's pages: in a notebook that ``lmeqtl book`` runs, every tqdm
    bar goes to the runner's progress file, which the console shows (:mod:`lmeqtl.book.progress`).
    By hand (Jupyter, Colab) the bars stay; without ipywidgets tqdm.auto falls back to text bars and
    warns once per bar, and that warning is noise."""
    import warnings

    from tqdm import TqdmExperimentalWarning, TqdmWarning

    from lmeqtl.book.progress import route_progress_bars

    warnings.filterwarnings("ignore", message="IProgress not found", category=TqdmWarning)
    warnings.filterwarnings("ignore", category=TqdmExperimentalWarning)
    route_progress_bars()


def plain(value: Any) -> Any:
    """numpy scalars and 0-d arrays as Python numbers (other values unchanged)."""
    if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value.item()
    return value


def glue(name: str, value: Any, display: bool = False) -> None:
    """Store ``value`` under ``name`` for the prose: ``{glue:text}`name:.3f```.

    Unlike ``myst_nb.glue``, numpy scalars become Python numbers first: myst-nb cannot
    format the text ``np.float64(0.5)`` and ``-W`` turns that warning into a failed build.
    Where myst-nb is not installed (Colab), the value is shown instead (:func:`show_glued`).
    """
    value = plain(value)
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        show_glued(name, value)
        return
    myst_glue(name, value, display=display)


def show_glued(name: str, value: Any) -> None:
    """Show a glued value where no book will paste it: rich objects (Markdown, figures, tables)
    displayed as themselves, plain values printed as ``name: value`` (floats to 4 significant digits)."""
    if isinstance(value, str | int | float | bool) or value is None:
        print(f"{name}: {value:.4g}" if isinstance(value, float) else f"{name}: {value}")
        return
    try:
        from IPython.display import display
    except ImportError:  # plain Python: the Markdown's text, else the value's
        print(f"{name}: {getattr(value, 'data', value)}")
        return
    display(value)
