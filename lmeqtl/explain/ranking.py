"""How well does a SNP ranking find the causal SNPs? Average precision, recall@k, and
recall up to LD proxies; plus the marginal eQTL ranking that every method is compared with.

Scores: higher = more relevant; NaN = not scored (ranked last, all tied). Ties are handled
without favouring any method: average precision groups tied scores (sklearn), and recall@k
is the *expected* recall when ties are ordered at random.

The LD problem: a causal SNP's perfect proxies (r² = 1) carry the same information, so no
method that sees only genotypes can prefer the causal one. ``proxy_recall_at_k`` counts a
causal SNP as found when a SNP in the top k is in LD r² >= 0.8 with it, to be fair about that.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats


def _scores(scores: np.ndarray) -> np.ndarray:
    values = np.asarray(scores, dtype=float)
    return np.where(np.isnan(values), -np.inf, values)


def average_precision(scores: np.ndarray, is_causal: np.ndarray) -> float:
    """Area under the precision-recall curve (average precision); NaN without any causal SNP."""
    from sklearn.metrics import average_precision_score

    truth = np.asarray(is_causal, dtype=bool)
    if not truth.any():
        return float("nan")
    values = _scores(scores)
    finite_floor = np.min(values[np.isfinite(values)], initial=0.0) - 1.0
    return float(average_precision_score(truth, np.where(np.isfinite(values), values, finite_floor)))


def recall_at_k(scores: np.ndarray, is_causal: np.ndarray, k: int) -> float:
    """Expected share of causal SNPs among the top ``k``, ties in random order."""
    truth = np.asarray(is_causal, dtype=bool)
    if not truth.any():
        return float("nan")
    values = _scores(scores)
    ordered = np.sort(values)  # ascending
    causal = values[truth]
    above = len(values) - np.searchsorted(ordered, causal, side="right")  # strictly higher
    tied = np.searchsorted(ordered, causal, side="right") - np.searchsorted(ordered, causal, side="left")
    chance_in_top = np.clip((k - above) / tied, 0.0, 1.0)
    return float(chance_in_top.mean())


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores, ties broken by SNP order (stable)."""
    return np.argsort(-_scores(scores), kind="stable")[:k]


def ld_r2(dosage: np.ndarray, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Squared Pearson correlation of dosages between SNPs ``rows`` and ``columns`` -> (len(rows), len(columns))."""
    dosage = np.asarray(dosage, dtype=float)

    def standardised(index: np.ndarray) -> np.ndarray:
        x = dosage[:, np.asarray(index, dtype=np.int64)]
        x = x - x.mean(axis=0)
        norm = np.linalg.norm(x, axis=0)
        return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)  # (n, k)

    return (standardised(rows).T @ standardised(columns)) ** 2


def proxy_recall_at_k(scores: np.ndarray, is_causal: np.ndarray, dosage: np.ndarray, k: int,
                      r2_threshold: float = 0.8) -> float:
    """Share of causal SNPs with a top-``k`` SNP (itself included) in LD r² >= ``r2_threshold``."""
    truth = np.flatnonzero(np.asarray(is_causal, dtype=bool))
    if len(truth) == 0:
        return float("nan")
    r2 = ld_r2(dosage, truth, top_k(scores, k))  # (n_causal, k)
    found = (r2 >= r2_threshold - 1e-12).any(axis=1) | np.isin(truth, top_k(scores, k))
    return float(found.mean())


def evaluate_ranking(scores: np.ndarray, is_causal: np.ndarray, ks: Sequence[int] = (1, 5, 10, 20),
                     dosage: np.ndarray | None = None, r2_threshold: float = 0.8) -> dict[str, float]:
    """Average precision, recall@k for each k, and (with ``dosage``) LD-proxy recall@k."""
    row = {"n_snps": len(scores), "n_causal": int(np.sum(is_causal)),
           "average_precision": average_precision(scores, is_causal)}
    for k in ks:
        row[f"recall_at_{k}"] = recall_at_k(scores, is_causal, k)
    if dosage is not None:
        for k in ks:
            row[f"proxy_recall_at_{k}"] = proxy_recall_at_k(scores, is_causal, dosage, k, r2_threshold)
    return row


def evaluate_methods(scores: Mapping[str, np.ndarray], is_causal: np.ndarray, **options) -> pd.DataFrame:
    """One row per method (see :func:`evaluate_ranking`), plus the random-ranking expectation."""
    rows = [{"method": name, **evaluate_ranking(values, is_causal, **options)} for name, values in scores.items()]
    table = pd.DataFrame(rows)
    n, n_causal = len(is_causal), int(np.sum(is_causal))
    table["random_average_precision"] = n_causal / n if n else float("nan")
    return table


def marginal_association(dosage: np.ndarray, expression: np.ndarray) -> pd.DataFrame:
    """Per-SNP Pearson r of dosage with expression, its t-test p-value and -log10 p (vectorised).

    The single-SNP eQTL scan the GEUVADIS table comes from; monomorphic SNPs get r = 0, p = 1.
    """
    x = np.asarray(dosage, dtype=float)
    y = np.asarray(expression, dtype=float)
    n = len(y)
    x = x - x.mean(axis=0)
    y = y - y.mean()
    denominator = np.linalg.norm(x, axis=0) * np.linalg.norm(y)
    r = np.divide(x.T @ y, denominator, out=np.zeros(x.shape[1]), where=denominator > 0)
    r = np.clip(r, -1.0, 1.0)
    t = r * np.sqrt((n - 2) / np.maximum(1.0 - r**2, 1e-300))
    log_p = stats.t.logsf(np.abs(t), n - 2) + np.log(2.0)  # log p, exact far into the tail
    return pd.DataFrame({"r": r, "pvalue": np.exp(log_p), "minus_log10_p": -log_p / np.log(10)})


def eqtl_table_scores(meta: pd.DataFrame, eqtl: pd.DataFrame, gene: str) -> np.ndarray:
    """-log10 p of each SNP of ``meta`` (one gene, seq_idx order) in a GEUVADIS eQTL table.

    Matched on ``SNP_ID`` = meta ``id``, else on position (``SNPpos`` = ``pos``); SNPs absent
    from the table (not significant there) get NaN, i.e. rank last.
    """
    rows = eqtl[eqtl["GENE_ID"].astype(str) == gene]
    score = -np.log10(np.clip(rows["pvalue"].to_numpy(dtype=float), 1e-300, 1.0))
    by_id = pd.Series(score, index=rows["SNP_ID"].astype(str).to_numpy())
    by_id = by_id[~by_id.index.duplicated()]
    by_pos = pd.Series(score, index=rows["SNPpos"].astype(np.int64).to_numpy())
    by_pos = by_pos[~by_pos.index.duplicated()]
    matched = by_id.reindex(meta["id"].astype(str).to_numpy()).to_numpy()
    from_pos = by_pos.reindex(meta["pos"].astype(np.int64).to_numpy()).to_numpy()
    return np.where(np.isnan(matched), from_pos, matched)


def ranking_agreement(scores: Mapping[str, np.ndarray], reference: np.ndarray, k: int = 50) -> pd.DataFrame:
    """How each method's ranking agrees with a reference (e.g. eQTL -log10 p) when there is no truth.

    Spearman correlation over SNPs scored by both, and the share of the reference's top ``k``
    SNPs that are also in the method's top ``k``.
    """
    reference = np.asarray(reference, dtype=float)
    reference_top = set(top_k(reference, k).tolist())
    rows = []
    for name, values in scores.items():
        values = np.asarray(values, dtype=float)
        both = ~np.isnan(values) & ~np.isnan(reference)
        rho = stats.spearmanr(values[both], reference[both]).statistic if both.sum() > 2 else np.nan
        overlap = len(reference_top & set(top_k(values, k).tolist())) / max(len(reference_top), 1)
        rows.append({"method": name, "spearman": float(rho), f"top_{k}_overlap": overlap, "n_scored": int(both.sum())})
    return pd.DataFrame(rows)
