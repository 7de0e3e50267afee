"""Does the MLM's state at one SNP carry the allele of another SNP on the same haplotype?

The contextual method (:mod:`lmeqtl.expression.contextual`) can only beat dosages where the
model's state at a chosen SNP holds something the dosages do not: which alleles sit elsewhere
on the same chromosome. This probe asks that directly, from haplotypes alone (no expression):
for a pair of SNPs ``(s, t)``, how well does each of these predict the allele at ``t`` on a
haplotype?

- ``state``: the MLM's hidden state at ``s`` (``d`` numbers);
- ``state_pcs``: its top ``components`` principal components, which the contextual method keeps;
- ``allele``: the allele at ``s`` (LD between the two SNPs alone);
- ``local_alleles``: the alleles of ``s`` and ``neighbours`` SNPs either side (local LD).

Score: the area under the ROC curve of a cross-validated logistic regression (seeded folds,
haplotypes as rows; 0.5 = no information, 1 = the partner's allele read off perfectly). On
simulated data the pairs are the planted interacting causal SNPs, which can lie hundreds of
SNPs apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from lmeqtl.expression.state_pca import per_snp_pca

FEATURES = ("state", "state_pcs", "allele", "local_alleles")


def cv_auc(features: np.ndarray, target: np.ndarray, folds: int = 5, seed: int = 1) -> float:
    """Cross-validated AUC of a logistic regression of binary ``target (m,)`` on ``features (m, p)``.

    NaN when ``target`` does not vary or a class has fewer than ``folds`` members.
    """
    target = np.asarray(target).astype(int)
    counts = np.bincount(target, minlength=2)
    if counts.min() < folds:
        return float("nan")
    x = np.asarray(features, dtype=np.float64)
    x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)  # (m, p)
    probability = cross_val_predict(LogisticRegression(max_iter=2000), x, target,
                                    cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
                                    method="predict_proba")[:, 1]
    return float(roc_auc_score(target, probability))


def partner_probe(states: np.ndarray, snps: np.ndarray, haplotypes: np.ndarray, pairs: Sequence[tuple[int, int]],
                  *, components: int = 4, neighbours: int = 5, folds: int = 5, seed: int = 1) -> pd.DataFrame:
    """One row per pair ``(s, t)``: the AUC of each feature set of :data:`FEATURES` for the allele at ``t``.

    ``states (n, 2, S, d)``: hidden states at the window SNPs ``snps (S,)`` (every ``s`` among
    them); ``haplotypes (n, 2, L)``: 0/1 alleles of the same people. Every haplotype is a row.
    Columns: ``state_at``, ``partner``, ``distance`` (in SNPs), ``partner_af``, ``auc_<feature>``.
    """
    snps = np.asarray(snps)
    haplotypes = np.asarray(haplotypes)
    length = haplotypes.shape[2]
    rows = []
    for s, t in pairs:
        column = np.flatnonzero(snps == s)
        if len(column) != 1:
            raise ValueError(f"no state at SNP {s}: states cover {len(snps)} SNPs")
        at = states[:, :, column[0]]  # (n, 2, d)
        mean, pcs = per_snp_pca(at[:, :, None], components)  # (1, d), (1, k, d)
        state = at.reshape(-1, at.shape[-1]).astype(np.float64)  # (2n, d)
        near = np.clip(np.arange(s - neighbours, s + neighbours + 1), 0, length - 1)
        features = {"state": state, "state_pcs": (state - mean[0]) @ pcs[0].T,
                    "allele": haplotypes[:, :, [s]].reshape(-1, 1), "local_alleles": haplotypes[:, :, near].reshape(-1, len(near))}
        target = haplotypes[:, :, t].reshape(-1)  # (2n,)
        rows.append({"state_at": int(s), "partner": int(t), "distance": abs(int(t) - int(s)),
                     "partner_af": float(target.mean()),
                     **{f"auc_{name}": cv_auc(x, target, folds, seed) for name, x in features.items()}})
    return pd.DataFrame(rows)


def interacting_pairs(causal: pd.DataFrame) -> dict[str, list[tuple[int, int]]]:
    """Gene -> ordered pairs ``(s, t)`` of its interacting causal SNPs (both directions), from the truth's table."""
    pairs = {}
    for gene, table in causal[causal["interacting"].astype(bool)].groupby("gene_id", sort=False):
        index = sorted(int(i) for i in table["seq_idx"])
        pairs[gene] = [(s, t) for s in index for t in index if s != t]
    return {g: p for g, p in pairs.items() if p}
