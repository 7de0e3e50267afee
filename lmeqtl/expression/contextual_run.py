"""The contextual methods and their dosage-only twin, per gene, on the shared outer folds.

Methods (the ``method`` column; ``<model>`` = ``ExpressionConfig.context_model``):

- ``contextual:<model>``: the MLM's states at the SNPs chosen in the training fold
  (:class:`~lmeqtl.expression.contextual.ContextualRegressor`, ``features="context"``);
- ``contextual_dosage:<model>``: the same SNPs' dosages, the same regression: the twin;
- ``contextual_both:<model>``: both;
- ``contextual_scan:<model>``: the MLM's states, at SNPs chosen by a scan of every SNP's
  *state* against expression (``selection="state"``, :func:`~lmeqtl.expression.snp_selection.select_by_state`)
  instead of its dosage: a state can carry an interacting allele far along the haplotype;
- ``haplotype_pairs:<model>``: no MLM: the twin plus the phased ALT-ALT counts of the
  ``context_pairs`` SNP pairs a scan of the whole window finds
  (:class:`~lmeqtl.expression.haplotype_pairs.HaplotypePairsRegressor`): what reading the phase can add.

The states of a gene are extracted once (one pass per haplotype), at the union of the SNPs
that the outer folds select (:func:`fold_selections`; selection reads only each fold's
training rows), or at every SNP when a method scans the states (its per-SNP scan basis is
fitted on genotypes only, :func:`~lmeqtl.expression.snp_selection.scan_scores`). Everything
else, the features' PCA included, is fitted inside
:func:`lmeqtl.expression.prediction.nested_cv`'s outer training folds. With ``context_background``
``predixcan``, every method fits on top of the outer fold's elastic net (chapter 03's ``predixcan`` fits,
:mod:`lmeqtl.expression.background`) and its names say so (``contextual:elasticnet+predixcan``).
Genes are independent: ``n_jobs`` of them run at once, each in its own process (the same numbers).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from lmeqtl.config import ExpressionConfig
from lmeqtl.errors import InputError
from lmeqtl.expression.background import LinearBackground
from lmeqtl.expression.comparison import Comparison
from lmeqtl.expression.contextual import ContextualRegressor
from lmeqtl.expression.covariates import Covariates, FoldDesigns, residualise
from lmeqtl.expression.evaluation import pearson_r2
from lmeqtl.expression.gene_states import GeneData, StateSource
from lmeqtl.expression.haplotype_pairs import HaplotypePairsRegressor
from lmeqtl.expression.prediction import fold_labels, nested_cv
from lmeqtl.expression.snp_selection import scan_scores, select_from_dosage

METHOD_FEATURES = {"contextual": "context", "contextual_dosage": "dosage", "contextual_both": "dosage+context",
                   "contextual_scan": "context", "haplotype_pairs": "pairs"}
PAIRS = "pairs"  # the feature set of haplotype_pairs: the twin's dosages and phased SNP pairs (no states)
STATE_SCAN = "contextual_scan"  # the method prefix whose SNPs are chosen by their states (selection="state")


def selection_of(method: str, config: ExpressionConfig | None = None) -> str:
    """``"state"`` for ``contextual_scan:<model>``, else ``config.context_selection`` (default ``"dosage"``)."""
    if method.partition(":")[0] == STATE_SCAN:
        return "state"
    return config.context_selection if config is not None else "dosage"


def context_model_name(config: ExpressionConfig) -> str:
    """What follows the colon in a contextual method's name: the regression, and ``+predixcan`` when it is fitted on top
    of the fold's elastic net (``config.context_background``), so that the two never share a name."""
    return config.context_model + ("" if config.context_background == "none" else f"+{config.context_background}")


def background_of(method: str) -> str:
    """What a contextual method's name says it is fitted on top of (:func:`context_model_name`'s ``+...``), or
    ``"none"``: ``contextual:elasticnet+predixcan`` -> ``"predixcan"``."""
    return method.partition(":")[2].partition("+")[2] or "none"


def context_methods(config: ExpressionConfig) -> dict[str, str]:
    """Method name -> feature set, e.g. ``{"contextual:ridge": "context", ...}`` (``haplotype_pairs`` only when
    ``config.context_pairs`` > 0)."""
    return {f"{prefix}:{context_model_name(config)}": features for prefix, features in METHOD_FEATURES.items()
            if features != PAIRS or config.context_pairs > 0}


def _training_y(y: np.ndarray, folds: np.ndarray, k: int, covariates: Covariates | FoldDesigns | None):
    train, test = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
    if covariates is None:
        return train, y[train]
    return train, residualise(y, *covariates.design(train, test), train, test)[0]


def fold_selections(dosage: np.ndarray, y: np.ndarray, folds: np.ndarray, config: ExpressionConfig,
                    covariates: Covariates | FoldDesigns | None = None,
                    neighbours: bool = True) -> dict[int, np.ndarray]:
    """The SNPs (window indices) each outer fold selects from its training rows, as ``nested_cv`` will.

    With ``covariates``, selection reads the training rows' covariate-adjusted expression,
    exactly what the estimator is fitted on. ``neighbours=False``: the top-k SNPs only. The
    selection is ``config.context_selection``'s (the dosage scan or the elastic net's support).
    """
    chosen = {}
    for k in np.unique(folds):
        train, y_train = _training_y(y, folds, int(k), covariates)
        # with enet, the estimators of this fold then find the net's result kept (snp_selection.enet_strength)
        chosen[int(k)] = select_from_dosage(config.context_selection, dosage[train], y_train, config.context_top_k,
                                            config.context_neighbours if neighbours else 0, n_jobs=config.n_jobs)
    return chosen


def contextual_factory(data: GeneData, features: str, config: ExpressionConfig, selection: str = "dosage"):
    """``(inner_cv, background) -> ContextualRegressor`` (or, for ``features="pairs"``, a
    :class:`HaplotypePairsRegressor`) with ``config``'s settings, for ``nested_cv``."""
    def build(inner_cv, background: LinearBackground | None = None) -> ContextualRegressor | HaplotypePairsRegressor:
        if features == PAIRS:
            return HaplotypePairsRegressor(data, config.context_top_k, config.context_neighbours, config.context_pairs,
                                           config.context_model, inner_cv, config.n_lambdas, config.predixcan_l1_ratio,
                                           selection, n_jobs=config.n_jobs, background=background)
        return ContextualRegressor(data, features, config.context_top_k, config.context_neighbours,
                                   config.context_components, config.context_model, inner_cv,
                                   config.n_lambdas, config.predixcan_l1_ratio, selection, config.context_reduction,
                                   config.context_screen, config.n_jobs, config.context_pair_snps, background)
    return build


@dataclass
class ContextualRun:
    """Out-of-fold predictions (``comparison``, scored like any other method), each fold's SNPs, per-gene r."""

    comparison: Comparison
    selections: pd.DataFrame  # gene, fold, seq_idx, lead (True: a top-k SNP, False: a neighbour)
    r: pd.DataFrame  # genes x methods: fold-centred out-of-fold r
    snp_weights: pd.DataFrame  # gene, method, fold, seq_idx, weight (ContextualRegressor.snp_weights, training rows)
    heads: dict[str, dict[str, dict[str, np.ndarray]]] = field(default_factory=dict)  # gene -> method -> linear_head


def save_heads(heads: Mapping[str, Mapping[str, np.ndarray]], directory: str | os.PathLike[str]) -> None:
    """One ``<gene>.npz`` per gene of :meth:`ContextualRegressor.linear_head` arrays (written atomically).

    Heads of other genes left by an earlier run are removed, so the directory holds this run's only.
    """
    from lmeqtl.data.io import atomic_path

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.npz"):
        if stale.stem not in heads:
            stale.unlink()
    for gene, head in heads.items():
        with atomic_path(directory / f"{gene}.npz") as tmp, open(tmp, "wb") as handle:
            np.savez(handle, **head)


def load_heads(directory: str | os.PathLike[str]) -> dict[str, dict[str, np.ndarray]]:
    """Gene -> linear head, as :func:`save_heads` wrote them (no pickle); empty when the directory is absent."""
    directory = Path(directory)
    heads = {}
    for path in sorted(directory.glob("*.npz")) if directory.is_dir() else []:
        with np.load(path, allow_pickle=False) as stored:
            missing = {"snps", "mean", "weight", "bias"} - set(stored.files)
            if missing:
                raise InputError(f"missing arrays {sorted(missing)}", path=path,
                                 expected="a contextual head saved by lmeqtl (snps, mean, weight, bias)")
            heads[path.stem] = {name: stored[name] for name in stored.files}
    return heads


def window_weights(snp_weights: pd.DataFrame, n_snps: Mapping[str, int]) -> dict[str, dict[str, np.ndarray]]:
    """Gene -> method -> weight ``(L,)`` of every window SNP: the mean over the outer folds' models.

    A SNP that a fold did not choose weighs 0 in that fold; ``n_snps[gene]`` is the window length ``L``.
    """
    out: dict[str, dict[str, np.ndarray]] = {}
    for (gene, method), table in snp_weights.groupby(["gene", "method"], sort=False):
        total = np.bincount(table["seq_idx"].to_numpy(dtype=np.int64), weights=table["weight"].to_numpy(),
                            minlength=n_snps[gene])  # (L,)
        out.setdefault(gene, {})[method] = total / table["fold"].nunique()
    return out


def _gene_backgrounds(gene: str, backgrounds: Mapping[str, list[LinearBackground]] | None,
                      config: ExpressionConfig) -> list[LinearBackground] | None:
    """The outer folds' backgrounds of ``gene`` (None when ``config.context_background`` is ``"none"``)."""
    if config.context_background == "none":
        return None
    if backgrounds is None or gene not in backgrounds:
        raise ValueError(f"expression.context_background={config.context_background!r} needs the {gene} fits of "
                         f"chapter 03's predixcan method (Comparison.backgrounds); run it first")
    return list(backgrounds[gene])


def gene_r(predictions: pd.DataFrame) -> pd.DataFrame:
    """Fold-centred out-of-fold r, genes x methods (as :func:`lmeqtl.expression.evaluation.gene_results`)."""
    rows = {(gene, method): pearson_r2(g["observed"], g["predicted"], g["fold"].to_numpy())[0]
            for (gene, method), g in predictions.groupby(["gene", "method"], sort=False)}
    return pd.Series(rows).unstack()


@dataclass
class _GeneRun:
    """What one gene adds to a :class:`ContextualRun` (the tables' pieces, in method order)."""

    predictions: list[pd.DataFrame] = field(default_factory=list)
    chosen: list[pd.DataFrame] = field(default_factory=list)
    timings: list[dict] = field(default_factory=list)
    selections: list[pd.DataFrame] = field(default_factory=list)
    weights: list[pd.DataFrame] = field(default_factory=list)
    heads: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def _run_gene(gene: str, y: np.ndarray, dosage: np.ndarray, states: StateSource | None, alleles: np.ndarray | None,
              background: list[LinearBackground] | None, designs: FoldDesigns | None, fold: np.ndarray,
              sample_ids: np.ndarray, methods: Mapping[str, str], config: ExpressionConfig) -> _GeneRun:
    """Every method of ``methods`` on one gene: the folds' SNPs, the states at their union, the nested CVs."""
    out, rows = _GeneRun(), np.arange(len(y))[:, None]  # X: row numbers into the gene's data
    by_fold = fold_selections(dosage, y, fold, config, designs)
    leads = fold_selections(dosage, y, fold, config, designs, neighbours=False)
    out.selections.extend(pd.DataFrame({"gene": gene, "fold": k, "seq_idx": snps, "lead": np.isin(snps, leads[k])})
                          for k, snps in by_fold.items())
    union = np.unique(np.concatenate(list(by_fold.values())))
    data, wanted = GeneData(dosage, haplotypes=alleles), dict(methods)
    if alleles is None and PAIRS in wanted.values():
        wanted = {m: f for m, f in wanted.items() if f != PAIRS}
        out.skipped.extend(f"{m} on {gene}: no haplotypes" for m, f in methods.items() if f == PAIRS)
    if any("context" in f for f in methods.values()):
        if states is None:
            out.skipped.extend(f"{m} on {gene}: no states" for m, f in wanted.items() if "context" in f)
            wanted = {m: f for m, f in wanted.items() if "context" not in f}
        else:
            start = time.perf_counter()
            scanned = any(selection_of(m, config) == "state" for m in wanted)
            if scanned or config.context_pair_snps:  # every SNP's state (a scanned pair can be anywhere)
                full = states(np.arange(dosage.shape[1]))  # (n, 2, L, d)
                scores = scan_scores(full, config.context_components, seed=config.seed) if scanned else None
                data = GeneData(dosage, full, None, scores, alleles)
            else:
                data = GeneData(dosage, states(union), union, haplotypes=alleles)
            out.timings.append({"gene": gene, "method": "states", "seconds": time.perf_counter() - start,
                                "converged": True})
    for method, features in wanted.items():
        build, fitted = contextual_factory(data, features, config, selection_of(method, config)), []

        def factory(inner_cv, build=build, fitted=fitted):  # keeps each fold's model
            fitted.append(build(inner_cv, None if background is None else background[len(fitted)]))  # fold order
            return fitted[-1]

        start = time.perf_counter()
        with threadpool_limits(limits=1):
            result = nested_cv(rows, y, fold, factory, covariates=designs, inner_folds=config.inner_folds,
                               seed=config.seed, sample_ids=sample_ids)
        for k, estimator in zip(np.unique(fold), fitted, strict=True):
            snps, weight = estimator.snp_weights(rows[fold != k])
            out.weights.append(pd.DataFrame({"gene": gene, "method": method, "fold": int(k), "seq_idx": snps,
                                             "weight": weight}))
        if features == "context":  # the first outer fold's model, for attribution through the MLM (RQ5)
            out.heads[method] = fitted[0].linear_head()
        labels = {"gene": gene, "method": method, "features": features, "model": config.context_model,
                  "combine": "sum"}
        out.predictions.append(result.predictions.assign(**labels)[[*labels, *result.predictions.columns]])
        out.chosen.append(pd.DataFrame(result.hyperparameters).assign(gene=gene, method=method))
        out.timings.append({"gene": gene, "method": method, "seconds": time.perf_counter() - start,
                            "converged": result.converged})
    return out


def run_contextual(expression: pd.DataFrame, folds: pd.Series, dosages: Mapping[str, np.ndarray],
                   states: Mapping[str, StateSource] | None = None, *, covariates: Covariates | None = None,
                   config: ExpressionConfig | None = None, methods: Mapping[str, str] | None = None,
                   haplotypes: Mapping[str, np.ndarray] | None = None,
                   backgrounds: Mapping[str, list[LinearBackground]] | None = None, n_jobs: int | None = None,
                   progress: bool = True) -> ContextualRun:
    """Nested-CV predictions of ``expression (samples, genes)`` by the contextual methods, per gene.

    ``dosages[gene]`` ``(n, L)`` and ``states[gene]`` (``snps -> (n, 2, S, d)``, e.g.
    :func:`~lmeqtl.expression.gene_states.mlm_state_source`) have rows in ``expression.index``
    order; without ``states`` only the dosage twin (and ``haplotype_pairs``) runs. ``methods``: name -> feature
    set (default :func:`context_methods`). ``haplotypes[gene]`` ``(n, 2, L)`` (same rows): needed by
    ``config.context_reduction`` ``alt_pca`` and ``gated``, and by ``haplotype_pairs``. With
    ``config.context_background`` ``"predixcan"``, ``backgrounds[gene]`` holds each outer fold's fitted elastic net
    (fold order, :func:`~lmeqtl.expression.background.fold_backgrounds`), which every method fits on top of.
    ``n_jobs`` (default ``config.n_jobs``) genes run at once, each in its own process on one thread (states
    included; the same numbers as one at a time): a state source that holds a GPU model wants ``n_jobs=1``.
    """
    config = config or ExpressionConfig()
    methods = dict(methods or context_methods(config))
    n_jobs = config.n_jobs if n_jobs is None else n_jobs
    per_gene = replace(config, n_jobs=1) if n_jobs > 1 else config  # the processes share the cores, not the folds
    sample_ids = expression.index.to_numpy()
    fold = fold_labels(folds, sample_ids)
    tasks, skipped = [], []
    for gene in expression.columns:
        if gene not in dosages:
            skipped.append(f"{gene}: no dosages")
            continue
        y = expression[gene].to_numpy(dtype=np.float64)
        dosage = np.asarray(dosages[gene])
        if len(dosage) != len(y):
            raise ValueError(f"dosages of {gene} have {len(dosage)} rows for {len(y)} samples")
        designs = covariates.without(gene).for_folds(fold) if covariates is not None else None
        tasks.append((gene, y, dosage, None if states is None else states.get(gene),
                      None if haplotypes is None else haplotypes.get(gene), _gene_backgrounds(gene, backgrounds, config),
                      designs, fold, sample_ids, methods, per_gene))
    runner = Parallel(n_jobs=n_jobs, return_as="generator")(delayed(_run_gene)(*task) for task in tasks)
    genes = list(tqdm(runner, total=len(tasks), desc="contextual", disable=not progress))
    predictions = [table for run in genes for table in run.predictions]
    if not predictions:
        raise ValueError("nothing to run: no gene has dosages")
    chosen, timings, selections, weights = ([item for run in genes for item in getattr(run, name)]
                                            for name in ("chosen", "timings", "selections", "weights"))
    skipped += [reason for run in genes for reason in run.skipped]
    heads = {task[0]: run.heads for task, run in zip(tasks, genes, strict=True) if run.heads}
    table = pd.concat(predictions, ignore_index=True)
    comparison = Comparison(table, pd.concat(chosen, ignore_index=True), pd.DataFrame(timings), skipped)
    return ContextualRun(comparison, pd.concat(selections, ignore_index=True), gene_r(table),
                         pd.concat(weights, ignore_index=True), heads)
