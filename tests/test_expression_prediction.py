"""Nested CV: folds, recovery of a known signal, determinism, covariates, and the leakage guard."""

from functools import partial

import numpy as np
import pandas as pd
import pytest

from lmeqtl.errors import InputError
from lmeqtl.expression.covariates import (
    Covariates,
    build_covariates,
    covariates_for,
    fold_pcs,
    residualise,
)
from lmeqtl.expression.evaluation import gene_results, pearson_r2
from lmeqtl.expression.features import flatten_pairs
from lmeqtl.expression.models import EMBEDDING_MODELS, build_model, model_factory
from lmeqtl.expression.prediction import load_folds, nested_cv, outer_folds, save_folds


def linear_data(n=300, p=20, r2=0.5, seed=0):
    """``y = X b + e`` with a population R² of ``r2``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, p))
    signal = x @ rng.normal(size=p)
    signal *= np.sqrt(r2) / signal.std()
    return x, signal + rng.normal(scale=np.sqrt(1 - r2), size=n)


def test_outer_folds_are_balanced_seeded_and_round_trip(tmp_path):
    ids = [f"HG{i:05d}" for i in range(103)]
    folds = outer_folds(ids, 5, seed=7)
    assert sorted(folds.value_counts()) == [20, 20, 21, 21, 21]
    assert folds.equals(outer_folds(ids, 5, seed=7)) and not folds.equals(outer_folds(ids, 5, seed=8))
    save_folds(tmp_path / "folds.csv", folds)
    assert load_folds(tmp_path / "folds.csv").equals(folds)
    (tmp_path / "bad.csv").write_text("sample_id,fold\nHG1,0\nHG1,1\n")
    with pytest.raises(InputError, match="HG1 listed twice"):
        load_folds(tmp_path / "bad.csv")


@pytest.mark.parametrize("model", ["ols", "ridge", "lasso", "elasticnet"])
def test_nested_cv_recovers_a_known_linear_r2(model):
    x, y = linear_data()
    result = nested_cv(x, y, outer_folds(range(len(y)), 5).to_numpy(), model)
    r, r2 = pearson_r2(result.predictions.observed, result.predictions.predicted)
    # out-of-sample R² of OLS with p = 20, n_train = 240 is about 0.5 - 0.5 * 20 / 220 = 0.45
    assert r2 == pytest.approx(0.47, abs=0.07)
    assert len(result.hyperparameters) == 5


@pytest.mark.parametrize("model", EMBEDDING_MODELS)
def test_every_model_is_bit_identical_on_rerun_and_reports_its_choice(model):
    rng = np.random.default_rng(1)
    embeddings = rng.normal(size=(60, 2, 5))
    y = embeddings.sum(axis=(1, 2)) + rng.normal(size=60)
    folds = outer_folds(range(60), 3).to_numpy()
    factory = model_factory(model, combine="concat_sorted")
    first = nested_cv(flatten_pairs(embeddings), y, folds, factory, inner_folds=3)
    again = nested_cv(flatten_pairs(embeddings), y, folds, factory, inner_folds=3)
    np.testing.assert_array_equal(first.predictions.predicted, again.predictions.predicted)
    assert first.hyperparameters == again.hyperparameters
    if model != "ols":
        assert set(first.hyperparameters[0]) > {"fold"}
    if model in ("ridge", "lasso", "elasticnet"):
        assert first.hyperparameters[0]["alpha_at_edge"] in (0.0, 1.0)


def test_unknown_model_fails_before_fitting():
    with pytest.raises(ValueError, match="unknown model 'knn'"):
        model_factory("knn")


def test_covariates_are_fitted_on_training_rows_and_removed():
    rng = np.random.default_rng(2)
    n = 1000
    samples = pd.DataFrame({"gender": rng.choice(["male", "female"], n), "pop": rng.choice(["CEU", "TSI", "FIN"], n)},
                           index=[f"S{i}" for i in range(n)])
    covariates = build_covariates(samples, sex=True, population=True)
    assert list(covariates.fixed.columns) == ["sex_male", "pop_FIN", "pop_TSI"]
    y = 2.0 * covariates.fixed["sex_male"].to_numpy() + rng.normal(size=n)
    train, test = np.arange(750), np.arange(750, 1000)
    design_train, design_test = covariates.design(train, test)
    residual_train, residual_test = residualise(y, design_train, design_test, train, test)
    assert np.corrcoef(y[test], design_test[:, 0])[0, 1] > 0.6
    assert abs(np.corrcoef(residual_test, design_test[:, 0])[0, 1]) < 0.1
    assert abs(residual_train @ design_train[:, 0]) < 1e-8  # OLS residuals are orthogonal
    with pytest.raises(InputError, match="neither male nor female"):
        build_covariates(samples.assign(gender="unknown"), sex=True)
    with pytest.raises(InputError, match="no column 'pop'"):
        build_covariates(samples.drop(columns="pop"), population=True)


def test_fold_pcs_find_structure_and_expression_pcs_drop_the_target_gene():
    rng = np.random.default_rng(3)
    group = np.repeat([0.0, 1.0], 50)
    genotypes = rng.binomial(2, 0.2 + 0.4 * group[:, None], size=(100, 300)).astype(float)
    pcs_train, pcs_test = fold_pcs(genotypes, np.arange(0, 100, 2), np.arange(1, 100, 2), k=2)
    assert abs(np.corrcoef(pcs_test[:, 0], group[1::2])[0, 1]) > 0.95
    expression = pd.DataFrame(rng.normal(size=(100, 3)), columns=["G1", "G2", "G3"])
    covariates = build_covariates(pd.DataFrame(index=expression.index), expression=expression, n_expression_pcs=2)
    assert list(covariates.without("G2").pca_blocks["expression_pcs"][0].columns) == ["G1", "G3"]


def test_covariates_from_config_names():
    samples = pd.DataFrame({"gender": ["male", "female", "male"]}, index=["A", "B", "C"])
    assert covariates_for((), samples) is None
    covariates = covariates_for(("sex", "genotype_pcs"), samples, genotypes=np.eye(3), n_genotype_pcs=1)
    assert list(covariates.fixed.columns) == ["sex_male"] and list(covariates.pca_blocks) == ["genotype_pcs"]
    with pytest.raises(ValueError, match="unknown covariates \\['peer'\\]"):
        covariates_for(("peer",), samples)
    with pytest.raises(ValueError, match="needs the expression matrix"):
        covariates_for(("expression_pcs",), samples)


# ---- leakage guard -------------------------------------------------------------------------


def _leakage_data(seed=4):
    rng = np.random.default_rng(seed)
    n = 80
    embeddings = rng.normal(size=(n, 2, 6))
    embeddings[:, :, 0] *= 3  # a direction PCA keeps, carrying the signal
    y = embeddings[:, :, 0].sum(axis=1) + rng.normal(size=n)
    samples = pd.DataFrame({"gender": rng.choice(["male", "female"], n)}, index=[f"S{i}" for i in range(n)])
    genotypes = rng.binomial(2, 0.3, size=(n, 40)).astype(float)
    other_genes = pd.DataFrame(rng.normal(size=(n, 4)), index=samples.index)
    covariates = build_covariates(samples, sex=True, genotypes=genotypes, n_genotype_pcs=2,
                                  expression=other_genes, n_expression_pcs=2)
    return flatten_pairs(embeddings), y, covariates


def _perturb(features, y, covariates, rows, seed=5):
    """Garbage in ``rows``: features, expression and every covariate."""
    rng = np.random.default_rng(seed)
    features, y = features.copy(), y.copy()
    features[rows] = rng.normal(scale=50, size=features[rows].shape)
    y[rows] = 1e3
    fixed = covariates.fixed.copy()
    fixed.iloc[rows] = 1 - fixed.iloc[rows]
    blocks = {}
    for name, (matrix, k) in covariates.pca_blocks.items():
        matrix = matrix.copy()
        matrix.iloc[rows] = rng.normal(scale=50, size=matrix.iloc[rows].shape)
        blocks[name] = (matrix, k)
    return features, y, Covariates(fixed, blocks)


@pytest.mark.parametrize("model", ["ridge", "lasso", "svr_rbf"])
def test_a_test_fold_never_influences_its_own_model(model):
    """Scaling, PCA, haplotype sorting, covariates, hyper-parameters: all fitted without the test fold.

    Replace half of fold 0 by garbage (features, expression, covariates). If anything were
    fitted on rows of the test fold, the predictions and the covariate-adjusted expression
    of the *other* half would move; they must stay bit-identical.
    """
    features, y, covariates = _leakage_data()
    folds = outer_folds(range(len(y)), 4).to_numpy()
    factory = model_factory(model, combine="concat_sorted", pca=4)
    test = np.flatnonzero(folds == 0)
    garbage, kept = test[::2], test[1::2]
    clean = nested_cv(features, y, folds, factory, covariates=covariates, inner_folds=3).predictions
    dirty = nested_cv(*_perturb(features, y, covariates, garbage)[:2], folds, factory,
                      covariates=_perturb(features, y, covariates, garbage)[2], inner_folds=3).predictions
    np.testing.assert_array_equal(clean.predicted[kept], dirty.predicted[kept])
    np.testing.assert_array_equal(clean.observed[kept], dirty.observed[kept])
    assert not np.allclose(clean.predicted[garbage], dirty.predicted[garbage])  # the check can see change


def test_precomputed_fold_designs_match_fitting_in_the_loop():
    features, y, covariates = _leakage_data()
    folds = outer_folds(range(len(y)), 4).to_numpy()
    direct = nested_cv(features, y, folds, "ridge", covariates=covariates, inner_folds=3).predictions
    ahead = nested_cv(features, y, folds, "ridge", covariates=covariates.for_folds(folds), inner_folds=3).predictions
    pd.testing.assert_frame_equal(direct, ahead)
    with pytest.raises(ValueError, match="no covariate design"):
        nested_cv(features, y, outer_folds(range(len(y)), 4, seed=9).to_numpy(), "ridge",
                  covariates=covariates.for_folds(folds))


def test_the_leakage_check_catches_a_leak():
    """Choosing features on all people (test folds included) moves the kept rows' predictions."""
    features, y, covariates = _leakage_data()
    folds = outer_folds(range(len(y)), 4).to_numpy()
    test = np.flatnonzero(folds == 0)
    garbage, kept = test[::2], test[1::2]
    dirty_features, dirty_y, _ = _perturb(features, y, covariates, garbage)

    def select_on_everyone(x, y, k=3):
        correlation = np.abs([np.corrcoef(column, y)[0, 1] for column in x.T])
        return x[:, np.argsort(correlation)[-k:]]

    factory = partial(build_model, "ridge")
    clean = nested_cv(select_on_everyone(features, y), y, folds, factory, inner_folds=3).predictions
    dirty = nested_cv(select_on_everyone(dirty_features, dirty_y), dirty_y, folds, factory, inner_folds=3).predictions
    assert not np.allclose(clean.predicted[kept], dirty.predicted[kept])


def test_shuffled_expression_gives_no_signal_and_the_pipeline_says_so():
    x, y = linear_data(n=200, p=30, r2=0.5, seed=6)
    folds = outer_folds(range(200), 5).to_numpy()
    shuffled = np.random.default_rng(0).permutation(y)
    real = nested_cv(x, y, folds, "ridge").predictions.assign(gene="G", method="ridge")
    null = nested_cv(x, shuffled, folds, "ridge").predictions.assign(gene="G", method="ridge")
    real_row = gene_results(real, n_bootstrap=200).iloc[0]
    null_row = gene_results(null, n_bootstrap=200).iloc[0]
    assert real_row.r > 0.5 and real_row.p_value < 1e-10
    assert abs(null_row.r) < 0.15 and null_row.p_value > 0.05 and null_row.r_low < 0 < null_row.r_high
    assert null_row.r2 < 0.02
