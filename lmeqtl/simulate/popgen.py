"""Population genetics of a cohort: LD decay, population-structure PCA, how well lead eQTL SNPs tag causal ones.

Used by chapter 00_data (and anywhere LD matters); every function takes a
:class:`~lmeqtl.data.cohort.Cohort` or its haplotype arrays and returns a table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.utils.extmath import randomized_svd

from lmeqtl.data.cohort import Cohort
from lmeqtl.data.encoding import MISSING_ALLELE, dosage


def ld_decay(haplotypes: np.ndarray, pos: np.ndarray, n_pairs: int = 20_000, n_bins: int = 12,
             seed: int = 0) -> pd.DataFrame:
    """Mean r² between the alleles of SNP pairs, by distance (bp), on a random sample of pairs.

    ``haplotypes`` is ``(n, 2, L)``; pairs are drawn with a log-uniform offset in SNP index so
    that short and long distances are both well covered. Pairs with a SNP monomorphic in
    these people (or a missing allele) are left out. Bins are log-spaced from 100 bp.
    """
    rng = np.random.default_rng(seed)
    n_snps = haplotypes.shape[2]
    alleles = haplotypes.reshape(-1, n_snps).astype(np.float32)  # (2n, L)
    missing = haplotypes.reshape(-1, n_snps) == MISSING_ALLELE
    alleles[missing] = np.nan
    mean, sd = np.nanmean(alleles, axis=0), np.nanstd(alleles, axis=0)
    z = (alleles - mean) / np.where(sd > 0, sd, np.nan)  # (2n, L); NaN columns: monomorphic
    z[missing] = 0.0  # a missing allele counts as the mean
    offset = np.floor(np.exp(rng.uniform(0, np.log(max(n_snps - 1, 1)), n_pairs))).astype(np.int64)
    offset = np.clip(offset, 1, max(n_snps - 1, 1))
    first = (rng.random(n_pairs) * (n_snps - offset)).astype(np.int64)
    second = first + offset
    r2 = np.empty(n_pairs)
    for start in range(0, n_pairs, 2048):  # (2n, chunk) products at a time
        i, j = first[start:start + 2048], second[start:start + 2048]
        r2[start:start + 2048] = np.mean(z[:, i] * z[:, j], axis=0) ** 2
    distance = np.abs(pos[second] - pos[first]).astype(np.float64)
    keep = np.isfinite(r2) & (distance > 0)
    edges = np.geomspace(100, max(distance.max(initial=1.0), 101.0) * 1.0001, n_bins + 1)
    which = np.digitize(distance[keep], edges) - 1
    inside = (which >= 0) & (which < n_bins)
    frame = pd.DataFrame({"bin": which[inside], "r2": r2[keep][inside]})
    stats = frame.groupby("bin")["r2"].agg(["mean", "size"]).reindex(range(n_bins))
    return pd.DataFrame({"distance_lo": edges[:-1], "distance_hi": edges[1:],
                         "distance_mid": np.sqrt(edges[:-1] * edges[1:]),
                         "mean_r2": stats["mean"].to_numpy(), "n_pairs": stats["size"].fillna(0).astype(int).to_numpy()})
def ld_decay_by_group(cohort: Cohort, genes: list[str], groups: list[str], by: str = "super_pop",
                      n_pairs: int = 20_000, seed: int = 0) -> pd.DataFrame:
    """:func:`ld_decay` of each gene within each group of people (``samples[by]``), stacked.

    Every (gene, group) uses the same pairs of SNPs (same seed), so the groups compare directly.
    """
    parts = []
    for gene in genes:
        pos = cohort.gene_meta(gene)["pos"].to_numpy()
        for group in groups:
            rows = (cohort.samples[by] == group).to_numpy()
            if rows.sum() < 2:
                continue
            decay = ld_decay(cohort.haplotypes[gene][rows], pos, n_pairs=n_pairs, seed=seed)
            parts.append(decay.assign(gene=gene, group=group))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
def mean_r2_within(decay: pd.DataFrame, max_bp: float) -> pd.Series:
    """Per group: mean r² of the sampled pairs at most ``max_bp`` apart (bins wholly below it)."""
    near = decay[(decay["distance_hi"] <= max_bp) & (decay["n_pairs"] > 0)]
    total = (near["mean_r2"] * near["n_pairs"]).groupby(near["group"], sort=False).sum()
    return total / near.groupby("group", sort=False)["n_pairs"].sum()
def genotype_pcs(cohort: Cohort, n_components: int = 4, max_snps: int = 5000, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """PCA of the people's dosages over a random subset of at most ``max_snps`` window SNPs.

    Returns the scores (index ``sample_id``, ``PC1..``, plus ``pop``/``super_pop`` when known)
    and the share of variance each component explains. Missing dosages are set to the SNP
    mean; SNPs are standardised; the sign of each PC makes its largest loading positive.
    """
    rng = np.random.default_rng(seed)
    starts = np.cumsum([0] + [cohort.haplotypes[g].shape[2] for g in cohort.genes])
    chosen = np.sort(rng.choice(starts[-1], min(max_snps, starts[-1]), replace=False))
    x = np.concatenate([dosage(cohort.haplotypes[g][:, :, chosen[(chosen >= lo) & (chosen < hi)] - lo])
                        for g, lo, hi in zip(cohort.genes, starts[:-1], starts[1:], strict=True)],
                       axis=1).astype(np.float64)  # (n, chosen SNPs)
    mean = np.nanmean(x, axis=0)
    x = np.where(np.isnan(x), mean, x) - mean
    sd = x.std(axis=0)
    x = x[:, sd > 0] / sd[sd > 0]
    k = min(n_components, *x.shape)
    # truncated SVD: a full one of 2504 x 5000 takes minutes on 2 cores, this takes seconds
    u, s, vt = randomized_svd(x, k, n_iter=7, random_state=seed)
    sign = np.sign(vt[np.arange(k), np.abs(vt).argmax(axis=1)])
    scores = pd.DataFrame(u * s * sign, index=cohort.samples.index, columns=[f"PC{i + 1}" for i in range(k)])
    for column in ("pop", "super_pop", "split"):
        if column in cohort.samples.columns:
            scores[column] = cohort.samples[column]
    return scores, s ** 2 / np.sum(x ** 2)
def lead_causal_r2(cohort: Cohort, leads: pd.DataFrame, causal: pd.DataFrame, split: str = "test") -> pd.Series:
    """Per gene: the largest dosage r² between the lead eQTL SNP and any true causal SNP.

    ``leads`` has ``gene_id, seq_idx`` (from :func:`lmeqtl.expression.features.lead_snps`;
    -1 when the lead is outside the window); ``causal`` the truth's ``gene_id, seq_idx``.
    r² is computed in the people of ``split`` (the EUR test split, where the eQTLs were found).
    """
    rows = cohort.split_mask(split)
    out = {}
    for lead in leads.itertuples():
        causal_idx = causal.loc[causal["gene_id"] == lead.gene_id, "seq_idx"].to_numpy()
        if lead.seq_idx < 0 or len(causal_idx) == 0:
            out[lead.gene_id] = np.nan
            continue
        x = cohort.dosage(lead.gene_id)[rows][:, [lead.seq_idx, *causal_idx]]  # (n, 1 + causal)
        r = pd.DataFrame(x).corr().to_numpy()[0, 1:]
        out[lead.gene_id] = float(np.nanmax(r ** 2)) if np.isfinite(r).any() else np.nan
    return pd.Series(out, name="lead_causal_r2", dtype=np.float64)
