"""The contextual method in the expression chapters, and the additive/interaction split of the genes.

Chapter 03 runs :mod:`lmeqtl.expression.contextual_run`'s contextual method, its dosage
twin and the phased-pairs reference without the MLM (:func:`run_contextual_methods`) on the
chapter's shared folds, with the run's MLM; the
states are extracted gene by gene, in batches, behind a progress bar. Chapters 03 and 05
split every method's score by what the simulation planted (:func:`interaction_groups`:
a gene whose same-haplotype interaction carries at least half of its genetic variance is an
"interaction" gene, the others "additive"), and test the pre-registered headline method
(``ExpressionConfig.headline_method``) against the elastic net overall and within each
group (:func:`paired_by_group`). On real data there is no truth, so no groups. On simulated
data, :func:`interaction_probe` asks whether the model's state at one planted interacting SNP
carries its partner's allele (:mod:`lmeqtl.expression.context_probe`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from lmeqtl.book.chapters.expression import ExpressionInputs
from lmeqtl.book.chapters.names import MODEL_NAMES
from lmeqtl.config import ExpressionConfig
from lmeqtl.data.truth import Truth
from lmeqtl.expression.background import LinearBackground
from lmeqtl.expression.comparison import Comparison
from lmeqtl.expression.contextual_run import (
    STATE_SCAN,
    ContextualRun,
    context_methods,
    context_model_name,
    run_contextual,
    selection_of,
)
from lmeqtl.expression.evaluation import paired_comparison
from lmeqtl.expression.gene_states import StateSource, snp_states

ADDITIVE, INTERACTION, ALL = "additive", "interaction", "all"
INTERACTION_SHARE = 0.5  # a gene is an interaction gene when its planted interaction_fraction is >= this
ELASTIC_NET = "predixcan"  # the elastic net the headline is tested against (PrediXcan-style, all window SNPs)
CHAPTER_FEATURES = ("context", "dosage", "pairs")  # chapter 03: the contextual method, its twin, haplotype pairs
PROBE_PEOPLE = 150  # people (x 2 haplotypes) whose states the interaction probe reads, per gene


def context_pair(config: ExpressionConfig) -> tuple[str, str]:
    """The contextual method and its dosage twin, e.g. ``("contextual:elasticnet", "contextual_dosage:elasticnet")``."""
    return f"contextual:{context_model_name(config)}", f"contextual_dosage:{context_model_name(config)}"


def method_text(config: ExpressionConfig) -> str:
    """Chapter 03's description of the contextual method, from the preset's selection and reduction."""
    from lmeqtl.expression.snp_selection import ENET_PREFILTER

    k, components = config.context_top_k, config.context_components
    chosen = {"dosage": f"the {k} SNPs whose dosage correlates most with expression",
              "enet": f"the {k} SNPs that an elastic net on the fold's dosages keeps (PrediXcan's settings, on the "
                      f"{ENET_PREFILTER} SNPs of strongest marginal association; by that association where it keeps "
                      f"fewer)"}[config.context_selection]
    reduced = {
        "pca": f"is projected on {components} principal components per SNP, fitted on the training haplotypes, and "
               f"the two haplotypes of a person are summed",
        "alt_pca": f"is read on the haplotypes that carry the SNP's ALT allele: projected on {components} principal "
                   f"components per SNP, fitted on the training fold's ALT-carrying haplotypes, and summed over a "
                   f"person's ALT-carrying haplotypes, next to the SNP's ALT dosage (which allele a person carries, "
                   f"and in which haplotype context)",
        "ridge": "is reduced to one score per SNP by a ridge on the training fold's expression, the two haplotypes "
                 "summed",
        "gated": "and its state on the ALT-carrying haplotypes are reduced to one score per SNP by a ridge on the "
                 "training fold's expression"}[config.context_reduction]
    screened = (f"; beside them, the dosages of the {config.context_screen} SNPs of strongest marginal association "
                f"in the fold, each its own feature, in the method and its dosage twin alike (`expression.context_screen`"
                f" = {config.context_screen}: where the context adds nothing, the regression is an elastic net on the "
                f"dosages)" if config.context_screen else "")
    paired = (f"; the SNPs of the {config.context_pair_snps} phased SNP pair(s) that best explain what the dosage twin "
              f"leaves unexplained in the fold (a scan of every pair of window SNPs) are read too, in the method and "
              f"its twin alike (`expression.context_pair_snps` = {config.context_pair_snps})"
              if config.context_pair_snps else "")
    background = (" on top of that fold's PrediXcan-style elastic net on all window SNPs (the `predixcan` baseline's "
                  "own fit): it fits what the net leaves unexplained in the training rows and adds the net's "
                  "prediction, in the method, its dosage twin and the phased-pairs reference alike "
                  "(`expression.context_background` = `predixcan`), so that the context is read beside the best "
                  "dosage model instead of in place of it" if config.context_background == "predixcan" else "")
    return (f"inside each outer training fold, {chosen} (anywhere in the window, no prior on the distance to the "
            f"TSS) and {config.context_neighbours} SNPs either side of each are chosen; the MLM's hidden state at "
            f"each of them (one unmasked pass over each haplotype, the same checkpoint as chapter 02) {reduced}"
            f"{screened}{paired}; a regression ({MODEL_NAMES.get(config.context_model, config.context_model)}, its penalty chosen by inner "
            f"CV) predicts expression{background}. The selection and the reduction are preset settings "
            f"(`expression.context_selection` = `{config.context_selection}`, `expression.context_reduction` = "
            f"`{config.context_reduction}`), chosen before the run on expression simulated afresh on the same "
            f"haplotypes (the repository's `benchmarks/RESULTS-context.md`), not on these genes.")


def pairs_method(config: ExpressionConfig) -> str:
    """The haplotype-aware reference without the MLM, e.g. ``haplotype_pairs:elasticnet``."""
    return f"haplotype_pairs:{context_model_name(config)}"


def scan_method(config: ExpressionConfig) -> str:
    """The contextual method whose SNPs are chosen by a scan of their states, e.g. ``contextual_scan:elasticnet``."""
    return f"{STATE_SCAN}:{context_model_name(config)}"


def progress_state_source(model: torch.nn.Module, haplotypes: np.ndarray, gene_index: int,
                          config: ExpressionConfig, *, device: str | torch.device = "cpu", label: str = "",
                          progress: bool = True) -> StateSource:
    """``snps -> (n, 2, S, d)``: the MLM's states of haplotypes ``(n, 2, L)`` at the SNPs asked for.

    :func:`~lmeqtl.expression.gene_states.snp_states` of each distinct haplotype once (identical haplotypes
    have identical states; ~10 % of the top10 cohort's are repeats), ``config.context_batch_size`` per forward
    pass, with a progress bar over them: a whole 5000-SNP window costs ~60 s per gene for 373 people on 2 CPU cores.
    """
    chunk = 2 * max(1, config.context_batch_size)  # haplotypes per snp_states call (two passes)

    def source(snps: np.ndarray) -> np.ndarray:
        distinct, inverse = np.unique(haplotypes.reshape(-1, haplotypes.shape[-1]), axis=0, return_inverse=True)
        parts = []
        with tqdm(total=len(distinct), desc=f"states {label}".strip(), unit="haplotype", disable=not progress,
                  leave=False) as bar:
            for lo in range(0, len(distinct), chunk):
                parts.append(snp_states(model, distinct[lo:lo + chunk, None], gene_index, snps,
                                        layer=config.context_layer, batch_size=config.context_batch_size,
                                        device=device)[:, 0])  # (chunk, S, d)
                bar.update(len(parts[-1]))
        states = np.concatenate(parts)[inverse.ravel()]  # (2n, S, d)
        return states.reshape(len(haplotypes), 2, *states.shape[1:])  # (n, 2, S, d)
    return source


def run_contextual_methods(model: torch.nn.Module, gene_map: Mapping[str, int], inputs: ExpressionInputs,
                           config: ExpressionConfig, *, device: str | torch.device = "cpu",
                           backgrounds: Mapping[str, list[LinearBackground]] | None = None,
                           progress: bool = True) -> ContextualRun:
    """Chapter 03's contextual method, its dosage twin and the phased-pairs reference (``expression.context_pairs``
    > 0) on ``inputs``' folds, covariates and dosages.

    ``model``: the run's MLM in eval mode on ``device``; ``gene_map``: its gene -> index map
    (a checkpoint's ``info["genes"]``). A gene the model does not know gets the twin only.
    ``backgrounds``: the ``predixcan`` fits of the same run (:attr:`Comparison.backgrounds`), read when
    ``config.context_background`` is ``"predixcan"``. On the CPU, ``config.n_jobs`` genes run at once (a progress
    bar over the genes); on a GPU, one at a time (a bar over each gene's distinct haplotypes).
    """
    n_jobs = config.n_jobs if torch.device(device).type == "cpu" else 1  # a GPU model stays in this process
    states = {gene: progress_state_source(model, inputs.people.haplotypes[gene], gene_map[gene], config,
                                          device=device, label=inputs.symbol(gene), progress=progress and n_jobs == 1)
              for gene in inputs.expression.columns if gene in gene_map}
    methods = {method: features for method, features in context_methods(config).items()
               if features in CHAPTER_FEATURES and (config.context_scan or selection_of(method) != "state")}
    return run_contextual(inputs.expression, inputs.folds, inputs.dosages, states, covariates=inputs.covariates,
                          config=config, methods=methods, haplotypes=inputs.people.haplotypes,
                          backgrounds=backgrounds, n_jobs=n_jobs, progress=progress)


def merge_comparisons(first: Comparison, second: Comparison) -> Comparison:
    """One :class:`Comparison` of both (their predictions on the same folds), saved as one."""
    return Comparison(pd.concat([first.predictions, second.predictions], ignore_index=True),
                      pd.concat([first.hyperparameters, second.hyperparameters], ignore_index=True),
                      pd.concat([first.timings, second.timings], ignore_index=True),
                      [*first.skipped, *second.skipped], {**first.backgrounds, **second.backgrounds})


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


def interaction_probe(model: torch.nn.Module, gene_map: Mapping[str, int], inputs: ExpressionInputs,
                      config: ExpressionConfig, *, max_people: int = PROBE_PEOPLE,
                      device: str | torch.device = "cpu") -> pd.DataFrame | None:
    """:func:`~lmeqtl.expression.context_probe.partner_probe` of every gene's planted interacting SNPs.

    A seeded draw of ``max_people`` of the chapter's people (both haplotypes of each), the
    states of ``config.context_layer`` and ``config.context_components`` PCs, as the contextual
    method uses them. None on real data (no truth, no planted pairs).
    """
    from lmeqtl.expression.context_probe import interacting_pairs, partner_probe

    if inputs.truth is None:
        return None
    tables = []
    for gene, pairs in interacting_pairs(inputs.truth.causal_snps).items():
        if gene not in gene_map or gene not in inputs.expression.columns:
            continue
        haplotypes = inputs.people.haplotypes[gene]
        take = np.sort(np.random.default_rng(config.seed).permutation(len(haplotypes))[:max_people])
        snps = np.unique([s for s, _ in pairs])
        states = snp_states(model, haplotypes[take], gene_map[gene], snps, layer=config.context_layer,
                            batch_size=config.context_batch_size, device=device)  # (m, 2, S, d)
        tables.append(partner_probe(states, snps, haplotypes[take], pairs, components=config.context_components,
                                    seed=config.seed).assign(gene=gene))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def probe_table(probe: pd.DataFrame, symbols: Mapping[str, str]) -> pd.DataFrame:
    """:func:`interaction_probe` for the page: one row per (state SNP, partner), AUCs in words."""
    return pd.DataFrame({
        "gene": probe["gene"].map(lambda g: symbols.get(g, g)), "SNPs apart": probe["distance"],
        "partner allele frequency": probe["partner_af"], "MLM state": probe["auc_state"],
        "its top PCs": probe["auc_state_pcs"], "allele at the SNP": probe["auc_allele"],
        "alleles around the SNP": probe["auc_local_alleles"]})


def probe_text(probe: pd.DataFrame | None, components: int, reduction: str = "pca") -> str:
    """What the probe found: does the state at a SNP read its interacting partner's allele better than LD does?

    ``reduction``: the contextual method's (the probe's PCs are over all haplotypes, what ``pca`` keeps).
    """
    from lmeqtl.book.chapters import NO_TRUTH

    if probe is None:
        return f"{NO_TRUTH} no interacting SNPs are known, so there is nothing to probe."
    if probe.empty:
        return "No gene of this cohort has a planted same-haplotype interaction, so there is nothing to probe."
    mean = probe[["auc_state", "auc_state_pcs", "auc_allele", "auc_local_alleles"]].mean()
    kept = (", which the contextual method keeps" if reduction == "pca" else
            f" over all haplotypes (this book's contextual method reduces the states by `{reduction}` instead)")
    better = int((probe["auc_state"] > probe["auc_local_alleles"]).sum())
    return (f"For each planted interacting pair (SNPs {probe['distance'].min()}-{probe['distance'].max()} apart), "
            f"how well does the model's state at one SNP predict the allele at the other on the same haplotype "
            f"(cross-validated AUC; 0.5 = no information)? The full state: mean AUC {mean['auc_state']:.2f}; "
            f"its top {components} PCs{kept}: {mean['auc_state_pcs']:.2f}; the allele "
            f"at the SNP itself: {mean['auc_allele']:.2f}; the alleles around it: {mean['auc_local_alleles']:.2f}. "
            f"The state reads the partner better than the local alleles in {better} of {len(probe)} cases"
            + (": the model does carry same-haplotype context from far along the window"
               if mean["auc_state"] > mean["auc_local_alleles"] + 0.05 else "")
            + (f", and part of it is lost in the {components} PCs" if mean["auc_state"] > mean["auc_state_pcs"] + 0.05
               else "") + ".")
