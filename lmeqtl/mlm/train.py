"""Train the haplotype MLM: masked-allele cross-entropy, validation by sample fold, resume.

:func:`train_mlm` is the library entry point (the book's notebook 01 calls it);
``lmeqtl train`` is the command line (``torchrun --nproc_per_node=K -m lmeqtl.cli train ...``
for DDP). Output directory::

    checkpoint/       the latest model (lmeqtl.mlm.checkpoint: model.pt + checkpoint.json)
    train_state.pt    model + optimizer + schedule + history: everything a resume needs, in
                      one atomic file, so a run killed at any moment resumes from the last
                      finished epoch and ends with the same numbers as an uninterrupted one
    run.json          the configurations and data fingerprint (a resume must match them)
    history.csv, history.jsonl   one row per epoch: train loss/accuracy, validation metrics

Loss and metrics use the selected (masked) positions only. Optimisation: Adam, linear
warm-up then cosine (or constant) learning rate, gradient-norm clipping, autocast on CUDA
(bf16 where supported, else fp16 with a gradient scaler). Randomness per epoch comes from
``(seed, epoch)`` (:mod:`lmeqtl.mlm.batches`, and the torch seed for dropout), so the same seed
gives bit-identical runs on CPU. Validation masks are uniform at ``mask_rate`` and fixed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from lmeqtl.config import ModelConfig, TrainConfig
from lmeqtl.data.cohort import Cohort
from lmeqtl.data.io import as_json, atomic_path, read_json, write_json
from lmeqtl.errors import InputError
from lmeqtl.mlm import distributed
from lmeqtl.mlm.batches import HaplotypeBatches, cohort_fingerprint, kfold_samples, window_digests
from lmeqtl.mlm.checkpoint import (
    checkpoint_genes,
    load_checkpoint,
    load_into,
    load_original_weights,
    load_torch_file,
    save_checkpoint,
    save_torch_file,
)
from lmeqtl.mlm.evaluate import autocast, run_evaluation
from lmeqtl.mlm.model import HaplotypeMLM

STATE_FILE, RUN_FILE = "train_state.pt", "run.json"
TRAIN_STATE_KEYS = {"model", "optimizer", "scheduler", "scaler", "history", "epoch"}
_RESUME_IGNORES = ("max_minutes", "test_max_haplotypes")  # settings a resumed run may change


@dataclass
class TrainResult:
    history: pd.DataFrame  # one row per epoch
    checkpoint: Path  # the latest checkpoint directory
    model: HaplotypeMLM  # the trained model (train mode off)


def lr_factor(step: int, config: TrainConfig, total_steps: int) -> float:
    """Learning-rate multiplier at optimiser step ``step``: linear warm-up, then cosine or constant."""
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.lr_schedule == "constant":
        return 1.0
    if config.lr_schedule != "cosine":
        raise ValueError(f"unknown lr_schedule {config.lr_schedule!r} (constant or cosine)")
    progress = min(1.0, (step - config.warmup_steps) / max(1, total_steps - config.warmup_steps))
    return config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def amp_dtype(config: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``config.amp`` on ``device`` (None: full precision)."""
    if config.amp == "off" or (config.amp == "auto" and device.type != "cuda"):
        return None
    if config.amp == "bf16":
        return torch.bfloat16
    if config.amp != "auto":
        raise ValueError(f"unknown amp setting {config.amp!r} (auto, off, bf16)")
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _initial_model(model_cfg: ModelConfig, cohort: Cohort, init_from: str | Path | None) -> HaplotypeMLM:
    """A fresh model, or one initialised from a checkpoint / original weights (gene rows re-ordered).

    Original weights carry no gene map: ``cohort.genes`` must be in the original's order
    (:func:`lmeqtl.mlm.checkpoint.original_gene_order`, as ``lmeqtl train --model_weight`` does).
    """
    if init_from is None:
        return HaplotypeMLM(model_cfg, len(cohort.genes), [cohort.haplotypes[g].shape[2] for g in cohort.genes])
    path = Path(init_from)
    if path.is_file():
        model, info = load_original_weights(path, None)
        genes = list(cohort.genes) if info["n_genes"] == len(cohort.genes) else None
    else:
        model, info = load_checkpoint(path)
        genes = checkpoint_genes(info)
    if genes is None or sorted(genes) != sorted(cohort.genes):
        raise InputError("the initial weights were trained on other genes", path=path,
                         expected=f"the genes of this dataset ({len(cohort.genes)})")
    if genes != list(cohort.genes):
        if model.config.snp_embedding:
            raise InputError("the initial weights list the genes in another order", path=path,
                             expected=f"genes in the order {genes[:3]}...")
        order = torch.tensor([genes.index(g) for g in cohort.genes])
        with torch.no_grad():
            model.gene_embedding.weight.copy_(model.gene_embedding.weight[order])
    if model.gene_lengths not in (None, [cohort.haplotypes[g].shape[2] for g in cohort.genes]):
        raise InputError("the initial weights have SNP embeddings for other gene windows", path=path,
                         expected="the same number of SNPs per gene")
    return model.train()


def _run_config(model_cfg: ModelConfig, train_cfg: TrainConfig, cohort: Cohort, fingerprint: str) -> dict:
    train = {k: v for k, v in dataclasses.asdict(train_cfg).items() if k not in _RESUME_IGNORES}
    return {"model": dataclasses.asdict(model_cfg), "train": train, "genes": list(cohort.genes),
            "data_fingerprint": fingerprint}


def _differences(saved: Any, wanted: Any, prefix: str = "") -> list[str]:
    """``train.epochs: 3 -> 5``: each setting (dotted key) whose value differs, the old value first."""
    if isinstance(saved, dict) and isinstance(wanted, dict):
        return [line for key in sorted(set(saved) | set(wanted), key=str)
                for line in _differences(saved.get(key), wanted.get(key), f"{prefix}{key}.")]
    if saved == wanted:
        return []
    shown = [v if not isinstance(v, list) or len(v) <= 4 else f"[{len(v)} items]" for v in (saved, wanted)]
    return [f"{prefix.rstrip('.')}: {shown[0]!r} -> {shown[1]!r}"]


def _write_history(output_dir: Path, history: list[dict[str, Any]]) -> None:
    with atomic_path(output_dir / "history.csv") as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False)
    with atomic_path(output_dir / "history.jsonl") as tmp:
        tmp.write_text("".join(json.dumps(row) + "\n" for row in history))


def train_mlm(
    cohort: Cohort,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    output_dir: str | Path,
    device: str | torch.device = "auto",
    *,
    resume: bool = True,
    init_from: str | Path | None = None,
    progress: bool = True,
    on_epoch_end: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Train on the cohort's ``train`` split minus validation fold ``train_cfg.fold``; see the module docstring."""
    output_dir = Path(output_dir)
    context = distributed.setup(device)
    device = context.device
    own_group = context.active
    position = pd.Series(np.arange(len(cohort.samples)), index=cohort.samples.index)
    fit_ids, val_ids = kfold_samples(cohort.sample_ids[cohort.split_mask("train")], train_cfg.n_folds,
                                     train_cfg.fold, train_cfg.seed)
    if len(fit_ids) == 0:
        raise InputError("no training samples: the dataset has no 'train' split rows",
                         expected="samples with split 'train'")
    fit = HaplotypeBatches(cohort, position.loc[fit_ids].to_numpy(), batch_size=train_cfg.batch_size, train=True,
                           seed=train_cfg.seed, crop_length=train_cfg.crop_length, mask_rate=train_cfg.mask_rate,
                           mask_strategy=train_cfg.mask_strategy, edge_frame=train_cfg.edge_frame,
                           epoch_size=train_cfg.epoch_size)
    val = None if len(val_ids) == 0 else HaplotypeBatches(
        cohort, position.loc[val_ids].to_numpy(), batch_size=train_cfg.val_batch_size, train=False,
        seed=train_cfg.seed, mask_rate=train_cfg.mask_rate, mask_strategy="uniform",
        edge_frame=train_cfg.edge_frame, max_haplotypes=train_cfg.val_max_haplotypes)

    torch.manual_seed(train_cfg.seed)
    model = _initial_model(model_cfg, cohort, init_from)
    model_cfg = model.config
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=train_cfg.learning_rate, weight_decay=train_cfg.weight_decay)
    total_steps = train_cfg.epochs * len(fit)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, train_cfg, total_steps))
    dtype = amp_dtype(train_cfg, device)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    fingerprint = cohort_fingerprint(cohort)
    windows = window_digests(cohort.meta)
    run_config = _run_config(model_cfg, train_cfg, cohort, fingerprint)

    history: list[dict[str, Any]] = []
    start_epoch = 1
    if resume and (output_dir / STATE_FILE).exists():
        saved = read_json(output_dir / RUN_FILE)
        if saved != as_json(run_config):
            changed = _differences(saved, as_json(run_config))
            raise InputError(f"cannot resume: {'; '.join(changed[:4])} (this run vs the one in this directory)",
                             path=output_dir / RUN_FILE, expected="the same settings, or --no-resume / a new --out")
        state = load_torch_file(output_dir / STATE_FILE, expected="the training state of this run, or --no-resume")
        lacking = sorted(TRAIN_STATE_KEYS - (set(state) if isinstance(state, dict) else set()))
        if lacking:
            raise InputError(f"not a training state: it lacks {lacking}", path=output_dir / STATE_FILE,
                             expected="the training state of this run, or --no-resume")
        load_into(model, state["model"], output_dir / STATE_FILE)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        history, start_epoch = list(state["history"]), int(state["epoch"]) + 1
    elif context.is_main:
        write_json(output_dir / RUN_FILE, run_config)

    net = torch.nn.parallel.DistributedDataParallel(model) if context.active else model
    started = time.monotonic()
    budget = None if train_cfg.max_minutes is None else 60.0 * train_cfg.max_minutes
    for epoch in range(start_epoch, train_cfg.epochs + 1):
        torch.manual_seed(train_cfg.seed * 100_003 + epoch)  # dropout: same numbers after a resume
        model.train()
        totals = torch.zeros(4, dtype=torch.float64)  # loss sum, correct, selected, haplotypes
        epoch_start, stop = time.monotonic(), False
        bar = tqdm(fit.epoch(epoch, context.rank, context.world_size), total=len(fit), leave=False,
                   desc=f"epoch {epoch}", disable=not (progress and context.is_main))
        for batch in bar:
            batch = batch.to(device)
            with autocast(device, dtype):
                logits = net(batch.tokens, batch.gene, batch.start)  # (B, L, 2)
            logits, truth = logits.float()[batch.selected], batch.alleles[batch.selected]  # (n_sel, 2), (n_sel,)
            loss_sum = F.cross_entropy(logits, truth, reduction="sum")
            # mean over the whole (all-rank) batch; DDP averages gradients over ranks
            loss = loss_sum * (context.world_size / max(batch.n_selected_total, 1))
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if train_cfg.grad_clip is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), train_cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            totals += torch.tensor([loss_sum.item(), (logits.argmax(-1) == truth).sum().item(),
                                    len(truth), len(batch.tokens)], dtype=torch.float64)
            bar.set_postfix(loss=f"{totals[0] / max(totals[2], 1):.4f}", acc=f"{totals[1] / max(totals[2], 1):.4f}")
            if budget is not None and distributed.any_process(time.monotonic() - started > budget, context):
                stop = True
                break
        bar.close()
        totals = distributed.all_reduce_sum(totals.to(device) if device.type == "cuda" else totals, context).cpu()
        seconds = time.monotonic() - epoch_start
        row: dict[str, Any] = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"],
                               "train_loss": float(totals[0] / max(totals[2], 1)),
                               "train_masked_accuracy": float(totals[1] / max(totals[2], 1)),
                               "train_haplotypes": int(totals[3]), "seconds": round(seconds, 2),
                               "haplotypes_per_s": round(float(totals[3]) / max(seconds, 1e-9), 2),
                               "stopped_early": stop}
        last = stop or epoch == train_cfg.epochs
        distributed.broadcast_buffers(model, context)  # every rank scores with rank 0's BatchNorm statistics
        if val is not None and (last or epoch % train_cfg.validate_every == 0):
            result = run_evaluation(model, val, device, context, dtype, progress=progress and context.is_main)
            row.update({f"val_{k}": v for k, v in result.summary.items()})
        history.append(row)
        if context.is_main:
            metrics = {k: v for k, v in row.items() if k.startswith("val_")}
            save_checkpoint(output_dir / "checkpoint", model, genes=list(cohort.genes), data_fingerprint=fingerprint,
                            epoch=epoch, metrics=metrics, train_config=dataclasses.asdict(train_cfg),
                            extra={"window_digests": windows})
            state = {"epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "history": history}
            save_torch_file(state, output_dir / STATE_FILE)
            _write_history(output_dir, history)
            if progress:
                shown = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
                tqdm.write(" ".join(f"{k}={v}" for k, v in shown.items()))
        distributed.barrier(context)
        if on_epoch_end is not None:
            on_epoch_end(row)
        if stop:
            break
    if own_group:
        distributed.teardown()
    return TrainResult(pd.DataFrame(history), output_dir / "checkpoint", model.eval())


# --------------------------------------------------------------------------------------
# lmeqtl train
# --------------------------------------------------------------------------------------

# flag -> (TrainConfig or ModelConfig field, original lm-eqtl alias)

