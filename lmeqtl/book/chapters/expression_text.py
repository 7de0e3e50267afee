"""The sentences of the expression chapters (03 RQ2, 05 RQ4): the run's numbers, in words.

Each function takes the tables the chapter computed (``summarise``/``gene_results``/
``compare_to`` outputs) and returns Markdown text; nothing here computes a statistic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmeqtl.book.chapters import NO_TRUTH
from lmeqtl.book.chapters.expression import control_verdict
from lmeqtl.book.chapters.names import (
    BASELINE_NAMES,
    COMBINE_NAMES,
    MODEL_NAMES,
    counted,
    describe_method,
    method_label,
)
from lmeqtl.config import ExpressionConfig

__all__ = ["BASELINE_NAMES", "COMBINE_NAMES", "MODEL_NAMES", "describe_method", "method_label"]  # re-exported



def _row(summary: pd.DataFrame, method: str) -> pd.Series | None:
    rows = summary[summary["method"] == method]
    return rows.iloc[0] if len(rows) else None


def setup_text(n_people: int, genes: list[str], config: ExpressionConfig, folds_source: str, embed_words: str,
               width: int) -> str:
    """People, genes, transform, folds, models and combinations of the comparison."""
    transform = {"inverse_normal": "log2(RPKM + 1), then inverse-normal per gene",
                 "log2": "log2(RPKM + 1)", "none": "RPKM as is"}[config.transform]
    covariates = (f"Covariates ({', '.join(config.covariates)}) are regressed out inside each training fold."
                  if config.covariates else "No covariates are regressed out (the simulated expression has none to remove; with real "
                  "GEUVADIS data, set `expression.covariates`, e.g. genotype and expression PCs).")
    models = ", ".join(MODEL_NAMES.get(m, m) for m in config.models)
    combines = "; ".join(COMBINE_NAMES.get(c, c) for c in config.combine)
    return (f"{n_people:,} test-split people have expression; none of their haplotypes trained the language "
            f"model. Expression is the mean of each person's replicate libraries, transformed as {transform}. "
            f"Each person's embedding of a gene is {embed_words} ({width} numbers per haplotype). {covariates} "
            f"For each of {counted(len(genes), 'gene')}, {counted(len(config.models), 'model')} ({models}) are fitted "
            f"on {counted(len(config.combine), 'combination')} of the two haplotypes ({combines}) by nested "
            f"cross-validation: {folds_source}, shared by every method and by chapters 04 and 05, and inside each "
            f"training fold {config.inner_folds} inner folds choose the hyper-parameters. Scaling, any PCA, the "
            f"hyper-parameters and covariates are fitted on training people only.")


def summary_text(summary: pd.DataFrame, embedding_methods: list[str], reference: str) -> str:
    """Best and reference embedding method, their mean r and share of the ceiling."""
    table = summary[summary["method"].isin(embedding_methods)]
    best = table.iloc[0]
    ref = _row(summary, reference)
    words = (f"Over {best['n_genes']} genes, the best embedding method by mean out-of-fold Pearson r is "
             f"{describe_method(best['method'])} (*{method_label(best['method'])}*): mean r {best['mean_r']:.3f}, median "
             f"{best['median_r']:.3f}, mean R² {best['mean_r2']:.3f}, r significantly above 0 (p < 0.05) in "
             f"{counted(int(best['n_significant']), 'gene')}. The worst is {describe_method(table.iloc[-1]['method'])} "
             f"(mean r {table.iloc[-1]['mean_r']:.3f}).")
    if ref is not None and reference != best["method"]:
        words += (f" The method fixed in advance for the comparisons of chapter 05, {describe_method(reference)}, reaches mean r "
                  f"{ref['mean_r']:.3f}.")
    words += (" Picking the best of many methods on these same genes flatters it: its mean r is an optimistic "
              "estimate of what it would reach on new genes.")
    return words


def best_by_text(results: pd.DataFrame) -> str:
    """Which model and which haplotype combination is best, each averaged over the other."""
    table = results.assign(model_name=results["model"].map(lambda m: MODEL_NAMES.get(m, m)),
                           combine_name=results["combine"].map(lambda c: COMBINE_NAMES.get(c, c)))
    by_model = table.groupby("model_name")["r"].mean().sort_values(ascending=False)
    by_combine = table.groupby("combine_name")["r"].mean().sort_values(ascending=False)
    wins = results.loc[results.groupby("gene")["r"].idxmax()]
    top = wins["method"].value_counts()
    return (f"Averaged over combinations and genes, {by_model.index[0]} predicts best (mean r {by_model.iloc[0]:.3f}) "
            f"and {by_model.index[-1]} worst ({by_model.iloc[-1]:.3f}). Averaged over models, the "
            f"{by_combine.index[0]} of the haplotypes is the best combination (mean r {by_combine.iloc[0]:.3f}) and "
            f"the {by_combine.index[-1]} the worst ({by_combine.iloc[-1]:.3f}). Gene by gene the winner varies: "
            f"{describe_method(top.index[0])} is best on {counted(int(top.iloc[0]), 'gene')} of {results['gene'].nunique()}.")


def leakage_text(control: pd.DataFrame, method: str, alpha: float = 0.05) -> str:
    """The shuffled-expression control in words (``control`` = gene_results of the shuffled run).

    The verdict is :func:`~lmeqtl.book.chapters.expression.control_verdict`'s one-sided test:
    leakage shows as positive r, so only genes with r > 0 and a one-sided p < ``alpha`` count,
    and the text says "leakage" only when they are more than chance allows or the mean r is
    significantly above 0. Negative r is the usual bias of cross-validation without signal.
    """
    verdict = control_verdict(control, alpha)
    r = control["r"]
    counts = (f"{verdict['n_positive_significant']} of {verdict['n_genes']} genes have r > 0 with one-sided "
              f"p < {alpha:g} (chance alone gives {verdict['expected']:.1f} on average; binomial p = "
              f"{verdict['count_p']:.2g}), and the mean r is {'' if verdict['mean_p'] < alpha else 'not '}"
              f"significantly above 0 (one-sided t test over genes, p = {verdict['mean_p']:.2g})")
    if verdict["n_negative_significant"]:
        counts += (f"; {counted(verdict['n_negative_significant'], 'gene')} reach p < {alpha:g} with a *negative* r, "
                   "which a leak cannot cause")
    if verdict["leakage"]:
        text = (f"There is no signal to find, yet the pipeline finds some: {counts}. Positive r beyond chance points "
                "at information from the test people reaching the fitting (leakage) and makes the chapter's other "
                "numbers suspect.")
    else:
        text = (f"There is no signal to find, and the pipeline finds none: {counts}. A leak could only push r up, so "
                "the test is one-sided. Without signal, nested cross-validation gives slightly *negative* r and R² on "
                "average (each training fold's mean moves against its test fold's mean), which is what this control "
                "shows, not a problem.")
    return (f"With each gene's expression shuffled across people (a seeded permutation), {describe_method(method)} "
            f"scores mean r {r.mean():.3f} (from {r.min():.3f} to {r.max():.3f} over genes) and mean R² "
            f"{control['r2'].mean():.3f}. {text}")


def ceiling_text(summary: pd.DataFrame, embedding_methods: list[str]) -> str:
    """The oracle's r and the share of its R² the best embedding method reaches (simulation only)."""
    oracle = _row(summary, "oracle")
    if oracle is None:
        return (f"{NO_TRUTH} the genetic value of each person is unknown, so there is no oracle ceiling here; the "
                "in-sample |rvalue| of chapter 05 is the nearest upper bound.")
    best = summary[summary["method"].isin(embedding_methods)].iloc[0]
    share = best["ceiling_fraction"]
    return (f"The oracle, OLS on the simulated true genetic value of each gene (the additive effects of its causal "
            f"SNPs plus, where the simulation planted one, the same-haplotype interaction term), reaches mean r {oracle['mean_r']:.3f} (mean R² {oracle['mean_r2']:.3f}): no predictor from "
            f"these genotypes can do much better, because the rest of expression is noise by construction. The best "
            f"embedding method (by mean r) recovers {share:.0%} of the oracle's R² (sum over genes)"
            + (": negative, its predictions are further from the observed values than the training mean is." if share < 0
               else ".") if np.isfinite(share) else "")


def timing_text(timings: pd.DataFrame, n_jobs: int, seconds: float) -> str:
    """Wall time of the comparison and the costliest method."""
    per_method = timings.groupby("method")["seconds"].sum().sort_values(ascending=False)
    return (f"The whole comparison took {seconds:.0f} s on {counted(n_jobs, 'worker')} ({timings['seconds'].sum():.0f} "
            f"s of fitting in all); the costliest method was {describe_method(per_method.index[0])} ({per_method.iloc[0]:.0f} s over "
            f"all genes). {int((~timings['converged']).sum())} of {len(timings)} fits warned that a solver did not "
            "converge.")


def rq4_text(summary: pd.DataFrame, reference: str, headline: str | None = None) -> str:
    """Mean r of the reference embedding method, the headline LM method, each baseline and the in-sample bound."""
    parts = []
    fixed = {reference: "the embedding method fixed in advance", headline: "the headline LM method fixed in advance"}
    for method in dict.fromkeys((reference, headline, "finetune", "predixcan", "lead_snp_cv", "lead_snp", "oracle",
                                 "rvalue (in-sample)")):
        row = _row(summary, method) if method is not None else None
        if row is not None:
            name = f"{describe_method(method)} ({fixed[method]})" if method in fixed else describe_method(method)
            parts.append(f"{name}: {row['mean_r']:.3f}")
    no_oracle = (f" {NO_TRUTH} the oracle (the true genetic value, the ceiling) is left out."
                 if _row(summary, "oracle") is None else "")
    return ("Mean Pearson r over genes — " + "; ".join(parts) + ". The in-sample |rvalue| is the correlation "
            "reported by the eQTL table on the same people that chose the SNP: an upper bound for a single SNP, "
            "not a prediction, and it is left out of the paired tests." + no_oracle)


def paired_text(paired: pd.DataFrame, reference: str) -> str:
    """The reference method against each other method over genes (wins, Wilcoxon and sign-test p)."""
    if paired.empty:
        return "There is no other method to compare with."
    sentences = [f"against {describe_method(row.method_a)}, {method_label(reference)} wins on {row.wins_b} of {row.n_genes} "
                 f"genes (mean r difference {-row.mean_difference:+.3f}; Wilcoxon p = {row.wilcoxon_p:.2g}, sign "
                 f"test p = {row.sign_test_p:.2g})" for row in paired.itertuples()]
    floor = paired["min_attainable_p"].min()
    return ("Gene by gene, " + "; ".join(sentences) + f". With {counted(int(paired['n_genes'].max()), 'gene')} no "
            f"paired test can reach p below {floor:.2g}, so a non-significant difference is weak evidence either "
            "way; the power table below says how large a difference these tests could detect.")


def choice_text(summary: pd.DataFrame, embedding_methods: list[str], reference: str) -> str:
    """How the embedding method of the paired tests was chosen, and the best one in hindsight."""
    best = summary[summary["method"].isin(embedding_methods)].iloc[0]["method"]
    hindsight = ("It is also the best embedding method of this run." if best == reference else
                 f"The best embedding method in hindsight is {describe_method(best)}; choosing it on these genes and then testing "
                 "it on the same genes would be optimistic, so the tests use the rule fixed in advance.")
    return (f"The embedding method tested against the baselines is fixed before the run by the preset "
            f"(`expression.reference_method`): {describe_method(reference)} (*{method_label(reference)}*). {hindsight}")


def preset_text(preset: str, config: ExpressionConfig) -> str:
    """What the preset runs, and what it leaves out compared with the full comparison (and why)."""
    full = ExpressionConfig()
    words = (f"The {preset} preset fits {counted(len(config.models), 'model')} on "
             f"{counted(len(config.combine), 'combination')} with {config.outer_folds} outer and {config.inner_folds} "
             f"inner folds, {config.n_bootstrap} bootstrap resamples per interval, on {counted(config.n_jobs, 'worker')}.")
    left_out = [MODEL_NAMES.get(m, m) for m in full.models if m not in config.models]
    left_out += [COMBINE_NAMES.get(c, c) for c in full.combine if c not in config.combine]
    if left_out or config.n_bootstrap < full.n_bootstrap or config.outer_folds < full.outer_folds:
        words += (f" It is smaller than the full comparison ({len(full.models)} models x {len(full.combine)} "
                  f"combinations, {full.outer_folds} x {full.inner_folds} folds, {full.n_bootstrap} resamples) so that "
                  "the chapter stays within its time budget on 2 CPU cores"
                  + (f"; left out: {', '.join(left_out)}" if left_out else "") + ".")
    return words


def pca_text(lead_r2: pd.DataFrame) -> str:
    """How much of the lead eQTL's dosage the first two embedding PCs explain, per gene shown."""
    if lead_r2.empty:
        return "The eQTL table has no lead SNP in these genes' windows, so there is no genotype to colour by."
    parts = [f"{row.symbol} ({row.snp}): R² {row.r2:.2f}" for row in lead_r2.itertuples()]
    return ("Share of the lead eQTL's dosage variance explained by the first two embedding PCs: "
            + "; ".join(parts) + ".")


def rq4_setup_text(n_people: int, n_genes: int, folds_source: str, computed_here: list[str],
                   has_finetune: bool) -> str:
    """Chapter 05's people, folds, and where each method's predictions come from."""
    source = ("Step 03 fitted the embedding methods and the baselines in one run" if not computed_here else
              f"Step 03 fitted the embedding methods; {', '.join(computed_here)} were fitted here")
    rq3 = ("Chapter 04's fine-tuned model ran on the same folds; its per-gene scores are read from its `scores.csv`."
           if has_finetune else "This book has no fine-tuning results (step 04), so RQ3's model is not in the comparison.")
    return (f"{n_people:,} test-split people and {counted(n_genes, 'gene')}, on {folds_source}. {source}, by nested "
            f"cross-validation on these folds. {rq3}")

