"""Per-gene scores, bootstrap CIs, summaries, paired tests across genes, and their power."""

import numpy as np
import pandas as pd
import pytest

from lmeqtl.expression.evaluation import (
    add_ceiling,
    bootstrap_ci,
    centre_within_folds,
    compare_to,
    gene_results,
    min_attainable_p,
    paired_comparison,
    paired_test_power,
    pearson_r2,
    rvalue_results,
    summarise,
)


def test_pearson_r2_values_and_fold_centring():
    observed = np.array([1.0, 2.0, 3.0, 4.0])
    assert pearson_r2(observed, observed) == (pytest.approx(1.0), pytest.approx(1.0))
    r, r2 = pearson_r2(observed, np.full(4, 2.5))
    assert r == 0.0 and r2 == pytest.approx(0.0)
    assert pearson_r2(observed, observed + 1)[1] == pytest.approx(1 - 4 / 5)
    # per-fold offsets in the predictions do not change the fold-centred r
    folds = np.array([0, 0, 1, 1])
    assert pearson_r2(observed, observed + 10 * folds, folds)[0] == pytest.approx(1.0)
    np.testing.assert_allclose(centre_within_folds(observed, folds), [-0.5, 0.5, -0.5, 0.5])


def test_bootstrap_ci_covers_the_true_correlation():
    """In 200 simulated studies of 150 people with true r = 0.5, the 90 % CI covers 0.5 about 90 % of the time."""
    rng = np.random.default_rng(11)
    rho, n, covered = 0.5, 150, 0
    for study in range(200):
        x = rng.normal(size=n)
        y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=n)
        ci = bootstrap_ci(y, x, n_bootstrap=300, level=0.90, seed=study)
        covered += ci["r_low"] <= rho <= ci["r_high"]
    assert 0.84 <= covered / 200 <= 0.96


def _predictions(n=120, seed=0):
    """Out-of-fold-like predictions for 3 genes and 3 methods with known quality ordering."""
    rng = np.random.default_rng(seed)
    rows = []
    for gene in ("G1", "G2", "G3"):
        truth = rng.normal(size=n)
        observed = truth + rng.normal(size=n)
        for method, noise in (("oracle", 0.0), ("good", 0.5), ("noise", None)):
            predicted = rng.normal(size=n) if noise is None else truth + noise * rng.normal(size=n)
            rows.append(pd.DataFrame({"gene": gene, "method": method, "sample_id": [f"S{i}" for i in range(n)],
                                      "fold": np.arange(n) % 4, "observed": observed, "predicted": predicted}))
    return pd.concat(rows, ignore_index=True)


def test_gene_results_and_summary():
    results = gene_results(_predictions(), n_bootstrap=200)
    assert len(results) == 9 and set(results["evaluation"]) == {"nested CV"}
    row = results.set_index(["method", "gene"]).loc[("good", "G1")]
    assert row.r_low < row.r < row.r_high and row.r2_low < row.r2 < row.r2_high
    assert (results.loc[results.method == "oracle", "r2_of_ceiling"] == 1.0).all()
    summary = summarise(results).set_index("method")
    assert summary.loc["oracle", "mean_r"] > summary.loc["good", "mean_r"] > summary.loc["noise", "mean_r"]
    assert summary.loc["oracle", "ceiling_fraction"] == pytest.approx(1.0)
    assert 0.5 < summary.loc["good", "ceiling_fraction"] < 1.0
    assert summary.loc["good", "n_significant"] == 3


def test_rvalue_is_labelled_in_sample_and_skips_genes_without_a_snp():
    lead = pd.DataFrame({"gene_id": ["G1", "G2"], "rvalue": [-0.6, np.nan], "seq_idx": [4, -1]})
    table = rvalue_results(lead, n_samples=373)
    assert len(table) == 1 and table.r.iloc[0] == 0.6 and table.r2.iloc[0] == pytest.approx(0.36)
    assert table.evaluation.iloc[0] == "in-sample (eQTL table)"
    assert table.r_low.iloc[0] < 0.6 < table.r_high.iloc[0]
    both = add_ceiling(pd.concat([gene_results(_predictions(), n_bootstrap=50), table]))
    in_sample = both[both.method == "rvalue (in-sample)"].iloc[0]
    assert in_sample.r2_of_ceiling == pytest.approx(0.36 / in_sample.ceiling_r2)
    assert summarise(both).set_index("method").loc["rvalue (in-sample)", "evaluation"] == "in-sample (eQTL table)"


def test_paired_comparison_counts_wins_and_tests_honestly():
    genes = [f"G{i}" for i in range(8)]
    results = pd.DataFrame({"gene": genes * 2, "method": ["a"] * 8 + ["b"] * 8,
                            "r": [0.5] * 8 + [0.4, 0.45, 0.3, 0.2, 0.1, 0.35, 0.44, 0.5]})
    row = paired_comparison(results, "a", "b")
    assert (row["wins_a"], row["wins_b"], row["ties"]) == (7, 0, 1)
    assert row["sign_test_p"] == pytest.approx(2 / 2**7)
    assert row["wilcoxon_p"] == pytest.approx(2 / 2**7)  # exact: all 7 non-zero differences positive
    assert row["min_attainable_p"] == pytest.approx(2 / 2**7)
    assert list(compare_to(results, "b")["method_a"]) == ["a"]


def test_few_genes_have_little_power():
    assert min_attainable_p(5) == pytest.approx(0.0625)  # 5 genes can never reach p < 0.05
    assert paired_test_power(5, 2.0, n_simulations=300)["power_wilcoxon"] == 0.0
    ten = paired_test_power(10, 0.5, n_simulations=500)
    forty = paired_test_power(40, 0.5, n_simulations=500)
    assert ten["power_wilcoxon"] < 0.5 < forty["power_wilcoxon"]
    assert ten["power_sign"] <= ten["power_wilcoxon"]
