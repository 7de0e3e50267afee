"""The contextual methods' background: each outer fold's PrediXcan-style elastic net (lmeqtl.expression.background)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold

from lmeqtl.config import ExpressionConfig
from lmeqtl.config.sections import CONTEXT_BACKGROUNDS
from lmeqtl.errors import InputError
from lmeqtl.expression.background import BACKGROUNDS, LinearBackground, fold_backgrounds
from lmeqtl.expression.comparison import baseline_methods, run_comparison
from lmeqtl.expression.contextual import ContextualRegressor
from lmeqtl.expression.contextual_run import run_contextual
from lmeqtl.expression.gene_states import GeneData
from lmeqtl.expression.haplotype_pairs import HaplotypePairsRegressor
from lmeqtl.expression.models import build_model, model_factory
from lmeqtl.expression.prediction import nested_cv, outer_folds

N, LENGTH = 240, 120
CONFIG = ExpressionConfig(outer_folds=3, inner_folds=3, n_lambdas=10, context_top_k=3, context_neighbours=1,
                          context_model="elasticnet", context_selection="dosage", context_pairs=1)


def _gene(seed: int = 0):
    """Haplotypes ``(N, 2, L)`` and an additive expression of 6 SNPs spread over the window."""
    rng = np.random.default_rng(seed)
    haplotypes = (rng.random((N, 2, LENGTH)) < rng.uniform(0.1, 0.5, LENGTH)).astype(np.uint8)
    dosage = haplotypes.sum(axis=1).astype(np.float64)
    y = dosage[:, [5, 30, 55, 70, 95, 115]] @ np.array([0.5, -0.4, 0.4, 0.3, -0.5, 0.4]) + rng.standard_normal(N)
    return haplotypes, dosage, y


def test_the_settings_name_the_library_backgrounds():
    assert CONTEXT_BACKGROUNDS == BACKGROUNDS
    with pytest.raises(InputError, match="context_background"):
        ExpressionConfig(context_background="ridge")


def test_a_fitted_pipeline_as_a_map_of_the_raw_dosages():
    _, dosage, y = _gene()
    pipeline = build_model("predixcan", KFold(3, shuffle=True, random_state=0), n_lambdas=10).fit(dosage, y)
    background = LinearBackground.from_pipeline(pipeline)
    np.testing.assert_allclose(background.predict(dosage), pipeline.predict(dosage), rtol=1e-10, atol=1e-10)
    assert np.array_equal(background.snps(), np.flatnonzero(pipeline[-1].coef_))
    gaps = dosage.copy()
    gaps[::7, background.snps()[0]] = np.nan  # a missing genotype counts as the training mean, as in the pipeline
    np.testing.assert_allclose(background.predict(gaps), pipeline.predict(gaps), rtol=1e-10, atol=1e-10)


def test_the_backgrounds_are_the_predixcan_methods_own_fits():
    """run_comparison keeps each fold's predixcan net: the same out-of-fold predictions as fold_backgrounds, and each
    fold's background predicts that fold's test rows as the method did."""
    _, dosage, y = _gene()
    ids = [f"S{i:03d}" for i in range(N)]
    folds = outer_folds(ids, 3, 1)
    expression = pd.DataFrame({"G1": y}, index=ids)
    comparison = run_comparison(expression, folds, dosages={"G1": dosage}, config=CONFIG,
                                methods=[m for m in baseline_methods() if m.name in ("predixcan", "lead_snp_cv")],
                                progress=False)
    fold = folds.reindex(ids).to_numpy()
    result, backgrounds = fold_backgrounds(dosage, y, fold, CONFIG)
    table = comparison.predictions.query("method == 'predixcan'").set_index("sample_id").loc[ids]
    np.testing.assert_allclose(table["predicted"], result.predictions["predicted"], rtol=1e-12)
    plain = nested_cv(dosage, y, fold, model_factory("predixcan", n_lambdas=10, l1_ratio=0.5, seed=1), inner_folds=3,
                      seed=1)  # the method as it ran before it kept its fits
    np.testing.assert_array_equal(plain.predictions["predicted"], result.predictions["predicted"])
    assert list(comparison.backgrounds) == ["G1"] and len(comparison.backgrounds["G1"]) == 3
    for k, background in zip(np.unique(fold), comparison.backgrounds["G1"], strict=True):
        np.testing.assert_allclose(background.predict(dosage[fold == k]), table["predicted"][fold == k], rtol=1e-10)


def test_the_contextual_method_adds_what_the_background_leaves():
    """With a background, predict = background + the regression of its training residual; where the background is
    the whole truth, the regression adds nothing; the weights of the background's SNPs are |coef| x their SD."""
    haplotypes, dosage, y = _gene()
    rows = np.arange(N)[:, None]
    background = LinearBackground.from_pipeline(build_model("predixcan", 3, n_lambdas=10).fit(dosage, y))
    data = GeneData(dosage, haplotypes=haplotypes)
    fitted = ContextualRegressor(data, "dosage", 3, 1, model="elasticnet", cv=3, background=background).fit(rows, y)
    assert np.array_equal(fitted.snps_, ContextualRegressor(data, "dosage", 3, 1, cv=3).fit(rows, y).snps_)  # on y
    residual_fit = fitted.regressor_.predict((fitted._design(rows[:, 0]) - fitted.centre_) / fitted.scale_)
    np.testing.assert_allclose(fitted.predict(rows), background.predict(dosage) + residual_fit, rtol=1e-12)
    exact = ContextualRegressor(data, "dosage", 3, 1, model="elasticnet", cv=3, background=background).fit(
        rows, background.predict(dosage))  # nothing is left for the regression
    np.testing.assert_allclose(exact.predict(rows), background.predict(dosage), atol=1e-8)
    snps, weight = exact.snp_weights(rows)
    own = background.snps()
    assert set(own) <= set(snps)
    unchosen = np.setdiff1d(own, exact.snps_)
    np.testing.assert_allclose(weight[np.searchsorted(snps, unchosen)],
                               np.abs(background.coef[unchosen]) * dosage[:, unchosen].std(axis=0), rtol=1e-10)
    pairs = HaplotypePairsRegressor(data, 3, 1, 1, cv=3, selection="dosage", background=background).fit(
        rows, background.predict(dosage))
    np.testing.assert_allclose(pairs.predict(rows), background.predict(dosage), atol=1e-8)
    snps, weight = pairs.snp_weights(rows)
    unchosen = np.setdiff1d(own, np.concatenate([pairs.snps_, pairs.pairs_.ravel()]))
    np.testing.assert_allclose(weight[np.searchsorted(snps, unchosen)],
                               np.abs(background.coef[unchosen]) * dosage[:, unchosen].std(axis=0), rtol=1e-10)


def test_the_run_reads_each_folds_background_and_asks_for_them():
    haplotypes, dosage, y = _gene()
    ids = [f"S{i:03d}" for i in range(N)]
    folds = outer_folds(ids, 3, 1)
    expression = pd.DataFrame({"G1": y}, index=ids)
    config = dataclasses.replace(CONFIG, context_background="predixcan")
    methods = {"contextual_dosage:elasticnet": "dosage", "haplotype_pairs:elasticnet": "pairs"}
    with pytest.raises(ValueError, match="needs the G1 fits of chapter 03's predixcan"):
        run_contextual(expression, folds, {"G1": dosage}, config=config, methods=methods,
                       haplotypes={"G1": haplotypes}, progress=False)
    fold = folds.reindex(ids).to_numpy()
    backgrounds = fold_backgrounds(dosage, y, fold, config)[1]
    run = run_contextual(expression, folds, {"G1": dosage}, config=config, methods=methods,
                         haplotypes={"G1": haplotypes}, backgrounds={"G1": backgrounds}, progress=False)
    table = run.comparison.predictions.query("method == 'contextual_dosage:elasticnet'").set_index("sample_id")
    rows = np.arange(N)[:, None]
    for k, background in zip(np.unique(fold), backgrounds, strict=True):
        twin = ContextualRegressor(GeneData(dosage), "dosage", 3, 1, model="elasticnet",
                                   cv=KFold(3, shuffle=True, random_state=1 + int(k)), n_lambdas=10,
                                   selection="dosage", background=background).fit(rows[fold != k], y[fold != k])
        np.testing.assert_allclose(table.loc[np.asarray(ids)[fold == k], "predicted"], twin.predict(rows[fold == k]),
                                   rtol=1e-10)
    without = run_contextual(expression, folds, {"G1": dosage}, config=CONFIG, methods=methods,
                             haplotypes={"G1": haplotypes}, progress=False).comparison.predictions
    assert not np.allclose(without["predicted"], run.comparison.predictions["predicted"])


def test_methods_on_a_background_have_their_own_names_and_labels():
    from lmeqtl.book.chapters.expression_context import context_pair, pairs_method
    from lmeqtl.book.chapters.names import describe_method, method_label
    from lmeqtl.expression.contextual_run import context_methods

    config = dataclasses.replace(CONFIG, context_background="predixcan")
    assert context_pair(config) == ("contextual:elasticnet+predixcan", "contextual_dosage:elasticnet+predixcan")
    assert pairs_method(config) == "haplotype_pairs:elasticnet+predixcan"
    assert set(context_methods(config)).isdisjoint(context_methods(CONFIG))  # never the same name as without
    assert method_label(context_pair(config)[0]) == "MLM states at chosen SNPs (elastic net, on top of PrediXcan)"
    assert describe_method(context_pair(config)[1]).endswith("on top of the PrediXcan-style elastic net on all window SNPs")
