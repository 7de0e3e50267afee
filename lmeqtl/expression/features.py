"""Predictors of expression: combined haplotype embeddings, lead SNPs, window dosages, truth.

Embeddings come per person as two haplotypes, ``(n, 2, H)``. Sklearn pipelines take 2-D
input, so pairs travel flattened as ``(n, 2 * H)`` (:func:`flatten_pairs`) and
:class:`HaplotypeCombiner` turns them into one vector per person inside the pipeline, so
that anything it learns (the sorting direction of ``concat_sorted``) comes from the
training fold only.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from lmeqtl.errors import InputError
from lmeqtl.expression.processing import strip_version

# Order-invariant unless noted; "mean" equals "sum" after standardisation (kept to show it).
COMBINATIONS = {
    "sum": "h1 + h2",
    "mean": "(h1 + h2) / 2",
    "concat_sorted": "[h_a, h_b], the pair ordered by projection on the training PC1",
    "concat": "[h1, h2] in file order (NOT order-invariant: a control)",
    "product": "h1 * h2 elementwise",
    "absdiff": "|h1 - h2| elementwise",
    "product_absdiff": "[h1 * h2, |h1 - h2|]",
    "minmax": "[min(h1, h2), max(h1, h2)] elementwise",
}


def flatten_pairs(embeddings: np.ndarray) -> np.ndarray:
    """``(n, 2, H)`` haplotype pairs -> ``(n, 2 * H)`` rows for sklearn."""
    embeddings = np.asarray(embeddings)
    if embeddings.ndim != 3 or embeddings.shape[1] != 2:
        raise ValueError(f"expected embeddings of shape (n, 2, H), got {embeddings.shape}")
    return embeddings.reshape(len(embeddings), -1)


def _sort_pairs(first: np.ndarray, second: np.ndarray, direction: np.ndarray, centre: np.ndarray):
    """Order each pair by its projection on ``direction``; exact ties by the first differing value."""
    key = (first - centre) @ direction - (second - centre) @ direction  # (n,)
    differ = first != second  # (n, H)
    first_diff = np.argmax(differ, axis=1)
    tie_break = np.take_along_axis(first - second, first_diff[:, None], axis=1)[:, 0]
    swap = (key < 0) | ((key == 0) & (tie_break < 0))  # (n,)
    high = np.where(swap[:, None], second, first)
    low = np.where(swap[:, None], first, second)
    return high, low


def combine_haplotypes(embeddings: np.ndarray, method: str = "sum", direction: np.ndarray | None = None,
                       centre: np.ndarray | None = None) -> np.ndarray:
    """``(n, 2, H)`` -> ``(n, H)`` or ``(n, 2H)`` features per person (see :data:`COMBINATIONS`)."""
    if method not in COMBINATIONS:
        raise ValueError(f"unknown combination {method!r}; choose one of {', '.join(COMBINATIONS)}")
    embeddings = np.asarray(embeddings, dtype=np.float64)
    first, second = embeddings[:, 0], embeddings[:, 1]  # (n, H) each
    if method == "sum":
        return first + second
    if method == "mean":
        return (first + second) / 2
    if method == "concat":
        return np.hstack([first, second])
    if method == "product":
        return first * second
    if method == "absdiff":
        return np.abs(first - second)
    if method == "product_absdiff":
        return np.hstack([first * second, np.abs(first - second)])
    if method == "minmax":
        return np.hstack([np.minimum(first, second), np.maximum(first, second)])
    if direction is None:
        centre, direction = haplotype_pc1(embeddings)
    return np.hstack(_sort_pairs(first, second, direction, centre))


def haplotype_pc1(embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and first principal axis ``(H,)`` of all haplotypes (sign fixed: largest loading > 0)."""
    haplotypes = np.asarray(embeddings, dtype=np.float64).reshape(-1, embeddings.shape[-1])  # (2n, H)
    centre = haplotypes.mean(axis=0)
    _, _, vt = np.linalg.svd(haplotypes - centre, full_matrices=False)
    axis = vt[0]
    return centre, axis * np.sign(axis[np.argmax(np.abs(axis))])


class HaplotypeCombiner(TransformerMixin, BaseEstimator):
    """Sklearn step: flattened pairs ``(n, 2H)`` -> combined ``(n, d)``; fitted on training rows."""

    def __init__(self, method: str = "sum"):
        self.method = method

    def fit(self, X, y=None):  # noqa: N803 - sklearn names
        pairs = np.asarray(X, dtype=np.float64).reshape(len(X), 2, -1)  # (n, 2, H)
        self.centre_, self.direction_ = haplotype_pc1(pairs) if self.method == "concat_sorted" else (None, None)
        return self

    def transform(self, X):  # noqa: N803
        pairs = np.asarray(X, dtype=np.float64).reshape(len(X), 2, -1)
        return combine_haplotypes(pairs, self.method, self.direction_, self.centre_)


class LeadSnpSelector(TransformerMixin, BaseEstimator):
    """Sklearn step: keep the one dosage column most correlated with expression in the training rows.

    The single-SNP baseline without the table's help: the lead SNP is re-discovered in
    every training fold, so the test fold never influences which SNP is used.
    """

    def fit(self, X, y):  # noqa: N803
        x = np.asarray(X, dtype=np.float64)  # (n, L)
        self.mean_ = np.nan_to_num(np.nanmean(x, axis=0))
        z = np.where(np.isnan(x), self.mean_, x) - self.mean_
        yc = np.asarray(y, dtype=np.float64) - np.mean(y)
        norms = np.sqrt((z**2).sum(axis=0) * (yc**2).sum())
        corr = np.abs(z.T @ yc) / np.where(norms > 0, norms, np.inf)  # (L,)
        self.index_ = int(np.argmax(corr))
        return self

    def transform(self, X):  # noqa: N803
        column = np.asarray(X, dtype=np.float64)[:, self.index_]
        return np.where(np.isnan(column), self.mean_[self.index_], column)[:, None]


def align_rows(values: np.ndarray, row_ids: Sequence[str], sample_ids: Sequence[str], what: str = "array") -> np.ndarray:
    """Rows of ``values`` (labelled ``row_ids``) in the order of ``sample_ids``; errors list the absent."""
    position = pd.Series(np.arange(len(row_ids)), index=pd.Index(row_ids, dtype=object).astype(str))
    if position.index.has_duplicates:
        raise InputError(f"{what} has duplicated sample ids {list(position.index[position.index.duplicated()][:10])}")
    missing = [s for s in sample_ids if s not in position.index]
    if missing:
        raise InputError(f"{len(missing)} samples absent from the {what}: {', '.join(map(str, missing[:10]))}",
                         expected=f"a row for every sample analysed ({len(sample_ids)})")
    return np.asarray(values)[position.loc[list(sample_ids)].to_numpy()]


def genetic_value(causal_dosage: np.ndarray, effects: np.ndarray) -> np.ndarray:
    """The additive true genetic value ``(n,)`` = causal dosages ``(n, k)`` @ effects ``(k,)``."""
    return np.asarray(causal_dosage, dtype=np.float64) @ np.asarray(effects, dtype=np.float64)


def lead_snps(eqtl: pd.DataFrame, meta: pd.DataFrame, genes: Sequence[str]) -> pd.DataFrame:
    """Per gene, the most significant eQTL of the table that lies in the gene's SNP window.

    SNPs are matched on rs id, else on chromosome and position. ``table_rank`` 0 means the
    table's own lead SNP was found; a larger rank says how many better SNPs were outside
    the window (``note`` explains). Genes without a usable SNP get ``seq_idx`` = -1.
    """
    table_gene = strip_version(eqtl["GENE_ID"].astype(str))
    chrom_snp = eqtl["CHR_SNP"].astype(str).str.removeprefix("chr").to_numpy()
    rows = []
    for gene in genes:
        window = meta[meta["GENE_ID"] == gene]
        mask = table_gene == strip_version([gene])[0]
        hits = eqtl[mask].assign(_chrom=chrom_snp[mask]).sort_values("pvalue", kind="stable")
        by_id = window[window["id"].astype(str) != "."].drop_duplicates("id")
        by_id = pd.Series(by_id["seq_idx"].to_numpy(), index=by_id["id"].astype(str))
        by_pos = window.assign(_chrom=window["chrom"].astype(str)).drop_duplicates(["_chrom", "pos"])
        at_pos = hits[["_chrom", "SNPpos"]].merge(
            by_pos[["_chrom", "pos", "seq_idx"]], left_on=["_chrom", "SNPpos"], right_on=["_chrom", "pos"],
            how="left")["seq_idx"].to_numpy(dtype=np.float64)
        seq_idx = hits["SNP_ID"].astype(str).map(by_id).to_numpy(dtype=np.float64)
        seq_idx = pd.Series(np.where(np.isnan(seq_idx), at_pos, seq_idx))
        hits = hits.reset_index(drop=True)
        found = np.flatnonzero(seq_idx.notna().to_numpy())
        row = {"gene_id": gene, "n_table_snps": len(hits), "SNP_ID": None, "rvalue": np.nan,
               "pvalue": np.nan, "seq_idx": -1, "table_rank": -1}
        if len(hits) == 0:
            row["note"] = "no eQTL for this gene in the table"
        elif len(found) == 0:
            row["note"] = f"none of the {len(hits)} table SNPs is in the window"
        else:
            best = hits.iloc[found[0]]
            row.update(SNP_ID=best["SNP_ID"], rvalue=float(best["rvalue"]), pvalue=float(best["pvalue"]),
                       seq_idx=int(seq_idx.iloc[found[0]]), table_rank=int(found[0]))
            row["note"] = "lead SNP" if found[0] == 0 else f"{found[0]} stronger table SNPs outside the window"
        rows.append(row)
    return pd.DataFrame(rows)
