"""A book run: what a chapter runs with, where it finds its cohort and model, how step ``00_data`` makes the cohort.

Every chapter reads the cohort the same way::

    paths = run.data_paths()      # DataPaths: VCFs, panel, expression, eQTLs, peaks, truth
    cohort = run.load_cohort()    # Cohort with the panel's pop / super_pop / gender joined

Where the files are:

- simulated presets (``data_dir`` is None): step ``00_data`` simulates the preset's cohort
  (``preset.simulation``) into ``run_dir/00_data/cohort/``, in the layout of
  :meth:`DataPaths.from_dir`, and prepares ``dataset.parquet`` + ``meta.csv.gz`` there;
- real data (``data_dir`` given): ``data_dir`` is a ``real_data.json`` file (the keys of
  :meth:`DataPaths.from_json`), a directory holding one, or a directory in the default
  layout. When the prepared ``dataset.parquet`` is not where it says, step ``00_data``
  prepares it into ``run_dir/00_data/cohort/``: the book never writes into a data directory.

Step ``00_data`` reuses what it finds when it was made with the same settings, so running
the chapter by hand twice does not simulate twice.

The trained model is found the same way: :func:`run_checkpoint` is the pretrained
checkpoint the run was given (``--checkpoint``: an lmeqtl checkpoint directory or the
original project's ``*_weights_model.pt``), else the one step ``01_train_mlm`` trained into
``run_dir/01_train_mlm/checkpoint/``; :func:`load_run_model` loads either kind, with the
checkpoint's gene order::

    model, info = load_run_model(run)
    cohort = run.load_cohort(genes=checkpoint_genes(info))
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmeqtl.book import steps
from lmeqtl.config import Preset, SimulationConfig
from lmeqtl.data.cohort import Cohort, load_cohort
from lmeqtl.data.io import as_json, read_json
from lmeqtl.data.paths import DataPaths
from lmeqtl.errors import InputError

if TYPE_CHECKING:
    import torch

    from lmeqtl.mlm.model import HaplotypeMLM

REAL_DATA_CONFIG = "real_data.json"
PREPARED_FILES = ("dataset.parquet", "meta.csv.gz", "prepare.json")  # what `prepare` adds to a simulation


@dataclass(frozen=True)
class NotebookRun:
    """What a chapter runs with, and where it reads and writes."""

    step: str
    preset: Preset
    run_dir: Path
    data_dir: Path | None
    checkpoint: Path | None
    device: str
    retrain: bool = False  # train the MLM even when the shipped weights fit

    @property
    def out_dir(self) -> Path:
        """This step's output directory (the runner fingerprints everything in it)."""
        return self.run_dir / self.step

    def output(self, name: str) -> Path:
        """Output ``name`` of an earlier step (a key of :data:`lmeqtl.book.steps.OUTPUTS`); that step must have run."""
        self.step_dir(steps.step_of(name))
        return steps.output_path(self.run_dir, name)

    def step_dir(self, step: str) -> Path:
        """The output directory of an earlier step, which must have run."""
        path = self.run_dir / step
        if not path.is_dir():
            raise FileNotFoundError(f"{path} does not exist: step {step} has not run yet "
                                    f"(lmeqtl book --preset {self.preset.name} --only {step})")
        return path

    def data_paths(self) -> DataPaths:
        """Where the run's cohort lives: VCFs, panel, prepared dataset, expression, eQTLs, peaks, truth.

        The simulated cohort of step 00_data, or the real data of ``data_dir`` (see
        this module).
        """
        return run_data_paths(self)

    def load_cohort(self, panel: bool = True, genes: list[str] | None = None) -> Cohort:
        """The run's :class:`~lmeqtl.data.cohort.Cohort` (see :func:`lmeqtl.book.run.load_run_cohort`)."""
        return load_run_cohort(self, panel=panel, genes=genes)


def configured_paths(data_dir: str | os.PathLike[str]) -> DataPaths:
    """The cohort a user points to: a ``real_data.json``, a directory with one, or the default layout."""
    path = Path(data_dir)
    if path.is_file():
        return DataPaths.from_json(path)
    if not path.is_dir():
        raise InputError("no such file or directory", path=path,
                         expected=f"a {REAL_DATA_CONFIG} file or a data directory (see 'Using real data')")
    if (path / REAL_DATA_CONFIG).is_file():
        return DataPaths.from_json(path / REAL_DATA_CONFIG)
    return DataPaths.from_dir(path)


def is_prepared(paths: DataPaths) -> bool:
    """Whether ``dataset.parquet`` and ``meta.csv.gz`` exist in ``paths.out_dir``."""
    return paths.dataset.is_file() and paths.meta.is_file()


def cohort_dir(run_dir: str | os.PathLike[str]) -> Path:
    """Where step ``00_data`` writes a simulated or prepared cohort."""
    return steps.output_path(run_dir, "cohort")


def run_data_paths(run: NotebookRun) -> DataPaths:
    """Where the run's cohort lives (see the module docstring).

    Outside step ``00_data`` the cohort must have been prepared; the error says how.
    """
    if run.data_dir is None:
        paths = DataPaths.from_dir(cohort_dir(run.run_dir))
    else:
        paths = configured_paths(run.data_dir)
        if not is_prepared(paths):
            paths = dataclasses.replace(paths, out_dir=cohort_dir(run.run_dir))
    if not is_prepared(paths):
        if run.step == steps.DATA:
            return paths  # where step 00 is about to write
        raise FileNotFoundError(f"{paths.dataset} does not exist: step {steps.DATA} has not run yet "
                                f"(lmeqtl book --preset {run.preset.name} --only {steps.DATA})")
    if paths.genes is None and (paths.out_dir / "genes.tsv").is_file():  # written by prepare (top_n_genes)
        paths = dataclasses.replace(paths, genes=paths.out_dir / "genes.tsv")
    return paths


def require_inputs(paths: DataPaths, *names: str) -> None:
    """Fail clearly when the cohort lacks files a chapter needs (``"expression"``, ``"eqtl"``, ``"peaks"``, ...)."""
    missing = [name for name in names if not getattr(paths, name)]
    absent = [str(getattr(paths, name)) for name in names if name not in missing and name != "peaks"
              and not Path(getattr(paths, name)).exists()]
    absent += [str(p) for name in names if name == "peaks" for p in paths.peaks.values() if not Path(p).exists()]
    if missing or absent:
        problems = ([f"no {', '.join(missing)} given"] if missing else []) + [f"{p} does not exist" for p in absent]
        raise InputError("; ".join(problems), path=paths.out_dir,
                         expected=f"the keys {', '.join(names)} in {REAL_DATA_CONFIG} (see 'Using real data')")


def load_run_cohort(run: NotebookRun, panel: bool = True, genes: list[str] | None = None) -> Cohort:
    """The run's :class:`Cohort`; with ``panel``, ``samples`` gets ``pop, super_pop, gender``.

    ``genes`` fixes the gene order (e.g. a checkpoint's gene map); default: ``meta.csv.gz`` order.
    """
    paths = run_data_paths(run)
    return load_cohort(paths.dataset, paths.meta, genes=genes, panel=paths.panel if panel else None)


def prepare_settings(config: SimulationConfig) -> dict[str, Any]:
    """The ``prepare`` window and AF settings of a preset (the CLI's defaults for its simulation)."""
    return {"window_bp": config.window_bp, "max_snps": config.max_snps, "min_af": config.min_af,
            "max_af": round(1 - config.min_af, 12)}


def _simulated_with(directory: Path, config: SimulationConfig) -> bool:
    """Whether ``directory`` holds a complete simulation made with ``config``."""
    manifest_path = directory / "manifest.json"
    if not manifest_path.is_file():
        return False
    manifest = read_json(manifest_path)
    if manifest.get("simulation") != as_json(dataclasses.asdict(config)):
        return False
    simulated = [name for name in manifest.get("files", {}) if name not in PREPARED_FILES]
    return all((directory / name).is_file() for name in simulated)


def _prepared_with(paths: DataPaths, settings: dict[str, Any]) -> bool:
    """Whether ``paths.out_dir`` holds a dataset that ``prepare`` wrote with ``settings``."""
    record = paths.out_dir / "prepare.json"
    if not (is_prepared(paths) and record.is_file()):
        return False
    written = read_json(record).get("settings", {})
    return all(written.get(key) == as_json(value) for key, value in settings.items())


def make_run_data(run: NotebookRun, progress: bool = True) -> DataPaths:
    """Step ``00_data``: simulate and/or prepare the run's cohort, reusing what is up to date.

    Simulated presets: simulate ``run.preset.simulation`` into ``run_dir/00_data/cohort/``
    unless a simulation with the same settings is there, then ``prepare`` it with the
    preset's window unless that is done. Real data: ``prepare`` into the same place when
    the configured ``dataset.parquet`` is missing. Returns :func:`run_data_paths`.
    """
    from lmeqtl.data.prepare import prepare
    from lmeqtl.simulate.cohort import simulate_cohort

    config = run.preset.simulation
    settings = prepare_settings(config)
    target = cohort_dir(run.run_dir)
    if run.data_dir is None:
        if not _simulated_with(target, config):
            simulate_cohort(config, target, preset=run.preset.name, force=True, progress=progress)
        paths = DataPaths.from_dir(target)
    else:
        paths = configured_paths(run.data_dir)
        if is_prepared(paths):
            return run_data_paths(run)
        paths = dataclasses.replace(paths, out_dir=target)
    if not _prepared_with(paths, settings):
        target.mkdir(parents=True, exist_ok=True)
        prepare(paths, **settings, force=True, progress=progress)
    return run_data_paths(run)


# --------------------------------------------------------------------------------------
# The run's trained model
# --------------------------------------------------------------------------------------


def trained_checkpoint_dir(run_dir: str | os.PathLike[str]) -> Path:
    """Where step ``01_train_mlm`` puts the checkpoint it trained (later chapters read it)."""
    return steps.output_path(run_dir, "checkpoint")


def run_checkpoint(run: NotebookRun) -> Path:
    """The run's MLM: ``run.checkpoint`` when given, else the one step ``01_train_mlm`` trained.

    Either an lmeqtl checkpoint directory or an original ``*_weights_model.pt`` file; the
    error says what to run when neither exists.
    """
    from lmeqtl.mlm.checkpoint import INFO_FILE

    if run.checkpoint is not None:
        if not run.checkpoint.exists():
            raise InputError("the checkpoint given does not exist", path=run.checkpoint,
                             expected="an lmeqtl checkpoint directory or an original *_weights_model.pt")
        return run.checkpoint
    trained = trained_checkpoint_dir(run.run_dir)
    if not (trained / INFO_FILE).is_file():
        raise FileNotFoundError(f"{trained} does not exist: step {steps.MLM} has not trained a model yet "
                                f"(lmeqtl book --preset {run.preset.name} --only {steps.MLM}), and no "
                                "pretrained checkpoint was given (--checkpoint)")
    return trained


def load_run_model(run: NotebookRun, device: str | torch.device | None = None) -> tuple[HaplotypeMLM, dict[str, Any]]:
    """The run's MLM (:func:`run_checkpoint`) in eval mode on ``device`` (default ``run.device``), and its info.

    ``checkpoint_genes(info)`` is the model's gene order; original weights carry none, so
    it is the order in which genes first appear in the run's ``dataset.parquet`` (the
    original's gene -> index map, :func:`lmeqtl.mlm.checkpoint.original_gene_order`).
    """
    from lmeqtl.mlm.checkpoint import load_checkpoint, load_original_weights, original_gene_order

    path = run_checkpoint(run)
    device = run.device if device is None else device
    if path.is_file():
        return load_original_weights(path, original_gene_order(run_data_paths(run).dataset), device)
    return load_checkpoint(path, device)


@dataclass(frozen=True)
class ModelChoice:
    """Where step ``01_train_mlm`` gets its model: a checkpoint to use, or None to train, and why."""

    checkpoint: Path | None  # the given or shipped checkpoint; None: train from scratch
    source: str  # "given", "shipped" or "train"
    reason: str  # why the shipped weights are not used ("" when they are, or a checkpoint was given)


def choose_model(run: NotebookRun, cohort: Cohort) -> ModelChoice:
    """A given ``--checkpoint`` first; else the weights lmeqtl ships for the preset when they fit the
    cohort (data fingerprint), model and training settings, unless ``run.retrain``; else train."""
    from lmeqtl.mlm import weights
    from lmeqtl.mlm.batches import cohort_fingerprint

    if run.checkpoint is not None:
        return ModelChoice(run_checkpoint(run), "given", "")
    if run.retrain:
        return ModelChoice(None, "train", "this run was asked to retrain (`--retrain`)")
    shipped = weights.shipped_weights(run.preset.name)
    if shipped is None:
        return ModelChoice(None, "train", f"lmeqtl ships no weights for the {run.preset.name} preset")
    why = weights.mismatch(shipped, run.preset.model, run.preset.train, cohort_fingerprint(cohort))
    if why is not None:
        return ModelChoice(None, "train", f"the shipped weights do not fit this run: {why}")
    return ModelChoice(shipped, "shipped", "")


def save_run_checkpoint(run: NotebookRun, trained: str | os.PathLike[str]) -> Path:
    """Copy a checkpoint directory that training wrote to :func:`trained_checkpoint_dir` (replaced atomically)."""
    from lmeqtl.mlm.checkpoint import read_checkpoint_info

    read_checkpoint_info(trained)  # refuse to publish something that is not a checkpoint
    target = trained_checkpoint_dir(run.run_dir)
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(trained, partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target
