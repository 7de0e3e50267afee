"""Evaluate the haplotype MLM: masked accuracy, recall, IQS per SNP and pooled, by MAF bin.

:func:`evaluate_mlm` masks the haplotypes of some samples once (fixed by ``seed``), predicts
the masked alleles on whole sequences and returns the tables; training's validation uses
the same code (:func:`run_evaluation`). ``lmeqtl evaluate`` is the command line.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from lmeqtl.data.cohort import Cohort
from lmeqtl.errors import InputError
from lmeqtl.mlm import metrics
from lmeqtl.mlm.batches import Batch, HaplotypeBatches
from lmeqtl.mlm.distributed import Context, all_reduce_sum, resolve_device
from lmeqtl.mlm.masking import N_ALLELES

# The original's top10 run, epoch 100 of its training log (its IQS is the pooled kind).
ORIGINAL_REPORTED = {"masked_accuracy": 0.9915, "iqs_pooled": 0.9792}
ORIGINAL_LABEL = "original lm-eqtl, full size (reported)"
METRICS = ("masked_accuracy", "recall_ref", "recall_alt", "iqs_snp_mean", "iqs_pooled")
LABELS = {"masked_accuracy": "masked accuracy", "recall_ref": "recall REF", "recall_alt": "recall ALT",
          "iqs_snp_mean": "per-SNP IQS", "iqs_pooled": "pooled IQS", "n_snps": "SNPs", "n_masked": "masked alleles",
          "maf_bin": "MAF bin", "scored_on": "scored on"}


def short_bin(label: str) -> str:
    """A MAF bin label for crowded places: ``"(0.05, 0.1]"`` -> ``"0.05–0.1"`` (``"all"`` stays)."""
    return label.strip("(]").replace(", ", "–") if label.startswith("(") else label


@dataclass
class MLMEvaluation:
    """Metrics of masked-allele prediction (see :mod:`lmeqtl.mlm.metrics` for the formulas)."""

    summary: dict[str, float]  # loss, masked_accuracy, recall_ref/alt, iqs_snp_mean, iqs_pooled, ...
    by_maf: pd.DataFrame  # one row per MAF bin + "all"
    per_snp: pd.DataFrame  # gene, seq_idx, id, pos, maf, n_masked, accuracy, iqs
    confusion: np.ndarray  # (n_snps, 2, 2) counts, rows = true allele, meta row order


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Mixed precision for ``dtype`` (None: full precision)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


@torch.no_grad()
def accumulate(model: torch.nn.Module, batches: Iterable[Batch], n_snps: int, device: torch.device,
               context: Context | None = None, amp_dtype: torch.dtype | None = None,
               progress: bool = False, total: int | None = None) -> tuple[np.ndarray, float]:
    """Per-SNP confusion counts ``(n_snps, 2, 2)`` and the mean masked cross-entropy (all ranks)."""
    counts = np.zeros(n_snps * N_ALLELES * N_ALLELES, dtype=np.float64)
    loss_sum = 0.0
    for batch in tqdm(batches, total=total, disable=not progress, desc="evaluate", leave=False):
        batch = batch.to(device)
        with autocast(device, amp_dtype):
            logits = model(batch.tokens, batch.gene, batch.start)  # (B, L, 2)
        logits = logits.float()[batch.selected]  # (n_sel, 2)
        truth = batch.alleles[batch.selected]
        loss_sum += float(F.cross_entropy(logits, truth, reduction="sum"))
        snp = batch.snp[batch.selected.cpu().numpy()]
        flat = (snp * N_ALLELES + truth.cpu().numpy()) * N_ALLELES + logits.argmax(-1).cpu().numpy()
        counts += np.bincount(flat, minlength=len(counts))
    totals = torch.from_numpy(np.append(counts, loss_sum))
    if context is not None and context.active:
        totals = totals.to(context.device if context.device.type == "cuda" else "cpu")
        totals = all_reduce_sum(totals, context).cpu()
    totals = totals.numpy()
    confusion = totals[:-1].reshape(n_snps, N_ALLELES, N_ALLELES)
    n_masked = confusion.sum()
    return confusion, float(totals[-1] / n_masked) if n_masked else math.nan


def tables(confusion: np.ndarray, loss: float, cohort: Cohort) -> MLMEvaluation:
    """Summary, MAF-bin and per-SNP tables from per-SNP confusion counts."""
    meta = cohort.meta
    af = meta["AF"].to_numpy(dtype=np.float64)
    maf = np.minimum(af, 1 - af)
    per_snp = pd.DataFrame({
        "gene": meta["GENE_ID"].to_numpy(), "seq_idx": meta["seq_idx"].to_numpy(),
        "id": meta["id"].to_numpy(), "pos": meta["pos"].to_numpy(), "maf": maf,
        "n_masked": confusion.sum(axis=(1, 2)),
        "accuracy": np.trace(confusion, axis1=1, axis2=2) / np.maximum(confusion.sum(axis=(1, 2)), 1),
        "iqs": metrics.iqs_per_snp(confusion),
    })
    per_snp.loc[per_snp["n_masked"] == 0, "accuracy"] = np.nan
    summary = {"loss": loss, **metrics.summary(confusion)}
    return MLMEvaluation(summary, metrics.by_maf_bin(confusion, maf), per_snp, confusion)


def run_evaluation(model: torch.nn.Module, batches: HaplotypeBatches, device: torch.device,
                   context: Context | None = None, amp_dtype: torch.dtype | None = None,
                   progress: bool = False) -> MLMEvaluation:
    """Evaluate ``model`` on fixed-mask batches (sharded over DDP ranks, counts summed)."""
    was_training = model.training
    model.eval()
    rank, world = (context.rank, context.world_size) if context is not None else (0, 1)
    n_snps = len(batches.cohort.meta)
    confusion, loss = accumulate(model, batches.epoch(0, rank, world), n_snps, device, context, amp_dtype,
                                 progress, total=-(-len(batches) // world))
    model.train(was_training)
    return tables(confusion, loss, batches.cohort)


def masked_batches(
    cohort: Cohort,
    samples: Iterable[str] | None = None,
    split: str = "test",
    *,
    mask_rate: float = 0.2,
    mask_strategy: str = "uniform",
    edge_frame: int = 30,
    seed: int = 1,
    batch_size: int = 16,
    max_haplotypes: int | None = None,
) -> HaplotypeBatches:
    """The fixed-mask whole-sequence batches that :func:`evaluate_mlm` scores (same arguments, same masks).

    Baselines (:mod:`lmeqtl.mlm.baselines`) score the same batches, so their numbers are
    comparable position for position.
    """
    ids = cohort.sample_ids[cohort.split_mask(split)] if samples is None else np.asarray(list(samples))
    position = pd.Series(np.arange(len(cohort.samples)), index=cohort.samples.index)
    unknown = [s for s in ids if s not in position.index]
    if unknown:
        raise InputError(f"samples not in the cohort: {unknown[:5]}", expected="sample ids of the dataset")
    return HaplotypeBatches(cohort, position.loc[ids].to_numpy(), batch_size=batch_size, train=False,
                            seed=seed, mask_rate=mask_rate, mask_strategy=mask_strategy,
                            edge_frame=edge_frame, max_haplotypes=max_haplotypes)


def evaluate_mlm(model: torch.nn.Module, cohort: Cohort, samples: Iterable[str] | None = None, split: str = "test",
                 *, device: str | torch.device = "auto", progress: bool = True, **masks: Any) -> MLMEvaluation:
    """Mask the haplotypes of ``samples`` (default: every sample of ``split``) and score the predictions.

    ``masks``: the keyword arguments of :func:`masked_batches` (``mask_rate``, ``mask_strategy``,
    ``edge_frame``, ``seed``, ``batch_size``, ``max_haplotypes``). Masks are drawn once from
    ``seed`` (same seed, same masks); sequences are whole.
    """
    batches = masked_batches(cohort, samples, split, **masks)
    resolved = resolve_device(device)
    model = model.to(resolved)
    return run_evaluation(model, batches, resolved, progress=progress)


# --------------------------------------------------------------------------------------
# lmeqtl evaluate
# --------------------------------------------------------------------------------------

