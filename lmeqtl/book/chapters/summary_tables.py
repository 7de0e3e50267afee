"""The summary chapter's tables: every method of the book with its headline numbers, in words.

:func:`methods_table` is one long table (one row per method, for a CSV or a quick look);
:func:`section_tables` splits it into the three tables the summary page shows, each with
its own numeric columns, so that no cell holds a sentence. Methods appear by their readable
names (:func:`lmeqtl.book.chapters.names.method_label`), never by their codes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmeqtl.book.chapters.names import ceiling_share, method_label
from lmeqtl.book.chapters.summary import BookResults, expression_summary, rq1_overall

HAPLOTYPES, EXPRESSION, RANKINGS = ("Haplotypes and genotypes (MLM, RQ1)", "Expression (RQ2–RQ4)",
                                    "SNP rankings against the causal SNPs (RQ5)")


def _mlm_test(mlm: pd.DataFrame) -> pd.DataFrame:
    return mlm[mlm["scored_on"] == "test"].set_index("predictor")


def _number(value: float) -> str:
    return f"{value:.3f}" if np.isfinite(value) else "n/a"


def _ranking(results: BookResults) -> pd.DataFrame | None:
    ranking = results.ranking
    if ranking is None or "average_precision" not in ranking or ranking.empty:
        return None
    return ranking.groupby("method", sort=False)[["average_precision", "random_average_precision"]].mean()


def methods_table(results: BookResults) -> pd.DataFrame:
    """One row per method of the whole book: ``question, method, metric, value, detail``.

    ``method`` is the readable name; ``detail`` a second number in a few words (the per-SNP
    IQS next to an accuracy, the genes significant and the share of the oracle's R², which
    reads "below 0 %" when the R² is negative: a percentage of a negative R² means nothing).
    """
    rows = []
    if results.mlm is not None:
        for name, row in _mlm_test(results.mlm).iterrows():
            rows.append({"question": "MLM (haplotypes)", "method": name, "metric": "masked accuracy",
                         "value": row["masked_accuracy"], "detail": f"IQS {row['iqs_snp_mean']:.3f}"})
    if results.rq1 is not None:
        for name, row in rq1_overall(results.rq1).iterrows():
            rows.append({"question": "RQ1", "method": name, "metric": "genotype accuracy",
                         "value": row["genotype_accuracy"],
                         "detail": f"IQS {row['iqs']:.3f}; dosage r² {_number(row['dosage_r2'])}"})
    if results.expression is not None:
        for row in expression_summary(results.expression).itertuples():
            share = (f"; {ceiling_share(row.ceiling_fraction)} of oracle R²"
                     if np.isfinite(row.ceiling_fraction) else "")
            rows.append({"question": row.question, "method": method_label(row.method), "metric": "mean r",
                         "value": row.mean_r, "detail": f"{row.n_significant}/{row.n_genes} genes p < 0.05{share}"})
    ranking = _ranking(results)
    if ranking is not None:
        for name, row in ranking.iterrows():
            rows.append({"question": "RQ5", "method": method_label(name), "metric": "mean average precision",
                         "value": row["average_precision"],
                         "detail": f"random {row['random_average_precision']:.3f}"})
    return pd.DataFrame(rows, columns=["question", "method", "metric", "value", "detail"])


def section_tables(results: BookResults) -> dict[str, pd.DataFrame]:
    """The summary page's tables (title -> table), each only when its steps ran.

    Haplotypes and genotypes: accuracy, per-SNP IQS and dosage r² of the MLM (masked alleles,
    step 01) and of RQ1's genotype reconstruction (step 02). Expression: per method the mean
    and median r over genes, genes with p < 0.05 and the share of the oracle's R² (as text:
    "below 0 %" for a negative R²). RQ5: mean average precision against a random ranking.
    """
    tables: dict[str, pd.DataFrame] = {}
    rows = []
    if results.mlm is not None:
        for name, row in _mlm_test(results.mlm).iterrows():
            rows.append({"step": "01: masked alleles", "method": name, "accuracy": row["masked_accuracy"],
                         "per-SNP IQS": row["iqs_snp_mean"], "dosage r²": np.nan})
    if results.rq1 is not None:
        for name, row in rq1_overall(results.rq1).iterrows():
            rows.append({"step": "02: masked genotypes (RQ1)", "method": name, "accuracy": row["genotype_accuracy"],
                         "per-SNP IQS": row["iqs"], "dosage r²": row["dosage_r2"]})
    if rows:
        tables[HAPLOTYPES] = pd.DataFrame(rows)
    if results.expression is not None:
        summary = expression_summary(results.expression)
        table = pd.DataFrame({
            "question": summary["question"], "method": summary["method"].map(method_label),
            "mean r": summary["mean_r"], "median r": summary["median_r"],
            "genes p < 0.05": [f"{s} of {n}" for s, n in zip(summary["n_significant"], summary["n_genes"], strict=True)],
        })
        if np.isfinite(summary["ceiling_fraction"]).any():
            table["share of oracle R²"] = summary["ceiling_fraction"].map(ceiling_share)
        order = {q: i for i, q in enumerate(("RQ2", "RQ2 (contextual)", "RQ3", "RQ4", "RQ4 (in-sample)",
                                             "ceiling"))}
        tables[EXPRESSION] = table.sort_values("question", key=lambda q: q.map(order).fillna(9), kind="stable").reset_index(drop=True)
    ranking = _ranking(results)
    if ranking is not None:
        tables[RANKINGS] = pd.DataFrame({
            "method": ranking.index.map(method_label), "mean average precision": ranking["average_precision"],
            "random ranking": ranking["random_average_precision"],
            "× random": ranking["average_precision"] / ranking["random_average_precision"]}
        ).sort_values("mean average precision", ascending=False).reset_index(drop=True)
    return tables
