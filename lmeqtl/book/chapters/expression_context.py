"""The contextual method in the expression chapters, and the additive/interaction split of the genes.

Chapter 03 runs :mod:`lmeqtl.expression.contextual_run`'s contextual method and its dosage
twin (:func:`run_contextual_methods`) on the chapter's shared folds, with the run's MLM; the
states are extracted gene by gene, in batches, behind a progress bar. Chapters 03 and 05
split every method's score by what the simulation planted (:func:`interaction_groups`:
a gene whose same-haplotype interaction carries at least half of its genetic variance is an
"interaction" gene, the others "additive"), and test the pre-registered headline method
(``ExpressionConfig.headline_method``) against the elastic net overall and within each
group (:func:`paired_by_group`). On real data there is no truth, so no groups.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from lmeqtl.book.chapters.expression import ExpressionInputs
from lmeqtl.config import ExpressionConfig
from lmeqtl.data.truth import Truth
from lmeqtl.expression.comparison import Comparison
from lmeqtl.expression.contextual import StateSource, snp_states
from lmeqtl.expression.contextual_run import ContextualRun, context_methods, run_contextual
from lmeqtl.expression.evaluation import paired_comparison

ADDITIVE, INTERACTION, ALL = "additive", "interaction", "all"
INTERACTION_SHARE = 0.5  # a gene is an interaction gene when its planted interaction_fraction is >= this
ELASTIC_NET = "predixcan"  # the elastic net the headline is tested against (PrediXcan-style, all window SNPs)
CHAPTER_FEATURES = ("context", "dosage")  # chapter 03 runs the contextual method and its twin only


def context_pair(config: ExpressionConfig) -> tuple[str, str]:
    """The contextual method and its dosage twin, e.g. ``("contextual:elasticnet", "contextual_dosage:elasticnet")``."""
    by_features = {features: method for method, features in context_methods(config).items()}
    return by_features["context"], by_features["dosage"]


def progress_state_source(model: torch.nn.Module, haplotypes: np.ndarray, gene_index: int,
                          config: ExpressionConfig, *, device: str | torch.device = "cpu", label: str = "",
                          progress: bool = True) -> StateSource:
    """``snps -> (n, 2, S, d)``: the MLM's states of haplotypes ``(n, 2, L)`` at the SNPs asked for.

    :func:`~lmeqtl.expression.contextual.snp_states` over ``config.context_batch_size``
    people at a time (as many haplotypes per forward pass), with a progress bar over the
    people: a whole 5000-SNP window costs ~60 s per gene for 373 people on 2 CPU cores.
    """
    chunk = max(1, config.context_batch_size)

    def source(snps: np.ndarray) -> np.ndarray:
        parts = []
        with tqdm(total=len(haplotypes), desc=f"states {label}".strip(), unit="person", disable=not progress,
                  leave=False) as bar:
            for lo in range(0, len(haplotypes), chunk):
                parts.append(snp_states(model, haplotypes[lo:lo + chunk], gene_index, snps,
                                        layer=config.context_layer, batch_size=config.context_batch_size,
                                        device=device))  # (chunk, 2, S, d)
                bar.update(len(parts[-1]))
        return np.concatenate(parts)  # (n, 2, S, d)
    return source


def run_contextual_methods(model: torch.nn.Module, gene_map: Mapping[str, int], inputs: ExpressionInputs,
                           config: ExpressionConfig, *, device: str | torch.device = "cpu",
                           progress: bool = True) -> ContextualRun:
    """Chapter 03's contextual method and its dosage twin on ``inputs``' folds, covariates and dosages.

    ``model``: the run's MLM in eval mode on ``device``; ``gene_map``: its gene -> index map
    (a checkpoint's ``info["genes"]``). A gene the model does not know gets the twin only.
    """
    states = {gene: progress_state_source(model, inputs.people.haplotypes[gene], gene_map[gene], config,
                                          device=device, label=inputs.symbol(gene), progress=progress)
              for gene in inputs.expression.columns if gene in gene_map}
    methods = {method: features for method, features in context_methods(config).items()
               if features in CHAPTER_FEATURES}
    return run_contextual(inputs.expression, inputs.folds, inputs.dosages, states, covariates=inputs.covariates,
                          config=config, methods=methods, progress=progress)


def merge_comparisons(first: Comparison, second: Comparison) -> Comparison:
    """One :class:`Comparison` of both (their predictions on the same folds), saved as one."""
    return Comparison(pd.concat([first.predictions, second.predictions], ignore_index=True),
                      pd.concat([first.hyperparameters, second.hyperparameters], ignore_index=True),
                      pd.concat([first.timings, second.timings], ignore_index=True),
                      [*first.skipped, *second.skipped])


def interaction_groups(truth: Truth | None, genes: Iterable[str] | None = None,
                       threshold: float = INTERACTION_SHARE) -> pd.Series | None:
    """Gene -> "interaction" (planted ``interaction_fraction`` >= ``threshold``) or "additive".

    From the simulation's truth (``truth/genes.parquet``); None on real data (no truth).
    ``genes``: keep these (in this order) only.
    """
    if truth is None:
        return None
    share = truth.genes.set_index("gene_id")["interaction_fraction"].astype(np.float64)
    if genes is not None:
        share = share.reindex([g for g in genes if g in share.index])
    return pd.Series(np.where(share >= threshold, INTERACTION, ADDITIVE), index=share.index, name="truth")


def group_means(results: pd.DataFrame, groups: pd.Series | None, methods: Iterable[str]) -> pd.DataFrame:
    """Mean r over genes per method (rows, in ``methods`` order): over all genes and within each group.

    Columns ``all`` and, with ``groups``, ``additive`` and ``interaction`` (NaN for a group
    without genes). ``n_<column>`` columns give the genes each mean is over.
    """
    methods = [m for m in dict.fromkeys(methods) if m in set(results["method"])]
    r = results[results["method"].isin(methods)].pivot_table(index="method", columns="gene", values="r",
                                                             aggfunc="first").reindex(methods)
    columns = {ALL: list(r.columns)}
    if groups is not None:
        columns.update({g: [gene for gene in r.columns if groups.get(gene) == g] for g in (ADDITIVE, INTERACTION)})
    table = pd.DataFrame({name: r[genes].mean(axis=1) if genes else np.nan for name, genes in columns.items()})
    for name, genes in columns.items():
        table[f"n_{name}"] = r[genes].notna().sum(axis=1) if genes else 0
    return table.rename_axis("method").reset_index()


def group_table(means: pd.DataFrame) -> pd.DataFrame:
    """:func:`group_means` for the page: readable method names, the genes of each mean in its column name."""
    from lmeqtl.book.chapters.names import method_label

    shown = {"method": means["method"].map(method_label)}
    for name, words in ((ALL, "all genes"), (ADDITIVE, "additive genes"), (INTERACTION, "interaction genes")):
        if name in means:
            shown[f"{words} ({int(means[f'n_{name}'].max())})"] = means[name]
    return pd.DataFrame(shown)


def paired_by_group(results: pd.DataFrame, method: str, against: str, groups: pd.Series | None) -> pd.DataFrame:
    """``method`` against ``against``, paired over genes: over all genes and within each group that has genes.

    One row per ``group`` of genes (all / additive / interaction): the
    :func:`~lmeqtl.expression.evaluation.paired_comparison` columns (differences are
    ``method - against``) and both mean r. Empty when either method did not run.
    """
    present = set(results["method"])
    if method not in present or against not in present:
        return pd.DataFrame()
    pair = results[results["method"].isin([method, against])]
    subsets = {ALL: pair}
    if groups is not None:
        subsets.update({g: pair[pair["gene"].map(groups) == g] for g in (ADDITIVE, INTERACTION)})
    rows = []
    for name, table in subsets.items():
        if table.empty or table["gene"].nunique() == 0:
            continue
        means = table.groupby("method")["r"].mean()
        rows.append({"group": name, **paired_comparison(table, method, against),
                     "mean_r_a": float(means.get(method, np.nan)), "mean_r_b": float(means.get(against, np.nan))})
    return pd.DataFrame(rows)


def context_gene_table(results: pd.DataFrame, config: ExpressionConfig, symbols: Mapping[str, str],
                       truth: Truth | None = None) -> pd.DataFrame:
    """Per gene: r of the contextual method and of its dosage twin, their difference and, on
    simulated data, the planted interaction share and the gene's group."""
    from lmeqtl.book.chapters.names import method_label

    context, twin = context_pair(config)
    r = results[results["method"].isin([context, twin])].pivot_table(index="gene", columns="method", values="r",
                                                                     aggfunc="first")
    if context not in r or twin not in r:
        return pd.DataFrame()
    r = r.dropna(subset=[context, twin])
    table = pd.DataFrame({"gene": [symbols.get(g, g) for g in r.index]})
    groups = interaction_groups(truth, r.index)
    if groups is not None:
        share = truth.genes.set_index("gene_id")["interaction_fraction"]
        table["planted interaction share"] = [float(share.get(g, np.nan)) for g in r.index]
        table["truth"] = [groups.get(g, "") for g in r.index]
    table[method_label(context)] = r[context].to_numpy()
    table[method_label(twin)] = r[twin].to_numpy()
    table["difference"] = (r[context] - r[twin]).to_numpy()
    return table
