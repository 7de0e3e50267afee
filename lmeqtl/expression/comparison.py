"""The whole RQ2 + RQ4 comparison: every model x combination on embeddings, and the baselines,
per gene, on the same outer folds.

Methods (the ``method`` column of the results):

- ``<model>:<combine>`` (e.g. ``ridge:sum``): embeddings of both haplotypes, combined.
- ``predixcan``: elastic net (l1 ratio 0.5, inner-CV lambda) on every window SNP dosage.
- ``lead_snp``: dosage of the eQTL table's lead SNP, OLS. The SNP was chosen on all
  GEUVADIS people, the test folds included: an optimistic baseline (selection leak).
- ``lead_snp_cv``: the SNP most correlated with expression in each training fold, OLS.
- ``oracle``: the simulated true genetic value, OLS: the cis-h2 ceiling.
- ``rvalue (in-sample)``: the table's own |rvalue|, not a prediction (see
  :func:`lmeqtl.expression.evaluation.rvalue_results`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from lmeqtl.config import ExpressionConfig
from lmeqtl.data.io import atomic_path
from lmeqtl.expression.background import LinearBackground, fold_backgrounds
from lmeqtl.expression.covariates import Covariates, FoldDesigns
from lmeqtl.expression.features import flatten_pairs
from lmeqtl.expression.models import model_factory
from lmeqtl.expression.prediction import fold_labels, nested_cv

# baseline -> (features it takes, description)
BASELINES = {
    "predixcan": ("snps", "elastic net on all window SNP dosages (PrediXcan-style)"),
    "lead_snp": ("lead_snp", "dosage of the eQTL table's lead SNP (chosen on all samples)"),
    "lead_snp_cv": ("snps", "best single SNP chosen inside each training fold"),
    "oracle": ("genetic_value", "true genetic value (simulation only): the cis-h2 ceiling"),
}
TRUTH_FEATURES = ("genetic_value",)  # features only a simulation knows


@dataclass(frozen=True)
class Method:
    """One predictor: which features, which model, how haplotypes are combined."""

    name: str
    features: str  # embedding | snps | lead_snp | genetic_value
    model: str
    combine: str | None = None
    pca: int | None = None


def embedding_methods(config: ExpressionConfig) -> list[Method]:
    """Every model x combination of ``config`` (PCA if ``config.pca_components``)."""
    suffix = f":pca{config.pca_components}" if config.pca_components else ""
    return [Method(f"{model}:{combine}{suffix}", "embedding", model, combine, config.pca_components)
            for combine in config.combine for model in config.models]


def baseline_methods(truth: bool = True) -> list[Method]:
    """The RQ4 baselines; their model names are those of :mod:`lmeqtl.expression.models`.

    ``truth=False`` (real data): without the ones that need the simulated truth (the oracle).
    """
    return [Method(name, features, name) for name, (features, _) in BASELINES.items()
            if truth or features not in TRUTH_FEATURES]


@dataclass
class Comparison:
    """Out-of-fold predictions of every method on every gene, and what each inner CV chose.

    ``predictions`` is the long table that :func:`lmeqtl.expression.evaluation.gene_results`
    scores; other predictors (RQ3's fine-tuned model) can append rows in the same format,
    on the same folds, and be compared alongside.
    """

    predictions: pd.DataFrame  # gene, method, features, model, combine, sample_id, fold, observed, predicted
    hyperparameters: pd.DataFrame  # gene, method, fold, chosen values
    timings: pd.DataFrame  # gene, method, seconds, converged
    skipped: list[str] = field(default_factory=list)
    # gene -> each outer fold's fitted predixcan net (fold order), for the contextual methods' background
    backgrounds: dict[str, list[LinearBackground]] = field(default_factory=dict)

    def save(self, directory: str | os.PathLike[str]) -> None:
        """``predictions.parquet``, ``hyperparameters.csv`` and ``timings.csv``, atomically."""
        directory = Path(directory)
        with atomic_path(directory / "predictions.parquet") as tmp:
            self.predictions.to_parquet(tmp, index=False)
        for name in ("hyperparameters", "timings"):
            with atomic_path(directory / f"{name}.csv") as tmp:
                getattr(self, name).to_csv(tmp, index=False)


def _run_one(gene: str, method: Method, features: np.ndarray, y: np.ndarray, folds: np.ndarray,
             covariates: FoldDesigns | None, config: ExpressionConfig, sample_ids) -> tuple:
    options = {"n_lambdas": config.n_lambdas, "l1_ratio": config.predixcan_l1_ratio, "seed": config.seed}
    if method.features == "embedding":
        options.update(combine=method.combine, pca=method.pca)
    start, backgrounds = time.perf_counter(), None
    with threadpool_limits(limits=1):  # small matrices: threads only fight (use n_jobs instead)
        if method.model == "predixcan":  # the same nested CV, keeping each fold's net (a background)
            result, backgrounds = fold_backgrounds(features, y, folds, config, covariates=covariates,
                                                   sample_ids=sample_ids)
        else:
            result = nested_cv(features, y, folds, model_factory(method.model, **options), covariates=covariates,
                               inner_folds=config.inner_folds, seed=config.seed, sample_ids=sample_ids)
    seconds = time.perf_counter() - start
    labels = {"gene": gene, "method": method.name, "features": method.features, "model": method.model,
              "combine": method.combine or ""}
    predictions = result.predictions.assign(**labels)[[*labels, *result.predictions.columns]]
    chosen = pd.DataFrame(result.hyperparameters).assign(gene=gene, method=method.name)
    return predictions, chosen, {"gene": gene, "method": method.name, "seconds": seconds,
                                 "converged": result.converged}, backgrounds


def run_comparison(expression: pd.DataFrame, folds: pd.Series, *,
                   embeddings: Mapping[str, np.ndarray] | None = None,
                   dosages: Mapping[str, np.ndarray] | None = None,
                   lead_dosage: Mapping[str, np.ndarray] | None = None,
                   genetic_values: Mapping[str, np.ndarray] | None = None,
                   covariates: Covariates | None = None, config: ExpressionConfig | None = None,
                   methods: list[Method] | None = None, progress: bool = True) -> Comparison:
    """Nested-CV predictions of ``expression`` ``(samples, genes)`` by every method, per gene.

    Every array is per gene with rows in ``expression.index`` order: ``embeddings``
    ``(n, 2, H)``, ``dosages`` ``(n, L)`` window SNPs, ``lead_dosage`` ``(n,)``,
    ``genetic_values`` ``(n,)``. A method runs on the genes whose input is given; the
    others are listed in :attr:`Comparison.skipped`. Expression PCs among the
    ``covariates`` never include the gene being predicted.
    """
    config = config or ExpressionConfig()
    methods = methods if methods is not None else embedding_methods(config) + baseline_methods()
    sample_ids = expression.index.to_numpy()
    fold = fold_labels(folds, sample_ids)
    inputs = {"embedding": embeddings, "snps": dosages, "lead_snp": lead_dosage, "genetic_value": genetic_values}
    tasks, skipped = [], []
    for gene in expression.columns:
        y = expression[gene].to_numpy(dtype=np.float64)
        gene_covariates = covariates.without(gene).for_folds(fold) if covariates is not None else None
        for method in methods:
            source = inputs[method.features]
            if source is None or gene not in source:
                if source is not None:
                    skipped.append(f"{method.name} on {gene}: no {method.features} input")
                continue
            x = np.asarray(source[gene])
            if len(x) != len(sample_ids):
                raise ValueError(f"{method.features} of {gene} has {len(x)} rows for {len(sample_ids)} samples")
            x = flatten_pairs(x) if method.features == "embedding" else x
            tasks.append((gene, method, x, y, fold, gene_covariates, config, sample_ids))
    # the long fits on all window SNPs (PrediXcan: ~70 % of the work) first, so that no worker idles at the end
    # waiting for one; the results go back into task order (each task is seeded: the order changes nothing)
    order = sorted(range(len(tasks)), key=lambda i: tasks[i][1].features != "snps")
    runner = Parallel(n_jobs=config.n_jobs, return_as="generator")(delayed(_run_one)(*tasks[i]) for i in order)
    results: list = [None] * len(tasks)
    for i, result in zip(order, tqdm(runner, total=len(tasks), desc="nested CV", disable=not progress), strict=True):
        results[i] = result
    if not results:
        wanted = ", ".join(sorted({f"{m.name} needs {m.features}" for m in methods}))
        raise ValueError(f"nothing to run: no method has its input ({wanted}; inputs given: "
                         f"{', '.join(k for k, v in inputs.items() if v is not None) or 'none'})")
    predictions, chosen, timings, fits = zip(*results, strict=True)
    return Comparison(
        predictions=pd.concat(predictions, ignore_index=True),
        hyperparameters=pd.concat(chosen, ignore_index=True),
        timings=pd.DataFrame(list(timings)),
        skipped=skipped,
        backgrounds={task[0]: fit for task, fit in zip(tasks, fits, strict=True) if fit is not None},
    )
