"""RQ5 from library calls: score every SNP of a gene by each method, evaluate the rankings
against the truth, and test top-ranked SNPs for chromatin enrichment across genes.

Methods (score: higher = more relevant):

- ``integrated_gradients``: mean |IG attribution| over individuals and haplotypes;
- ``ism``: mean |effect of the alternative allele| (in-silico mutagenesis) on the SNPs that
  IG put on top (``ExplainConfig.ism_max_snps``; the others NaN = ranked last);
- ``marginal_eqtl``: -log10 p of the single-SNP association (the eQTL scan);
- ``elastic_net``: |coefficient| of a PrediXcan-style elastic net on all window SNPs;
- ``susie_pip``: SuSiE posterior inclusion probability (:mod:`.finemap`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch

from lmeqtl.config import ExplainConfig
from lmeqtl.explain.attribution import (
    Predictor,
    aggregate,
    elastic_net_scores,
    haplotype_onehot,
    in_silico_mutagenesis,
    integrated_gradients,
    scatter_scores,
    select_snps,
)
from lmeqtl.explain.enrichment import enrichment_table, top_per_group
from lmeqtl.explain.finemap import susie
from lmeqtl.explain.ranking import evaluate_methods, marginal_association

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
