"""The whole comparison on a tiny study, and the figures."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from lmeqtl.config import ExpressionConfig  # noqa: E402
from lmeqtl.expression import build_covariates, gene_results, outer_folds, run_comparison  # noqa: E402
from lmeqtl.expression.plots import (  # noqa: E402
    plot_embedding_pca,
    plot_gene_r,
    plot_method_r,
    plot_predicted_vs_observed,
)


@pytest.fixture(scope="module")
def study():
    """60 people, 2 genes: haplotypes -> embeddings (a random nonlinear map), causal SNP -> expression."""
    rng = np.random.default_rng(0)
    n, n_snps, width = 60, 40, 6
    ids = pd.Index([f"HG{i:05d}" for i in range(n)], name="sample_id")
    expression, embeddings, dosages, truth = {}, {}, {}, {}
    for gene in ("ENSG1.1", "ENSG2.1"):
        haplotypes = (rng.random((n, 2, n_snps)) < 0.3).astype(float)  # (n, 2, L)
        embeddings[gene] = np.tanh(haplotypes @ rng.normal(size=(n_snps, width)))  # (n, 2, H)
        dosages[gene] = haplotypes.sum(axis=1)
        truth[gene] = dosages[gene][:, 3]
        expression[gene] = truth[gene] + 0.7 * rng.normal(size=n)
    config = ExpressionConfig(outer_folds=3, inner_folds=3, models=("ridge", "svr_linear"),
                              combine=("sum", "concat_sorted"), n_lambdas=10)
    expression = pd.DataFrame(expression, index=ids)
    folds = outer_folds(ids, config.outer_folds, config.seed)
    samples = pd.DataFrame({"gender": rng.choice(["male", "female"], n)}, index=ids)
    covariates = build_covariates(samples, sex=True, expression=expression, n_expression_pcs=1)
    comparison = run_comparison(expression, folds, embeddings=embeddings, dosages=dosages,
                                lead_dosage={"ENSG1.1": dosages["ENSG1.1"][:, 3]}, genetic_values=truth,
                                covariates=covariates, config=config, progress=False)
    return comparison, embeddings, dosages, folds


def test_every_method_runs_on_the_same_folds(study):
    comparison, *_, folds = study
    predictions = comparison.predictions
    expected = {"ridge:sum", "svr_linear:sum", "ridge:concat_sorted", "svr_linear:concat_sorted",
                "predixcan", "lead_snp", "lead_snp_cv", "oracle"}
    assert set(predictions["method"]) == expected
    for _, group in predictions.groupby(["gene", "method"]):
        assert group.set_index("sample_id")["fold"].equals(folds.loc[group["sample_id"]].rename("fold"))
    assert comparison.skipped == ["lead_snp on ENSG2.1: no lead_snp input"]
    assert len(comparison.hyperparameters) == 3 * (2 * len(expected) - 1)
    assert comparison.timings["converged"].dtype == bool
    # the PrediXcan fits run first, but the results keep the task order: genes, then methods as listed
    methods = ["ridge:sum", "svr_linear:sum", "ridge:concat_sorted", "svr_linear:concat_sorted",
               "predixcan", "lead_snp", "lead_snp_cv", "oracle"]
    assert list(comparison.timings[["gene", "method"]].itertuples(index=False, name=None)) == [
        (gene, method) for gene in ("ENSG1.1", "ENSG2.1") for method in methods
        if (gene, method) != ("ENSG2.1", "lead_snp")]


def test_baselines_see_the_planted_eqtl(study):
    results = gene_results(study[0].predictions, n_bootstrap=100).set_index(["method", "gene"])
    assert results.loc[("oracle", "ENSG1.1"), "r"] > 0.5
    assert results.loc[("lead_snp_cv", "ENSG2.1"), "r"] > 0.5
    chosen = study[0].hyperparameters
    assert (chosen.loc[chosen.method == "lead_snp_cv", "index"] == 3).all()  # the causal SNP, every fold


def test_results_are_saved(study, tmp_path):
    study[0].save(tmp_path / "rq2")
    again = pd.read_parquet(tmp_path / "rq2" / "predictions.parquet")
    pd.testing.assert_frame_equal(again, study[0].predictions)
    assert (tmp_path / "rq2" / "hyperparameters.csv").exists()


def test_figures_have_titles_labels_and_legends(study):
    comparison, embeddings, dosages, _ = study
    results = gene_results(comparison.predictions, n_bootstrap=50)
    for fig in (plot_gene_r(results), plot_method_r(results),
                plot_embedding_pca(embeddings["ENSG1.1"], dosages["ENSG1.1"][:, 3], gene="ENSG1.1", snp="rs3")):
        ax = fig.axes[0]
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel() and (ax.get_legend() or fig.legends)
        assert fig.get_size_inches()[0] <= 7.5  # no wider than the page column
        plt.close(fig)
    fig = plot_predicted_vs_observed(comparison.predictions, ["ENSG1.1"], ["oracle", "ridge:sum"],
                                     labels={"ridge:sum": "ridge (sum)"})
    assert len(fig.axes) == 2 and "r = " in fig.axes[0].get_title() and "ridge (sum)" in fig.axes[1].get_title()
    plt.close(fig)
    fig = plot_gene_r(results, ["ridge:sum"], labels={"ridge:sum": "ridge (sum)"})
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["ridge (sum)"]
    plt.close(fig)
