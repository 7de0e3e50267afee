"""Reconstruction metrics from confusion matrices: accuracy, recall, IQS (Lin et al. 2010).

Everything starts from confusion matrices ``cm[..., i, j]`` = number of masked positions
with true class ``i`` predicted as class ``j``, for ``k`` classes: 2 alleles (REF/ALT) for
haplotypes, or 3 dosages (0/1/2) for genotypes (RQ1). With ``N = sum_ij cm_ij``:

- masked accuracy: ``sum_i cm_ii / N``
- recall of class ``i`` (per-allele recall): ``cm_ii / sum_j cm_ij``
- IQS (imputation quality score, Lin et al. 2010, PLoS ONE 5:e9697), a Cohen's kappa:
  ``IQS = (P_o - P_c) / (1 - P_c)`` with observed agreement ``P_o = sum_i cm_ii / N`` and
  chance agreement ``P_c = sum_i (sum_j cm_ij)(sum_j cm_ji) / N^2``. Undefined (NaN) when
  ``N = 0`` or ``P_c = 1`` (a single class among truth and calls, e.g. a SNP whose masked
  haplotypes all carry the reference allele and were all called reference).

Two IQS summaries, named apart because they differ:

- :func:`iqs_per_snp` + :func:`mean_iqs`: one kappa per SNP (Lin 2010's definition), then
  the mean over SNPs where it is defined — ``iqs_snp_mean``.
- :func:`pooled_iqs`: ONE kappa of the confusion matrix summed over all SNPs —
  ``iqs_pooled``, what the original lm-eqtl logged as "masked IQS". Pooling mixes SNPs of
  different frequencies, so it is not Lin's IQS.

Calls are hard (argmax); Lin's expected-count variant would put posterior probabilities in
the matrix, which these functions accept too (they never assume integer counts).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmeqtl.mlm.masking import MAF_BIN_EDGES, maf_bins


def confusion_matrices(true: np.ndarray, pred: np.ndarray, n_classes: int,
                       group: np.ndarray | None = None, n_groups: int | None = None) -> np.ndarray:
    """Confusion matrices ``(n_groups, k, k)`` (``(k, k)`` without ``group``), rows = truth.

    ``true``, ``pred`` (and ``group``, e.g. the SNP index) are 1-d integer arrays of the same
    length; counted with one ``bincount``.
    """
    true, pred = np.asarray(true, dtype=np.int64).ravel(), np.asarray(pred, dtype=np.int64).ravel()
    if group is None:
        return np.bincount(true * n_classes + pred, minlength=n_classes**2).reshape(n_classes, n_classes)
    group = np.asarray(group, dtype=np.int64).ravel()
    n_groups = int(group.max()) + 1 if n_groups is None else n_groups
    flat = (group * n_classes + true) * n_classes + pred
    return np.bincount(flat, minlength=n_groups * n_classes**2).reshape(n_groups, n_classes, n_classes)


def iqs(cm: np.ndarray) -> np.ndarray:
    """Kappa ``(P_o - P_c) / (1 - P_c)`` of confusion matrices ``(..., k, k)`` -> ``(...)``; NaN where undefined."""
    cm = np.asarray(cm, dtype=np.float64)
    total = cm.sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        observed = np.trace(cm, axis1=-2, axis2=-1) / total
        chance = (cm.sum(axis=-1) * cm.sum(axis=-2)).sum(axis=-1) / total**2
        kappa = (observed - chance) / (1.0 - chance)
    return np.where((total > 0) & (chance < 1.0 - 1e-12), kappa, np.nan)


def iqs_per_snp(cm_per_snp: np.ndarray) -> np.ndarray:
    """Lin 2010 IQS of each SNP from its confusion matrix ``(n_snps, k, k)`` -> ``(n_snps,)``."""
    return iqs(cm_per_snp)


def mean_iqs(cm_per_snp: np.ndarray) -> float:
    """Mean per-SNP IQS over the SNPs where it is defined (NaN if none)."""
    values = iqs_per_snp(cm_per_snp)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def pooled_iqs(cm: np.ndarray) -> float:
    """ONE kappa of all positions pooled (the original lm-eqtl's "masked IQS")."""
    cm = np.asarray(cm)
    return float(iqs(cm.reshape(-1, *cm.shape[-2:]).sum(axis=0)))


def accuracy(cm: np.ndarray) -> float:
    """``sum_i cm_ii / N`` over all matrices given (NaN if empty)."""
    cm = np.asarray(cm, dtype=np.float64).reshape(-1, *np.shape(cm)[-2:]).sum(axis=0)
    return float(np.trace(cm) / cm.sum()) if cm.sum() > 0 else float("nan")


def recall(cm: np.ndarray) -> np.ndarray:
    """Recall of each true class ``(k,)``: ``cm_ii / sum_j cm_ij`` (NaN for absent classes)."""
    cm = np.asarray(cm, dtype=np.float64).reshape(-1, *np.shape(cm)[-2:]).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.diag(cm) / cm.sum(axis=1)


def summary(cm_per_snp: np.ndarray, class_names: tuple[str, ...] = ("ref", "alt")) -> dict[str, float]:
    """Masked accuracy, recall per class, mean per-SNP IQS, pooled IQS and counts."""
    per_snp = iqs_per_snp(cm_per_snp)
    out = {"n_masked": float(np.sum(cm_per_snp)), "masked_accuracy": accuracy(cm_per_snp)}
    for name, value in zip(class_names, recall(cm_per_snp), strict=True):
        out[f"recall_{name}"] = float(value)
    out["iqs_snp_mean"] = float(np.nanmean(per_snp)) if np.isfinite(per_snp).any() else float("nan")
    out["iqs_pooled"] = pooled_iqs(cm_per_snp)
    out["n_snps_iqs"] = float(np.isfinite(per_snp).sum())
    return out


def by_maf_bin(cm_per_snp: np.ndarray, maf: np.ndarray, edges: tuple[float, ...] = MAF_BIN_EDGES,
               class_names: tuple[str, ...] = ("ref", "alt")) -> pd.DataFrame:
    """:func:`summary` for each MAF bin ``(edges[i], edges[i+1]]`` plus an ``all`` row."""
    bin_index = maf_bins(np.asarray(maf, dtype=np.float64), edges)
    rows = []
    for b in range(len(edges) - 1):
        picked = cm_per_snp[bin_index == b]
        rows.append({"maf_bin": f"({edges[b]:g}, {edges[b + 1]:g}]", "n_snps": int(len(picked)),
                     **summary(picked, class_names)})
    rows.append({"maf_bin": "all", "n_snps": int(len(cm_per_snp)), **summary(cm_per_snp, class_names)})
    return pd.DataFrame(rows)
