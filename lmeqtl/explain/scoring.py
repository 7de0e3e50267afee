"""RQ5's per-SNP scores: every method's score of each SNP, per gene and over a cohort's genes,
and their evaluation against the truth.

Methods (score: higher = more relevant):

- ``integrated_gradients``: mean |IG attribution| over individuals and haplotypes;
- ``ism``: mean |effect of the alternative allele| (in-silico mutagenesis) on the SNPs that
  IG put on top (``ExplainConfig.ism_max_snps``; the others NaN = ranked last), or on every
  SNP of the window (:func:`full_attribution`, one haplotype's forward pass per flip);
- ``finetuned_gate``: |gate| of a fine-tuned SNP-selecting head (``pooling="select"``);
- ``contextual_weight``, ``contextual_dosage_weight``, ``contextual_scan_weight``,
  ``haplotype_pairs_weight``: how much each SNP moves the predictions of RQ2's contextual method,
  its dosage twin, its state-scan variant and the phased-pairs reference (their outer folds' models,
  step 03; :func:`lmeqtl.expression.contextual_run.window_weights`), 0 for SNPs they did not read;
  ``contextual_ig``, ``contextual_ism``: the contextual method's first-fold model attributed
  through the MLM (the IG and ISM above);
- ``marginal_eqtl``: -log10 p of the single-SNP association (the eQTL scan);
- ``elastic_net``: |coefficient| of a PrediXcan-style elastic net on all window SNPs;
- ``susie_pip``: SuSiE posterior inclusion probability (:mod:`.finemap`).

One gene: :func:`attribution_scores` (IG, ISM of any predictor), :func:`baseline_scores`,
:func:`snp_table`. A cohort's genes (the chapter's loops, on the same people):

- :func:`baseline_scores_by_gene`: marginal eQTL, elastic net, SuSiE and the eQTL table's -log10 p;
- :mod:`lmeqtl.explain.model_attributions`: IG and ISM of the book's models, gene by gene;
- :func:`merge_scores`, :func:`scored_methods`: one score dict per gene, the methods that scored every gene;
- :func:`causal_masks`, :func:`snp_scores`: the truth per gene; the one-row-per-SNP table the chapter saves.

Evaluation: :func:`evaluate_genes` (AP, recall@k per gene and method), :func:`agreement_by_gene`
(agreement with the eQTL table), :func:`enrichment_by_method` (chromatin enrichment of top SNPs).
Scores are ``gene -> {method: score (L,)}``, ``L`` the gene's SNPs in ``seq_idx`` order.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning

from lmeqtl.config import ExplainConfig
from lmeqtl.explain.attribution import (
    Predictor,
    aggregate,
    converged_integrated_gradients,
    elastic_net_scores,
    haplotype_ism,
    haplotype_onehot,
    in_silico_mutagenesis,
    integrated_gradients,
    scatter_scores,
    select_snps,
)
from lmeqtl.explain.enrichment import enrichment_table, top_per_group
from lmeqtl.explain.finemap import susie
from lmeqtl.explain.ranking import (
    eqtl_table_scores,
    evaluate_methods,
    marginal_association,
    ranking_agreement,
)

if TYPE_CHECKING:
    from lmeqtl.data.cohort import Cohort
    from lmeqtl.data.truth import Truth

Scores = dict[str, dict[str, np.ndarray]]  # gene -> method -> (L,)
METHOD_ORDER = ("contextual_weight", "contextual_ig", "contextual_ism", "contextual_dosage_weight",
                "contextual_scan_weight", "haplotype_pairs_weight", "finetuned_ig", "finetuned_ism", "finetuned_gate",
                "ridge_ig", "ridge_ism", "marginal_eqtl", "elastic_net", "susie_pip")
DEFAULT_CONFIG = ExplainConfig()


def choose_individuals(n: int, n_individuals: int, seed: int) -> np.ndarray:
    """A seeded random subset of row indices (sorted), all when ``n <= n_individuals``."""
    if n <= n_individuals:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=n_individuals, replace=False))


def attribution_scores(predictor: Predictor, haplotypes: np.ndarray, *extra: torch.Tensor,
                       config: ExplainConfig = DEFAULT_CONFIG, n_tokens: int = 2,
                       device: torch.device | str = "cpu", progress: bool = False) -> dict[str, np.ndarray]:
    """IG and ISM scores ``(L,)`` of one gene for a predictor of a person's haplotypes ``(n, 2, L)``.

    ``config.n_individuals`` people are drawn (seeded); ``extra`` are per-person predictor
    arguments (e.g. the gene index), indexed the same way. ISM runs on the
    ``config.ism_max_snps`` SNPs with the highest IG score.
    """
    rows = choose_individuals(len(haplotypes), config.n_individuals, config.seed)
    onehot = haplotype_onehot(haplotypes[rows], n_tokens, device)  # (n, 2, V, L)
    extra = tuple(e[torch.as_tensor(rows, device=e.device)] for e in extra)
    ig, _ = integrated_gradients(predictor, onehot, *extra, n_steps=config.ig_steps,
                                 internal_batch_size=config.ig_batch_size)
    ig_score = aggregate(ig, config.aggregate, alt=haplotypes[rows])
    snps = select_snps(ig_score, config.ism_max_snps)
    effect = in_silico_mutagenesis(predictor, onehot, *extra, snps=snps, batch_size=config.ism_batch_size,
                                   progress=progress)
    ism_score = aggregate(effect, "carrier_mean_abs" if config.aggregate == "carrier_mean_abs" else "mean_abs",
                          alt=haplotypes[rows][:, :, snps])
    return {"integrated_gradients": ig_score, "ism": scatter_scores(ism_score, snps, haplotypes.shape[2])}


def full_attribution(predictor: Predictor, haplotypes: np.ndarray, *, haplotype_predictor: Predictor | None = None,
                     config: ExplainConfig = DEFAULT_CONFIG, n_tokens: int = 2, device: torch.device | str = "cpu",
                     progress: bool = False) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """IG to a small convergence delta and ISM over EVERY SNP, for one gene: (scores ``(L,)``, diagnostics).

    ``config.n_individuals`` people are drawn (seeded). IG starts at ``config.ig_steps`` and
    doubles up to ``config.ig_max_steps`` until mean |delta| <= ``config.ig_tolerance`` x mean
    |f(x) - f(baseline)|. ISM flips each SNP on each haplotype (``config.ism_max_snps`` is
    ignored), ``config.ism_batch_size`` flips per forward pass; with ``haplotype_predictor``
    (the predictor's term of one haplotype, :func:`~lmeqtl.explain.attribution.haplotype_ism`)
    each flip runs one haplotype instead of two. Diagnostics: ``ig_steps``,
    ``ig_relative_delta``, ``n_people``, ``ism_flips``, ``ism_seconds``, ``ism_flips_per_s``.
    """
    rows = choose_individuals(len(haplotypes), config.n_individuals, config.seed)
    onehot = haplotype_onehot(haplotypes[rows], n_tokens, device)  # (n, 2, V, L)
    ig = converged_integrated_gradients(predictor, onehot, n_steps=config.ig_steps, max_steps=config.ig_max_steps,
                                        tolerance=config.ig_tolerance, internal_batch_size=config.ig_batch_size)
    start = time.perf_counter()
    if haplotype_predictor is not None:
        effect = haplotype_ism(haplotype_predictor, onehot, batch_size=config.ism_batch_size, progress=progress)
    else:
        effect = in_silico_mutagenesis(predictor, onehot, batch_size=config.ism_batch_size, progress=progress)
    seconds = time.perf_counter() - start
    how = "carrier_mean_abs" if config.aggregate == "carrier_mean_abs" else "mean_abs"
    scores = {"integrated_gradients": aggregate(ig.attribution, config.aggregate, alt=haplotypes[rows]),
              "ism": aggregate(effect, how, alt=haplotypes[rows])}
    flips = effect.size
    return scores, {"ig_steps": ig.steps, "ig_relative_delta": ig.relative_delta, "n_people": len(rows),
                    "ism_flips": flips, "ism_seconds": seconds, "ism_flips_per_s": flips / max(seconds, 1e-9)}


def baseline_scores(dosage: np.ndarray, expression: np.ndarray, config: ExplainConfig = DEFAULT_CONFIG
                    ) -> dict[str, np.ndarray]:
    """Marginal eQTL -log10 p, elastic-net |coefficients| and SuSiE PIPs of one gene ``(L,)``."""
    return {
        "marginal_eqtl": marginal_association(dosage, expression)["minus_log10_p"].to_numpy(),
        "elastic_net": elastic_net_scores(dosage, expression, n_alphas=config.enet_alphas, folds=config.enet_folds,
                                          seed=config.seed),
        "susie_pip": susie(dosage, expression, n_effects=config.susie_effects).pip,
    }


def evaluate_genes(scores: Mapping[str, Mapping[str, np.ndarray]], is_causal: Mapping[str, np.ndarray],
                   dosage: Mapping[str, np.ndarray] | None = None, config: ExplainConfig = DEFAULT_CONFIG
                   ) -> pd.DataFrame:
    """Ranking metrics (AP, recall@k, LD-proxy recall@k) per gene and method."""
    tables = []
    for gene, by_method in scores.items():
        table = evaluate_methods(by_method, is_causal[gene], ks=config.recall_ks,
                                 dosage=None if dosage is None else dosage[gene], r2_threshold=config.ld_proxy_r2)
        tables.append(table.assign(gene=gene))
    out = pd.concat(tables, ignore_index=True)
    return out.loc[:, ["gene", *[c for c in out.columns if c != "gene"]]]


def snp_table(meta: pd.DataFrame, scores: Mapping[str, np.ndarray], tss: int) -> pd.DataFrame:
    """One gene's SNPs (``chrom, pos, id, AF, GENE_ID, seq_idx``), TSS distance and one column per method."""
    table = meta.loc[:, ["chrom", "pos", "id", "AF", "GENE_ID", "seq_idx"]].reset_index(drop=True)
    table["tss_distance"] = table["pos"].to_numpy(dtype=np.int64) - int(tss)
    for method, values in scores.items():  # boolean columns (e.g. is_causal) stay boolean
        values = np.asarray(values)
        table[method] = values if values.dtype == bool else values.astype(float)
    return table


def enrichment_by_method(snps: pd.DataFrame, annotation: pd.DataFrame, methods: list[str], *,
                         config: ExplainConfig = DEFAULT_CONFIG,
                         planted: Mapping[str, float] | None = None) -> pd.DataFrame:
    """Enrichment table per method: the top ``config.top_k`` SNPs of each gene vs the rest.

    ``snps``: rows of :func:`snp_table` for all genes; ``annotation``: one boolean column per
    mark, same rows. A method may also be a boolean column (e.g. ``is_causal`` = the truth).
    """
    tables = []
    for method in methods:
        values = snps[method]
        top = values.to_numpy(dtype=bool) if values.dtype == bool else top_per_group(
            values.to_numpy(dtype=float), snps["GENE_ID"].to_numpy(), config.top_k)
        tables.append(enrichment_table(top, annotation, snps["AF"].to_numpy(), snps["tss_distance"].to_numpy(),
                                       snps["GENE_ID"].to_numpy(), n_permutations=config.n_permutations,
                                       seed=config.seed, planted=planted, method=method))
    return pd.concat(tables, ignore_index=True)


def _quiet_baseline_scores(dosage: np.ndarray, expression: np.ndarray, config: ExplainConfig) -> dict[str, np.ndarray]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        return baseline_scores(dosage, expression, config)


def baseline_scores_by_gene(people: Cohort, expression: pd.DataFrame, eqtl: pd.DataFrame,
                            config: ExplainConfig, n_jobs: int = 1) -> Scores:
    """Genotype-only scores of every gene of ``people`` against ``expression`` (rows = ``people``'s samples).

    ``marginal_eqtl``, ``elastic_net``, ``susie_pip`` (:func:`baseline_scores`) and ``eqtl_table``
    (the published table's -log10 p, unlisted SNPs lowest). Elastic-net paths that stop short of
    convergence are expected at these sizes: their warnings are silenced here. ``n_jobs`` genes are
    scored at once, each in its own process on one BLAS thread (the same scores but for rounding: SuSiE's PIPs
    move by ~1e-9; the nets' coordinate descent gains little from a second thread).
    """
    genes = list(people.genes)
    fitted = Parallel(n_jobs=n_jobs)(delayed(_quiet_baseline_scores)(people.dosage(gene), expression[gene].to_numpy(),
                                                                     config) for gene in genes)
    scores: Scores = {gene: dict(by_method) for gene, by_method in zip(genes, fitted, strict=True)}
    for gene in genes:
        scores[gene]["eqtl_table"] = eqtl_table_scores(people.gene_meta(gene), eqtl, gene)
    return scores


def merge_scores(*parts: Mapping[str, Mapping[str, np.ndarray]]) -> Scores:
    """Per-gene union of several ``gene -> {method: scores}`` results (later parts win a clash)."""
    merged: Scores = {}
    for part in parts:
        for gene, by_method in part.items():
            merged.setdefault(gene, {}).update(by_method)
    return merged


def scored_methods(scores: Mapping[str, Mapping[str, np.ndarray]], genes: Sequence[str]) -> list[str]:
    """The chapter's methods (:data:`METHOD_ORDER`) that scored every gene; ``eqtl_table`` is the reference."""
    return [m for m in METHOD_ORDER if all(m in scores.get(g, {}) for g in genes)]


def causal_masks(truth: Truth | None, people: Cohort) -> dict[str, np.ndarray] | None:
    """Gene -> boolean ``(L,)``: is the SNP a causal one (from the simulation's truth); None on real data."""
    if truth is None:
        return None
    causal = truth.causal_snps
    return {g: np.isin(np.arange(people.haplotypes[g].shape[2]),
                       causal.loc[causal["gene_id"] == g, "seq_idx"].to_numpy()) for g in people.genes}


def snp_scores(people: Cohort, scores: Mapping[str, Mapping[str, np.ndarray]],
               is_causal: Mapping[str, np.ndarray] | None, tss: Mapping[str, int]) -> pd.DataFrame:
    """One row per gene and SNP (:func:`snp_table`): every method's score and, when known, ``is_causal``.

    A gene without a TSS is centred on its window's median position.
    """
    tables = []
    for gene in people.genes:
        meta = people.gene_meta(gene)
        columns = {**scores[gene], **({"is_causal": is_causal[gene]} if is_causal else {})}
        tables.append(snp_table(meta, columns, tss.get(gene, int(meta["pos"].median()))))
    return pd.concat(tables, ignore_index=True)


def agreement_by_gene(scores: Mapping[str, Mapping[str, np.ndarray]], methods: Sequence[str], k: int) -> pd.DataFrame:
    """Each method's agreement with the eQTL table per gene (:func:`ranking_agreement`), and the mean over genes.

    Returns the mean per method (``spearman``, ``top_{k}_overlap``), methods in the given order.
    """
    per_gene = pd.concat([ranking_agreement({m: by_method[m] for m in methods}, by_method["eqtl_table"], k=k)
                          .assign(gene=gene) for gene, by_method in scores.items()], ignore_index=True)
    return per_gene.groupby("method", sort=False)[["spearman", f"top_{k}_overlap"]].mean()
