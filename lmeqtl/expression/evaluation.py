"""Scores of the comparison: per-gene r and R² with bootstrap CIs, summaries, paired tests.

Per gene, r and R² = 1 - SS_res / SS_tot compare the pooled out-of-fold predictions with
the observed (covariate-adjusted) expression. r is computed after centring both within
each outer fold: each fold's model has its own intercept (its training mean), which moves
against the test fold's mean, and pooled over folds that alone pulls r down. R² keeps the
intercepts: it is the honest out-of-sample R² (negative when worse than the mean).
Without any signal, nested-CV r is still slightly negative on average (a known property
of cross-validation): in 20 simulations with ridge, 200 people and 30 noise features, the
mean was -0.14 for pooled r, -0.07 (SD 0.05) for fold-centred r, and -0.03 for R².

CIs resample people (percentile bootstrap, the same resamples for every method of a gene
so that methods stay paired); they describe the sampling of people given the out-of-fold
predictions, not the variability of refitting the models.

Across genes, methods are compared pairwise with the Wilcoxon signed-rank test and the
sign test. With few genes these tests have little power; :func:`paired_test_power` and
:func:`min_attainable_p` say how little, so that a non-significant result is read right.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

CI_COLUMNS = ("r_low", "r_high", "r2_low", "r2_high")


def centre_within_folds(values: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Subtract each outer fold's mean along the last axis (``values`` and ``folds`` ``(..., n)``)."""
    values = np.asarray(values, np.float64)
    centred = values.copy()
    for k in np.unique(folds):
        in_fold = folds == k
        mean = (values * in_fold).sum(axis=-1, keepdims=True) / np.maximum(in_fold.sum(axis=-1, keepdims=True), 1)
        centred -= mean * in_fold
    return centred


def _r_and_r2(observed: np.ndarray, predicted: np.ndarray, folds: np.ndarray | None):
    """Row-wise r (fold-centred if ``folds``) and R² of ``(..., n)`` arrays."""
    oc = observed - observed.mean(axis=-1, keepdims=True)
    if folds is None:
        ro, rp = oc, predicted - predicted.mean(axis=-1, keepdims=True)
    else:
        ro, rp = centre_within_folds(observed, folds), centre_within_folds(predicted, folds)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.nan_to_num((ro * rp).sum(axis=-1) / np.sqrt((ro**2).sum(axis=-1) * (rp**2).sum(axis=-1)))
        r2 = 1 - ((observed - predicted) ** 2).sum(axis=-1) / (oc**2).sum(axis=-1)
    return r, r2


def pearson_r2(observed: np.ndarray, predicted: np.ndarray, folds: np.ndarray | None = None) -> tuple[float, float]:
    """Pearson r (centred within outer ``folds`` if given) and R² = 1 - SS_res / SS_tot."""
    r, r2 = _r_and_r2(np.asarray(observed, np.float64), np.asarray(predicted, np.float64), folds)
    return float(r), float(r2)


def bootstrap_ci(observed: np.ndarray, predicted: np.ndarray, folds: np.ndarray | None = None,
                 n_bootstrap: int = 1000, level: float = 0.95, seed: int = 1) -> dict[str, float]:
    """Percentile bootstrap CIs of r and R², resampling people with replacement."""
    observed, predicted = np.asarray(observed, np.float64), np.asarray(predicted, np.float64)
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, len(observed), size=(n_bootstrap, len(observed)))  # (B, n)
    r, r2 = _r_and_r2(observed[rows], predicted[rows], None if folds is None else np.asarray(folds)[rows])  # (B,)
    tail = (1 - level) / 2 * 100
    r_low, r_high = np.nanpercentile(r, [tail, 100 - tail])
    r2_low, r2_high = np.nanpercentile(r2, [tail, 100 - tail])
    return {"r_low": r_low, "r_high": r_high, "r2_low": r2_low, "r2_high": r2_high}


def gene_results(predictions: pd.DataFrame, *, n_bootstrap: int = 1000, level: float = 0.95, seed: int = 1,
                 ceiling: str | None = "oracle") -> pd.DataFrame:
    """One row per (method, gene): n, r, its CI and p-value, R² and its CI.

    ``r2_of_ceiling`` = R² / R² of the ``ceiling`` method on the same gene (if it ran).
    """
    labels = [c for c in ("method", "features", "model", "combine") if c in predictions.columns]
    genes = list(dict.fromkeys(predictions["gene"]))
    rows = []
    for (gene, *label), group in predictions.groupby(["gene", *labels], sort=False):
        group = group.sort_values("sample_id", kind="stable")  # same resamples for every method
        observed, predicted = group["observed"].to_numpy(), group["predicted"].to_numpy()
        folds = group["fold"].to_numpy() if "fold" in group else None
        r, r2 = pearson_r2(observed, predicted, folds)
        p_value = _r_p_value(r, len(group))
        ci = bootstrap_ci(observed, predicted, folds, n_bootstrap, level, seed + genes.index(gene))
        rows.append({**dict(zip(labels, label, strict=True)), "gene": gene, "n": len(group), "r": r,
                     "r_low": ci["r_low"], "r_high": ci["r_high"], "p_value": p_value, "r2": r2,
                     "r2_low": ci["r2_low"], "r2_high": ci["r2_high"], "evaluation": "nested CV"})
    results = pd.DataFrame(rows)
    return add_ceiling(results, ceiling)


def _r_p_value(r: float, n: int) -> float:
    """Two-sided p-value of Pearson's r under no correlation (t test, n - 2 df)."""
    t = r * np.sqrt((n - 2) / max(1 - r**2, 1e-300))
    return float(2 * stats.t.sf(abs(t), n - 2))


def add_ceiling(results: pd.DataFrame, ceiling: str | None = "oracle") -> pd.DataFrame:
    """Add ``ceiling_r2`` (the ``ceiling`` method's R² on the row's gene) and ``r2_of_ceiling``."""
    results = results.copy()
    top = pd.Series(dtype=np.float64)
    if ceiling is not None and ceiling in set(results["method"]):
        top = results[results["method"] == ceiling].set_index("gene")["r2"]
    results["ceiling_r2"] = results["gene"].map(top).astype(np.float64)
    results["r2_of_ceiling"] = results["r2"] / results["ceiling_r2"]
    return results


def rvalue_results(lead: pd.DataFrame, n_samples: int, level: float = 0.95) -> pd.DataFrame:
    """The eQTL table's |rvalue| of each gene's lead SNP as r, labelled in-sample (not a prediction).

    The table's r was estimated on the same people that chose the SNP, so it is an upper
    bound for a single-SNP predictor, not an out-of-sample score. CIs by Fisher's z.
    """
    lead = lead[lead["seq_idx"] >= 0]
    r = lead["rvalue"].abs().to_numpy(dtype=np.float64)
    half = stats.norm.ppf(0.5 + level / 2) / np.sqrt(n_samples - 3)
    low, high = np.tanh(np.arctanh(r) - half), np.tanh(np.arctanh(r) + half)
    return pd.DataFrame({
        "method": "rvalue (in-sample)", "features": "lead_snp", "model": "eQTL table", "combine": "",
        "gene": lead["gene_id"].to_numpy(), "n": n_samples, "r": r, "r_low": low, "r_high": high,
        "p_value": [_r_p_value(value, n_samples) for value in r], "r2": r**2, "r2_low": np.clip(low, 0, None) ** 2,
        "r2_high": high**2, "evaluation": "in-sample (eQTL table)",
    })


def summarise(results: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Per method over genes: mean and median r, mean R², genes with p < ``alpha``, share of ceiling.

    ``ceiling_fraction`` = sum of R² / sum of the ceiling's R² over the same genes (a ratio of
    means: stable when some genes have a tiny ceiling).
    """
    rows = []
    for method, group in results.groupby("method", sort=False):
        ceiling_r2 = group["ceiling_r2"] if "ceiling_r2" in group else pd.Series(np.nan)
        rows.append({
            "method": method, "evaluation": group["evaluation"].iloc[0], "n_genes": len(group),
            "mean_r": group["r"].mean(), "median_r": group["r"].median(), "mean_r2": group["r2"].mean(),
            "n_significant": int((group["p_value"] < alpha).sum()),
            "ceiling_fraction": group["r2"].sum() / ceiling_r2.sum() if ceiling_r2.notna().all() else np.nan,
        })
    return pd.DataFrame(rows).sort_values("mean_r", ascending=False, ignore_index=True)


def min_attainable_p(n_genes: int) -> float:
    """Smallest two-sided p-value of an exact sign or signed-rank test on ``n_genes`` pairs."""
    return min(1.0, 2 * 0.5**n_genes)


def paired_comparison(results: pd.DataFrame, method_a: str, method_b: str, metric: str = "r") -> dict:
    """``method_a`` vs ``method_b`` over the genes both ran on: wins, Wilcoxon and sign tests.

    Differences are a - b; zero differences count as ties (dropped by both tests).
    """
    table = results.pivot_table(index="gene", columns="method", values=metric, aggfunc="first")
    pairs = table[[method_a, method_b]].dropna()
    difference = (pairs[method_a] - pairs[method_b]).to_numpy()
    nonzero = difference[difference != 0]
    wins, losses = int((difference > 0).sum()), int((difference < 0).sum())
    wilcoxon = stats.wilcoxon(nonzero) if len(nonzero) else None
    evaluation = results.groupby("method")["evaluation"].first() if "evaluation" in results else {}
    return {
        "method_a": method_a, "method_b": method_b, "metric": metric,
        "evaluation_a": evaluation.get(method_a, ""), "evaluation_b": evaluation.get(method_b, ""),
        "n_genes": len(difference),
        "mean_difference": float(difference.mean()) if len(difference) else np.nan,
        "median_difference": float(np.median(difference)) if len(difference) else np.nan,
        "wins_a": wins, "wins_b": losses, "ties": len(difference) - wins - losses,
        "wilcoxon_statistic": float(wilcoxon.statistic) if wilcoxon else np.nan,
        "wilcoxon_p": float(wilcoxon.pvalue) if wilcoxon else np.nan,
        "sign_test_p": float(stats.binomtest(wins, wins + losses).pvalue) if wins + losses else np.nan,
        "min_attainable_p": min_attainable_p(len(nonzero)),
    }


def compare_to(results: pd.DataFrame, reference: str, metric: str = "r") -> pd.DataFrame:
    """:func:`paired_comparison` of every other method against ``reference``."""
    others = [m for m in dict.fromkeys(results["method"]) if m != reference]
    return pd.DataFrame([paired_comparison(results, m, reference, metric) for m in others])


def paired_test_power(n_genes: int, effect_size: float, alpha: float = 0.05, n_simulations: int = 2000,
                      seed: int = 1) -> dict[str, float]:
    """Power of the two-sided Wilcoxon and sign tests for ``n_genes`` paired differences.

    Differences are simulated as Normal(``effect_size``, 1): ``effect_size`` is the mean
    difference in units of its standard deviation across genes (Cohen's d_z).
    """
    rng = np.random.default_rng(seed)
    difference = rng.normal(effect_size, 1.0, size=(n_simulations, n_genes))  # (S, G)
    wilcoxon_p = stats.wilcoxon(difference, axis=1).pvalue
    sign_p_of_k = np.array([stats.binomtest(k, n_genes).pvalue for k in range(n_genes + 1)])
    sign_p = sign_p_of_k[(difference > 0).sum(axis=1)]
    return {"n_genes": n_genes, "effect_size": effect_size, "alpha": alpha,
            "power_wilcoxon": float((wilcoxon_p < alpha).mean()), "power_sign": float((sign_p < alpha).mean()),
            "min_attainable_p": min_attainable_p(n_genes)}
