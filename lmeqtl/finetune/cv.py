"""RQ3 on RQ2's outer folds: fine-tune a model per gene and predict every test fold.

:func:`finetune_expression` is the library entry point (the chapter and ``lmeqtl finetune``
call it). For each gene (a *unit*: the tables' ``unit`` column) it caches the frozen
stages for every person once, then for each outer fold: covariates regressed out on the
training rows (as :func:`lmeqtl.expression.nested_cv` does), an inner validation split of
the training rows, :func:`~lmeqtl.finetune.training.fit_fold`, predictions of the test
rows. The predictions have the columns of :class:`lmeqtl.expression.Comparison`'s, so
:func:`lmeqtl.expression.gene_results` scores them next to RQ2/RQ4. Output directory::

    finetune_predictions.parquet  out-of-fold predictions (RQ2's columns; not named
                                  predictions.parquet, which is RQ2's file that chapters search for)
    history.csv, folds.csv (best epoch, stop reason, sizes, seconds)
    snp_weights.parquet  per gene, fold and SNP: attention pooling weight, or |gate| of select pooling
    run.json             settings, pretrained checkpoint, data hash (resume must match)
    units/<gene>/fold_<k>/   a fine-tuned checkpoint (lmeqtl.finetune.checkpoints)
                             + its predictions.csv and history.csv

A run that is stopped resumes: folds whose checkpoint was written with the same settings
are read back instead of trained again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from lmeqtl.config import FinetuneConfig
from lmeqtl.data.cohort import Cohort
from lmeqtl.data.io import as_json, atomic_path, check_ids, read_json, write_json
from lmeqtl.errors import InputError
from lmeqtl.expression.covariates import Covariates, residualise
from lmeqtl.expression.prediction import fold_labels
from lmeqtl.finetune.checkpoints import INFO_FILE, save_finetuned
from lmeqtl.finetune.model import ExpressionModel, allele_tokens, check_config
from lmeqtl.finetune.training import fit_fold, inner_split, predict_standardised
from lmeqtl.mlm.batches import Batch, HaplotypeBatches
from lmeqtl.mlm.checkpoint import load_checkpoint
from lmeqtl.mlm.train import amp_dtype

PREDICTIONS_FILE = "finetune_predictions.parquet"
PREDICTION_COLUMNS = ("gene", "method", "features", "model", "combine", "sample_id", "fold", "observed", "predicted")


@dataclass
class FinetuneResult:
    """Out-of-fold predictions (the RQ2 long format) and how training went."""

    predictions: pd.DataFrame  # PREDICTION_COLUMNS
    history: pd.DataFrame  # unit, fold, epoch, train_loss, val_loss, val_r, seconds, best
    folds: pd.DataFrame  # unit, fold, best_epoch, stopped, n_fit, n_val, n_test, seconds
    cache_seconds: dict[str, float] = field(default_factory=dict)  # per unit
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)  # gene -> (n, 2, H) window mean, frozen trunk
    snp_weights: pd.DataFrame | None = None  # gene, fold, seq_idx, weight (attention weight or select |gate|)


def tss_windows(cohort: Cohort, genes: Sequence[str], window_snps: int | None,
                tss: Mapping[str, int] | None = None) -> list[tuple[int, int]]:
    """``(start, stop)`` SNP range per gene: the ``window_snps`` SNPs nearest its TSS (all if None).

    Without a TSS the window is centred on the gene's middle SNP.
    """
    windows = []
    for gene in genes:
        pos = cohort.gene_meta(gene)["pos"].to_numpy(dtype=np.int64)
        if window_snps is None or window_snps >= len(pos):
            windows.append((0, len(pos)))
            continue
        centre = tss[gene] if tss is not None and gene in tss else pos[len(pos) // 2]
        nearest = np.argsort(np.abs(pos - centre), kind="stable")[:window_snps]
        start = min(int(nearest.min()), len(pos) - window_snps)
        windows.append((start, start + window_snps))
    return windows


def check_pretrained(info: dict, cohort: Cohort, genes: Sequence[str], source: Path) -> list[int]:
    """The MLM gene index of each gene; errors when the checkpoint does not fit the cohort."""
    gene_map = info.get("genes") or {}
    absent = [g for g in genes if g not in gene_map]
    if absent:
        raise InputError(f"the checkpoint was trained without genes {absent[:5]} ({len(absent)} of {len(genes)})",
                         path=source, expected="a checkpoint trained on this cohort's genes")
    lengths = info.get("gene_lengths")
    if lengths is not None:
        differ = [f"{g}: {lengths[gene_map[g]]} vs {cohort.haplotypes[g].shape[2]}" for g in genes
                  if lengths[gene_map[g]] != cohort.haplotypes[g].shape[2]]
        if differ:
            raise InputError(f"the checkpoint's SNP windows differ from the cohort's (checkpoint vs cohort: "
                             f"{'; '.join(differ[:5])})", path=source,
                             expected="a checkpoint trained on the same SNP windows")
    return [int(gene_map[g]) for g in genes]


def _mlm_stream(cohort: Cohort, genes: Sequence[str], mlm_genes: Sequence[int], config: FinetuneConfig,
                fold: int) -> Iterator[Batch]:
    """Endless masked-LM batches of train-split haplotypes of ``genes`` (seeded per fold)."""
    rows = np.flatnonzero(cohort.split_mask("train"))
    if len(rows) == 0:
        raise InputError("mlm_weight > 0 needs train-split haplotypes, and the cohort has none",
                         expected="samples with split 'train', or mlm_weight = 0")
    sub = Cohort(cohort.samples, cohort.meta[cohort.meta["GENE_ID"].isin(genes)], list(genes),
                 {g: cohort.haplotypes[g] for g in genes})
    batches = HaplotypeBatches(sub, rows, batch_size=config.mlm_batch_size, train=True,
                               seed=config.seed + 7_919 * (fold + 1), crop_length=config.mlm_crop_length,
                               mask_strategy="uniform", edge_frame=0)
    to_mlm = torch.as_tensor(list(mlm_genes))
    epoch = 0
    while True:
        for batch in batches.epoch(epoch):
            batch.gene = to_mlm[batch.gene]
            yield batch
        epoch += 1


def _data_hash(expression: pd.DataFrame, fold: np.ndarray, covariates: Covariates | None) -> str:
    digest = hashlib.sha256(expression.to_numpy(np.float64).tobytes())
    digest.update("\n".join(map(str, expression.index)).encode() + "\n".join(expression.columns).encode())
    digest.update(np.asarray(fold, np.int64).tobytes())
    if covariates is not None:
        digest.update(covariates.fixed.to_numpy(np.float64).tobytes())
        for name, (matrix, k) in sorted(covariates.pca_blocks.items()):
            digest.update(f"{name}{k}".encode() + matrix.to_numpy(np.float64).tobytes())
    return digest.hexdigest()[:16]


def _fold_targets(y: np.ndarray, genes: Sequence[str], train: np.ndarray, test: np.ndarray,
                  covariates: Covariates | None) -> tuple[np.ndarray, np.ndarray]:
    """Training targets (NaN outside ``train``) and observed test values, covariates regressed out on ``train``."""
    target, observed = np.full_like(y, np.nan), np.full_like(y, np.nan)
    for g, gene in enumerate(genes):
        if covariates is None:
            target[train, g], observed[test, g] = y[train, g], y[test, g]
        else:
            design_train, design_test = covariates.without(gene).design(train, test)
            target[train, g], observed[test, g] = residualise(y[:, g], design_train, design_test, train, test)
    return target, observed


def finetune_expression(
    pretrained: str | Path,
    cohort: Cohort,
    expression: pd.DataFrame,
    folds: pd.Series,
    config: FinetuneConfig,
    *,
    genes: Sequence[str] | None = None,
    covariates: Covariates | None = None,
    tss: Mapping[str, int] | None = None,
    output_dir: str | Path | None = None,
    device: str | torch.device = "cpu",
    method: str = "finetune",
    resume: bool = True,
    progress: bool = True,
) -> FinetuneResult:
    """Fine-tune checkpoint ``pretrained`` on ``expression`` ``(samples, genes)`` with outer ``folds``.

    ``cohort`` holds the people's haplotypes (and the train split for the MLM regulariser);
    ``folds`` are RQ2's (:func:`lmeqtl.expression.outer_folds` / ``load_folds``); ``covariates``
    rows follow ``expression.index``; ``tss`` (gene -> position) centres ``window_snps``.
    """
    pretrained = Path(pretrained)
    device = torch.device(device)
    mlm, info = load_checkpoint(pretrained, device)
    check_config(config, mlm.config.n_layers)
    genes = list(genes if genes is not None else expression.columns)
    no_genotypes = [g for g in genes if g not in cohort.haplotypes]
    no_expression = [g for g in genes if g not in expression.columns]
    if no_genotypes or no_expression:
        raise InputError(f"genes without genotypes {no_genotypes[:5]} / without expression {no_expression[:5]}",
                         expected="genes present in both the cohort and the expression table")
    mlm_genes = check_pretrained(info, cohort, genes, pretrained)
    ids = [str(s) for s in expression.index]
    absent = [s for s in ids if s not in set(map(str, cohort.sample_ids))]
    if absent:
        raise InputError(f"{len(absent)} people with expression have no genotypes: {absent[:5]}",
                         expected="every expression sample in the cohort")
    if expression[genes].isna().to_numpy().any():
        raise ValueError("expression contains NaN; drop those samples before cross-validation")
    fold = fold_labels(folds, expression.index)
    people = cohort.subset(ids)
    windows = dict(zip(genes, tss_windows(cohort, genes, config.window_snps, tss), strict=True))
    units = [[g] for g in genes]
    check_ids(genes, "gene id", where="units/<gene>/ of the output directory")  # never write outside it
    fold_ids = [int(k) for k in np.unique(fold)]
    budget = None if config.max_minutes is None else 60.0 * config.max_minutes / (len(units) * len(fold_ids))
    dtype = amp_dtype(config, device)
    out = Path(output_dir) if output_dir is not None else None
    run_key = {"config": dataclasses.asdict(config), "pretrained_sha256": info.get("weights_sha256"),
               "genes": genes, "windows": windows, "data": _data_hash(expression[genes], fold, covariates)}
    run_key = as_json(run_key)  # as JSON gives it back (tuples become lists)
    if out is not None:
        write_json(out / "run.json", run_key)

    predictions, histories, fold_rows, snp_weights = [], [], [], []
    result = FinetuneResult(pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    bar = tqdm(total=len(units) * len(fold_ids), desc="fine-tune", disable=not progress)
    for unit in units:
        name = unit[0]
        torch.manual_seed(config.seed)
        model = ExpressionModel(mlm, unit, [mlm_genes[genes.index(g)] for g in unit],
                                [windows[g] for g in unit], config).to(device)
        y = expression[unit].to_numpy(np.float64)  # (n, G)
        done = {k: _read_done(out / "units" / name / f"fold_{k}", run_key) if out is not None and resume else None
                for k in fold_ids}
        cached = model.frozen >= 1
        inputs: list[torch.Tensor] = []
        if not all(d is not None for d in done.values()):
            start = time.perf_counter()
            for slot, gene in enumerate(unit):
                haplotypes = people.haplotypes[gene]
                if cached:
                    states, mean = model.cache_with_mean(haplotypes, slot, config.cache_batch_size, device, progress)
                    inputs.append(states)
                    if not model.trains_trunk:
                        result.embeddings[gene] = mean.cpu().numpy()
                else:
                    a, b = model.windows[slot]
                    inputs.append(allele_tokens(haplotypes[..., a:b]).to(device))
            result.cache_seconds[name] = time.perf_counter() - start
        for k in fold_ids:
            train, test = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
            if done[k] is not None:
                unit_predictions, unit_history, summary, weights = done[k]
            else:
                unit_predictions, unit_history, summary, weights = _run_fold(
                    model, inputs, y, unit, ids, train, test, k, config, cached, covariates, cohort, budget, dtype,
                    method)
                if out is not None:
                    _write_fold(out / "units" / name / f"fold_{k}", model, pretrained, info, run_key,
                                unit_predictions, unit_history, summary, weights)
            predictions.append(unit_predictions)
            histories.append(unit_history.assign(unit=name))
            fold_rows.append({"unit": name, **summary})
            if weights is not None:
                snp_weights.append(weights)
            bar.update()
            bar.set_postfix(unit=name, fold=k, best_epoch=summary["best_epoch"])
    bar.close()
    result.predictions = pd.concat(predictions, ignore_index=True)
    result.history = pd.concat(histories, ignore_index=True)
    result.folds = pd.DataFrame(fold_rows)
    result.snp_weights = pd.concat(snp_weights, ignore_index=True) if snp_weights else None
    if out is not None:
        save_result(out, result)
    return result


def _run_fold(model: ExpressionModel, inputs: list[torch.Tensor], y: np.ndarray, unit: list[str], ids: list[str],
              train: np.ndarray, test: np.ndarray, k: int, config: FinetuneConfig, cached: bool,
              covariates: Covariates | None, cohort: Cohort, budget: float | None,
              dtype: torch.dtype | None, method: str):
    """Train on one outer fold and predict its test rows: (predictions, history, summary, SNP weights)."""
    start = time.perf_counter()
    target, observed = _fold_targets(y, unit, train, test, covariates)
    fit, val = inner_split(train, config.val_fraction, config.seed * 1_000 + k)
    stream = (_mlm_stream(cohort, unit, model.mlm_genes, config, k)
              if config.mlm_weight > 0 and model.trains_trunk else None)
    fitted = fit_fold(model, inputs, target, fit, val, config, fold=k, cached=cached, mlm_batches=stream,
                      budget_s=budget, amp_dtype=dtype)
    model.load_finetuned_state(fitted.state)
    model.eval()
    standardised = predict_standardised(model, inputs, test, config.cache_batch_size, cached, dtype)  # (n_test, G)
    head = model.head
    predicted = head.target_mean.cpu().numpy() + head.target_scale.cpu().numpy() * standardised
    frames = [pd.DataFrame({"gene": gene, "method": method, "features": "haplotypes", "model": "finetune",
                            "combine": "sum", "sample_id": np.asarray(ids, dtype=object)[test],
                            "fold": k, "observed": observed[test, g], "predicted": predicted[:, g]})
              for g, gene in enumerate(unit)]
    weights = None
    if config.pooling in ("attention", "select"):
        weights = pd.concat([pd.DataFrame({"gene": gene, "fold": k, "seq_idx": np.arange(*model.windows[slot]),
                                           "weight": head.snp_weights(slot).cpu().numpy()})
                             for slot, gene in enumerate(unit)], ignore_index=True)
    summary = {"fold": k, "best_epoch": fitted.best_epoch, "stopped": fitted.stopped, "n_fit": len(fit),
               "n_val": len(val), "n_test": len(test), "seconds": round(time.perf_counter() - start, 2)}
    return pd.concat(frames, ignore_index=True), pd.DataFrame(fitted.history), summary, weights


def _write_fold(directory: Path, model: ExpressionModel, pretrained: Path, info: dict, run_key: dict,
                predictions: pd.DataFrame, history: pd.DataFrame, summary: dict, weights: pd.DataFrame | None) -> None:
    save_finetuned(directory, model, pretrained=pretrained, pretrained_sha256=info.get("weights_sha256"),
                   extra={"fold": summary["fold"], "summary": summary, "run_key": run_key})
    for table, file in ((predictions, "predictions.csv"), (history, "history.csv"), (weights, "snp_weights.csv")):
        if table is not None:
            with atomic_path(directory / file) as tmp:
                table.to_csv(tmp, index=False)


def _read_done(directory: Path, run_key: dict):
    """A finished fold's outputs when written with ``run_key``, else None."""
    if not (directory / INFO_FILE).is_file() or not (directory / "predictions.csv").is_file():
        return None
    info = read_json(directory / INFO_FILE)
    if info.get("run_key") != run_key:
        return None
    predictions = pd.read_csv(directory / "predictions.csv", dtype={"sample_id": str, "combine": str},
                              keep_default_na=False)
    weights = pd.read_csv(directory / "snp_weights.csv") if (directory / "snp_weights.csv").is_file() else None
    return predictions, pd.read_csv(directory / "history.csv"), info["summary"], weights


def save_result(out: Path, result: FinetuneResult) -> None:
    """Write the run's tables into ``out`` (atomically)."""
    with atomic_path(out / PREDICTIONS_FILE) as tmp:
        result.predictions.to_parquet(tmp, index=False)
    for table, file in ((result.history, "history.csv"), (result.folds, "folds.csv")):
        with atomic_path(out / file) as tmp:
            table.to_csv(tmp, index=False)
    if result.snp_weights is not None:
        with atomic_path(out / "snp_weights.parquet") as tmp:
            result.snp_weights.to_parquet(tmp, index=False)
