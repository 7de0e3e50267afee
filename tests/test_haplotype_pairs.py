"""The phased-pairs reference (no MLM): a whole-window scan of SNP pairs finds a planted same-haplotype interaction."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from lmeqtl.config import ExpressionConfig
from lmeqtl.errors import InputError
from lmeqtl.expression.contextual_run import context_methods, run_contextual
from lmeqtl.expression.gene_states import GeneData
from lmeqtl.expression.haplotype_pairs import HaplotypePairsRegressor, pair_counts
from lmeqtl.expression.prediction import outer_folds
from lmeqtl.expression.snp_selection import strongest_pairs
from lmeqtl.simulate.expression import genetic_value

N, LENGTH = 400, 2000
PAIR = (1950, 1990)  # the interacting SNPs, at the far end of the window (the TSS is in the middle)
CONFIG = dataclasses.replace(ExpressionConfig(), context_selection="enet")
METHODS = {"contextual_dosage:elasticnet": "dosage", "haplotype_pairs:elasticnet": "pairs"}


def _haplotypes(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    af = rng.uniform(0.05, 0.5, LENGTH)
    af[list(PAIR)] = 0.4
    return (rng.random((N, 2, LENGTH)) < af).astype(np.uint8)  # (n, 2, L)


def _run(truth: str, seed: int):
    """One gene: 60 % of the genetic variance in the pair's same-haplotype interaction, or additive; h2 = 0.5."""
    haplotypes = _haplotypes(seed)
    phi = 0.6 if truth == "interaction" else 0.0
    g = genetic_value(haplotypes, np.array([*PAIR, 1000]), np.array([1.0, 1.0, -0.5]), phi, np.ones(N, bool))["G"]
    y = np.sqrt(0.5) * g + np.sqrt(0.5) * np.random.default_rng(100 + seed).standard_normal(N)
    ids = [f"S{i:04d}" for i in range(N)]
    return run_contextual(pd.DataFrame({"G1": y}, index=ids), outer_folds(ids, 5, 1), {"G1": haplotypes.sum(axis=1)},
                          config=CONFIG, methods=METHODS, haplotypes={"G1": haplotypes}, progress=False)


@pytest.fixture(scope="module")
def runs():
    return {(truth, seed): _run(truth, seed) for truth in ("interaction", "additive") for seed in (0, 1)}


def test_strongest_pairs_is_the_brute_force_ranking():
    """Every pair's |r| computed one by one gives the same top pairs, across blocks, with the carrier filter."""
    rng = np.random.default_rng(3)
    haplotypes = (rng.random((150, 2, 45)) < rng.uniform(0.1, 0.5, 45)).astype(np.uint8)
    residual = rng.standard_normal(150)
    scored = []
    for a in range(45):
        for b in range(a + 1, 45):
            count = pair_counts(haplotypes, np.array([[a, b]]))[:, 0]
            if (haplotypes[:, :, a] & haplotypes[:, :, b]).sum() >= 10 and count.var() > 1e-6:
                scored.append((-abs(np.corrcoef(count, residual)[0, 1]), a, b))
    expected = [(a, b) for _, a, b in sorted(scored)[:6]]
    for block in (4, 45):
        assert [tuple(p) for p in strongest_pairs(haplotypes, residual, 6, block=block)] == expected
    assert strongest_pairs(haplotypes, residual, 0).shape == (0, 2)
    assert len(strongest_pairs(haplotypes, residual, 5, min_carriers=10 ** 6)) == 0  # no pair is carried enough


def test_pair_counts_see_the_phase_that_dosages_do_not():
    """Two double heterozygotes with the same dosages: the ALTs on one haplotype (cis) count 1, on two (trans) 0."""
    cis = np.array([[[1, 1, 0], [0, 0, 1]]])  # (1, 2, 3)
    trans = np.array([[[1, 0, 0], [0, 1, 1]]])
    pairs = np.array([[0, 1], [1, 2]])
    np.testing.assert_array_equal(cis.sum(axis=1), trans.sum(axis=1))
    np.testing.assert_array_equal(pair_counts(np.concatenate([cis, trans]), pairs), [[1, 0], [0, 1]])


def test_pairs_find_the_planted_interaction_far_from_the_tss(runs):
    """With 60 % of the genetic variance in a same-haplotype interaction 950+ SNPs from the TSS, the scan finds
    the planted pair and the phased counts add > 0.1 r over the dosage twin; the pair's SNPs get weight."""
    for seed in (0, 1):
        run = runs["interaction", seed]
        r = run.r.loc["G1"]
        assert r["haplotype_pairs:elasticnet"] > r["contextual_dosage:elasticnet"] + 0.1, r.to_dict()
        weights = run.snp_weights.query("method == 'haplotype_pairs:elasticnet'")
        top = weights.sort_values("weight", ascending=False).groupby("fold").head(2)
        assert set(top["seq_idx"]) == set(PAIR), top
        assert (run.comparison.hyperparameters.dropna(subset=["n_pairs"])["n_pairs"] == 1).all()


def test_pairs_do_not_lose_on_additive_truth(runs):
    """On additive truth, one scanned pair costs no more than noise (< 0.03 r)."""
    for seed in (0, 1):
        r = runs["additive", seed].r.loc["G1"]
        assert r["contextual_dosage:elasticnet"] > 0.55  # the oracle's r is sqrt(0.5) = 0.71
        assert r["haplotype_pairs:elasticnet"] > r["contextual_dosage:elasticnet"] - 0.03, r.to_dict()


def test_pairs_need_haplotypes_and_follow_the_setting():
    """Without haplotypes the method is skipped with a reason (the estimator says what it needs); the preset
    setting switches it on and off and is checked."""
    data = GeneData(np.zeros((10, 5)))
    with pytest.raises(ValueError, match="needs GeneData.haplotypes"):
        HaplotypePairsRegressor(data).fit(np.arange(10)[:, None], np.arange(10.0))
    assert "haplotype_pairs:elasticnet" in context_methods(CONFIG)
    assert "haplotype_pairs:elasticnet" not in context_methods(dataclasses.replace(CONFIG, context_pairs=0))
    with pytest.raises(InputError, match="context_pairs"):
        ExpressionConfig(context_pairs=-1)
    haplotypes = _haplotypes(0)[:60, :, :50]
    ids = [f"S{i:04d}" for i in range(60)]
    y = pd.DataFrame({"G1": haplotypes.sum(axis=1)[:, 3] + np.random.default_rng(0).standard_normal(60)}, index=ids)
    methods = {"contextual:elasticnet": "context", **METHODS}
    run = run_contextual(y, outer_folds(ids, 5, 1), {"G1": haplotypes.sum(axis=1)}, config=CONFIG, methods=methods,
                         progress=False)  # neither states nor haplotypes: the twin alone
    assert set(run.comparison.predictions["method"]) == {"contextual_dosage:elasticnet"}
    assert run.comparison.skipped == ["haplotype_pairs:elasticnet on G1: no haplotypes",
                                      "contextual:elasticnet on G1: no states"]


def test_pairs_text_reports_both_comparisons_and_the_off_switch():
    """Chapter 03's paragraph: off in a preset without pairs; else the reference against the twin and the
    headline against the reference, within the truth's groups, numbers from the tests."""
    from lmeqtl.book.chapters.contextual_text import pairs_text
    from lmeqtl.book.chapters.expression_context import paired_by_group

    pairs, twin, headline = "haplotype_pairs:elasticnet", "contextual_dosage:elasticnet", "contextual:elasticnet"
    genes = [f"G{i}" for i in range(6)]
    r = {twin: [0.30, 0.40, 0.50, 0.20, 0.25, 0.30], pairs: [0.31, 0.40, 0.52, 0.45, 0.40, 0.50],
         headline: [0.30, 0.41, 0.50, 0.22, 0.26, 0.29]}
    results = pd.DataFrame([{"method": m, "gene": g, "r": v} for m, values in r.items()
                            for g, v in zip(genes, values, strict=True)])
    groups = pd.Series(["additive"] * 3 + ["interaction"] * 3, index=genes)
    assert "off in this preset" in pairs_text(pd.DataFrame(), pd.DataFrame(), pairs, 0)
    text = pairs_text(paired_by_group(results, pairs, twin, groups), paired_by_group(results, headline, pairs, groups),
                      pairs, 1)
    assert "1 pair " in text and "beats the dosage twin on 5 of 6 genes" in text
    assert "interaction genes, 3 of 3 genes: mean r 0.450 against 0.250" in text
    assert "The headline LM method beats it on 1 of 6 genes" in text


def test_pair_snps_bring_an_interaction_without_marginal_effect_into_the_contextual_method():
    """A pure same-haplotype interaction (no additive part) is invisible to the dosage selection; with
    ``pair_snps=1`` the scanned pair's SNPs join the chosen ones, in the method and its dosage twin alike, and
    states that carry the partner's allele read it (> 0.1 r over the twin on the same SNPs)."""
    from sklearn.model_selection import KFold

    from lmeqtl.expression.contextual import ContextualRegressor

    haplotypes = _haplotypes(2)
    g = genetic_value(haplotypes, np.array(PAIR), np.array([1.0, 1.0]), 1.0, np.ones(N, bool))["G"]
    y = np.sqrt(0.5) * g + np.sqrt(0.5) * np.random.default_rng(5).standard_normal(N)
    partner = np.arange(LENGTH)
    partner[list(PAIR)] = PAIR[::-1]
    allele = haplotypes.astype(np.float32)  # (n, 2, L)
    noise = 0.1 * np.random.default_rng(0).standard_normal((*allele.shape, 2)).astype(np.float32)
    states = np.concatenate([allele[..., None], (allele * allele[:, :, partner])[..., None], noise], axis=3)
    data = GeneData(haplotypes.sum(axis=1).astype(np.float64), states, haplotypes=haplotypes)
    train, test = np.arange(N)[:320, None], np.arange(N)[320:, None]

    def fit(features: str, pair_snps: int) -> tuple[np.ndarray, float]:
        model = ContextualRegressor(data, features, 5, 0, model="elasticnet", cv=KFold(5, shuffle=True, random_state=0),
                                    selection="enet", reduction="alt_pca", pair_snps=pair_snps).fit(train, y[:320])
        return model.snps_, float(np.corrcoef(model.predict(test), y[320:])[0, 1])

    (snps, with_pairs), (plain_snps, plain) = fit("context", 1), fit("context", 0)
    twin_snps, twin = fit("dosage", 1)
    assert set(PAIR) <= set(snps.tolist()) and not set(PAIR) <= set(plain_snps.tolist())
    np.testing.assert_array_equal(twin_snps, snps)  # the twin reads the same SNPs
    assert with_pairs > max(plain, twin) + 0.1, (with_pairs, plain, twin)
    with pytest.raises(ValueError, match="needs GeneData.haplotypes"):
        ContextualRegressor(GeneData(data.dosage, states), "context", 5, 0, pair_snps=1).fit(train, y[:320])


def test_the_pair_snps_setting_reaches_the_run_and_the_method_text():
    """``expression.context_pair_snps`` = 1: the run extracts every SNP's state and the contextual fits read the
    scanned pair's SNPs (more SNPs than the dosage selection alone); chapter 03's paragraph names the setting."""
    from lmeqtl.book.chapters.expression_context import method_text

    config = dataclasses.replace(CONFIG, context_pair_snps=1, context_reduction="alt_pca")
    haplotypes = _haplotypes(0)[:200, :, :300]
    asked = []

    def states(snps: np.ndarray) -> np.ndarray:
        asked.append(len(snps))
        return haplotypes[:, :, snps, None].astype(np.float32) + np.zeros(3, np.float32)  # (n, 2, S, 3)

    ids = [f"S{i:04d}" for i in range(200)]
    y = pd.DataFrame({"G1": pair_counts(haplotypes, np.array([[250, 290]]))[:, 0]
                      + np.random.default_rng(0).standard_normal(200)}, index=ids)
    methods = {"contextual:elasticnet": "context", "contextual_dosage:elasticnet": "dosage"}
    run = run_contextual(y, outer_folds(ids, 5, 1), {"G1": haplotypes.sum(axis=1)}, {"G1": states}, config=config,
                         methods=methods, haplotypes={"G1": haplotypes}, progress=False)
    assert asked == [300]  # every SNP's state, once
    chosen = run.comparison.hyperparameters.groupby("method")["n_snps"].mean()
    per_fold = run.selections.groupby("fold").size().mean()
    assert (chosen > per_fold).all(), (chosen, per_fold)
    assert "`expression.context_pair_snps` = 1" in method_text(config)
    assert "context_pair_snps" not in method_text(CONFIG)
