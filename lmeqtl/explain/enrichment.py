"""Are top-ranked SNPs enriched in a histone mark's peaks? Fisher's exact test and a
matched-background permutation test, one row per mark (see :mod:`.chromatin` for why both).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from lmeqtl.data.peaks import ACTIVE_MARKS, REPRESSIVE_MARKS
from lmeqtl.mlm.masking import MAF_BIN_EDGES


def top_per_group(scores: np.ndarray, groups: np.ndarray, k: int) -> np.ndarray:
    """Boolean ``(n,)``: the ``k`` highest scores within each group (gene); NaN last, ties by order."""
    values = np.nan_to_num(np.asarray(scores, dtype=float), nan=-np.inf)
    frame = pd.DataFrame({"group": np.asarray(groups), "minus": -values, "order": np.arange(len(values))})
    frame = frame.sort_values(["group", "minus", "order"], kind="stable")
    chosen = frame.groupby("group", sort=False).cumcount().to_numpy() < k
    out = np.zeros(len(values), dtype=bool)
    out[frame["order"].to_numpy()[chosen]] = True
    return out


def matched_strata(maf: np.ndarray, tss_distance: np.ndarray, groups: np.ndarray | None = None,
                   n_distance_bins: int = 10) -> np.ndarray:
    """Stratum code per SNP: (group, MAF bin, |TSS distance| quantile bin within the group).

    MAF bins between :data:`~lmeqtl.mlm.masking.MAF_BIN_EDGES`, left-closed here:
    ``[0, .05), [.05, .1), ..., [.4, .5]``.
    """
    maf = np.minimum(np.asarray(maf, dtype=float), 1 - np.asarray(maf, dtype=float))  # AF -> MAF
    groups = np.zeros(len(maf), dtype=int) if groups is None else np.asarray(groups)
    maf_bin = np.digitize(maf, MAF_BIN_EDGES[1:-1])  # the inner edges
    distance = pd.Series(np.abs(np.asarray(tss_distance, dtype=float)))
    quantile = distance.groupby(groups).rank(method="first", pct=True).to_numpy()
    distance_bin = np.clip(np.ceil(quantile * n_distance_bins).astype(int) - 1, 0, n_distance_bins - 1)
    keys = pd.DataFrame({"g": groups, "m": maf_bin, "d": distance_bin})
    return keys.groupby(["g", "m", "d"], sort=True).ngroup().to_numpy()


def fisher_enrichment(top: np.ndarray, in_peak: np.ndarray, level: float = 0.95) -> dict[str, float]:
    """2x2 enrichment of ``top`` SNPs in peaks: conditional MLE odds ratio, exact CI, Fisher p (two-sided)."""
    top, in_peak = np.asarray(top, dtype=bool), np.asarray(in_peak, dtype=bool)
    table = np.array([[np.sum(top & in_peak), np.sum(top & ~in_peak)],
                      [np.sum(~top & in_peak), np.sum(~top & ~in_peak)]])
    row = {"n_top": int(top.sum()), "n_top_in_peak": int(table[0, 0]),
           "share_top_in_peak": table[0, 0] / max(table[0].sum(), 1),
           "share_other_in_peak": table[1, 0] / max(table[1].sum(), 1)}
    if (table.sum(axis=0) == 0).any() or (table.sum(axis=1) == 0).any():
        return {**row, "odds_ratio": np.nan, "ci_low": np.nan, "ci_high": np.nan, "fisher_p": 1.0}
    result = stats.contingency.odds_ratio(table, kind="conditional")
    ci = result.confidence_interval(confidence_level=level)
    return {**row, "odds_ratio": float(result.statistic), "ci_low": float(ci.low), "ci_high": float(ci.high),
            "fisher_p": float(stats.fisher_exact(table, alternative="two-sided").pvalue)}


def permutation_enrichment(top: np.ndarray, in_peak: np.ndarray, strata: np.ndarray, n_permutations: int = 1000,
                           seed: int = 1) -> pd.DataFrame:
    """Matched-background test for each column of ``in_peak`` ``(n, marks)``.

    Each permutation draws, for every top SNP, a random non-top SNP of the same stratum
    (with replacement; all SNPs of the stratum when it has no other) and counts those in
    peaks. Returns per mark the observed count, the null mean, their ratio (``matched_fold``)
    and a two-sided p = min(1, 2 min(P(null >= obs), P(null <= obs))) with the +1 correction.
    """
    top = np.asarray(top, dtype=bool)
    marks = np.asarray(in_peak, dtype=bool).reshape(len(top), -1)  # (n, M)
    strata = np.asarray(strata)
    rng = np.random.default_rng(seed)
    null = np.zeros((n_permutations, marks.shape[1]))  # (P, M)
    for stratum in np.unique(strata[top]):  # one draw per stratum, not per SNP
        members = strata == stratum
        pool = np.flatnonzero(members & ~top)
        pool = pool if len(pool) else np.flatnonzero(members)
        draws = rng.integers(0, len(pool), size=(n_permutations, int(np.sum(members & top))))  # (P, c)
        null += marks[pool][draws].sum(axis=1)  # (P, M)
    observed = marks[top].sum(axis=0)  # (M,)
    greater = (1 + (null >= observed).sum(axis=0)) / (1 + n_permutations)
    less = (1 + (null <= observed).sum(axis=0)) / (1 + n_permutations)
    null_mean = null.mean(axis=0)
    return pd.DataFrame({"observed_in_peak": observed, "matched_expected": null_mean,
                         "matched_fold": np.divide(observed, null_mean, out=np.full(len(observed), np.nan),
                                                   where=null_mean > 0),
                         "permutation_p": np.minimum(1.0, 2 * np.minimum(greater, less))})


def enrichment_table(top: np.ndarray, annotation: pd.DataFrame, maf: np.ndarray, tss_distance: np.ndarray,
                     groups: np.ndarray | None = None, *, n_permutations: int = 1000, seed: int = 1,
                     planted: Mapping[str, float] | None = None, method: str | None = None,
                     level: float = 0.95) -> pd.DataFrame:
    """One row per mark: ``mark, OR, CI, Fisher p, matched fold, permutation p, planted OR``.

    ``top``: boolean ``(n,)`` top-ranked SNPs (e.g. :func:`top_per_group`); ``annotation``:
    one boolean column per mark (:func:`~lmeqtl.explain.chromatin.annotate_snps`); ``maf``
    (or AF), ``tss_distance`` and ``groups`` (gene per SNP) define the matched background;
    ``planted``: the simulation's odds ratio per mark when known.
    """
    strata = matched_strata(maf, tss_distance, groups)
    permuted = permutation_enrichment(top, annotation.to_numpy(dtype=bool), strata, n_permutations, seed)
    rows = []
    for i, mark in enumerate(annotation.columns):
        rows.append({"mark": mark, **fisher_enrichment(top, annotation[mark].to_numpy(), level),
                     **permuted.iloc[i].to_dict()})
    table = pd.DataFrame(rows)
    table["planted_or"] = [np.nan if planted is None else planted.get(m, np.nan) for m in table["mark"]]
    table["kind"] = ["active" if m in ACTIVE_MARKS else "repressive" if m in REPRESSIVE_MARKS else "other"
                     for m in table["mark"]]
    if method is not None:
        table.insert(0, "method", method)
    return table
