"""The pages the runner writes from a run's records: "Reproducibility" and "This build".

Everything on them is read from the run directory (``book-state.json`` and each step's
``provenance.json``) or from the installed packages, never typed in.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lmeqtl.book.notebook import PROVENANCE_FILE
from lmeqtl.book.pipeline import RunSettings, Step, stale_steps
from lmeqtl.book.provenance import package_fingerprint, seeds, versions
from lmeqtl.book.steps import DATA as DATA_STEP
from lmeqtl.book.steps import SUMMARY, output_path
from lmeqtl.config import Preset
from lmeqtl.data.io import read_json

MAX_FILES_LISTED = 40  # per step, on the reproducibility page


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _dropdown(title: str, body: list[str]) -> list[str]:
    return [f"::::{{admonition}} {title}", ":class: dropdown", "", *body, "::::", ""]


def _short(digest: str) -> str:
    return f"`{digest[:12]}`" if digest != "-" else "-"


def _step_provenance(run_dir: Path, step: str) -> dict[str, Any]:
    path = run_dir / step / PROVENANCE_FILE
    return read_json(path) if path.exists() else {}


def _determinism_text(preset: Preset) -> str:
    """What the same seeds promise for this run's settings (a wall-clock budget breaks the promise)."""
    budgets = [f"`{section}.max_minutes` = {minutes:g}" for section, minutes in
               (("train", preset.train.max_minutes), ("finetune", preset.finetune.max_minutes)) if minutes]
    if budgets:
        return (f"This run set a wall-clock budget ({', '.join(budgets)}): how much it trained depended on the "
                "machine's speed and load, so a rebuild can give other numbers.")
    return ("Training lengths are fixed numbers of epochs, never a wall-clock budget, so on a CPU the same seeds "
            "and package versions give the same numbers at any machine load (another CPU model can differ in the "
            "last digits where the math library picks other kernels); on a GPU some kernels are not "
            "deterministic, so results can differ in the last digits.")


def render_reproducibility(settings: RunSettings, steps: list[Step], state: dict[str, Any]) -> str:
    """The reproducibility page (MyST markdown): command, seeds, versions, steps, fingerprints."""
    run_dir = Path(settings.run_dir).resolve()
    preset = settings.resolved_preset()
    records = state["steps"]
    stale = stale_steps(settings, steps)
    lines = [
        "# Reproducibility", "",
        "Written by `lmeqtl book` from the records of the run in "
        f"`{run_dir.name}/` (`book-state.json`). Every chapter ran with the settings below; a "
        "step re-runs only when its notebook, parameters, preset, the lmeqtl source, the package "
        "versions, its data or an upstream step's outputs change.", "",
        "## Rebuild this book", "", "```bash", settings.command(), "```", "",
        _determinism_text(preset), "",
        "## Seeds", "",
        *_table(["setting", "seed"], [[f"`{k}`", v] for k, v in seeds(preset.to_dict()).items()]),
        "## Software", "",
        *_table(["package", "version"], [[k, v] for k, v in versions().items()]),
        f"Fingerprint of the lmeqtl source: {_short(package_fingerprint())}.", "",
        "## Steps", "",
    ]
    rows = []
    for step in steps:
        record = records.get(step.name)
        if record is None:
            rows.append([step.name, "not run", "", "", "", "", ""])
            continue
        reasons = stale.get(step.name, [])
        provenance = _step_provenance(run_dir, step.name)
        rows.append([step.name, record["finished"], f"{record['seconds']:.0f} s",
                     provenance.get("device", "-"), _short(record["inputs_hash"]),
                     _short(record["outputs_fingerprint"]),
                     "yes" if not reasons else "no: " + ", ".join(reasons)])
    lines += _table(["step", "finished", "time", "device", "inputs hash", "outputs fingerprint",
                     "up to date"], rows)
    lines += ["## Data", ""]
    if settings.data_dir is not None:
        data = next((record["inputs"]["data"] for record in records.values()), "-")
        lines += [f"Real data from `{Path(settings.data_dir).name}/`, fingerprint {_short(data)} "
                  "(SHA-256 over the names and contents of its files).", ""]
    else:
        lines += [f"The simulated cohort written by step `{DATA_STEP}` (its files are listed below); "
                  f"every random draw of the simulation comes from the seed `simulation.seed` = "
                  f"{preset.simulation.seed}.", ""]
    for step in steps:
        outputs = records.get(step.name, {}).get("outputs", {})
        if outputs:
            listed = sorted(outputs.items())[:MAX_FILES_LISTED]
            body = _table(["file", "SHA-256"], [[f"`{name}`", _short(d)] for name, d in listed])
            if len(outputs) > len(listed):
                body.append(f"... and {len(outputs) - len(listed)} more files.")
            lines += _dropdown(f"Files written by {step.name} ({len(outputs)})", body)
    lines += ["## The preset in full", "", *_dropdown(f"preset {preset.name!r}", ["```json", preset.to_json(), "```"])]
    return "\n".join(lines)


def render_this_build(settings: RunSettings, steps: list[Step], done: list[Step]) -> str:
    """The box at the top of the intro: which preset, which chapters, when."""
    preset = settings.resolved_preset()
    missing = [s.name for s in steps if s not in done]
    text = (f"Built on {time.strftime('%Y-%m-%d')} with the **{preset.name}** preset "
            f"({preset.description}); {len(done)} of {len(steps)} chapters ran. Seeds, versions and "
            "data fingerprints are on the {doc}`/chapters/reproducibility` page.")
    if not steps:
        text += " No chapter notebooks exist yet, so this build has only the pages below."
    elif missing:
        text += f" Not run: {', '.join(missing)}."
    box = [":::{admonition} This build", ":class: tip", "", text, ":::", ""]
    answers = output_path(settings.run_dir, "answers")
    if any(s.name == SUMMARY for s in done) and answers.is_file():
        box += [":::{admonition} The five answers of this build", ":class: important", "",
                *(f"- **{question}.** {' '.join(answer.split())}" for question, answer in read_json(answers).items()),
                "", f"The evidence is in the chapters; {{doc}}`/chapters/{SUMMARY}` gathers it.", ":::", ""]
    return "\n".join(box)
