"""The book's last chapter: every step's saved results in one place, one table of all methods,
and the answers to the five research questions written from the numbers of this run.

Each step leaves plain tables in its output directory (``runs/<preset>/<step>/``);
:func:`load_results` reads those that exist and records the missing ones, so the summary
of a book with fewer steps still builds and says what it lacks. Nothing here trains or
predicts: it only reads, combines and words what the chapters computed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lmeqtl.book import chapters, steps
from lmeqtl.book.chapters.names import (
    WINDOW_MEAN,
    ceiling_share,
    describe_method,
    listing,
    method_label,
)
from lmeqtl.book.chapters.summary_headline import (
    dosage_twin,
    headline_rq2_sentence,
    headline_rq4_sentence,
    mean_r,
    paired_sentence,
)
from lmeqtl.config import ExpressionConfig
from lmeqtl.expression.evaluation import add_ceiling, summarise

# the outputs (lmeqtl.book.steps.OUTPUTS) the summary reads
SOURCES = ("mlm_comparison", "rq1_table", *steps.SCORE_OUTPUTS, "rq2_shuffled_control", "rq5_ranking",
           "rq5_enrichment")
# the method RQ2 names in advance as "the" embedding predictor (ExpressionConfig.reference_method)
PRIMARY_EMBEDDING_METHOD = ExpressionConfig().reference_method
HEADLINE_METHOD = ExpressionConfig().headline_method  # the LM method the paired tests compare, fixed in advance
# contextual method prefixes, and the haplotype-pairs reference reported beside them
CONTEXTUAL = ("contextual", "contextual_dosage", "contextual_both", "contextual_scan", "haplotype_pairs")
# features column of the expression scores -> research question
QUESTION_OF_FEATURES = {"embedding": "RQ2", "haplotypes": "RQ3", "snps": "RQ4", "lead_snp": "RQ4",
                        "genetic_value": "ceiling"}


@dataclass
class BookResults:
    """The saved results of one book run; ``None`` where a step did not run."""

    run_dir: Path
    mlm: pd.DataFrame | None = None  # 01: predictor, masked_accuracy, iqs_snp_mean, ... (scored_on)
    rq1: pd.DataFrame | None = None  # 02: method, maf_bin, genotype_accuracy, iqs, dosage_r2, ...
    expression: pd.DataFrame | None = None  # 03-05: per gene and method (r, CI, R², evaluation)
    ranking: pd.DataFrame | None = None  # 06: per gene and method (average_precision, recall_at_k); empty: no truth
    enrichment: pd.DataFrame | None = None  # 06: per method and mark (odds_ratio, CI, p-values)
    control: pd.DataFrame | None = None  # 03: the shuffled-expression control, per gene (r, p_value)
    missing: list[str] = field(default_factory=list)  # "<step>/<file>" that were not found
    reference_method: str = PRIMARY_EMBEDDING_METHOD  # RQ2's method, fixed before the run
    headline_method: str = HEADLINE_METHOD  # the LM method tested against the elastic net, fixed before the run
    groups: pd.Series | None = None  # gene -> "additive" / "interaction" (simulated truth); None: real data


def load_results(run_dir: str | os.PathLike[str], reference_method: str = PRIMARY_EMBEDDING_METHOD, *,
                 headline_method: str = HEADLINE_METHOD, groups: pd.Series | None = None) -> BookResults:
    """Read every step's result tables under ``run_dir`` (missing ones are listed, not errors).

    ``groups``: :func:`lmeqtl.book.chapters.expression_context.interaction_groups` of the
    run's truth, for the headline's tests within additive and interaction genes.

    Expression scores of steps 03, 04 and 05 are stacked; a (method, gene) that two steps
    scored (step 04 and 05 repeat the baselines on the same folds) is kept once, from the
    later step.
    """
    run_dir = Path(run_dir)
    results = BookResults(run_dir, reference_method=reference_method, headline_method=headline_method,
                          groups=groups)
    tables: dict[str, pd.DataFrame] = {}
    for name in SOURCES:
        path = steps.output_path(run_dir, name)
        if path.is_file():  # an empty file: step 06's ranking on real data (no causal SNPs to rank against)
            tables[name] = pd.read_csv(path) if path.stat().st_size > 2 else pd.DataFrame()
        else:
            results.missing.append(str(path.relative_to(run_dir)))
    results.mlm = tables.get("mlm_comparison")
    results.rq1 = tables.get("rq1_table")
    results.ranking = tables.get("rq5_ranking")
    results.enrichment = tables.get("rq5_enrichment")
    results.control = tables.get("rq2_shuffled_control")
    scores = [tables[name].assign(step=steps.step_of(name)) for name in steps.SCORE_OUTPUTS if name in tables]
    if scores:
        stacked = pd.concat(scores, ignore_index=True)
        stacked = stacked.drop_duplicates(["method", "gene"], keep="last").reset_index(drop=True)
        # the ceiling (oracle R² per gene) recomputed over the stacked rows: every step's rows get it
        results.expression = add_ceiling(stacked.drop(columns=["ceiling_r2", "r2_of_ceiling"], errors="ignore"))
    return results


def question_of(method: str, features: str) -> str:
    """Which research question a method of the expression tables answers."""
    if method == "rvalue (in-sample)":
        return "RQ4 (in-sample)"
    if method == WINDOW_MEAN:
        return "RQ3"
    if method.partition(":")[0] in CONTEXTUAL:
        return "RQ2 (contextual)"
    return QUESTION_OF_FEATURES.get(features, "other")


def embedding_methods(expression: pd.DataFrame) -> list[str]:
    """The RQ2 methods (embeddings + a regression) in table order."""
    rq2 = (expression["features"] == "embedding") & (expression["method"] != WINDOW_MEAN)
    return list(dict.fromkeys(expression.loc[rq2, "method"]))


def headline_methods(expression: pd.DataFrame, reference: str = PRIMARY_EMBEDDING_METHOD,
                     headline: str = HEADLINE_METHOD) -> list[str]:
    """The few methods a figure should show: RQ2's fixed and best method, the headline LM method and its
    dosage twin, RQ3's, the baselines, the ceiling."""
    present = set(expression["method"])
    rq2 = embedding_methods(expression)
    best = (expression[expression["method"].isin(rq2)].groupby("method")["r"].mean().idxmax() if rq2 else None)
    wanted = [primary_embedding_method(expression, reference), best, headline, dosage_twin(headline), "finetune", WINDOW_MEAN, "predixcan",
              "lead_snp_cv", "lead_snp", "oracle"]
    return [m for m in dict.fromkeys(wanted) if m is not None and m in present]


def primary_embedding_method(expression: pd.DataFrame, reference: str = PRIMARY_EMBEDDING_METHOD) -> str | None:
    """RQ2's pre-specified method (``reference``, the preset's ``expression.reference_method``)
    if the run fitted it, else the first embedding method.

    Fixed before looking at the results: choosing the best of many embedding methods on the
    same genes would flatter RQ2 in the paired tests.
    """
    methods = embedding_methods(expression)
    if not methods:
        return None
    return reference if reference in methods else methods[0]


def expression_summary(expression: pd.DataFrame) -> pd.DataFrame:
    """Per method over genes (:func:`lmeqtl.expression.evaluation.summarise`) + question + description."""
    table = summarise(expression)
    features = expression.groupby("method")["features"].first()
    table.insert(0, "question", [question_of(m, features.get(m, "")) for m in table["method"]])
    table["description"] = [describe_method(m) for m in table["method"]]
    return table


def rq1_overall(rq1: pd.DataFrame) -> pd.DataFrame:
    return rq1[rq1["maf_bin"] == "all"].set_index("method")


def rq1_answer(results: BookResults) -> str:
    """RQ1 in two sentences: MLM vs Beagle vs the most frequent genotype, overall."""
    if results.rq1 is None:
        return "Step 02 did not run in this book, so RQ1 is not answered here."
    table = rq1_overall(results.rq1)
    mlm = table.loc["MLM"]
    text = (f"Reconstructing masked genotypes from its two haplotype predictions, without retraining, the "
            f"model gets {mlm['genotype_accuracy']:.1%} of genotypes right (per-SNP IQS {mlm['iqs']:.3f}, "
            f"dosage r² {mlm['dosage_r2']:.3f})")
    if "most frequent genotype" in table.index:
        base = table.loc["most frequent genotype"]
        text += f", against {base['genotype_accuracy']:.1%} for always guessing each SNP's most frequent genotype"
    if "Beagle 5" in table.index:
        beagle = table.loc["Beagle 5"]
        verdict = "better than" if mlm["iqs"] > beagle["iqs"] else "below"
        text += (f". Beagle 5, on the same masked genotypes with the training people as its reference panel, "
                 f"reaches {beagle['genotype_accuracy']:.1%} (IQS {beagle['iqs']:.3f}): the model is {verdict} "
                 f"the classical imputer by IQS.")
    else:
        text += ". Beagle 5 was not installed for this run, so the classical imputer is missing from the comparison."
    return text


def leakage_sentence(control: pd.DataFrame | None) -> str:
    """The shuffled-expression control's verdict, by the one-sided test of
    :func:`lmeqtl.book.chapters.expression.control_verdict` (leakage only shows as positive r)."""
    from lmeqtl.book.chapters.expression import control_verdict

    if control is None or control.empty:
        return ""
    verdict = control_verdict(control)
    counts = (f"{verdict['n_positive_significant']} of {verdict['n_genes']} genes reach r > 0 at one-sided p < 0.05 "
              f"(about {verdict['expected']:.1f} expected by chance) and the mean r is {verdict['mean_r']:.3f}")
    if verdict["leakage"]:
        return (f" The shuffled-expression control finds signal where there is none ({counts}): positive r beyond "
                "chance points at leakage, so the RQ2–RQ4 numbers are suspect.")
    return f" The shuffled-expression control shows no sign of leakage ({counts})."


def rq2_answer(results: BookResults) -> str:
    """RQ2: how well the pre-specified embedding method predicts expression, against the ceiling and the
    shuffled-expression control."""
    expression = results.expression
    method = primary_embedding_method(expression, results.reference_method) if expression is not None else None
    if method is None:
        return "Step 03 did not run in this book, so RQ2 is not answered here."
    summary = expression_summary(expression).set_index("method")
    row = summary.loc[method]
    text = (f"Embeddings of both haplotypes with {describe_method(method)} (named in advance as RQ2's method) "
            f"predict held-out expression with a mean r of {row['mean_r']:.3f} over {row['n_genes']} genes "
            f"({row['n_significant']} with p < 0.05)")
    if np.isfinite(row["ceiling_fraction"]):
        text += f", {ceiling_share(row['ceiling_fraction'])} of the R² that the true genetic values reach"
    best = summary[summary["question"] == "RQ2"]["mean_r"].idxmax()
    if best != method:
        text += (f"; the best of the {len(embedding_methods(expression))} embedding methods on these genes is "
                 f"{method_label(best)} (mean r {summary.loc[best, 'mean_r']:.3f}, chosen after the fact)")
    return text + "." + headline_rq2_sentence(expression, results.headline_method) + leakage_sentence(results.control)


def rq3_answer(results: BookResults) -> str:
    """RQ3: does fine-tuning beat the frozen embeddings (paired, same folds)?"""
    expression = results.expression
    if expression is None or "finetune" not in set(expression["method"]):
        return "Step 04 did not run in this book, so RQ3 is not answered here."
    text = f"Fine-tuning reaches a mean r of {mean_r(expression, 'finetune'):.3f}"
    reference = primary_embedding_method(expression, results.reference_method)
    if reference is None and "lead_snp" in set(expression["method"]):
        reference = "lead_snp"  # no RQ2 step: the single-SNP baseline gives the scale
    if reference is not None:
        text += f"; on the same outer folds, {paired_sentence(expression, 'finetune', reference)}"
    if WINDOW_MEAN in set(expression["method"]):
        text += (f". Against ridge on the mean of the same frozen states over the same TSS window (what the "
                 f"head adds beyond averaging), {paired_sentence(expression, 'finetune', WINDOW_MEAN)}")
    return text + "."


def rq4_answer(results: BookResults) -> str:
    """RQ4: the embedding method (and fine-tuning) against the single-SNP and PrediXcan baselines."""
    expression = results.expression
    method = primary_embedding_method(expression, results.reference_method) if expression is not None else None
    baselines = [b for b in ("lead_snp", "lead_snp_cv", "predixcan")
                 if expression is not None and b in set(expression["method"])]
    if method is None or not baselines:
        return "Steps 03 and 05 did not both run in this book, so RQ4 is not answered here."
    sentences = [paired_sentence(expression, method, b) for b in baselines]
    text = "Against the baselines geneticists use, on the same folds: " + "; ".join(s for s in sentences if s) + "."
    text += headline_rq4_sentence(expression, results.headline_method, results.groups)
    if "rvalue (in-sample)" in set(expression["method"]):
        text += (f" The eQTL table's own in-sample |r| of the lead SNP averages "
                 f"{mean_r(expression, 'rvalue (in-sample)'):.3f}: an upper bound for a single SNP, not a "
                 f"prediction.")
    return text


def _planted(enrichment: pd.DataFrame) -> dict[str, float] | None:
    """Mark -> the simulation's planted odds ratio (None on real data)."""
    if "planted_or" not in enrichment or enrichment["planted_or"].isna().all():
        return None
    marks = enrichment.drop_duplicates("mark")
    return dict(zip(marks["mark"], marks["planted_or"].fillna(1.0), strict=True))


def enrichment_sentence(enrichment: pd.DataFrame | None) -> str:
    """RQ5's chromatin verdict, by the test that decides it in chapter 06 (the distance-matched
    permutation test, :func:`lmeqtl.book.chapters.explain.enrichment_summary`)."""
    from lmeqtl.book.chapters.explain import enrichment_summary

    if enrichment is None or enrichment.empty:
        return ""
    planted = _planted(enrichment)
    summary = enrichment_summary(enrichment, planted).drop(index="is_causal", errors="ignore")
    test = summary["test"].iloc[0]
    names = lambda index: listing(method_label(m) for m in index)  # noqa: E731
    if planted is None:
        enriched = summary.index[summary["enriched_marks"] != ""]
        return (f" By {test}, the top SNPs of " + (f"{names(enriched)} are enriched in some marks' peaks"
                                                   if len(enriched) else "no method are enriched in any mark") + ".")
    marks = [m for m, v in planted.items() if v > 1]
    recovered, found = summary.index[summary["recovered"]], summary["planted_found"] > 0
    partly = summary.index[~summary["recovered"] & found]
    text = (f" By {test}, which compares top SNPs with SNPs at the same distance from the TSS, the planted "
            f"enrichment ({', '.join(marks)}) is fully recovered by " + (names(recovered) if len(recovered) else "no method"))
    if len(partly):
        text += f"; some of its marks are found by {names(partly)}"
    flattered = summary.index[summary["recovered_fisher"] & ~summary["recovered"]]
    if len(flattered):
        text += f"; Fisher's test alone would also have credited {names(flattered)}"
    return text + "."


def rq5_answer(results: BookResults) -> str:
    """RQ5: which scores find the causal SNPs, and are top SNPs in active chromatin?"""
    if results.ranking is None and results.enrichment is None:
        return "Step 06 did not run in this book, so RQ5 is not answered here."
    if results.ranking is None or "average_precision" not in results.ranking or results.ranking.empty:
        return (f"{chapters.NO_TRUTH} the causal SNPs are unknown, so no ranking is scored against them; chapter 06 "
                "compares the rankings with the eQTL table and with histone-mark peaks."
                + enrichment_sentence(results.enrichment))
    ranking = results.ranking.groupby("method", sort=False)[["average_precision", "random_average_precision"]].mean()
    best = ranking["average_precision"].idxmax()
    text = (f"Ranking SNPs against the true causal ones, {method_label(best)} does best (mean average precision "
            f"{ranking.loc[best, 'average_precision']:.3f} against {ranking.loc[best, 'random_average_precision']:.3f} "
            f"for a random ranking)")
    text += "; then " + ", ".join(f"{method_label(m)} {v:.3f}" for m, v in
                                   ranking["average_precision"].sort_values(ascending=False).items() if m != best)
    from lmeqtl.book.chapters.explain_headline import HEADLINE_SCORE, headline_attribution_text
    from lmeqtl.expression.contextual_run import background_of

    text += "."
    if HEADLINE_SCORE in ranking.index:  # chapter 06's comparison fixed in advance: headline vs elastic net
        background = background_of(results.headline_method)
        text += " " + headline_attribution_text(results.ranking, background=background).replace("**", "").strip()
    return text + enrichment_sentence(results.enrichment)


def answers(results: BookResults) -> dict[str, str]:
    """The five research questions, each answered in a few sentences with this run's numbers."""
    return {"RQ1": rq1_answer(results), "RQ2": rq2_answer(results), "RQ3": rq3_answer(results),
            "RQ4": rq4_answer(results), "RQ5": rq5_answer(results)}


def what_ran_text(results: BookResults) -> str:
    """Which steps' results this summary found (and which it did not)."""
    if not results.missing:
        return "Every step of the book ran, and this summary reads all of their results."
    names = sorted({m.split("/")[0] for m in results.missing})
    return (f"Some results are missing because these steps did not run (or ran without them) in this book: "
            f"{', '.join(names)}. Their questions are marked as not answered below.")


def limitations_text(results: BookResults, simulated: bool, full_size_model: bool) -> str:
    """What the numbers of this run cannot say, in words that depend on what the run was."""
    points = []
    if simulated:
        points.append("The data are simulated: the genotypes come from a coalescent model and expression from "
                      "planted additive (and optionally haplotype-interaction) effects, so the answers say what the "
                      "methods can recover when the truth is known, not what holds in GEUVADIS "
                      "{cite:p}`lappalainen2013geuvadis`.")
    if not full_size_model:
        points.append("The language model is a reduced CPU configuration, trained for minutes; the full-size model "
                      "(d_model 256, 16 blocks) of the GPU presets may embed haplotypes differently.")
    if results.expression is not None:
        n_genes = int(results.expression["gene"].nunique())
        points.append(f"Paired comparisons run over {n_genes} genes, so no sign or signed-rank test can reach "
                      f"p below {2 * 0.5**n_genes:.2g}; a difference that is not significant here is not evidence "
                      f"of no difference.")
    points.append("Expression is predicted for the test-split people only (the model never saw them in "
                  "training), with nested cross-validation inside them; the lead-SNP baseline and the eQTL "
                  "table's r were chosen on all of them and are optimistic.")
    return "\n".join(f"- {point}" for point in points) + "\n"
