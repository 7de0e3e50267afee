"""RQ5 for the headline LM method: RQ2's contextual method, attributed and tested against the elastic net.

- :func:`contextual_scores`: its SNP weights and those of its twin, its state-scan variant and the
  phased-pairs reference, from step 03;
- :func:`contextual_heads`: its first outer fold's model per gene, for IG and ISM through the MLM;
- :func:`headline_attribution_text`: each of its attributions against the elastic net's |coefficients|,
  paired over genes by average precision (the comparison the issue fixed in advance);
- :func:`ap_by_group`: every method's average precision in the additive and the interaction genes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lmeqtl.book import steps
from lmeqtl.config import ExpressionConfig

if TYPE_CHECKING:
    from lmeqtl.book.run import NotebookRun

HEADLINE_SCORE, TWIN_SCORE = "contextual_weight", "contextual_dosage_weight"  # RQ2's headline and its twin
HEADLINE_IG, HEADLINE_ISM = "contextual_ig", "contextual_ism"  # the same method, attributed through the MLM
SCAN_SCORE = "contextual_scan_weight"  # RQ2's contextual method with SNPs chosen by a scan of their states
PAIRS_SCORE = "haplotype_pairs_weight"  # RQ2's haplotype-aware reference without the MLM (phased SNP pairs)
REFERENCE_SCORE = "elastic_net"  # what the headline's attribution is tested against (issue: mean AP)


def contextual_scores(run: NotebookRun, n_snps: Mapping[str, int], config: ExpressionConfig
                      ) -> dict[str, dict[str, np.ndarray]]:
    """Gene -> ``{contextual_weight, contextual_dosage_weight, contextual_scan_weight, haplotype_pairs_weight}``:
    step 03's SNP weights ``(L,)``.

    The contextual method and its dosage twin (``config``'s pair) are attributed by their own
    fitted models: each outer fold's weight of the SNPs it chose (how much the SNP moves the
    predictions), averaged over the folds, 0 for SNPs never chosen. ``n_snps``: gene -> window
    length. Empty when step 03 wrote no weights (it did not run, or ran without the MLM).
    """
    from lmeqtl.book.chapters.expression_context import context_pair, pairs_method, scan_method
    from lmeqtl.expression.contextual_run import window_weights

    path = steps.output_path(run.run_dir, "rq2_context_weights")
    if not path.is_file():
        return {}
    headline, twin = context_pair(config)
    names = {headline: HEADLINE_SCORE, twin: TWIN_SCORE, scan_method(config): SCAN_SCORE,
             pairs_method(config): PAIRS_SCORE}
    table = pd.read_csv(path)
    table = table[table["method"].isin(list(names)) & table["gene"].isin(list(n_snps))]
    return window_weights(table.assign(method=table["method"].map(names)), n_snps)


def contextual_heads(run: NotebookRun) -> dict[str, dict[str, np.ndarray]]:
    """Gene -> the headline contextual method's first-fold linear head, saved by step 03 (empty if absent)."""
    from lmeqtl.expression.contextual_run import load_heads

    return load_heads(steps.output_path(run.run_dir, "rq2_context_heads"))


def _against_reference(ranking: pd.DataFrame, mean: pd.Series, score: str, alpha: float,
                       short: bool = False) -> str:
    """``score`` against the elastic net, paired over genes by average precision: a verdict by the Wilcoxon test."""
    from lmeqtl.book.chapters.names import p_text
    from lmeqtl.expression.evaluation import paired_comparison

    row = paired_comparison(ranking, score, REFERENCE_SCORE, metric="average_precision")
    higher = mean[score] >= mean[REFERENCE_SCORE]
    verdict = (f"finds the causal SNPs significantly {'better' if higher else 'worse'} than"
               if row["wilcoxon_p"] < alpha else "does not differ significantly from")
    if short:
        return (f"{verdict} it (mean average precision {mean[score]:.3f}, higher on {row['wins_a']} of "
                f"{row['n_genes']} genes, Wilcoxon p = {p_text(row['wilcoxon_p'])})")
    ties = f", tied on {row['ties']}" if row["ties"] else ""
    return (f"{verdict} the elastic net's |coefficients|: mean average precision {mean[score]:.3f} against "
            f"{mean[REFERENCE_SCORE]:.3f}, higher on {row['wins_a']} of {row['n_genes']} genes, lower on "
            f"{row['wins_b']}{ties} (Wilcoxon p = {p_text(row['wilcoxon_p'])}, the smallest p possible with these "
            f"genes being {p_text(row['min_attainable_p'])})")


def headline_attribution_text(ranking: pd.DataFrame, alpha: float = 0.05, background: str = "none") -> str:
    """The headline LM method's attributions (its SNP weights; IG and ISM through the MLM) against the
    elastic net's |coefficients|, paired over genes (mean AP). ``background``: what the method is fitted on top
    of (``ExpressionConfig.context_background``); its SNP weights then include that model's."""
    if ranking.empty:
        return ("With no causal SNPs to rank against, the headline LM method's SNP weights (RQ2's contextual "
                "method) are compared with the eQTL table below.")
    present = set(ranking["method"])
    if not {HEADLINE_SCORE, REFERENCE_SCORE} <= present:
        return ("RQ2's contextual method left no SNP weights in this book (step 03 did not run it), so the headline "
                "LM method's attribution is not ranked here.")
    mean = ranking.groupby("method")["average_precision"].mean()
    text = (f"**The headline LM method's own attribution** (RQ2's contextual method, fixed in advance; its SNP "
            f"weights) {_against_reference(ranking, mean, HEADLINE_SCORE, alpha)}. ")
    if background == "predixcan":
        text += ("Its model includes each outer fold's PrediXcan-style elastic net (`expression.context_background`), "
                 "so these weights are the net's (|coefficient| x dosage SD of every SNP it keeps) plus what the "
                 "chosen SNPs' features add. ")
    if TWIN_SCORE in present:
        text += (f"Its dosage twin's weights, on the same SNPs without the context, reach "
                 f"{mean[TWIN_SCORE]:.3f}. ")
    through = [f"{words} {_against_reference(ranking, mean, score, alpha, short=True)}"
               for score, words in ((HEADLINE_IG, "Integrated Gradients"), (HEADLINE_ISM, "ISM")) if score in present]
    if through:
        text += ("Attributed through the MLM instead, which credits every SNP whose allele moves the states the "
                 "method reads: " + "; ".join(through) + ". ")
    return text


def ap_by_group(ranking: pd.DataFrame, groups: pd.Series | None) -> pd.DataFrame | None:
    """Mean average precision per method (rows, readable names) over all genes and within the additive and
    the interaction genes of the simulated truth (columns say how many genes); None without truth."""
    from lmeqtl.book.chapters.expression_context import ADDITIVE, INTERACTION
    from lmeqtl.book.chapters.names import method_label

    if groups is None or ranking.empty:
        return None
    table = ranking.assign(group=ranking["gene"].map(groups))
    columns = {"all genes": table}
    columns.update({g: table[table["group"] == g] for g in (ADDITIVE, INTERACTION)})
    out = pd.DataFrame({f"{name} ({part['gene'].nunique()})": part.groupby("method", sort=False)["average_precision"]
                        .mean() for name, part in columns.items() if len(part)})
    return out.rename(index=method_label).rename_axis("method")
