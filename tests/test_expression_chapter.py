"""The expression chapters' shared inputs, leakage control and sentences (lmeqtl.book.chapters.expression*)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlm_fixtures import founder_cohort

from lmeqtl import expression as ex
from lmeqtl.book import steps
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
