"""The summary's paired sentences, and the headline LM method (``ExpressionConfig.headline_method``)
in words: its mean r next to the elastic net's and its dosage twin's (RQ2), and its paired test
against the elastic net over all genes and within the additive and interaction genes (RQ4).

The headline is fixed by the preset before the run, so the summary tests it, not the best
method in hindsight. The groups come from the simulation's truth
(:func:`lmeqtl.book.chapters.expression_context.interaction_groups`); real data has none.
"""

from __future__ import annotations

import pandas as pd

from lmeqtl.book import chapters
from lmeqtl.book.chapters.names import describe_method, method_label, p_text
from lmeqtl.expression.evaluation import compare_to

ELASTIC_NET = "predixcan"  # what the headline is tested against


def paired_sentence(expression: pd.DataFrame, method: str, reference: str) -> str:
    """``method`` against ``reference`` over the genes both ran on: wins, mean difference, both tests."""
    paired = compare_to(expression[expression["method"].isin([method, reference])], reference)
    if paired.empty:
        return ""
    row = paired.iloc[0]
    genes = f"{row['n_genes']} gene" + ("" if row["n_genes"] == 1 else "s")
    return (f"{method_label(method)} beats {method_label(reference)} on {row['wins_a']} of {genes} "
            f"(mean difference in r {row['mean_difference']:+.3f}; Wilcoxon p = {p_text(row['wilcoxon_p'])}, sign "
            f"test p = {p_text(row['sign_test_p'])}, the smallest p possible with {genes} being "
            f"{p_text(row['min_attainable_p'])})")


def mean_r(expression: pd.DataFrame, method: str) -> float:
    return float(expression.loc[expression["method"] == method, "r"].mean())


def dosage_twin(headline: str) -> str | None:
    """The dosage-only twin of a contextual method (``contextual:m`` -> ``contextual_dosage:m``), else None."""
    prefix, colon, model = headline.partition(":")
    return f"contextual_dosage:{model}" if colon and prefix == "contextual" else None


def headline_rq2_sentence(expression: pd.DataFrame, headline: str) -> str:
    """One sentence: the headline's mean r, next to the elastic net's and its dosage twin's."""
    present = set(expression["method"])
    if headline not in present:
        return ""
    others = [(ELASTIC_NET, method_label(ELASTIC_NET)), (dosage_twin(headline), "its dosage-only twin")]
    extras = [f"{words} {mean_r(expression, m):.3f}" for m, words in others if m in present]
    return (f" The headline LM method fixed in advance, {describe_method(headline)}, reaches a mean r of "
            f"{mean_r(expression, headline):.3f}" + (f" ({'; '.join(extras)})" if extras else "") + ".")


def headline_rq4_sentence(expression: pd.DataFrame, headline: str, groups: pd.Series | None) -> str:
    """The headline against the elastic net, paired over all genes and within each group of the truth."""
    present = set(expression["method"])
    if headline not in present or ELASTIC_NET not in present:
        return ""
    parts = [f"over all genes, {paired_sentence(expression, headline, ELASTIC_NET)}"]
    for group in ("additive", "interaction") if groups is not None else ():
        rows = expression[expression["gene"].map(groups) == group]
        sentence = paired_sentence(rows, headline, ELASTIC_NET) if rows["gene"].nunique() else ""
        if sentence:
            parts.append(f"on the {group} genes of the simulated truth, {sentence}")
    no_truth = (f" {chapters.NO_TRUTH} which genes carry a non-additive effect is unknown, so the test is not split "
                "into additive and interaction genes." if groups is None else "")
    return " The headline LM method fixed in advance against the elastic net: " + "; ".join(parts) + "." + no_truth
