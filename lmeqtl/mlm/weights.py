"""Pretrained weights shipped with lmeqtl: one checkpoint directory per preset.

The original project gave its users trained weights ("you don't have to retrain the
model"); so does this one, for the presets a CPU can train::

    lmeqtl/weights/<preset>/
        model.pt, checkpoint.json   an lmeqtl checkpoint (lmeqtl.mlm.checkpoint), read with weights_only=True
        history.csv                 the training run, one row per epoch (the book's chapter 01 plots it)
        provenance.json             how they were made: the command, the commit, the data fingerprint,
                                    the preset's settings, each sitting's wall time and hardware

``lmeqtl weights --preset top10`` (``make weights``) makes them: it simulates the preset's
cohort (bit-reproducible from its seed), trains with ``lmeqtl train``'s loop (resumable, in
as many sittings as it takes) and publishes the result here. A book run uses them when
:func:`mismatch` finds nothing that differs: the same cohort (data fingerprint), model and
training settings; otherwise it trains from scratch and says why.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import shutil
from pathlib import Path
from typing import Any

from lmeqtl.config import ModelConfig, TrainConfig
from lmeqtl.data.cohort import Cohort
from lmeqtl.data.io import as_json, atomic_path, read_json, write_json
from lmeqtl.mlm.checkpoint import read_checkpoint_info
from lmeqtl.mlm.model import HaplotypeMLM

WEIGHTS_ROOT = Path(__file__).resolve().parents[1] / "weights"
HISTORY_FILE, PROVENANCE_FILE = "history.csv", "provenance.json"
# training settings that do not change the weights (what a run scores, not how it trains)
NOT_TRAINING = ("max_minutes", "test_max_haplotypes")
CHECK_HAPLOTYPES = 40  # test haplotypes of the recorded check (check_scores)


def weights_dir(preset: str) -> Path:
    """Where the shipped weights of ``preset`` live (they may not exist)."""
    return WEIGHTS_ROOT / preset


def shipped_weights(preset: str) -> Path | None:
    """The shipped checkpoint directory of ``preset``, or None when lmeqtl ships none for it."""
    path = weights_dir(preset)
    return path if (path / "checkpoint.json").is_file() else None


def _changed(saved: dict[str, Any], wanted: Any, ignore: tuple[str, ...] = ()) -> list[str]:
    """Fields of the dataclass ``wanted`` whose value differs from ``saved`` (a checkpoint's JSON).

    A field added to lmeqtl after the weights were saved counts as its default, so a new
    option that keeps the old behaviour does not invalidate the shipped weights.
    """
    defaults = as_json(dataclasses.asdict(type(wanted)()))
    wanted = as_json(dataclasses.asdict(wanted))
    keys = (set(saved) | set(wanted)) - set(ignore)
    return sorted(k for k in keys if saved.get(k, defaults.get(k)) != wanted.get(k))


def mismatch(path: str | os.PathLike[str], model_cfg: ModelConfig, train_cfg: TrainConfig,
             data_fingerprint: str) -> str | None:
    """Why the weights in ``path`` do not fit a run with these settings and data (None: they fit)."""
    info = read_checkpoint_info(path)
    if info.get("data_fingerprint") != data_fingerprint:
        return (f"the cohort is not the one they were trained on (data fingerprint {data_fingerprint}, "
                f"theirs {info.get('data_fingerprint')}): other data, or a changed simulator")
    model = _changed(info.get("model_config") or {}, model_cfg)
    if model:
        return f"the model settings differ ({', '.join(model)})"
    train = _changed(info.get("train_config") or {}, train_cfg, NOT_TRAINING)
    if train:
        return f"the training settings differ ({', '.join(train)})"
    return None


def check_scores(model: HaplotypeMLM, cohort: Cohort, train_cfg: TrainConfig, device: str = "cpu") -> dict[str, Any]:
    """A small, fixed evaluation that the published provenance records and a test repeats.

    The first :data:`CHECK_HAPLOTYPES` test haplotypes (seeded subset), masked as in
    training's validation; a few thousand masked alleles, seconds on a CPU.
    """
    from lmeqtl.mlm.evaluate import evaluate_mlm

    masks = {"mask_rate": train_cfg.mask_rate, "edge_frame": train_cfg.edge_frame, "seed": train_cfg.seed,
             "max_haplotypes": CHECK_HAPLOTYPES}
    result = evaluate_mlm(model, cohort, split="test", device=device, progress=False, **masks)
    return {**masks, "split": "test", **{k: float(result.summary[k]) for k in ("masked_accuracy", "iqs_pooled")}}


def hardware() -> dict[str, Any]:
    """The machine a sitting ran on: CPU model, cores, torch threads, GPU (if any), versions."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cpu_cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "gpu": gpu,
            "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform(terse=True)}


def publish(training_dir: str | os.PathLike[str], target: str | os.PathLike[str],
            provenance: dict[str, Any]) -> Path:
    """Copy the checkpoint and history of a training run to ``target`` with ``provenance`` (replaced atomically)."""
    training_dir, target = Path(training_dir), Path(target)
    read_checkpoint_info(training_dir / "checkpoint")  # refuse to publish something that is not a checkpoint
    partial = target.with_name(f".{target.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(training_dir / "checkpoint", partial)
    with atomic_path(partial / HISTORY_FILE) as tmp:
        shutil.copy2(training_dir / HISTORY_FILE, tmp)
    write_json(partial / PROVENANCE_FILE, provenance)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def read_provenance(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``provenance.json`` of a shipped-weights directory (None when it has none)."""
    file = Path(path) / PROVENANCE_FILE
    return read_json(file) if file.is_file() else None
