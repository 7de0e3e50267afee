import numpy as np
import pandas as pd
import pytest

from lmeqtl.explain.enrichment import (
    enrichment_table,
    fisher_enrichment,
    matched_strata,
    permutation_enrichment,
    top_per_group,
)


def _planted(odds_ratio: float, n: int = 6000, k: int = 300, share: float = 0.15, seed: int = 0):
    """SNPs with a peak indicator, and k 'top' SNPs drawn so that their odds of being in a peak is
    odds_ratio times the others'."""
    rng = np.random.default_rng(seed)
    in_peak = rng.random(n) < share
    background_odds = share / (1 - share)
    top_share = odds_ratio * background_odds / (1 + odds_ratio * background_odds)
    n_in = rng.binomial(k, top_share)
    top = np.zeros(n, dtype=bool)
    top[rng.choice(np.flatnonzero(in_peak), n_in, replace=False)] = True
    top[rng.choice(np.flatnonzero(~in_peak), k - n_in, replace=False)] = True
    return top, in_peak, rng


def test_fisher_recovers_a_planted_odds_ratio_within_its_ci():
    for planted, seed in [(4.0, 0), (1.0, 1), (0.3, 2)]:
        top, in_peak, _ = _planted(planted, seed=seed)
        row = fisher_enrichment(top, in_peak)
        assert row["ci_low"] < planted < row["ci_high"], (planted, row)
    top, in_peak, _ = _planted(4.0, seed=3)
    assert fisher_enrichment(top, in_peak)["fisher_p"] < 1e-6


def test_null_enrichment_p_values_are_roughly_uniform():
    rng = np.random.default_rng(10)
    fisher_p, permutation_p = [], []
    for repeat in range(200):
        in_peak = rng.random(2000) < 0.2
        top = np.zeros(2000, dtype=bool)
        top[rng.choice(2000, 50, replace=False)] = True
        fisher_p.append(fisher_enrichment(top, in_peak)["fisher_p"])
        if repeat < 60:
            strata = rng.integers(0, 5, size=2000)
            permutation_p.append(permutation_enrichment(top, in_peak, strata, 200, seed=repeat).permutation_p[0])
    fisher_p = np.array(fisher_p)
    assert 0.0 < np.mean(fisher_p < 0.05) <= 0.1  # Fisher is conservative on discrete tables
    assert 0.3 < np.mean(fisher_p) < 0.7
    assert np.mean(np.array(permutation_p) < 0.05) <= 0.12 and 0.35 < np.mean(permutation_p) < 0.75


def test_permutation_is_seeded_and_detects_enrichment():
    top, in_peak, rng = _planted(4.0, seed=4)
    strata = rng.integers(0, 10, size=len(top))
    first = permutation_enrichment(top, in_peak, strata, 300, seed=7)
    pd.testing.assert_frame_equal(first, permutation_enrichment(top, in_peak, strata, 300, seed=7))
    assert first.permutation_p[0] == pytest.approx(2 / 301)
    assert first.matched_fold[0] > 2


def test_matched_background_removes_a_confounder_that_fisher_sees():
    """Peaks and top SNPs both sit near the TSS: Fisher is fooled, the matched test is not."""
    rng = np.random.default_rng(5)
    n = 8000
    distance = rng.uniform(-1e6, 1e6, n)
    near = np.abs(distance) < 1e5
    in_peak = rng.random(n) < np.where(near, 0.5, 0.05)
    top = np.zeros(n, dtype=bool)
    top[rng.choice(np.flatnonzero(near), 200, replace=False)] = True  # top SNPs: near, nothing else
    maf = rng.uniform(0.03, 0.5, n)
    table = enrichment_table(top, pd.DataFrame({"H3K4me3": in_peak}), maf, distance, n_permutations=300, seed=1)
    assert table.fisher_p[0] < 1e-10 and table.odds_ratio[0] > 3
    assert table.permutation_p[0] > 0.01 and 0.7 < table.matched_fold[0] < 1.3


def test_enrichment_table_columns_and_planted():
    top, in_peak, rng = _planted(4.0, seed=6)
    annotation = pd.DataFrame({"H3K27ac": in_peak, "H3K9me3": rng.random(len(top)) < 0.1})
    table = enrichment_table(top, annotation, rng.uniform(0, 1, len(top)), rng.normal(size=len(top)),
                             rng.integers(0, 3, len(top)), n_permutations=100, planted={"H3K27ac": 4.0}, method="ig")
    assert list(table.mark) == ["H3K27ac", "H3K9me3"] and list(table.kind) == ["active", "repressive"]
    assert table.planted_or[0] == 4.0 and np.isnan(table.planted_or[1])
    for column in ("method", "odds_ratio", "ci_low", "ci_high", "fisher_p", "matched_fold", "permutation_p"):
        assert column in table


def test_strata_and_top_per_group():
    maf = np.array([0.01, 0.99, 0.3, 0.3, 0.3, 0.3])
    strata = matched_strata(maf, np.array([5, -10, 1e5, 2e5, -3e5, 4e5]), n_distance_bins=3)
    assert strata[0] == strata[1]  # AF 0.99 is MAF 0.01; both in the nearest third
    assert strata[2] == strata[3] != strata[4] == strata[5]
    assert len(set(matched_strata(maf, np.zeros(6), np.array([0, 0, 0, 1, 1, 1]), n_distance_bins=1))) == 3
    scores = np.array([0.1, 0.9, np.nan, 0.5, 0.7, 0.2])
    genes = np.array(["a", "a", "a", "b", "b", "b"])
    assert list(top_per_group(scores, genes, 1)) == [False, True, False, False, True, False]
