"""RQ1 metrics of imputed genotypes, by MAF bin, the same for every method.

For an :class:`~lmeqtl.genotypes.imputation.Imputation` (M masked genotypes):

- ``genotype_accuracy``: share of hard calls (argmax of P(dosage)) equal to the true dosage;
- ``iqs``: Lin et al. (2010) IQS of each SNP from its 3 x 3 confusion matrix of true vs
  called dosage (:func:`lmeqtl.mlm.metrics.iqs_per_snp`), averaged over the SNPs of the bin
  where it is defined; ``iqs_pooled``: one kappa of all the bin's genotypes (not Lin's);
- ``dosage_r2``: squared Pearson correlation between the true and the expected dosage
  across the masked people of each SNP, averaged over SNPs where both vary (a constant
  prediction, like the most-frequent baseline, has none: NaN);
- ``allele_accuracy``, ``allele_iqs``: the haplotype metrics on the same masks (each
  haplotype's ALT probability called at 0.5, per-SNP 2 x 2 IQS), for phased methods.

MAF bins are those of :data:`lmeqtl.mlm.masking.MAF_BIN_EDGES`, from ``meta.csv.gz``'s AF.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmeqtl.genotypes.imputation import Imputation
from lmeqtl.mlm import metrics
from lmeqtl.mlm.masking import MAF_BIN_EDGES, maf_bins

METRICS = ("genotype_accuracy", "iqs", "iqs_pooled", "dosage_r2", "allele_accuracy", "allele_iqs")


def per_snp_r2(true: np.ndarray, predicted: np.ndarray, snp: np.ndarray, n_snps: int) -> np.ndarray:
    """Squared Pearson r of ``true`` vs ``predicted`` within each SNP ``(n_snps,)``; NaN where undefined."""
    def sums(values: np.ndarray) -> np.ndarray:
        return np.bincount(snp, weights=values, minlength=n_snps)

    true, predicted = np.asarray(true, dtype=np.float64), np.asarray(predicted, dtype=np.float64)
    n = np.bincount(snp, minlength=n_snps).astype(np.float64)
    sx, sy = sums(true), sums(predicted)
    with np.errstate(divide="ignore", invalid="ignore"):
        sxx = sums(true * true) - sx * sx / n
        syy = sums(predicted * predicted) - sy * sy / n
        sxy = sums(true * predicted) - sx * sy / n
        r2 = sxy * sxy / (sxx * syy)
    defined = (n >= 2) & (sxx > 1e-12) & (syy > 1e-12)
    return np.where(defined, np.clip(r2, 0.0, 1.0), np.nan)


def confusions(imputation: Imputation, n_snps: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-SNP confusion counts: genotypes ``(n_snps, 3, 3)`` and alleles ``(n_snps, 2, 2)`` (None if unphased)."""
    genotypes = metrics.confusion_matrices(imputation.true_dosage, imputation.called, 3, imputation.snp, n_snps)
    if imputation.p_alt is None:
        return genotypes, None
    calls = (imputation.p_alt > 0.5).astype(np.int64)  # (M, 2)
    alleles = metrics.confusion_matrices(imputation.true_alleles.astype(np.int64).ravel(), calls.ravel(), 2,
                                         np.repeat(imputation.snp, 2), n_snps)
    return genotypes, alleles


def per_snp_metrics(imputation: Imputation, meta: pd.DataFrame) -> pd.DataFrame:
    """One row per SNP with at least one masked genotype: gene, id, maf, counts, accuracy, IQS, r²."""
    n_snps = len(meta)
    genotypes, alleles = confusions(imputation, n_snps)
    n = genotypes.sum(axis=(1, 2))
    af = meta["AF"].to_numpy(dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        table = pd.DataFrame({
            "method": imputation.method, "gene": meta["GENE_ID"].to_numpy(), "seq_idx": meta["seq_idx"].to_numpy(),
            "id": meta["id"].to_numpy(), "maf": np.minimum(af, 1 - af), "n_masked": n,
            "genotype_accuracy": np.trace(genotypes, axis1=1, axis2=2) / n,
            "iqs": metrics.iqs_per_snp(genotypes),
            "dosage_r2": per_snp_r2(imputation.true_dosage, imputation.expected_dosage, imputation.snp, n_snps),
            "allele_iqs": metrics.iqs_per_snp(alleles) if alleles is not None else np.nan,
        })
    return table[n > 0].reset_index(drop=True)


def _nanmean(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def _summary(genotypes: np.ndarray, alleles: np.ndarray | None, r2: np.ndarray) -> dict[str, float]:
    return {
        "n_snps": int((genotypes.sum(axis=(1, 2)) > 0).sum()), "n_genotypes": int(genotypes.sum()),
        "genotype_accuracy": metrics.accuracy(genotypes), "iqs": metrics.mean_iqs(genotypes),
        "iqs_pooled": metrics.pooled_iqs(genotypes), "dosage_r2": _nanmean(r2),
        "allele_accuracy": metrics.accuracy(alleles) if alleles is not None else float("nan"),
        "allele_iqs": metrics.mean_iqs(alleles) if alleles is not None else float("nan"),
    }


def genotype_metrics(imputation: Imputation, maf: np.ndarray,
                     edges: tuple[float, ...] = MAF_BIN_EDGES) -> pd.DataFrame:
    """Metrics (:data:`METRICS` + counts) per MAF bin ``(edges[i], edges[i+1]]`` and ``all``.

    ``maf`` ``(n_snps,)``: one per row of ``cohort.meta`` (what ``imputation.snp`` indexes).
    """
    maf = np.asarray(maf, dtype=np.float64)
    genotypes, alleles = confusions(imputation, len(maf))
    r2 = per_snp_r2(imputation.true_dosage, imputation.expected_dosage, imputation.snp, len(maf))
    bins = maf_bins(maf, edges)
    rows = []
    for b in range(len(edges) - 1):
        pick = bins == b
        rows.append({"maf_bin": f"({edges[b]:g}, {edges[b + 1]:g}]",
                     **_summary(genotypes[pick], None if alleles is None else alleles[pick], r2[pick])})
    rows.append({"maf_bin": "all", **_summary(genotypes, alleles, r2)})
    table = pd.DataFrame(rows)
    table.insert(0, "method", imputation.method)
    return table


def _entries(imputation: Imputation) -> np.ndarray:
    """The (SNP, person) pairs scored, as sorted int64 keys."""
    return np.sort(imputation.snp.astype(np.int64) * 2**32 + imputation.person.astype(np.int64))


def rq1_table(imputations: list[Imputation], maf: np.ndarray) -> pd.DataFrame:
    """The RQ1 table: one row per (method, MAF bin), one column per metric (+ ``n_snps``, ``n_genotypes``).

    Every method must have scored the same (SNP, person) genotypes.
    """
    reference = _entries(imputations[0])
    for other in imputations[1:]:
        if not np.array_equal(_entries(other), reference):
            raise ValueError(f"{other.method!r} scored other genotypes than {imputations[0].method!r}")
    return pd.concat([genotype_metrics(i, maf) for i in imputations], ignore_index=True).set_index(["method", "maf_bin"])
