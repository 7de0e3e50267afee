"""The summary chapter's library: reading every step's tables, one table, the five answers."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lmeqtl.book.chapters import names, summary, summary_tables

GENES = [f"G{i}" for i in range(6)]


def _scores(method: str, features: str, r: list[float], evaluation: str = "nested CV") -> pd.DataFrame:
    r = np.asarray(r, dtype=float)
    return pd.DataFrame({"method": method, "features": features, "gene": GENES, "n": 100, "r": r,
                         "r_low": r - 0.1, "r_high": r + 0.1, "p_value": np.where(r > 0.2, 0.01, 0.5),
                         "r2": r**2, "evaluation": evaluation})


def _write(path: Path, table: pd.DataFrame) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(path, index=False)


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    _write(tmp_path / "01_train_mlm/evaluation/comparison.csv", pd.DataFrame({
        "predictor": ["this model", "major allele", "this model, validation"],
        "masked_accuracy": [0.95, 0.80, 0.96], "iqs_snp_mean": [0.8, 0.0, 0.81],
        "scored_on": ["test", "test", "validation"]}))
    _write(tmp_path / "02_rq1_genotypes/rq1/rq1_table.csv", pd.DataFrame({
        "method": ["MLM", "MLM", "Beagle 5", "most frequent genotype"],
        "maf_bin": ["(0, 0.05]", "all", "all", "all"], "genotype_accuracy": [0.99, 0.90, 0.95, 0.70],
        "iqs": [0.5, 0.70, 0.85, 0.0], "dosage_r2": [0.4, 0.75, 0.9, np.nan]}))
    ridge = [0.30, 0.25, 0.40, 0.10, 0.50, 0.35]
    _write(tmp_path / "03_rq2_embeddings_expression/scores.csv", pd.concat([
        _scores("ridge:sum", "embedding", ridge),
        _scores("lasso:sum", "embedding", [v + 0.05 for v in ridge])]))
    _write(tmp_path / "04_rq3_finetuning/scores.csv", pd.concat([
        _scores("finetune", "haplotypes", [v - 0.05 for v in ridge]),
        _scores("ridge:window_mean", "embedding", [v + 0.1 for v in ridge]),  # RQ3's same-state reference
        _scores("lead_snp", "lead_snp", [0.0] * 6)]))  # replaced by step 05's rows
    _write(tmp_path / "05_rq4_single_snp/scores.csv", pd.concat([
        _scores("lead_snp", "lead_snp", [0.20, 0.30, 0.10, 0.05, 0.30, 0.20]),
        _scores("oracle", "genetic_value", [0.6] * 6),
        _scores("rvalue (in-sample)", "lead_snp", [0.45] * 6, "in-sample (eQTL table)")]))
    return tmp_path


def test_results_of_every_step_are_read_and_later_steps_win(run_dir):
    results = summary.load_results(run_dir)
    assert results.missing == ["03_rq2_embeddings_expression/shuffled_control.csv",
                               "06_rq5_explainability/ranking.csv", "06_rq5_explainability/enrichment.csv"]
    lead = results.expression[results.expression["method"] == "lead_snp"]
    assert len(lead) == len(GENES) and set(lead["step"]) == {"05_rq4_single_snp"}
    assert "06_rq5_explainability" in summary.what_ran_text(results)


def test_one_table_of_all_methods(run_dir):
    table = summary_tables.methods_table(summary.load_results(run_dir))
    by_method = table.set_index("method")
    assert by_method.loc["this model", "value"] == pytest.approx(0.95)  # test split, not validation
    assert "this model, validation" not in by_method.index
    assert by_method.loc["Beagle 5", "value"] == pytest.approx(0.95)  # the "all" bin
    assert by_method.loc["ridge (sum)", "value"] == pytest.approx(np.mean([0.30, 0.25, 0.40, 0.10, 0.50, 0.35]))
    assert by_method.loc["ridge (sum)", "question"] == "RQ2" and by_method.loc["fine-tuned MLM", "question"] == "RQ3"
    assert by_method.loc["eQTL table |r| (in-sample)", "question"] == "RQ4 (in-sample)"
    assert by_method.loc["oracle (true genetic value)", "question"] == "ceiling"
    assert "100% of oracle R²" in by_method.loc["oracle (true genetic value)", "detail"]
    assert not any(":" in m or "_" in m for m in by_method.index)  # no internal codes


def test_section_tables_show_the_ceiling_share_only_where_it_means_something(run_dir):
    results = summary.load_results(run_dir)
    worse = results.expression["method"] == "lead_snp"
    results.expression.loc[worse, "r2"] = -0.5  # worse than the mean: a share of a negative R² means nothing
    results.expression = summary.add_ceiling(results.expression)
    tables = summary_tables.section_tables(results)
    assert list(tables) == [summary_tables.HAPLOTYPES, summary_tables.EXPRESSION]
    expression = tables[summary_tables.EXPRESSION].set_index("method")
    assert expression.loc["lead SNP (eQTL table)", "share of oracle R²"] == "below 0 %"
    assert expression.loc["oracle (true genetic value)", "share of oracle R²"] == "100%"
    assert list(expression["question"])[:2] == ["RQ2", "RQ2"] and list(expression["question"])[-1] == "ceiling"
    assert names.ceiling_share(-3.55) == "below 0 %" and names.ceiling_share(0.456) == "46%"


def test_answers_use_the_pre_specified_method_and_count_wins(run_dir):
    answers = summary.answers(summary.load_results(run_dir))
    assert "ridge on the sum of the two haplotypes" in answers["RQ2"]
    assert "lasso (sum)" in answers["RQ2"]  # best, named as chosen after
    assert "below the classical imputer" in answers["RQ1"]
    assert "fine-tuned MLM beats ridge (sum) on 0 of 6 genes" in answers["RQ3"]
    # ridge - lead: +0.10, -0.05, +0.30, +0.05, +0.20, +0.15 -> 5 wins of 6
    assert "ridge (sum) beats lead SNP (eQTL table) on 5 of 6 genes" in answers["RQ4"]
    assert "0.450" in answers["RQ4"]  # the in-sample |r|, labelled as an upper bound
    assert "not answered" in answers["RQ5"]


def test_missing_steps_are_said_not_guessed(tmp_path):
    results = summary.load_results(tmp_path)
    assert summary_tables.methods_table(results).empty and summary_tables.section_tables(results) == {}
    assert all("not answered" in text for text in summary.answers(results).values())
    text = summary.limitations_text(results, simulated=True, full_size_model=False)
    assert "simulated" in text and "reduced CPU" in text


def test_limitations_state_the_smallest_attainable_p(run_dir):
    text = summary.limitations_text(summary.load_results(run_dir), simulated=False, full_size_model=True)
    assert "6 genes" in text and f"{2 * 0.5**6:.2g}" in text and "simulated" not in text


def test_rq5_answer_reads_ranking_and_enrichment(run_dir):
    _write(run_dir / "06_rq5_explainability/ranking.csv", pd.DataFrame({
        "gene": ["G0", "G1", "G0", "G1"], "method": ["ism", "ism", "marginal_eqtl", "marginal_eqtl"],
        "average_precision": [0.5, 0.3, 0.2, 0.2], "random_average_precision": [0.01] * 4}))
    _write(run_dir / "06_rq5_explainability/enrichment.csv", pd.DataFrame({
        "method": ["ism"] * 3, "mark": ["H3K27ac", "H3K36me3", "H3K27me3"], "odds_ratio": [3.0, 9.0, 1.0],
        "fisher_p": [0.001, 0.001, 0.9], "matched_fold": [2.0, 1.0, 1.0], "permutation_p": [0.002, 0.9, 0.9],
        "kind": ["active", "active", "repressive"], "planted_or": [5.0, 1.0, 1.0]}))
    answer = summary.rq5_answer(summary.load_results(run_dir))
    assert "ism does best (mean average precision 0.400" in answer and "marginal eQTL -log10 p 0.200" in answer
    # H3K36me3 is enriched by Fisher only: the matched test decides, so ism recovers exactly the planted mark
    assert "planted enrichment (H3K27ac) is fully recovered by ism" in answer
    assert "Fisher's test alone would also have credited" not in answer


def test_rq3_reference_is_not_an_rq2_method_and_figures_show_the_headline(run_dir):
    results = summary.load_results(run_dir)
    assert summary.embedding_methods(results.expression) == ["ridge:sum", "lasso:sum"]
    table = summary_tables.methods_table(results).set_index("method")
    assert table.loc["ridge, window mean (RQ3)", "question"] == "RQ3"
    assert "lasso (sum)" in summary.rq2_answer(results)  # still the best RQ2 method, not window_mean
    assert "fine-tuned MLM beats ridge, window mean (RQ3) on 0 of 6" in summary.rq3_answer(results)
    assert summary.headline_methods(results.expression) == [
        "ridge:sum", "lasso:sum", "finetune", "ridge:window_mean", "lead_snp", "oracle"]


def test_the_headline_lm_method_is_tested_against_the_elastic_net_overall_and_per_group(run_dir):
    """The preset's headline (not the best in hindsight) against the elastic net; groups from the truth."""
    # G0-G2 interaction genes, G3-G5 additive; the headline wins on the interaction genes only
    _write(run_dir / "03_rq2_embeddings_expression/scores.csv", pd.concat([
        _scores("ridge:sum", "embedding", [0.30, 0.25, 0.40, 0.10, 0.50, 0.35]),
        _scores("contextual:elasticnet", "context", [0.50, 0.45, 0.60, 0.20, 0.30, 0.25]),
        _scores("contextual_dosage:elasticnet", "dosage", [0.30, 0.30, 0.40, 0.25, 0.35, 0.30]),
        _scores("contextual:ridge", "context", [0.9] * 6),  # better, but not the headline: never tested
        _scores("predixcan", "snps", [0.35, 0.30, 0.45, 0.30, 0.40, 0.30])]))
    groups = pd.Series(["interaction"] * 3 + ["additive"] * 3, index=GENES)
    results = summary.load_results(run_dir, headline_method="contextual:elasticnet", groups=groups)
    answers = summary.answers(results)
    assert "headline LM method fixed in advance, elastic net on the MLM's per-SNP states" in answers["RQ2"]
    assert "mean r of 0.383 (PrediXcan elastic net 0.350; its dosage-only twin 0.317)" in answers["RQ2"]
    rq4 = answers["RQ4"]
    assert "over all genes, MLM states at chosen SNPs (elastic net) beats PrediXcan elastic net on 3 of 6" in rq4
    assert "on the additive genes of the simulated truth, MLM states at chosen SNPs (elastic net) beats " \
           "PrediXcan elastic net on 0 of 3" in rq4
    assert "on the interaction genes of the simulated truth, MLM states at chosen SNPs (elastic net) beats " \
           "PrediXcan elastic net on 3 of 3" in rq4 and "+0.150" in rq4
    assert "contextual:ridge" not in rq4 and "(ridge)" not in rq4
    assert "No truth for real data" in summary.answers(summary.load_results(
        run_dir, headline_method="contextual:elasticnet"))["RQ4"]
    table = summary_tables.section_tables(results)[summary_tables.EXPRESSION].set_index("method")
    assert table.loc["MLM states at chosen SNPs (elastic net)", "question"] == "RQ2 (contextual)"
    assert table.loc["dosages at chosen SNPs (elastic net)", "question"] == "RQ2 (contextual)"
    assert summary.embedding_methods(results.expression) == ["ridge:sum"]  # RQ2's best-in-hindsight stays embeddings
    assert summary.headline_methods(results.expression, headline="contextual:elasticnet")[:3] == [
        "ridge:sum", "contextual:elasticnet", "contextual_dosage:elasticnet"]
