"""The book's pipeline: the numbered notebooks, run in order with papermill.

A step is a notebook ``notebooks/NN_name.ipynb`` (the list of steps is whatever is there).
It writes its outputs into ``run_dir/NN_name/``; its executed copy is ``run_dir/chapters/
NN_name.ipynb``. A step is skipped when that copy exists, its outputs are as it left them,
and the hash of its inputs matches the one recorded when it last succeeded. The inputs are
the notebook source, its parameters, the resolved preset, the lmeqtl source, the package
versions, the data and checkpoint it was given, and the outputs of the steps it needs (by
default every earlier step; a notebook may narrow that with ``metadata.lmeqtl.needs``).
A failed step keeps its executed copy, with the error, and the next run resumes there.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmeqtl.book.notebook import DIGEST_CACHE, resolve_preset
from lmeqtl.book.provenance import (
    file_digests,
    fingerprint,
    package_fingerprint,
    sha256_json,
    versions,
)
from lmeqtl.book.template import STEP_NAME, check_notebook, read_notebook
from lmeqtl.config import Preset
from lmeqtl.data.io import read_json, sha256_file, write_json
from lmeqtl.errors import InputError

STATE_FILE = "book-state.json"
CHAPTERS_DIR = "chapters"


@dataclass(frozen=True)
class Step:
    """One numbered notebook of the pipeline."""

    name: str  # "03_rq2_embeddings_expression"
    path: Path


def discover_steps(notebooks_dir: str | Path) -> list[Step]:
    """The ``NN_name.ipynb`` notebooks of ``notebooks_dir``, in order (other files ignored)."""
    paths = sorted(Path(notebooks_dir).glob("*.ipynb"))
    misnamed = [p.name for p in paths if p.stem[:2].isdigit() and not STEP_NAME.match(p.stem)]
    if misnamed:
        raise InputError(f"notebooks {misnamed} look like steps but are not named NN_name",
                         path=notebooks_dir, expected="two digits, '_', then lowercase letters, digits or '_'")
    steps = [Step(p.stem, p) for p in paths if STEP_NAME.match(p.stem)]
    numbers = [s.name[:2] for s in steps]
    duplicated = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicated:
        raise InputError(f"two notebooks share the step number {', '.join(duplicated)}",
                         path=notebooks_dir, expected="one notebook per number NN_")
    return steps


def find_step(name: str, steps: list[Step]) -> Step:
    """A step by its full name or its number (``"03"`` or ``"3"``)."""
    for step in steps:
        if name in (step.name, step.name[:2]) or (name.isdigit() and int(name) == int(step.name[:2])):
            return step
    raise InputError(f"no step {name!r}", expected=f"one of {', '.join(s.name for s in steps) or '(none)'}")


def step_needs(step: Step, steps: list[Step]) -> list[Step]:
    """The earlier steps whose outputs ``step`` reads: ``metadata.lmeqtl.needs`` or all of them."""
    earlier = steps[: steps.index(step)]
    needs = read_notebook(step.path).metadata.get("lmeqtl", {}).get("needs")
    if needs is None:
        return earlier
    by_name = {s.name: s for s in earlier}
    unknown = [n for n in needs if n not in by_name]
    if unknown:
        raise InputError(f"metadata.lmeqtl.needs names {unknown}, which are not earlier steps",
                         path=step.path, expected=f"names among {list(by_name)}")
    return [by_name[n] for n in needs]


@dataclass(frozen=True)
class RunSettings:
    """How one book run is parameterised (the ``lmeqtl book`` options)."""

    preset: str
    run_dir: Path
    data_dir: Path | None = None
    checkpoint: Path | None = None
    retrain: bool = False
    device: str = "auto"
    seed: int | None = None
    epochs: int | None = None
    overrides: dict[str, Any] = field(default_factory=dict)

    def resolved_preset(self) -> Preset:
        return resolve_preset(self.preset, seed=self.seed, epochs=self.epochs, overrides=self.overrides)

    def parameters(self, step: Step) -> dict[str, Any]:
        """The values papermill injects into the step's ``parameters`` cell."""
        def text(path: Path | None) -> str | None:
            return None if path is None else str(Path(path).resolve())

        return {"step": step.name, "preset": self.preset, "data_dir": text(self.data_dir),
                "run_dir": text(self.run_dir), "checkpoint": text(self.checkpoint),
                "retrain": self.retrain, "device": self.device, "seed": self.seed, "epochs": self.epochs,
                "overrides": dict(self.overrides)}

    def command(self) -> str:
        """The ``lmeqtl book`` command line that reproduces these settings."""
        words = ["lmeqtl book", f"--preset {self.preset}"]
        for flag, value in (("--data-dir", self.data_dir), ("--checkpoint", self.checkpoint),
                            ("--seed", self.seed), ("--epochs", self.epochs)):
            if value is not None:
                words.append(f"{flag} {value}")
        if self.retrain:
            words.append("--retrain")
        if self.device != "auto":
            words.append(f"--device {self.device}")
        words += [f"--set {key}={value!r}" for key, value in self.overrides.items()]
        return " ".join(words)


@dataclass
class StepOutcome:
    step: str
    status: str  # "ran", "up to date", or "not selected" (--only another step)
    seconds: float = 0.0
    reasons: list[str] = field(default_factory=list)  # why it ran


class StepFailed(RuntimeError):
    """A notebook raised; the message says where, and where its executed copy is kept."""


def load_state(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / STATE_FILE
    return read_json(path) if path.exists() else {"steps": {}}


def _load_cache(run_dir: Path) -> dict[str, list]:
    path = Path(run_dir) / DIGEST_CACHE
    return read_json(path) if path.exists() else {}


def _save(run_dir: Path, state: dict[str, Any], cache: dict[str, list]) -> None:
    write_json(Path(run_dir) / STATE_FILE, state)
    write_json(Path(run_dir) / DIGEST_CACHE, {k: v for k, v in cache.items() if Path(k).exists()})


def step_inputs(step: Step, settings: RunSettings, needs: list[Step], cache: dict[str, list]) -> dict[str, Any]:
    """Everything a step's results depend on; its hash decides whether the step re-runs.

    Paths are replaced by the fingerprints of what they hold, so moving a data directory
    re-runs nothing, while editing a file in it re-runs every step.
    """
    parameters = settings.parameters(step)
    for name in ("run_dir", "data_dir", "checkpoint"):
        parameters.pop(name)
    inputs = {
        "notebook": sha256_file(step.path),
        "parameters": parameters,
        "preset": settings.resolved_preset().to_dict(),
        "lmeqtl_source": package_fingerprint(),
        "versions": versions(),
        "data": fingerprint(file_digests(settings.data_dir, cache)),
        "checkpoint": fingerprint(file_digests(settings.checkpoint, cache)),
        "upstream": {need.name: fingerprint(file_digests(settings.run_dir / need.name, cache)) for need in needs},
    }
    return json.loads(json.dumps(inputs, default=str))  # as recorded: tuples become lists


_INPUT_WORDS = {"lmeqtl_source": "lmeqtl source", "versions": "package versions"}


def changed_inputs(old: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """Which inputs differ, in words (``["notebook changed", "upstream 00_data changed"]``)."""
    if old is None:
        return ["never ran"]
    changed = [f"{_INPUT_WORDS.get(key, key)} changed" for key in new
               if key != "upstream" and old.get(key) != new[key]]
    before = old.get("upstream", {})
    changed += [f"upstream {name} changed" for name, value in new["upstream"].items() if before.get(name) != value]
    changed += [f"upstream {name} no longer needed" for name in before if name not in new["upstream"]]
    return changed


def why_run(step: Step, needs: list[Step], settings: RunSettings, state: dict[str, Any],
            cache: dict[str, list]) -> tuple[dict[str, Any], list[str]]:
    """The step's current inputs, and why it is not up to date ([] when it is)."""
    run_dir = Path(settings.run_dir)
    inputs = step_inputs(step, settings, needs, cache)
    record = state["steps"].get(step.name)
    reasons = changed_inputs(record["inputs"] if record else None, inputs)
    if record and record["outputs_fingerprint"] != fingerprint(file_digests(run_dir / step.name, cache)):
        reasons.append("outputs changed since it ran")
    if record and not (run_dir / CHAPTERS_DIR / f"{step.name}.ipynb").exists():
        reasons.append("executed notebook missing")
    return inputs, reasons


def stale_steps(settings: RunSettings, steps: list[Step]) -> dict[str, list[str]]:
    """For every step that succeeded once: why it would re-run now ([] when up to date)."""
    state, cache = load_state(settings.run_dir), _load_cache(settings.run_dir)
    return {step.name: why_run(step, step_needs(step, steps), settings, state, cache)[1]
            for step in steps if step.name in state["steps"]}


def ensure_kernel(kernel_name: str) -> None:
    """Fail early, with the fix, when the Jupyter kernel is not installed."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel:
        raise InputError(f"the Jupyter kernel {kernel_name!r} is not installed",
                         expected=f"`make env`, or: python -m ipykernel install --sys-prefix --name {kernel_name}") from None


def _execute(step: Step, settings: RunSettings, executed: Path, kernel_name: str,
             progress: bool, log_output: bool, label: str = "") -> None:
    """Run the notebook with papermill. Its progress bars go to a file whose newest line the
    console shows (``progress``), never into the executed notebook (:mod:`lmeqtl.book.progress`)."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    from lmeqtl.book.progress import ProgressEcho

    bars = Path(settings.run_dir) / f".{step.name}.progress"
    try:
        with ProgressEcho(bars, label or step.name, echo=progress):
            papermill.execute_notebook(str(step.path), str(executed), parameters=settings.parameters(step),
                                       kernel_name=kernel_name, language="python", cwd=str(settings.run_dir),
                                       progress_bar=False,
                                       stdout_file=sys.stdout if log_output else None,
                                       stderr_file=sys.stderr if log_output else None)
    except PapermillExecutionError as err:
        raise StepFailed(f"step {step.name} failed in cell In[{err.exec_count}]: {err.ename}: {err.evalue}\n"
                         f"the executed notebook, with the traceback, is kept at {executed}; "
                         "fix the cause and run the same command again to resume from this step") from None
    except Exception as err:  # a dead kernel, a timeout, a broken notebook
        raise StepFailed(f"step {step.name} could not run: {type(err).__name__}: {err}\n"
                         f"what ran is kept at {executed}") from err


def run_steps(settings: RunSettings, steps: list[Step], only: str | None = None, force: bool = False,
              kernel_name: str = "lmeqtl", progress: bool = True, log_output: bool = False) -> list[StepOutcome]:
    """Run the steps that are not up to date, in order; see the module docstring.

    ``only`` runs that step alone (the steps it needs must have succeeded before, even if
    their inputs changed since); ``force`` re-runs the selected steps even when up to date.
    """
    settings = dataclasses.replace(settings, run_dir=Path(settings.run_dir).resolve())
    run_dir = settings.run_dir
    chapters = run_dir / CHAPTERS_DIR
    chapters.mkdir(parents=True, exist_ok=True)
    state, cache = load_state(run_dir), _load_cache(run_dir)
    target = find_step(only, steps) if only is not None else None
    for step in steps:
        check_notebook(step.path, conventions=False)
    kernel_checked = False
    outcomes = []
    for number, step in enumerate(steps, 1):
        label = f"[{number}/{len(steps)}] {step.name}"
        if target is not None and step != target:
            outcomes.append(StepOutcome(step.name, "not selected"))
            continue
        needs = step_needs(step, steps)
        absent = [need.name for need in needs if need.name not in state["steps"]]
        if absent:  # only reachable with --only
            raise InputError(f"step {step.name} needs {', '.join(absent)}, which has not run",
                             expected=f"a full run first: lmeqtl book --preset {settings.preset}")
        inputs, reasons = why_run(step, needs, settings, state, cache)
        executed = chapters / f"{step.name}.ipynb"
        if not reasons and not force:
            print(f"{label}: up to date")
            outcomes.append(StepOutcome(step.name, "up to date"))
            continue
        if not kernel_checked:
            ensure_kernel(kernel_name)
            kernel_checked = True
        print(f"{label}: running ({', '.join(reasons) or 'forced'})", flush=True)
        state["steps"].pop(step.name, None)
        shutil.rmtree(run_dir / step.name, ignore_errors=True)
        _save(run_dir, state, cache)
        start = time.perf_counter()
        _execute(step, settings, executed, kernel_name, progress, log_output, label)
        seconds = time.perf_counter() - start
        outputs = file_digests(run_dir / step.name, cache)
        state["steps"][step.name] = {
            "inputs": inputs, "inputs_hash": sha256_json(inputs), "outputs": outputs,
            "outputs_fingerprint": fingerprint(outputs), "seconds": round(seconds, 1),
            "finished": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        }
        _save(run_dir, state, cache)
        print(f"{label}: done in {seconds:.1f} s")
        outcomes.append(StepOutcome(step.name, "ran", seconds, reasons))
    _save(run_dir, state, cache)
    return outcomes
