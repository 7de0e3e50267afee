"""The expression chapters' shared inputs, leakage control and sentences (lmeqtl.book.chapters.expression*)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from mlm_fixtures import founder_cohort

from lmeqtl import expression as ex
from lmeqtl.book import steps
from lmeqtl.book.chapters import contextual_text
from lmeqtl.book.chapters import expression as chapter
from lmeqtl.book.chapters import expression_text as text
from lmeqtl.config import ExpressionConfig
from lmeqtl.data.formats import write_eqtl_table, write_geuvadis_expression
from lmeqtl.data.paths import DataPaths
from lmeqtl.errors import InputError

GENES = {"ENSG01.1": 12, "ENSG02.1": 10}
CONFIG = ExpressionConfig(outer_folds=3, inner_folds=3, n_bootstrap=20, models=("ridge", "ols"),
                          combine=("sum", "concat_sorted"))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """60 test people with GD660-format expression (2 replicate libraries for some) driven by SNP 3 of each gene."""
    root = tmp_path_factory.mktemp("study")
    cohort = founder_cohort(n_samples=80, genes=GENES, n_founders=6, seed=3, test_fraction=0.75)
    test = cohort.samples.index[cohort.samples["split"] == "test"][:58]  # two test people lack expression
    rng = np.random.default_rng(0)
    columns = {}
    for i, sample in enumerate(test):
        dosage = np.array([cohort.haplotypes[g][cohort.samples.index.get_loc(sample), :, 3].sum() for g in GENES])
        rpkm = np.exp(dosage + rng.normal(0, 0.4, len(GENES)))
        columns[f"{sample}.1.M_111124_{i}"] = rpkm
        if i % 5 == 0:
            columns[f"{sample}.1.M_120000_{i}"] = rpkm * 1.1
    table = pd.DataFrame({"Gene_Symbol": list(GENES), "Chr": "6", "Coord": 1_000_500, **columns},
                         index=pd.Index(list(GENES), name="TargetID"))
    write_geuvadis_expression(root / "expression.txt.gz", table)
    meta = cohort.meta.set_index(["GENE_ID", "seq_idx"])
    eqtl = pd.DataFrame([{"SNP_ID": meta.loc[(g, 3), "id"], "ID": "-", "GENE_ID": g, "PROBE_ID": g, "CHR_SNP": "6",
                          "CHR_GENE": "6", "SNPpos": int(meta.loc[(g, 3), "pos"]), "TSSpos": 1_000_500,
                          "distance": abs(int(meta.loc[(g, 3), "pos"]) - 1_000_500), "rvalue": 0.8,
                          "pvalue": 1e-20, "log10pvalue": 20.0} for g in GENES])
    write_eqtl_table(root / "eqtl.txt.gz", eqtl)
    paths = DataPaths(out_dir=root, vcf="chr{chrom}.vcf.gz", panel=root / "panel.txt",
                      expression=root / "expression.txt.gz", eqtl=root / "eqtl.txt.gz")
    return cohort, paths, list(test)


def test_inputs_are_what_chapter_04_computes(study, tmp_path):
    cohort, paths, test = study
    inputs = chapter.expression_inputs(paths, cohort, CONFIG)
    raw = __import__("lmeqtl.data.formats", fromlist=["x"]).read_geuvadis_expression(paths.expression)
    ids = ex.samples_with_expression(ex.average_replicates(raw), cohort.samples, split="test")
    assert list(inputs.expression.index) == ids == test
    pd.testing.assert_frame_equal(inputs.expression, ex.prepare_expression(raw, cohort.genes, ids, CONFIG.transform))
    pd.testing.assert_series_equal(inputs.folds, ex.outer_folds(ids, CONFIG.outer_folds, CONFIG.seed))
    people = cohort.subset(ids)
    assert np.array_equal(inputs.dosages["ENSG02.1"], people.dosage("ENSG02.1"))
    assert np.array_equal(inputs.lead_dosage["ENSG01.1"], people.dosage("ENSG01.1")[:, 3])
    assert inputs.genetic_values is None and inputs.covariates is None and "drawn with seed 1" in inputs.folds_source
    # RQ2's saved folds win when reused (step 03's folds.csv somewhere under its directory)
    saved = ex.outer_folds(ids, 3, seed=99)
    ex.save_folds(tmp_path / "rq2" / "sub" / "folds.csv", saved)
    reused = chapter.expression_inputs(paths, cohort, CONFIG, rq2_dir=tmp_path / "rq2")
    assert reused.folds.equals(saved) and "saved" in reused.folds_source
    fresh = chapter.expression_inputs(paths, cohort, CONFIG, rq2_dir=tmp_path / "rq2", reuse_folds=False)
    assert fresh.folds.equals(inputs.folds)


def test_missing_inputs_and_embeddings_give_clear_errors(study):
    cohort, paths, test = study
    with pytest.raises(InputError, match="eqtl"):
        chapter.expression_inputs(DataPaths(out_dir=paths.out_dir, vcf="x", panel=paths.panel,
                                            expression=paths.expression), cohort, CONFIG)
    inputs = chapter.expression_inputs(paths, cohort, CONFIG)
    stored = type("E", (), {"sample_ids": np.array(test[1:]), "by_gene": {"ENSG01.1": np.zeros((len(test) - 1, 2, 4))}})
    stored.__getitem__ = lambda self, g: self.by_gene[g]
    with pytest.raises(InputError, match="1 samples absent"):
        chapter.aligned_embeddings(stored(), inputs)


def _embeddings(inputs):
    """Embeddings that carry each haplotype's alleles (a linear map of them): the signal is recoverable."""
    rng = np.random.default_rng(1)
    out = {}
    for gene in inputs.expression.columns:
        h = inputs.people.haplotypes[gene].astype(np.float64)  # (n, 2, L)
        out[gene] = h @ rng.normal(size=(h.shape[2], 6))  # (n, 2, 6)
    return out


def test_signal_is_found_and_the_shuffled_control_finds_none(study):
    cohort, paths, _ = study
    inputs = chapter.expression_inputs(paths, cohort, CONFIG)
    embeddings = _embeddings(inputs)
    method = ex.embedding_methods(CONFIG)[0]
    assert method.name == chapter.reference_method(CONFIG) == "ridge:sum"
    assert chapter.reference_method(ExpressionConfig(models=("ols", "lasso"), combine=("mean",))) == "ols:mean"
    real = ex.run_comparison(inputs.expression, inputs.folds, embeddings=embeddings, config=CONFIG,
                             methods=[method], progress=False)
    assert chapter.score(real.predictions, CONFIG)["r"].min() > 0.6
    control = chapter.score(chapter.shuffled_control(inputs, embeddings, CONFIG, method, seed=2).predictions, CONFIG)
    assert abs(control["r"].mean()) < 0.3 and control["r"].max() < 0.45
    again = chapter.score(chapter.shuffled_control(inputs, embeddings, CONFIG, method, seed=2).predictions, CONFIG)
    assert again["r"].equals(control["r"])  # seeded: bit-identical


def test_scores_add_the_in_sample_rvalue_and_lead_snp_pcs(study):
    cohort, paths, _ = study
    inputs = chapter.expression_inputs(paths, cohort, CONFIG)
    comparison = ex.run_comparison(inputs.expression, inputs.folds, lead_dosage=inputs.lead_dosage, config=CONFIG,
                                   methods=[m for m in ex.baseline_methods() if m.name == "lead_snp"], progress=False)
    scores = chapter.score(comparison.predictions, CONFIG, inputs)
    in_sample = scores[scores["method"] == "rvalue (in-sample)"]
    assert list(in_sample["r"]) == [0.8, 0.8] and set(in_sample["evaluation"]) == {"in-sample (eQTL table)"}
    pcs = chapter.lead_snp_pc_r2(inputs, _embeddings(inputs), list(GENES))
    assert ((pcs["r2"] >= 0) & (pcs["r2"] <= 1 + 1e-9)).all() and list(pcs["snp"]) == ["rs13", "rs23"]


def test_finetune_scores_are_read_when_step_04_ran(tmp_path):
    assert chapter.finetune_scores(tmp_path) is None
    step = tmp_path / steps.FINETUNE
    step.mkdir()
    pd.DataFrame({"method": ["finetune", "oracle"], "gene": ["G", "G"], "r": [0.4, 0.9]}).to_csv(step / "scores.csv")
    assert list(chapter.finetune_scores(tmp_path)["r"]) == [0.4]
    pd.DataFrame({"method": ["finetune"]}).to_csv(step / "scores.csv")
    with pytest.raises(InputError, match="gene"):
        chapter.finetune_scores(tmp_path)


def test_sentences_carry_the_numbers():
    summary = pd.DataFrame({"method": ["oracle", "ridge:concat_sorted", "ridge:sum", "predixcan"],
                            "evaluation": "nested CV", "n_genes": 10, "mean_r": [0.7, 0.41, 0.35, 0.3],
                            "median_r": [0.7, 0.4, 0.3, 0.3], "mean_r2": [0.5, 0.15, 0.1, 0.08],
                            "n_significant": [10, 6, 5, 4], "ceiling_fraction": [1.0, 0.3, 0.2, 0.16]})
    embedding = ["ridge:sum", "ridge:concat_sorted"]
    words = text.summary_text(summary, embedding, "ridge:sum")
    assert "*ridge (concatenated)*" in words and "0.410" in words and "fixed in advance" in words and "0.350" in words
    assert "ridge:" not in words  # readable names, no codes
    assert "30%" in text.ceiling_text(summary, embedding) and "0.700" in text.ceiling_text(summary, embedding)
    assert "hindsight is ridge on the concatenation" in text.choice_text(summary, embedding, "ridge:sum")
    assert "no oracle" in text.ceiling_text(summary[summary["method"] != "oracle"], embedding)
    paired = pd.DataFrame([{"method_a": "predixcan", "method_b": "ridge:sum", "n_genes": 10,
                            "mean_difference": -0.05, "wins_a": 3, "wins_b": 7, "wilcoxon_p": 0.2,
                            "sign_test_p": 0.34, "min_attainable_p": 0.002}])
    words = text.paired_text(paired, "ridge:sum")
    assert "wins on 7 of 10" in words and "+0.050" in words and "0.002" in words
    assert "left out: lasso" in text.preset_text("top10", CONFIG)
    assert "smaller" not in text.preset_text("full", ExpressionConfig())


def test_baselines_are_added_on_the_same_folds_and_mismatched_folds_are_refused(study):
    cohort, paths, _ = study
    inputs = chapter.expression_inputs(paths, cohort, CONFIG)
    lead_only = [m for m in ex.baseline_methods() if m.name == "lead_snp"]
    rq2 = ex.run_comparison(inputs.expression, inputs.folds, lead_dosage=inputs.lead_dosage, config=CONFIG,
                            methods=lead_only, progress=False).predictions
    predictions, computed = chapter.with_baselines(rq2, inputs, CONFIG, progress=False)
    assert computed == ["predixcan", "lead_snp_cv"]  # no oracle without truth; lead_snp came from step 03
    assert set(predictions["method"]) == {"lead_snp", "predixcan", "lead_snp_cv"}
    per_person = predictions.groupby("sample_id")["fold"].nunique()
    assert (per_person == 1).all()  # every method on the same folds
    moved = rq2.assign(fold=(rq2["fold"] + 1) % CONFIG.outer_folds)
    with pytest.raises(InputError, match="not on these outer folds"):
        chapter.with_baselines(moved, inputs, CONFIG, progress=False)


def test_leakage_verdict_follows_the_control_numbers():
    from lmeqtl.book.chapters.expression_text import leakage_text

    quiet = pd.DataFrame({"r": [-0.05, 0.02, -0.01, 0.03], "p_value": [0.6, 0.8, 0.9, 0.04], "r2": [-0.01] * 4})
    assert "the pipeline finds none" in leakage_text(quiet, "ridge:sum")
    loud = quiet.assign(r=[0.3, 0.25, 0.4, 0.2], p_value=[0.001, 0.01, 0.0001, 0.02])
    assert "points at information from the test people" in leakage_text(loud, "ridge:sum")
    negative = quiet.assign(r=[-0.3, -0.25, -0.4, -0.2], p_value=[0.001, 0.01, 0.0001, 0.02])
    assert "the pipeline finds none" in leakage_text(negative, "ridge:sum")  # a leak cannot make r negative


# --- the contextual method in chapter 03, the additive/interaction split, the headline (expression_context) ---

def _truth(fractions: dict[str, float]):
    from lmeqtl.data.truth import Truth

    genes = pd.DataFrame({"gene_id": list(fractions), "interaction_fraction": list(fractions.values())})
    return Truth(genes=genes, causal_snps=pd.DataFrame(), enrichment=pd.DataFrame())


def _results(r: dict[str, list[float]], genes: list[str]) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"method": m, "gene": genes, "r": values, "evaluation": "nested CV"})
                      for m, values in r.items()], ignore_index=True)


@pytest.mark.parametrize(("fraction", "group"), [(0.6, "interaction"), (0.5, "interaction"), (0.49, "additive"),
                                                 (0.2, "additive"), (0.0, "additive")])
def test_a_gene_is_an_interaction_gene_from_half_of_its_genetic_variance(fraction, group):
    from lmeqtl.book.chapters.expression_context import interaction_groups

    assert interaction_groups(_truth({"G": fraction, "H": 0.0}))["G"] == group
    assert interaction_groups(None) is None  # real data: no truth, no groups
    assert list(interaction_groups(_truth({"G": fraction, "H": 0.0}), ["H", "X"]).index) == ["H"]


def test_group_means_and_the_split_in_words():
    from lmeqtl.book.chapters import NO_TRUTH
    from lmeqtl.book.chapters.expression_context import group_means, group_table, interaction_groups

    genes = ["A", "B", "C", "D"]
    groups = interaction_groups(_truth(dict(zip(genes, [0.6, 0.0, 0.6, 0.2], strict=True))))
    results = _results({"contextual:elasticnet": [0.5, 0.3, 0.7, 0.1], "predixcan": [0.2, 0.4, 0.3, 0.2],
                        "oracle": [0.8, 0.6, 0.9, 0.5]}, genes)
    means = group_means(results, groups, ["contextual:elasticnet", "predixcan", "oracle", "not run"])
    rows = means.set_index("method")
    assert list(rows.index) == ["contextual:elasticnet", "predixcan", "oracle"]
    assert rows.loc["contextual:elasticnet", "interaction"] == pytest.approx(0.6)  # genes A and C
    assert rows.loc["contextual:elasticnet", "additive"] == pytest.approx(0.2)  # genes B and D
    assert rows.loc["predixcan", "all"] == pytest.approx(0.275) and (rows["n_interaction"] == 2).all()
    shown = group_table(means)
    assert list(shown.columns) == ["method", "all genes (4)", "additive genes (2)", "interaction genes (2)"]
    assert shown["method"].iloc[0] == "MLM states at chosen SNPs (elastic net)"
    words = contextual_text.split_text(means, groups, ["contextual:elasticnet", "predixcan"])
    assert "2 genes of 4" in words and "0.200 and 0.600" in words and "0.300 and 0.250" in words
    assert "interaction term" in words and contextual_text.ORACLE_WORDS in words  # what the oracle includes
    no_truth = contextual_text.split_text(group_means(results, None, ["predixcan"]), None, ["predixcan"])
    assert no_truth.startswith(NO_TRUTH) and "additive" in no_truth
    assert "all genes (4)" in group_table(group_means(results, None, ["predixcan"])).columns
    assert "additive genes" not in " ".join(group_table(group_means(results, None, ["predixcan"])).columns)


@pytest.mark.parametrize(("interaction_r", "additive_r", "verdict"), [
    ((0.50, 0.60), (0.40, 0.30), "Both are met."),  # +0.20 on interaction genes, 100 % on additive ones
    ((0.50, 0.60), (0.20, 0.20), "Only the interaction target is met."),  # 57 % of the elastic net on additive
    ((0.32, 0.42), (0.40, 0.30), "Only the additive target is met."),  # +0.02 on interaction genes
    ((0.20, 0.20), (0.10, 0.10), "Neither is met."),
])
def test_the_headline_is_tested_against_the_elastic_net_within_each_group(interaction_r, additive_r, verdict):
    from lmeqtl.book.chapters.expression_context import (
        ELASTIC_NET,
        interaction_groups,
        paired_by_group,
    )

    genes = ["A", "B", "C", "D"]
    groups = interaction_groups(_truth({"A": 0.6, "B": 0.6, "C": 0.0, "D": 0.0}))
    results = _results({"contextual:elasticnet": [*interaction_r, *additive_r],
                        ELASTIC_NET: [0.30, 0.40, 0.40, 0.30]}, genes)
    tests = paired_by_group(results, "contextual:elasticnet", ELASTIC_NET, groups)
    assert list(tests["group"]) == ["all", "additive", "interaction"] and list(tests["n_genes"]) == [4, 2, 2]
    by_group = tests.set_index("group")
    assert by_group.loc["interaction", "mean_r_b"] == pytest.approx(0.35)
    assert by_group.loc["interaction", "mean_difference"] == pytest.approx(np.mean(interaction_r) - 0.35)
    words = contextual_text.headline_text(tests, "contextual:elasticnet", ELASTIC_NET)
    assert verdict in words and "`expression.headline_method`" in words and "0.5" in words  # the smallest p of 2 genes
    assert paired_by_group(results, "contextual:ridge", ELASTIC_NET, groups).empty
    assert "did not run" in contextual_text.headline_text(pd.DataFrame(), "contextual:ridge", ELASTIC_NET)
    overall_only = paired_by_group(results, "contextual:elasticnet", ELASTIC_NET, None)
    assert list(overall_only["group"]) == ["all"]
    assert "No truth for real data" in contextual_text.headline_text(overall_only, "contextual:elasticnet", ELASTIC_NET)


CONTEXT_CONFIG = ExpressionConfig(outer_folds=3, inner_folds=3, n_bootstrap=20, n_lambdas=10, context_top_k=2,
                                  context_neighbours=1, context_components=2, context_batch_size=4)


def test_the_chapter_runs_the_contextual_method_and_its_twin_with_a_tiny_mlm(study):
    """Chapter 03's helper on a founder cohort with a random-weight HaplotypeMLM: both methods, on the
    chapter's folds, states extracted in batches, each distinct haplotype once (the same as in one pass), scored
    next to the others."""
    import torch

    from lmeqtl.book.chapters import expression_context as context
    from lmeqtl.config import ModelConfig
    from lmeqtl.expression.gene_states import snp_states
    from lmeqtl.mlm.model import HaplotypeMLM

    cohort, paths, _ = study
    inputs = chapter.expression_inputs(paths, cohort, CONTEXT_CONFIG)
    torch.manual_seed(0)
    model = HaplotypeMLM(ModelConfig(d_model=16, n_layers=2, n_resnet_blocks=1, d_state=8), n_genes=2).eval()
    gene_map = cohort.gene_index()
    haplotypes = inputs.people.haplotypes["ENSG01.1"]
    snps = np.array([0, 3, 11])
    flat = haplotypes.reshape(-1, haplotypes.shape[-1])
    assert len(np.unique(flat, axis=0)) < len(flat)  # founders: repeated haplotypes, each passed through the MLM once
    batched = context.progress_state_source(model, haplotypes, gene_map["ENSG01.1"], CONTEXT_CONFIG,
                                            progress=False)(snps)
    assert batched.shape == (len(inputs.expression), 2, 3, 16)
    assert np.allclose(batched, snp_states(model, haplotypes, gene_map["ENSG01.1"], snps,
                                           batch_size=len(haplotypes) * 2), atol=1e-5)

    with_scan = dataclasses.replace(CONTEXT_CONFIG, context_scan=True)  # off by default (memory, time)
    run = context.run_contextual_methods(model, {"ENSG01.1": gene_map["ENSG01.1"]}, inputs, with_scan,
                                         progress=False)
    assert context.scan_method(CONTEXT_CONFIG) not in set(context.run_contextual_methods(
        model, {"ENSG01.1": gene_map["ENSG01.1"]}, inputs, CONTEXT_CONFIG, progress=False).r.columns)
    context_method, twin = context.context_pair(CONTEXT_CONFIG)
    scan, pairs = context.scan_method(CONTEXT_CONFIG), context.pairs_method(CONTEXT_CONFIG)
    predictions = run.comparison.predictions
    assert set(predictions["method"]) == {context_method, twin, scan, pairs}  # not contextual_both
    for method in (context_method, scan):
        assert set(predictions.loc[predictions["method"] == method, "gene"]) == {"ENSG01.1"}
    for method in (twin, pairs):  # no states needed: every gene
        assert set(predictions.loc[predictions["method"] == method, "gene"]) == set(GENES)
    assert run.comparison.skipped == [f"{m} on ENSG02.1: no states" for m in (context_method, scan)]
    assert (predictions.groupby("sample_id")["fold"].first() == inputs.folds.reindex(
        predictions.groupby("sample_id")["fold"].first().index)).all()
    assert set(run.comparison.timings["method"]) == {"states", context_method, twin, scan, pairs}
    assert run.r.loc["ENSG01.1", twin] > 0.5  # expression follows SNP 3: the dosages find it

    baseline = ex.run_comparison(inputs.expression, inputs.folds, dosages=inputs.dosages, config=CONTEXT_CONFIG,
                                 methods=[m for m in ex.baseline_methods() if m.name == "lead_snp_cv"],
                                 progress=False)
    merged = context.merge_comparisons(baseline, run.comparison)
    assert len(merged.predictions) == len(baseline.predictions) + len(predictions)
    results = chapter.score(merged.predictions, CONTEXT_CONFIG)
    assert {context_method, twin, "lead_snp_cv"} <= set(results["method"])
    table = context.context_gene_table(results, CONTEXT_CONFIG, inputs.symbols,
                                       _truth({"ENSG01.1": 0.6, "ENSG02.1": 0.0}))
    assert list(table["gene"]) == ["ENSG01.1"] and table["truth"].tolist() == ["interaction"]
    r = results.set_index(["method", "gene"])["r"]
    assert table["difference"].iloc[0] == pytest.approx(r[context_method, "ENSG01.1"] - r[twin, "ENSG01.1"])
    tests = context.paired_by_group(results, context_method, twin, None)
    words = contextual_text.context_text(tests, context_method, twin, 12.0)
    assert "dosages at chosen SNPs (elastic net)" in words and "12 s" in words and " of 1 gene: mean r" in words
    assert f"{r[context_method, 'ENSG01.1']:.3f}" in words
