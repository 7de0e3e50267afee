"""Checkpoints of fine-tuned expression models, written like training's (:mod:`lmeqtl.mlm.checkpoint`).

A fine-tuned checkpoint is a directory::

    finetuned.pt     torch.save of the head and the trainable trunk parameters only
                     (tensors; read with weights_only=True)
    finetune.json    the fine-tuning configuration, genes, SNP windows, fold, best epoch,
                     metrics, and the pretrained checkpoint it starts from (path + sha256)

The frozen trunk is not copied (top10's SNP embedding alone is 3.2 M parameters, and a
run writes one checkpoint per gene and fold): :func:`load_finetuned` rebuilds the model
from the pretrained checkpoint, refusing one whose weights differ from those fine-tuned.
Weights are written first and the JSON last, both atomically.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from lmeqtl import __version__
from lmeqtl.config import FinetuneConfig
from lmeqtl.data.io import sha256_file, write_json
from lmeqtl.errors import InputError
from lmeqtl.finetune.model import ExpressionModel
from lmeqtl.mlm.checkpoint import (
    git_commit,
    load_checkpoint,
    load_state_dict_file,
    read_format_info,
    save_torch_file,
)

FORMAT, FORMAT_VERSION = "lmeqtl-finetuned-expression", 1
WEIGHTS_FILE, INFO_FILE = "finetuned.pt", "finetune.json"
RETIRED = {"mode": "per_gene", "combine": "sum"}  # removed settings -> the behaviour that is left


def save_finetuned(path_dir: str | os.PathLike[str], model: ExpressionModel, *, pretrained: str | os.PathLike[str],
                   pretrained_sha256: str | None, state: dict[str, torch.Tensor] | None = None,
                   extra: dict[str, Any] | None = None) -> Path:
    """Write ``finetuned.pt`` (``state``, default the model's current one) + ``finetune.json``."""
    path_dir = Path(path_dir)
    path_dir.mkdir(parents=True, exist_ok=True)
    save_torch_file(state if state is not None else model.finetuned_state(), path_dir / WEIGHTS_FILE)
    digest = sha256_file(path_dir / WEIGHTS_FILE)
    info = {
        "format": FORMAT, "format_version": FORMAT_VERSION,
        "pretrained": {"path": str(Path(pretrained).resolve()), "weights_sha256": pretrained_sha256},
        "finetune_config": dataclasses.asdict(model.config), "genes": model.genes,
        "mlm_genes": model.mlm_genes, "windows": [list(w) for w in model.windows],
        "weights_file": WEIGHTS_FILE, "weights_sha256": digest, "git_commit": git_commit(),
        "lmeqtl_version": __version__, "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        **(extra or {}),
    }
    write_json(path_dir / INFO_FILE, info)
    return path_dir


def read_finetuned_info(path_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The JSON of a fine-tuned checkpoint, checked for its format."""
    return read_format_info(path_dir, INFO_FILE, WEIGHTS_FILE, FORMAT, FORMAT_VERSION, "a fine-tuned checkpoint",
                            "lmeqtl.finetune.checkpoints")[1]


def finetune_config_from(raw: dict[str, Any], source: str | os.PathLike[str]) -> FinetuneConfig:
    """A :class:`FinetuneConfig` from its JSON; unknown fields are an error.

    Checkpoints written before ``mode`` and ``combine`` were removed still load when they hold
    the one behaviour that is left (a model per gene, the haplotypes summed).
    """
    for name, kept in RETIRED.items():
        if name in raw and raw[name] != kept:
            raise InputError(f"fine-tuning setting {name}={raw[name]!r} is no longer supported", path=source,
                             where="finetune_config", expected=f"{name}={kept!r} (the only one left)")
    raw = {k: v for k, v in raw.items() if k not in RETIRED}
    fields = {f.name for f in dataclasses.fields(FinetuneConfig)}
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise InputError(f"unknown fine-tuning settings {unknown}", path=source, where="finetune_config",
                         expected=f"fields of FinetuneConfig: {sorted(fields)}")
    return FinetuneConfig(**raw)


def load_finetuned(path_dir: str | os.PathLike[str], pretrained: str | os.PathLike[str] | None = None,
                   device: str | torch.device = "cpu") -> tuple[ExpressionModel, dict[str, Any]]:
    """Rebuild a fine-tuned :class:`ExpressionModel` (eval mode) and return ``(model, info)``.

    ``pretrained``: the pretrained checkpoint directory (default: the path recorded at
    fine-tuning time); its weights must be the ones that were fine-tuned (sha256).
    """
    info = read_finetuned_info(path_dir)
    source = Path(pretrained) if pretrained is not None else Path(info["pretrained"]["path"])
    mlm, pretrained_info = load_checkpoint(source)
    expected = info["pretrained"].get("weights_sha256")
    if expected and pretrained_info.get("weights_sha256") != expected:
        raise InputError("this pretrained checkpoint is not the one that was fine-tuned", path=source,
                         where="weights_sha256", expected=expected)
    weights = Path(path_dir) / info.get("weights_file", WEIGHTS_FILE)
    if not weights.is_file():
        raise InputError("weights file is missing", path=weights, expected=f"written with {INFO_FILE}")
    if sha256_file(weights) != info.get("weights_sha256"):
        raise InputError("weights file does not match its finetune.json (truncated or replaced)",
                         path=weights, where="sha256", expected=info.get("weights_sha256"))
    config = finetune_config_from(info["finetune_config"], Path(path_dir) / INFO_FILE)
    model = ExpressionModel(mlm, info["genes"], info["mlm_genes"], [tuple(w) for w in info["windows"]], config)
    try:
        model.load_finetuned_state(load_state_dict_file(weights))
    except ValueError as err:
        raise InputError(str(err), path=weights, expected="weights saved from this fine-tuning configuration") from None
    return model.to(device).eval(), info


def finetuned_checkpoints(output_dir: str | os.PathLike[str]) -> pd.DataFrame:
    """The fine-tuned checkpoints under a run's ``output_dir`` (``units/<unit>/fold_<k>/``).

    One row per gene and outer fold: ``gene, fold, unit, path, best_epoch``, sorted; for RQ5: ``load_finetuned(row.path)[0].predictor(row.gene)``
    predicts the people of that fold's test set, which the model never saw.
    """
    rows = []
    for info_path in sorted(Path(output_dir).glob(f"units/*/fold_*/{INFO_FILE}")):
        info = read_finetuned_info(info_path.parent)
        summary = info.get("summary") or {}
        rows.extend({"gene": gene, "fold": int(info.get("fold", summary.get("fold", -1))),
                     "unit": info_path.parent.parent.name, "path": str(info_path.parent),
                     "best_epoch": summary.get("best_epoch")} for gene in info["genes"])
    columns = ["gene", "fold", "unit", "path", "best_epoch"]
    return pd.DataFrame(rows, columns=columns).sort_values(["gene", "fold"], ignore_index=True)
