"""Contextual SNP representations: a planted same-haplotype interaction that only the context can see."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from lmeqtl.config import ExpressionConfig, ModelConfig
from lmeqtl.expression.contextual import ContextualRegressor, per_snp_pca
from lmeqtl.expression.contextual_run import fold_selections, run_contextual
from lmeqtl.expression.gene_states import GeneData, snp_states
from lmeqtl.expression.prediction import fold_labels, nested_cv, outer_folds
from lmeqtl.expression.snp_selection import select_snps
from lmeqtl.mlm.model import HaplotypeMLM
from lmeqtl.simulate.expression import genetic_value

N, LENGTH = 400, 5000
PAIR = (4950, 4990)  # causal SNPs at the far end of the window (the TSS is in the middle)
CONFIG = ExpressionConfig()


def _haplotypes(seed: int, n: int = N, length: int = LENGTH, pair: tuple[int, int] = PAIR) -> np.ndarray:
    rng = np.random.default_rng(seed)
    af = rng.uniform(0.05, 0.5, length)
    af[list(pair)] = 0.4
    return (rng.random((n, 2, length)) < af).astype(np.uint8)  # (n, 2, L)


def _context_encoder(haplotypes: np.ndarray, pair: tuple[int, int] = PAIR, noise_dims: int = 4):
    """The context a good MLM could learn: state at SNP s = [allele_s, allele_s * allele_partner(s), noise]."""
    length = haplotypes.shape[2]
    partner = np.r_[np.arange(1, length), length - 2]  # the next SNP, except for the planted pair
    partner[pair[0]], partner[pair[1]] = pair[1], pair[0]

    def source(snps: np.ndarray) -> np.ndarray:
        allele = haplotypes[:, :, snps].astype(np.float32)  # (n, 2, S)
        both = allele * haplotypes[:, :, partner[snps]]
        noise = 0.1 * np.random.default_rng(0).standard_normal((*allele.shape, noise_dims)).astype(np.float32)
        return np.concatenate([allele[..., None], both[..., None], noise], axis=3)  # (n, 2, S, 2 + noise)
    return source


def _expression(haplotypes: np.ndarray, truth: str, seed: int) -> np.ndarray:
    """y = sqrt(h2) G + noise, h2 = 0.5; "interaction": 60 % of G is the pair on one haplotype (as simulated)."""
    n = len(haplotypes)
    if truth == "interaction":
        g = genetic_value(haplotypes, np.array(PAIR), np.array([1.0, 1.0]), 0.6, np.ones(n, bool))["G"]
    else:
        g = haplotypes[:, :, [4900, *PAIR]].sum(axis=1) @ np.array([1.0, -0.7, 0.5])
        g = (g - g.mean()) / g.std()
    return np.sqrt(0.5) * g + np.sqrt(0.5) * np.random.default_rng(100 + seed).standard_normal(n)


def _run(truth: str, seed: int, config: ExpressionConfig = CONFIG):
    haplotypes = _haplotypes(seed)
    ids = [f"S{i:04d}" for i in range(N)]
    expression = pd.DataFrame({"G1": _expression(haplotypes, truth, seed)}, index=ids)
    return run_contextual(expression, outer_folds(ids, 5, 1), {"G1": haplotypes.sum(axis=1)},
                          {"G1": _context_encoder(haplotypes)}, config=config, progress=False)


@pytest.fixture(scope="module")
def runs():
    return {(truth, seed): _run(truth, seed) for truth in ("interaction", "additive") for seed in (0, 1)}


def test_context_beats_dosage_on_a_same_haplotype_interaction(runs):
    """(a) with 60 % of the genetic variance in the interaction, the states' context adds > 0.15 r."""
    for seed in (0, 1):
        r = runs["interaction", seed].r.loc["G1"]
        assert r["contextual:elasticnet"] > r["contextual_dosage:elasticnet"] + 0.15, r.to_dict()
        assert r["contextual_both:elasticnet"] > r["contextual_dosage:elasticnet"] + 0.15, r.to_dict()


def test_the_preset_reduction_and_selection_reach_the_run_and_its_heads():
    """``context_reduction="alt_pca"`` and ``context_selection="enet"`` run from the config (with the haplotypes):
    the recorded selections are the elastic net's and the fits read exactly those SNPs; the interaction gain
    holds; the heads carry the allele's own weights; without haplotypes it says what is missing."""
    from dataclasses import replace

    from lmeqtl.expression.snp_selection import select_by_enet

    config = replace(CONFIG, context_reduction="alt_pca", context_selection="enet")
    haplotypes = _haplotypes(0)
    ids = [f"S{i:04d}" for i in range(N)]
    expression = pd.DataFrame({"G1": _expression(haplotypes, "interaction", 0)}, index=ids)
    methods = {"contextual:elasticnet": "context", "contextual_dosage:elasticnet": "dosage"}
    args = (expression, outer_folds(ids, 5, 1), {"G1": haplotypes.sum(axis=1)}, {"G1": _context_encoder(haplotypes)})
    run = run_contextual(*args, config=config, methods=methods, haplotypes={"G1": haplotypes}, progress=False)
    r = run.r.loc["G1"]
    assert r["contextual:elasticnet"] > r["contextual_dosage:elasticnet"] + 0.15, r.to_dict()
    folds = fold_labels(outer_folds(ids, 5, 1), ids)
    train = folds != 0
    expected = select_by_enet(haplotypes.sum(axis=1)[train], expression["G1"].to_numpy()[train], config.context_top_k,
                              config.context_neighbours)
    chosen = run.selections.query("fold == 0")["seq_idx"].to_numpy()
    np.testing.assert_array_equal(chosen, expected)
    assert set(PAIR) <= set(chosen.tolist())
    head = run.heads["G1"]["contextual:elasticnet"]
    np.testing.assert_array_equal(head["snps"], expected)  # the first fold's fit read those SNPs
    assert head["allele"].shape == (len(head["snps"]),) and head["gate"].shape == head["weight"].shape
    with pytest.raises(ValueError, match="needs GeneData.haplotypes"):
        run_contextual(*args, config=config, methods=methods, progress=False)


def test_context_does_not_lose_on_additive_truth(runs):
    """(b) on additive truth the context costs no more than noise (< 0.03 r) and the predictions are good."""
    for seed in (0, 1):
        r = runs["additive", seed].r.loc["G1"]
        assert r["contextual_dosage:elasticnet"] > 0.55  # the oracle's r is sqrt(0.5) = 0.71
        for method in ("contextual:elasticnet", "contextual_both:elasticnet"):
            assert r[method] > r["contextual_dosage:elasticnet"] - 0.03, r.to_dict()


def test_selection_finds_causal_snps_far_from_the_tss(runs):
    """(c) every fold's top-k SNPs include the causal SNPs 2450+ SNPs from the window's middle."""
    for run in runs.values():
        leads = run.selections[run.selections["lead"]].groupby("fold")["seq_idx"].apply(set)
        assert len(leads) == 5 and all(set(PAIR) <= chosen for chosen in leads), leads
        per_fold = run.selections.groupby("fold").size()
        assert (per_fold <= CONFIG.context_top_k * (2 * CONFIG.context_neighbours + 1)).all()
        chosen = run.comparison.hyperparameters.pivot(index="fold", columns="method", values="n_snps")
        by_dosage = chosen.drop(columns="contextual_scan:elasticnet")  # the scan chooses its own SNPs
        assert by_dosage.shape == (5, 3) and (by_dosage.to_numpy() == per_fold.to_numpy()[:, None]).all()


def test_nothing_from_the_test_fold_reaches_the_fit():
    """(d) shuffling the test fold's expression, or replacing its states by noise, changes no fitted value."""
    n, length, pair = 200, 600, (500, 550)
    haplotypes = _haplotypes(3, n, length, pair)
    dosage = haplotypes.sum(axis=1)
    y = np.random.default_rng(5).standard_normal(n) + dosage[:, pair[0]] + haplotypes[:, :, list(pair)].prod(2).sum(1)
    ids = [f"S{i}" for i in range(n)]
    folds = fold_labels(outer_folds(ids, 5, 2), ids)
    states = _context_encoder(haplotypes, pair)(np.arange(length))  # (n, 2, L, 6): every SNP

    def predictions(y_values: np.ndarray, data: GeneData) -> np.ndarray:
        def factory(cv):
            return ContextualRegressor(data, "dosage+context", 5, 1, 2, "elasticnet", cv)
        return nested_cv(np.arange(n)[:, None], y_values, folds, factory).predictions["predicted"].to_numpy()

    data = GeneData(dosage, states, np.arange(length))
    test = folds == 0
    base = predictions(y, data)
    shuffled = y.copy()
    shuffled[test] = np.random.default_rng(1).permutation(y[test])
    again = predictions(shuffled, data)
    assert np.array_equal(again[test], base[test])
    assert not np.allclose(again[~test], base[~test])  # the other folds train on the shuffled rows: the check can fail
    noisy = states.copy()
    noisy[test] = np.random.default_rng(2).standard_normal(noisy[test].shape)
    train = np.flatnonzero(~test)[:, None]
    fits = [ContextualRegressor(d, "context", 5, 1, 2, "ridge", 5).fit(train, y[~test])
            for d in (data, GeneData(dosage, noisy, np.arange(length)))]
    assert np.array_equal(fits[0].pcs_, fits[1].pcs_) and np.array_equal(fits[0].scale_, fits[1].scale_)
    assert np.array_equal(fits[0].regressor_[-1].coef_, fits[1].regressor_[-1].coef_)
    # the states run_contextual extracts: fold 0's selection does not depend on fold 0's expression
    selected = fold_selections(dosage, shuffled, folds, dataclasses.replace(CONFIG, context_top_k=5,
                                                                            context_neighbours=1))
    assert np.array_equal(selected[0], fits[0].snps_) and pair[0] in selected[0]


@pytest.mark.parametrize(("top_k", "neighbours", "expected"), [
    (1, 0, [0]), (2, 0, [0, 3]), (1, 2, [0, 1, 2]), (2, 1, [0, 1, 2, 3, 4]),
])
def test_selection_is_top_k_by_abs_r_with_neighbours_and_stable_ties(top_k, neighbours, expected):
    y = np.array([0.0, 1.0, 2.0, 3.0])
    dosage = np.zeros((4, 6))
    dosage[:, 3] = y  # r = 1
    dosage[:, 0] = -y  # |r| = 1: ties with SNP 3, the lower index first
    dosage[:, 5] = [0, 0, 1, 0]  # weaker
    assert select_snps(dosage, y, top_k, neighbours).tolist() == expected


def test_per_snp_pca_is_per_snp_and_sign_fixed():
    rng = np.random.default_rng(0)
    states = rng.standard_normal((50, 2, 3, 4)) * np.array([5.0, 1.0, 0.1, 0.1])  # (m, 2, S, d)
    mean, pcs = per_snp_pca(states, 2)
    assert mean.shape == (3, 4) and pcs.shape == (3, 2, 4)
    assert np.allclose(np.abs(pcs[:, 0, 0]), 1, atol=0.05)  # the largest-variance direction, per SNP
    assert (np.take_along_axis(pcs, np.abs(pcs).argmax(axis=2)[..., None], 2) > 0).all()
    _, flipped = per_snp_pca(-states, 2)
    assert np.allclose(flipped, pcs)


def test_mlm_states_shapes_and_batching():
    """The real HaplotypeMLM (tiny, random weights): (n, 2, S, d), and batched = one haplotype at a time."""
    torch.manual_seed(0)
    config = ModelConfig(d_model=16, n_layers=2, n_resnet_blocks=1, d_state=8)
    model = HaplotypeMLM(config, n_genes=2).eval()
    haplotypes = np.random.default_rng(0).integers(0, 2, (3, 2, 40)).astype(np.uint8)
    full = snp_states(model, haplotypes, 1, batch_size=6)
    assert full.shape == (3, 2, 40, 16) and full.dtype == np.float32
    positions = np.array([0, 7, 39])
    single = snp_states(model, haplotypes, 1, positions, batch_size=1)
    assert single.shape == (3, 2, 3, 16)
    assert np.allclose(single, full[:, :, positions], atol=1e-5)
    half = snp_states(model, haplotypes, 1, positions, layer=0, batch_size=4, dtype=np.float16)
    assert half.dtype == np.float16 and not np.allclose(half, single, atol=1e-2)  # layer 0 is another state
    one = snp_states(model, haplotypes[1:2, 1:2].repeat(2, axis=1), 1, positions)
    assert np.allclose(one[0, 0], single[1, 1], atol=1e-5)


def test_snp_weights_put_the_causal_snps_first_and_average_over_folds(runs):
    """The fitted models' own attribution: the planted SNPs outweigh every other SNP, in every fold and on average."""
    from lmeqtl.expression.contextual_run import window_weights

    for truth, causal in (("interaction", set(PAIR)), ("additive", {4900, *PAIR})):
        run = runs[truth, 0]
        table = run.snp_weights
        assert set(table["method"]) == {"contextual:elasticnet", "contextual_dosage:elasticnet",
                                        "contextual_both:elasticnet", "contextual_scan:elasticnet"}
        assert (table["weight"] >= 0).all() and table["fold"].nunique() == 5
        chosen = run.selections.groupby("fold")["seq_idx"].apply(set)
        by_dosage = table[table["method"] != "contextual_scan:elasticnet"]
        for (method, fold), rows in by_dosage.groupby(["method", "fold"]):  # weights for the fold's chosen SNPs
            assert set(rows["seq_idx"]) == chosen[fold], (method, fold)
        mean = window_weights(table, {"G1": LENGTH})["G1"]
        for method, weight in mean.items():
            assert weight.shape == (LENGTH,) and np.count_nonzero(weight) <= table["seq_idx"].nunique()
            top = set(np.argsort(-weight)[:len(causal)])
            assert top == causal, (truth, method, sorted(top))


def test_snp_weight_of_a_dosage_is_its_coefficient_times_its_spread():
    """features="dosage": weight_j = |coef_j| x sd(dosage_j) / scale_j over the rows (the group scaling)."""
    rng = np.random.default_rng(3)
    haplotypes = _haplotypes(3, n=300, length=200, pair=(10, 150))
    dosage = haplotypes.sum(axis=1).astype(float)
    y = dosage[:, 10] - 0.5 * dosage[:, 150] + rng.standard_normal(300)
    rows = np.arange(300)[:, None]
    fitted = ContextualRegressor(GeneData(dosage), "dosage", top_k=5, neighbours=1, model="ridge").fit(rows, y)
    snps, weight = fitted.snp_weights(rows[:150])
    coef = fitted.regressor_[-1].coef_
    expected = np.abs(coef) * dosage[:150][:, snps].std(axis=0) / fitted.scale_
    np.testing.assert_allclose(weight, expected, rtol=1e-10)
    assert snps[np.argmax(weight)] == 10


def test_window_weights_count_unchosen_snps_as_zero():
    from lmeqtl.expression.contextual_run import window_weights

    table = pd.DataFrame({"gene": "G", "method": "m", "fold": [0, 0, 1], "seq_idx": [2, 5, 2],
                          "weight": [1.0, 4.0, 3.0]})
    weights = window_weights(table, {"G": 8})["G"]["m"]
    np.testing.assert_allclose(weights, [0, 0, 2.0, 0, 0, 2.0, 0, 0])


def _probe_states(haplotypes: np.ndarray, snps: np.ndarray, partner: dict[int, int], carries: bool) -> np.ndarray:
    """States (n, 2, S, 4): [allele_s, partner's allele (if carried), 2 noise]; noise seeded."""
    rng = np.random.default_rng(5)
    allele = haplotypes[:, :, snps].astype(float)
    other = haplotypes[:, :, [partner[s] for s in snps]].astype(float) if carries else np.zeros_like(allele)
    noise = 0.3 * rng.standard_normal((*allele.shape, 3))
    return np.concatenate([allele[..., None], other[..., None] + noise[..., :1], noise[..., 1:]], axis=3)


@pytest.mark.parametrize("carries", [True, False])
def test_probe_reads_a_far_partner_only_when_the_state_carries_it(carries):
    from lmeqtl.expression.context_probe import partner_probe

    haplotypes = _haplotypes(7, n=200, length=400, pair=(20, 380))  # independent alleles: no LD to lean on
    snps, pairs = np.array([20, 380]), [(20, 380), (380, 20)]
    states = _probe_states(haplotypes, snps, {20: 380, 380: 20}, carries)
    probe = partner_probe(states, snps, haplotypes, pairs, components=2)
    assert list(probe["distance"]) == [360, 360] and list(probe["partner"]) == [380, 20]
    assert (probe[["auc_allele", "auc_local_alleles"]] < 0.62).all().all(), probe  # LD alone: ~chance
    if carries:
        assert (probe["auc_state"] > 0.9).all() and (probe["auc_state_pcs"] > 0.9).all(), probe
    else:
        assert (probe["auc_state"] < 0.62).all(), probe
    with pytest.raises(ValueError, match="no state at SNP 5"):
        partner_probe(states, snps, haplotypes, [(5, 20)])


def test_interacting_pairs_and_probe_text():
    from lmeqtl.book.chapters.expression_context import probe_text
    from lmeqtl.expression.context_probe import interacting_pairs

    causal = pd.DataFrame({"gene_id": ["A", "A", "A", "B", "C"], "seq_idx": [9, 3, 5, 1, 2],
                           "interacting": [True, True, False, True, False]})
    assert interacting_pairs(causal) == {"A": [(3, 9), (9, 3)]}  # B: one interacting SNP, no pair
    probe = pd.DataFrame({"distance": [6, 6], "auc_state": [0.95, 0.9], "auc_state_pcs": [0.6, 0.7],
                          "auc_allele": [0.5, 0.55], "auc_local_alleles": [0.6, 0.65]})
    text = probe_text(probe, 4)
    assert "mean AUC 0.93" in text and "in 2 of 2 cases" in text and "lost in the 4 PCs" in text
    assert "nothing to probe" in probe_text(None, 4) and "nothing to probe" in probe_text(pd.DataFrame(), 4)
    assert "which the contextual method keeps" in text
    assert "reduces the states by `alt_pca` instead" in probe_text(probe, 4, "alt_pca")


def test_method_text_follows_the_preset_selection_and_reduction():
    from lmeqtl.book.chapters.expression_context import method_text
    from lmeqtl.config import get_preset

    default = method_text(ExpressionConfig())
    assert "whose dosage correlates most" in default and "summed" in default and "`pca`" in default
    top10 = method_text(get_preset("top10").expression)
    assert "elastic net on the fold's dosages keeps" in top10 and "ALT-carrying haplotypes" in top10
    assert "`enet`" in top10 and "`alt_pca`" in top10 and "20 SNPs" in top10
    assert "context_screen" not in default and "context_background" not in default
    assert "on top of that fold's PrediXcan-style elastic net" in top10 and "`predixcan`" in top10
    assert "a regression (elastic net with PrediXcan's l1 ratio 0.5, its penalty" in top10
    assert "dosages of the 300 SNPs of strongest" in method_text(ExpressionConfig(context_screen=300))


def test_state_scan_finds_the_interacting_pair_and_keeps_the_context_gain(runs):
    """contextual_scan: SNPs chosen by their states' R² with expression; on the planted interaction it
    chooses the pair in every fold and beats the dosage twin as the dosage-chosen contextual method does."""
    for seed in (0, 1):
        run = runs["interaction", seed]
        r = run.r.loc["G1"]
        assert r["contextual_scan:elasticnet"] > r["contextual_dosage:elasticnet"] + 0.15, r.to_dict()
        scan = run.snp_weights[run.snp_weights["method"] == "contextual_scan:elasticnet"]
        assert all(set(PAIR) <= set(rows["seq_idx"]) for _, rows in scan.groupby("fold"))


def test_state_r2_is_the_r2_of_a_least_squares_fit_per_snp():
    from sklearn.linear_model import LinearRegression

    from lmeqtl.expression.snp_selection import state_r2

    rng = np.random.default_rng(2)
    scores = rng.standard_normal((80, 6, 3))
    y = scores[:, 2] @ np.array([1.0, -0.5, 0.2]) + rng.standard_normal(80)
    r2 = state_r2(scores, y)
    expected = [LinearRegression().fit(scores[:, snp], y).score(scores[:, snp], y) for snp in range(6)]
    np.testing.assert_allclose(r2, expected, rtol=1e-6, atol=1e-9)
    assert np.argmax(r2) == 2


def test_scan_scores_are_seeded_genotype_only_and_summed_over_haplotypes():
    from lmeqtl.expression.snp_selection import scan_scores

    states = np.random.default_rng(4).standard_normal((30, 2, 7, 5)).astype(np.float32)
    scores = scan_scores(states, 2, basis_haplotypes=40, seed=3)
    assert scores.shape == (30, 7, 2)
    np.testing.assert_array_equal(scores, scan_scores(states, 2, basis_haplotypes=40, seed=3))
    swapped = scan_scores(states[:, ::-1], 2, basis_haplotypes=60, seed=3)  # all 60 haplotypes: same basis
    np.testing.assert_allclose(swapped, scan_scores(states, 2, basis_haplotypes=60, seed=3), rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match="selection must be one of"):
        ContextualRegressor(GeneData(np.zeros((4, 7))), selection="state").fit(np.arange(4)[:, None], np.arange(4.0))


def test_screen_adds_the_screened_dosages_once_and_weighs_them():
    """screen=N: the N SNPs of strongest marginal |r| join as dosages (a chosen SNP's dosage is not repeated), so
    causal SNPs beyond the top_k chosen ones get weight and the out-of-fold fit improves (N = every SNP here: a
    screen chosen on the training rows also keeps SNPs that correlate with expression there by chance)."""
    haplotypes = _haplotypes(4, n=400, length=300, pair=(20, 250))
    dosage = haplotypes.sum(axis=1).astype(float)
    causal = np.array([20, 90, 160, 250])
    y = dosage[:, causal] @ np.array([0.6, -0.8, 0.7, 0.6]) + np.random.default_rng(4).standard_normal(400)
    rows, folds = np.arange(400)[:, None], np.arange(400) % 5
    states = _context_encoder(haplotypes, pair=(20, 250))(np.arange(300))
    data = GeneData(dosage, states, haplotypes=haplotypes)
    r = {}
    for screen in (0, 300):
        for features, reduction in (("dosage", "pca"), ("context", "alt_pca"), ("context", "pca")):
            fitted = ContextualRegressor(data, features, top_k=1, neighbours=0, model="elasticnet", cv=3,
                                         reduction=reduction, screen=screen).fit(rows, y)
            snps, weight = fitted.snp_weights(rows)
            assert np.array_equal(snps, np.unique(snps)) and len(snps) == max(screen, 1)  # the chosen SNP is screened
            assert len(fitted.extra_) == screen - (screen > 0 and (features == "dosage" or reduction == "alt_pca"))
            if screen:
                assert set(causal) <= set(snps[np.argsort(-weight)[:6]]), (features, reduction)
            predicted = np.empty(400)
            for k in range(5):
                train, test = folds != k, folds == k
                model = ContextualRegressor(data, features, top_k=1, neighbours=0, model="elasticnet", cv=3,
                                            reduction=reduction, screen=screen).fit(rows[train], y[train])
                predicted[test] = model.predict(rows[test])
            r[screen, features, reduction] = np.corrcoef(predicted, y)[0, 1]
    for features, reduction in (("dosage", "pca"), ("context", "alt_pca"), ("context", "pca")):
        assert r[300, features, reduction] > r[0, features, reduction] + 0.1, r
    threads = ContextualRegressor(data, "context", top_k=1, neighbours=0, model="elasticnet", cv=3,
                                  reduction="alt_pca", screen=300, n_jobs=2).fit(rows, y)
    np.testing.assert_allclose(threads.predict(rows), ContextualRegressor(
        data, "context", top_k=1, neighbours=0, model="elasticnet", cv=3, reduction="alt_pca", screen=300).fit(
        rows, y).predict(rows), rtol=1e-10, atol=1e-12)  # the inner CV's folds on 2 threads: the same fit


@pytest.mark.parametrize(("screen", "background"), [(0, False), (12, False), (0, True)])
@pytest.mark.parametrize("reduction", ["pca", "alt_pca", "ridge", "gated"])
def test_linear_head_through_the_mlm_reproduces_the_fitted_predictions(tmp_path, reduction, screen, background):
    """A fitted context model = one linear map of the states: ContextualPredictor on the one-hot gives the
    estimator's own predictions (with screened dosages, or on top of a background elastic net on every SNP), its
    haplotype terms add up, and the head survives save/load (no pickle)."""
    from lmeqtl.errors import InputError
    from lmeqtl.explain.attribution import haplotype_onehot
    from lmeqtl.explain.predictors import ContextualPredictor
    from lmeqtl.expression.background import LinearBackground
    from lmeqtl.expression.contextual_run import load_heads, save_heads
    from lmeqtl.mlm.masking import N_TOKENS

    torch.manual_seed(0)
    model = HaplotypeMLM(ModelConfig(d_model=16, n_layers=2, n_resnet_blocks=1, d_state=8), n_genes=2).eval()
    haplotypes = _haplotypes(9, n=120, length=60, pair=(10, 50))
    y = haplotypes[:, :, 10].sum(1) - haplotypes[:, :, 50].sum(1) + np.random.default_rng(1).standard_normal(120)
    states = snp_states(model, haplotypes, 1)  # (n, 2, L, d)
    rows = np.arange(120)[:, None]
    coef = np.zeros(60)
    coef[[5, 10, 33, 50]] = [0.3, 0.4, -0.2, -0.5]  # two of the head's SNPs, two it does not read
    net = LinearBackground(coef, 0.1) if background else None
    fitted = ContextualRegressor(GeneData(haplotypes.sum(axis=1), states, haplotypes=haplotypes), "context",
                                 top_k=3, neighbours=1, components=3, model="ridge", reduction=reduction,
                                 screen=screen, background=net).fit(rows, y)
    own = set() if net is None else set(net.snps())
    assert set(fitted.linear_head()["snps"]) == set(fitted.snps_) | set(fitted.extra_) | own
    assert len(own) > 3 or not background  # the background's SNPs join the head, once each
    assert len(fitted.linear_head()["snps"]) == len(set(fitted.linear_head()["snps"]))
    assert (len(fitted.extra_) > 0) == (screen > 0)  # the screened SNPs' alleles are part of the head
    (tmp_path / "heads").mkdir()
    np.savez(tmp_path / "heads" / "OLD.npz", snps=np.arange(3))  # an earlier run's gene: removed
    save_heads({"G1": fitted.linear_head()}, tmp_path / "heads")
    assert sorted(load_heads(tmp_path / "heads")) == ["G1"]
    head = load_heads(tmp_path / "heads")["G1"]
    predictor = ContextualPredictor(model, 1, head)
    with torch.no_grad():
        onehot = haplotype_onehot(haplotypes[:8], N_TOKENS)  # (8, 2, V, L)
        through_mlm = predictor.predictor()(onehot).numpy()
        terms = predictor.haplotype_predictor()(onehot.flatten(0, 1)).reshape(8, 2).sum(1).numpy()
    np.testing.assert_allclose(through_mlm, fitted.predict(rows[:8]), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(terms, through_mlm, rtol=1e-5, atol=1e-5)
    (tmp_path / "bad").mkdir()
    np.savez(tmp_path / "bad" / "G2.npz", snps=np.arange(3))
    with pytest.raises(InputError, match="missing arrays"):
        load_heads(tmp_path / "bad")
    with pytest.raises(ValueError, match="only features='context'"):
        ContextualRegressor(GeneData(haplotypes.sum(axis=1)), "dosage", top_k=3, model="ridge").fit(rows, y).linear_head()


def test_genes_in_parallel_give_the_same_run():
    """``n_jobs=2`` runs two genes at once in their own processes: every table and head is the same as one at a
    time, to the last bit, in the same order."""
    length, pair = 400, (350, 390)
    ids = [f"S{i:04d}" for i in range(200)]
    haplotypes = {g: _haplotypes(seed, 200, length, pair) for seed, g in enumerate(("G1", "G2"))}
    expression = pd.DataFrame({g: _expression_pair(h, pair, seed) for seed, (g, h) in enumerate(haplotypes.items())},
                              index=ids)
    args = (expression, outer_folds(ids, 5, 1), {g: h.sum(axis=1) for g, h in haplotypes.items()},
            {g: _context_encoder(h, pair) for g, h in haplotypes.items()})
    config = dataclasses.replace(CONFIG, n_jobs=2)
    one, two = (run_contextual(*args, config=config, n_jobs=jobs, progress=False) for jobs in (1, 2))
    pd.testing.assert_frame_equal(one.comparison.predictions, two.comparison.predictions)
    pd.testing.assert_frame_equal(one.selections, two.selections)
    pd.testing.assert_frame_equal(one.snp_weights, two.snp_weights)
    assert list(one.comparison.predictions["gene"].unique()) == ["G1", "G2"]
    assert one.heads.keys() == two.heads.keys() == {"G1", "G2"}
    for gene, heads in one.heads.items():
        for method, head in heads.items():
            for name, array in head.items():
                np.testing.assert_array_equal(array, two.heads[gene][method][name])


def _expression_pair(haplotypes: np.ndarray, pair: tuple[int, int], seed: int) -> np.ndarray:
    g = genetic_value(haplotypes, np.array(pair), np.array([1.0, 1.0]), 0.6, np.ones(len(haplotypes), bool))["G"]
    return np.sqrt(0.5) * g + np.sqrt(0.5) * np.random.default_rng(100 + seed).standard_normal(len(haplotypes))
