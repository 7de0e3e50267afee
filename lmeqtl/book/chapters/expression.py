"""What the expression chapters (03 RQ2, 04 RQ3, 05 RQ4) share: the same people, transform, folds
and inputs, the leakage control, the scores (their sentences are in :mod:`~lmeqtl.book.chapters.expression_text`).

:func:`expression_inputs` is the single place where the analysis table is made: test-split
people with expression, replicates averaged, the preset's transform, the outer folds
(RQ2's saved ``folds.csv`` once step 03 ran, else drawn by :func:`outer_folds` with the
preset's seed: the same folds), covariates, window dosages, lead-SNP dosages and, on
simulated data, the true genetic values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lmeqtl.book import steps
from lmeqtl.book.run import require_inputs
from lmeqtl.config import ExpressionConfig
from lmeqtl.data.cohort import Cohort
from lmeqtl.data.formats import read_eqtl_table, read_genes, read_geuvadis_expression
from lmeqtl.data.paths import DataPaths
from lmeqtl.data.truth import Truth, read_truth
from lmeqtl.errors import InputError
from lmeqtl.expression.comparison import (
    Comparison,
    Method,
    baseline_methods,
    embedding_methods,
    run_comparison,
)
from lmeqtl.expression.covariates import Covariates, covariates_for
from lmeqtl.expression.evaluation import add_ceiling, gene_results, rvalue_results
from lmeqtl.expression.features import align_rows, lead_snps
from lmeqtl.expression.prediction import load_folds, outer_folds
from lmeqtl.expression.processing import (
    average_replicates,
    prepare_expression,
    samples_with_expression,
)

if TYPE_CHECKING:
    from lmeqtl.book.run import NotebookRun



@dataclass
class ExpressionInputs:
    """Everything the expression chapters predict from, rows in ``expression.index`` order."""

    expression: pd.DataFrame  # (people, genes) transformed expression
    folds: pd.Series  # outer fold per sample_id
    folds_source: str  # a phrase: where the folds come from
    people: Cohort  # the people of ``expression``, in that order
    dosages: dict[str, np.ndarray]  # gene -> (n, L) window dosages
    covariates: Covariates | None
    lead: pd.DataFrame  # the eQTL table's lead SNP per gene (lead_snps)
    lead_dosage: dict[str, np.ndarray]  # gene -> (n,)
    genetic_values: dict[str, np.ndarray] | None  # gene -> (n,), simulation only
    truth: Truth | None
    symbols: dict[str, str]  # gene id -> symbol (the id when unknown)

    def symbol(self, gene: str) -> str:
        return self.symbols.get(gene, gene)


def _single(directory: Path, name: str) -> Path | None:
    found = sorted(directory.rglob(name)) if directory.is_dir() else []
    if len(found) > 1:
        raise InputError(f"{len(found)} files named {name}: {[str(p) for p in found[:3]]}", path=directory,
                         expected=f"one {name} among step {steps.EXPRESSION}'s outputs")
    return found[0] if found else None


def expression_inputs(source: NotebookRun | DataPaths, cohort: Cohort, config: ExpressionConfig, *, reuse_folds: bool = True,
                      rq2_dir: str | os.PathLike[str] | None = None) -> ExpressionInputs:
    """The expression chapters' inputs from a :class:`~lmeqtl.book.notebook.NotebookRun` or :class:`DataPaths`.

    Folds: with ``reuse_folds``, RQ2's ``folds.csv`` (under ``run_dir/03_rq2_embeddings_expression``
    or ``rq2_dir``) when it exists, else drawn with ``config.seed`` (step 03 draws its own).
    """
    from lmeqtl.book.chapters.finetune import true_genetic_values  # shared with RQ3

    paths: DataPaths = source if isinstance(source, DataPaths) else source.data_paths()
    if rq2_dir is None and not isinstance(source, DataPaths):
        rq2_dir = steps.output_path(source.run_dir, "rq2_outputs")
    require_inputs(paths, "expression", "eqtl")
    raw = read_geuvadis_expression(paths.expression)
    ids = samples_with_expression(average_replicates(raw, paths.expression), cohort.samples, split="test",
                                  path=paths.expression)
    table = prepare_expression(raw, cohort.genes, ids, config.transform, path=paths.expression)
    saved = _single(Path(rq2_dir), "folds.csv") if reuse_folds and rq2_dir is not None else None
    if saved is not None:
        folds = load_folds(saved)
        source_words = f"RQ2's saved {folds.nunique()}-fold split"
    else:
        folds = outer_folds(ids, config.outer_folds, config.seed)
        source_words = f"{config.outer_folds} outer folds drawn with seed {config.seed}"
    people = cohort.subset(ids)
    dosages = {gene: people.dosage(gene) for gene in cohort.genes}  # (n, L)
    covariates = covariates_for(config.covariates, people.samples, genotypes=np.hstack(list(dosages.values())),
                                n_genotype_pcs=config.n_genotype_pcs, expression=table,
                                n_expression_pcs=config.n_expression_pcs)
    lead = lead_snps(read_eqtl_table(paths.eqtl), cohort.meta, cohort.genes)
    lead_dosage = {r.gene_id: dosages[r.gene_id][:, r.seq_idx] for r in lead.itertuples() if r.seq_idx >= 0}
    truth = read_truth(paths.truth) if paths.truth is not None else None
    genetic = true_genetic_values(truth, people, cohort.genes) if truth is not None else None
    genes = read_genes(paths.genes) if paths.genes is not None else None
    symbols = dict(zip(genes["gene_id"], genes["symbol"], strict=True)) if genes is not None else {}
    return ExpressionInputs(table, folds, source_words, people, dosages, covariates, lead, lead_dosage, genetic,
                            truth, symbols)


def aligned_embeddings(embeddings, inputs: ExpressionInputs) -> dict[str, np.ndarray]:
    """Step 02's embeddings (``E[gene]`` ``(people, 2, H)``) in the rows of ``inputs.expression``."""
    ids = list(inputs.expression.index)
    return {gene: align_rows(embeddings[gene], embeddings.sample_ids, ids, f"embeddings of {gene}")
            for gene in inputs.expression.columns if gene in embeddings.by_gene}


def reference_method(config: ExpressionConfig) -> str:
    """The embedding method RQ4 tests, fixed in advance: ``config.reference_method`` when the preset runs it,
    else the preset's first model on its first combination."""
    names = [m.name for m in embedding_methods(config)]
    suffix = f":pca{config.pca_components}" if config.pca_components else ""
    wanted = config.reference_method + suffix
    return wanted if wanted in names else names[0]


def shuffled_control(inputs: ExpressionInputs, embeddings: dict[str, np.ndarray], config: ExpressionConfig,
                     method: Method, seed: int = 1) -> Comparison:
    """The leakage control: ``method`` on expression whose people were permuted (seeded, per gene).

    The permutation breaks any genotype-expression link, so an honest pipeline scores r ≈ 0
    (slightly below, as nested CV does without signal); a leak would show as r > 0.
    """
    rng = np.random.default_rng(seed)
    shuffled = inputs.expression.copy()
    for gene in shuffled.columns:
        shuffled[gene] = shuffled[gene].to_numpy()[rng.permutation(len(shuffled))]
    return run_comparison(shuffled, inputs.folds, embeddings=embeddings, covariates=inputs.covariates,
                          config=config, methods=[method], progress=False)


def control_verdict(control: pd.DataFrame, alpha: float = 0.05) -> dict[str, float | int | bool]:
    """Does the shuffled-expression control (``gene_results`` rows of it) show leakage?

    Leakage can only make r *positive*, so the test is one-sided: a gene counts when r > 0
    and its one-sided p (from the two-sided ``p_value``) is below ``alpha``. ``leakage`` is
    True when more genes count than chance allows (binomial test of the count against
    ``alpha``) or the mean r over genes is significantly above 0 (one-sided t test, from 3
    genes). Negative r is the usual bias of cross-validation without signal, not a leak.
    """
    from scipy import stats

    r, p = control["r"].to_numpy(dtype=float), control["p_value"].to_numpy(dtype=float)
    one_sided = np.where(r > 0, p / 2, 1 - p / 2)
    positive = int(((r > 0) & (one_sided < alpha)).sum())
    count_p = float(stats.binomtest(positive, len(r), alpha, alternative="greater").pvalue) if len(r) else 1.0
    mean_p = float(stats.ttest_1samp(r, 0.0, alternative="greater").pvalue) if len(r) >= 3 and np.std(r) > 0 \
        else (0.0 if len(r) and np.all(r > 0) else 1.0)
    return {"n_genes": len(r), "mean_r": float(np.mean(r)) if len(r) else np.nan,
            "n_positive_significant": positive, "n_negative_significant": int(((r < 0) & (p < alpha)).sum()),
            "expected": alpha * len(r), "count_p": count_p, "mean_p": mean_p,
            "leakage": bool(count_p < alpha or mean_p < alpha)}


def summary_table(summary: pd.DataFrame, methods: list[str] | None = None) -> pd.DataFrame:
    """:func:`~lmeqtl.expression.evaluation.summarise` rows for the page: readable method names and
    columns, and the share of the oracle's R² in words ("below 0 %" when the R² is negative)."""
    from lmeqtl.book.chapters.names import ceiling_share, method_label

    rows = summary if methods is None else summary[summary["method"].isin(methods)]
    table = pd.DataFrame({"method": rows["method"].map(method_label), "genes": rows["n_genes"],
                          "mean r": rows["mean_r"], "median r": rows["median_r"], "mean R²": rows["mean_r2"],
                          "genes p < 0.05": rows["n_significant"]})
    if np.isfinite(rows["ceiling_fraction"]).any():
        table["share of oracle R²"] = rows["ceiling_fraction"].map(ceiling_share)
    return table.reset_index(drop=True)


def score(predictions: pd.DataFrame, config: ExpressionConfig, inputs: ExpressionInputs | None = None) -> pd.DataFrame:
    """Per (method, gene) r, R² and bootstrap CIs; with ``inputs``, the eQTL table's in-sample |rvalue| too."""
    results = gene_results(predictions, n_bootstrap=config.n_bootstrap, level=config.ci_level, seed=config.seed)
    if inputs is not None:
        results = add_ceiling(pd.concat([results, rvalue_results(inputs.lead, len(inputs.expression),
                                                                 config.ci_level)], ignore_index=True))
    return results


def lead_genotype(inputs: ExpressionInputs, gene: str) -> tuple[np.ndarray, str]:
    """The lead eQTL's dosage ``(n,)`` of ``gene`` and its id (NaN and "" when the table has none in the window)."""
    row = inputs.lead.set_index("gene_id").loc[gene]
    if row["seq_idx"] < 0:
        return np.full(len(inputs.expression), np.nan), ""
    return inputs.lead_dosage[gene].astype(np.float64), str(row["SNP_ID"])


def finetune_scores(run_dir: str | os.PathLike[str], method: str = "finetune") -> pd.DataFrame | None:
    """Step 04's per-gene scores of ``method`` (its ``scores.csv``), or None when step 04 has not run."""
    path = steps.output_path(run_dir, "rq3_scores")
    if not path.is_file():
        return None
    scores = pd.read_csv(path)
    missing = {"method", "gene", "r"} - set(scores.columns)
    if missing:
        raise InputError(f"columns {sorted(missing)} missing", path=path, expected="the scores.csv of step 04")
    rows = scores[scores["method"] == method]
    return rows if len(rows) else None


def lead_snp_pc_r2(inputs: ExpressionInputs, embeddings: dict[str, np.ndarray], genes: list[str],
                   n_pcs: int = 2) -> pd.DataFrame:
    """Per gene: R² of the lead eQTL's dosage on the first ``n_pcs`` PCs of the summed embeddings (all people)."""
    rows = []
    for gene in genes:
        dosage, snp = lead_genotype(inputs, gene)
        if not snp:
            continue
        features = embeddings[gene].sum(axis=1)  # (n, H)
        centred = features - features.mean(axis=0)
        u, _, _ = np.linalg.svd(centred, full_matrices=False)
        pcs = u[:, :n_pcs]  # (n, k), orthonormal columns
        y = dosage - dosage.mean()
        r2 = float(((pcs.T @ y) ** 2).sum() / (y @ y)) if y @ y > 0 else float("nan")
        rows.append({"gene": gene, "symbol": inputs.symbol(gene), "snp": snp, "r2": r2})
    return pd.DataFrame(rows, columns=["gene", "symbol", "snp", "r2"])


def with_baselines(rq2_predictions: pd.DataFrame | None, inputs: ExpressionInputs, config: ExpressionConfig,
                   progress: bool = True) -> tuple[pd.DataFrame, list[str]]:
    """Step 03's predictions plus every RQ4 baseline they lack (computed here, on the same folds).

    Returns the predictions and the names of the baselines computed here. Step 03's rows must
    sit on ``inputs.folds``: a mismatch (folds drawn anew after step 03) is an error, not a silent mix.
    Real data (no truth): the oracle is left out, as step 03 left it out.
    """
    if rq2_predictions is not None:
        pairs = rq2_predictions[["sample_id", "fold"]].drop_duplicates().set_index("sample_id")["fold"]
        expected = inputs.folds.reindex(pairs.index)
        if expected.isna().any() or not np.array_equal(expected.to_numpy(), pairs.to_numpy()):
            raise InputError("step 03's predictions are not on these outer folds", where="predictions.parquet",
                             expected=f"the folds of {inputs.folds_source}; re-run step {steps.EXPRESSION}")
    have = set(rq2_predictions["method"]) if rq2_predictions is not None else set()
    missing = [m for m in baseline_methods(truth=inputs.genetic_values is not None) if m.name not in have]
    frames = [rq2_predictions] if rq2_predictions is not None else []
    if missing:
        computed = run_comparison(inputs.expression, inputs.folds, dosages=inputs.dosages,
                                  lead_dosage=inputs.lead_dosage, genetic_values=inputs.genetic_values,
                                  covariates=inputs.covariates, config=config, methods=missing, progress=progress)
        frames.append(computed.predictions)
    predictions = pd.concat(frames, ignore_index=True)
    return predictions, [m for m in (x.name for x in missing) if m in set(predictions["method"])]
