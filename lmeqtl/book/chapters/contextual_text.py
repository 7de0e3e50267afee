"""The sentences of the contextual methods and of the additive/interaction split (chapters 03-05).

Each function takes the paired tests or group means the chapter computed
(:mod:`~lmeqtl.book.chapters.expression_context`) and returns Markdown text; nothing here computes a statistic.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmeqtl.book.chapters import NO_TRUTH
from lmeqtl.book.chapters.names import counted, describe_method, method_label, p_text

# what the oracle knows, said wherever the oracle is read against the additive/interaction split
ORACLE_WORDS = ("The oracle is OLS on each person's true genetic value as the simulation planted it: the additive "
                "effects of the gene's causal SNPs plus, where one was planted, the same-haplotype interaction term "
                "(a haplotype carrying the ALT alleles of both interacting SNPs). It is the ceiling for additive and "
                "interaction genes alike.")


def _paired_words(row) -> str:
    """One row of :func:`~lmeqtl.book.chapters.expression_context.paired_by_group` in words."""
    return (f"{row.wins_a} of {counted(row.n_genes, 'gene')}: mean r {row.mean_r_a:.3f} against {row.mean_r_b:.3f} "
            f"(difference {row.mean_difference:+.3f}; Wilcoxon p = {p_text(row.wilcoxon_p)}, sign test p = "
            f"{p_text(row.sign_test_p)})")


def _group_words(tests: pd.DataFrame) -> str:
    parts = [f"{row.group} genes, {_paired_words(row)}" for row in tests.itertuples() if row.group != "all"]
    if not parts:
        return (f" {NO_TRUTH} which genes carry an interaction is unknown, so the comparison is not split into "
                "additive and interaction genes.")
    return " Wins within the groups of the simulated truth: " + "; ".join(parts) + "."


def context_text(tests: pd.DataFrame, context: str, twin: str, seconds: float | None = None) -> str:
    """What the MLM's context adds: the contextual method against its dosage twin (``paired_by_group`` rows)."""
    if tests.empty:
        return (f"{describe_method(context).capitalize()} did not run in this book, so what the context adds is not "
                "measured here.")
    overall = tests[tests["group"] == "all"].iloc[0]
    words = (f"The twin fits the same regression on the dosages of the same SNPs, chosen in the same training folds: "
             f"the difference between the two is what the MLM's states add to the alleles they sit on. Paired over "
             f"genes, the states ({method_label(context)}) beat the dosages ({method_label(twin)}) on "
             f"{_paired_words(overall)}. ")
    if overall["mean_difference"] <= 0:
        words += "On these genes the context adds nothing: the states do no better than the dosages."
    elif overall["wilcoxon_p"] < 0.05:
        words += "The states do better, beyond what chance gives with this many genes."
    else:
        words += "The states do better on average, but not beyond chance with this many genes."
    words += _group_words(tests)
    if seconds is not None:
        words += f" Extracting the states and fitting both methods took {seconds:.0f} s."
    return words


def split_text(means: pd.DataFrame, groups: pd.Series | None, methods: list[str], threshold: float = 0.5) -> str:
    """The additive/interaction split of the genes (simulation only) and the named methods' mean r in each."""
    if groups is None:
        return (f"{NO_TRUTH} no gene's share of non-additive variance is known, so the methods are not split into "
                "additive and interaction genes.")
    n_interaction, n = int((groups == "interaction").sum()), len(groups)
    words = (f"The simulation planted a same-haplotype interaction of two causal SNPs that carries at least "
             f"{threshold:.0%} of the genetic variance in {counted(n_interaction, 'gene')} of {n} (the interaction "
             f"genes); in the other {n - n_interaction} it carries less or none (the additive genes).")
    if n_interaction in (0, n):
        words += " One of the groups is empty, so the split says nothing here."
    rows = means.set_index("method")
    parts = [f"{method_label(m)} {rows.loc[m, 'additive']:.3f} and {rows.loc[m, 'interaction']:.3f}"
             for m in methods if m in rows.index and "additive" in rows]
    if parts and 0 < n_interaction < n:
        words += " Mean r on the additive and on the interaction genes: " + "; ".join(parts) + "."
    return words + " " + ORACLE_WORDS


def headline_text(tests: pd.DataFrame, headline: str, against: str, additive_share: float = 0.95,
                  interaction_gain: float = 0.05) -> str:
    """The headline LM method, fixed in advance, against the elastic net (``paired_by_group`` rows), and
    the targets set before the run: >= ``additive_share`` of its mean r on additive genes, >= ``interaction_gain``
    above it on interaction genes."""
    fixed = (f"The preset names its headline LM method before the run (`expression.headline_method`): "
             f"{describe_method(headline)} (*{method_label(headline)}*).")
    if tests.empty:
        return f"{fixed} It, or {describe_method(against)}, did not run in this book, so it is not tested here."
    overall = tests[tests["group"] == "all"].iloc[0]
    words = (f"{fixed} Paired over genes, it beats {describe_method(against)} on {_paired_words(overall)}."
             + _group_words(tests))
    by_group = tests.set_index("group")
    if {"additive", "interaction"} <= set(by_group.index):
        additive, interaction = by_group.loc["additive"], by_group.loc["interaction"]
        share = additive["mean_r_a"] / additive["mean_r_b"] if additive["mean_r_b"] > 0 else np.nan
        met = [np.isfinite(share) and share >= additive_share, interaction["mean_difference"] >= interaction_gain]
        words += (" The targets set before the run: on the additive genes at least "
                  f"{additive_share:.0%} of the elastic net's mean r (reached: "
                  + (f"{share:.0%}" if np.isfinite(share) else "n/a, the elastic net's mean r is not positive")
                  + f"), and on the interaction genes at least {interaction_gain:+.2f} above it (reached: "
                  f"{interaction['mean_difference']:+.3f}). "
                  + ("Both are met." if all(met) else "Neither is met." if not any(met) else
                     "Only the " + ("additive" if met[0] else "interaction") + " target is met.")
                  + f" Within the groups no paired test can reach p below {p_text(additive['min_attainable_p'])} "
                  f"(additive) and {p_text(interaction['min_attainable_p'])} (interaction).")
    return words


def scan_text(tests: pd.DataFrame, scan: str, twin: str, components: int) -> str:
    """The state-scan variant of the contextual method against the dosage twin (``paired_by_group`` rows)."""
    variant = (f"The contextual method chooses its SNPs by their dosages, so it reads states only where the alleles "
               f"themselves associate with expression. A variant, *{method_label(scan)}*, chooses them by their "
               f"states instead: in each training fold, the SNPs whose {components} state PCs explain most "
               f"of the expression (the PCs fitted on genotypes alone), so that a SNP whose state carries an "
               f"interacting allele can be chosen. ")
    if tests.empty:
        return variant + ("It is off in this preset (`expression.context_scan`; it holds every SNP's state in "
                          "memory): set it to true to run it here.")
    overall = tests[tests["group"] == "all"].iloc[0]
    return (variant + f"Not fixed in advance, it is reported next to the headline. Paired over genes, it beats the "
            f"dosage twin on {_paired_words(overall)}." + _group_words(tests))


def pairs_text(tests: pd.DataFrame, headline: pd.DataFrame, pairs: str, n_pairs: int) -> str:
    """The phased-pairs reference (no MLM) against the dosage twin (``tests``) and the headline against it
    (``headline``): both :func:`~lmeqtl.book.chapters.expression_context.paired_by_group` rows."""
    what = (f"How much can reading the phase add at all? *{method_label(pairs)}* reads no MLM: the twin, plus how "
            f"many of a person's haplotypes carry the ALT alleles of both SNPs of the {counted(n_pairs, 'pair')} whose "
            f"count best explains what the twin leaves unexplained in the training fold (a scan of every pair of "
            f"window SNPs, anywhere in the window; `benchmarks/RESULTS-context.md`, runs 6 and 7, sets it against "
            f"the MLM's states at the same SNPs on expression simulated afresh). ")
    if tests.empty:
        return what + "It is off in this preset (`expression.context_pairs` = 0)."
    overall = tests[tests["group"] == "all"].iloc[0]
    text = (what + f"A reference, not a headline: paired over genes, it beats the dosage twin on "
            f"{_paired_words(overall)}." + _group_words(tests))
    if not headline.empty:
        row = headline[headline["group"] == "all"].iloc[0]
        text += (f" The headline LM method beats it on {_paired_words(row)}"
                 + ("; " + "; ".join(f"{r.group} genes, {_paired_words(r)}" for r in headline.itertuples()
                                     if r.group != "all") if len(headline) > 1 else "") + ".")
    return text
