"""Chapter 01's tables and sentences, from hand-made histories and evaluations."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from mlm_fixtures import founder_cohort

from lmeqtl.book.chapters import mlm as mlm_report
from lmeqtl.config import ModelConfig, TrainConfig
from lmeqtl.mlm.evaluate import MLMEvaluation
from lmeqtl.mlm.model import HaplotypeMLM

SMALL = ModelConfig(d_model=8, n_layers=2, n_resnet_blocks=1, d_state=4, snp_embedding=True)
CONFIG = TrainConfig(epochs=5, max_minutes=2.0, crop_length=100)


def history(stopped=True, accuracies=(0.80, 0.90, 0.95)):
    n = len(accuracies)
    return pd.DataFrame({
        "epoch": np.arange(1, n + 1), "train_loss": np.linspace(0.5, 0.2, n), "train_masked_accuracy": accuracies,
        "train_haplotypes": [100] * n, "seconds": [10.0] * n, "stopped_early": [False] * (n - 1) + [stopped],
        "val_loss": np.linspace(0.4, 0.1, n), "val_masked_accuracy": accuracies,
        "val_iqs_snp_mean": np.array(accuracies) - 0.2, "val_iqs_pooled": np.array(accuracies) - 0.1,
    })


def evaluation(**summary):
    return MLMEvaluation(summary=summary, by_maf=pd.DataFrame(), per_snp=pd.DataFrame(), confusion=np.zeros((0, 2, 2)))


def test_parameter_counts_split_the_model_into_its_parts():
    model = HaplotypeMLM(SMALL, n_genes=3, gene_lengths=[10, 20, 30])
    counts = mlm_report.parameter_counts(model)
    assert counts["SNP embedding"] == 60 * 8 and counts["gene embedding"] == 3 * 8
    assert counts.drop("total").sum() == counts["total"] == sum(p.numel() for p in model.parameters())
    assert mlm_report.full_size_parameters(10) == pytest.approx(5.96e6, rel=0.01)  # the original's size


def test_training_summary_counts_epochs_time_and_throughput():
    summary = mlm_report.training_summary(history(), CONFIG, wall_seconds=90)
    assert (summary["epochs_run"], summary["epochs_planned"], summary["stopped_early"]) == (3, 5, True)
    assert summary["haplotypes_per_s"] == pytest.approx(10.0) and summary["wall_minutes"] == pytest.approx(1.5)
    assert summary["first_val_masked_accuracy"] == 0.80 and summary["last_val_masked_accuracy"] == 0.95
    paused = history().assign(seconds=[10.0, 500.0, 10.0])  # one epoch waited (SIGSTOP, a crowded machine)
    assert mlm_report.training_summary(paused, CONFIG)["haplotypes_per_s"] == pytest.approx(10.0)
    assert summary["last_gain_val_masked_accuracy"] == pytest.approx(0.05)
    text = mlm_report.training_text(summary)
    assert "in epoch 3 of 5, when its time budget of 2 minutes" in text and "still rising" in text
    flat = mlm_report.training_summary(history(False, (0.9, 0.95, 0.9501)), CONFIG)
    text = mlm_report.training_text(flat)
    assert "after all 5 planned epochs" in text and "nearly flat" in text and "minutes of training steps" in text
    assert "pretrained checkpoint (`ckpt`)" in mlm_report.pretrained_text("ckpt", False)
    assert "no training curves" in mlm_report.pretrained_text("ckpt", False)
    assert "gives the curves" in mlm_report.pretrained_text("ckpt", True)
    assert mlm_report.last_validation(history())["val_masked_accuracy"] == 0.95
    assert "stopping early" not in mlm_report.setup_text(dataclasses.replace(CONFIG, max_minutes=None), 10, 2)
    assert mlm_report.last_validation(history().drop(columns=["val_masked_accuracy"])) is None
    assert mlm_report.last_validation(None) is None


def test_the_setup_says_which_weights_the_run_uses_and_why():
    recipe = mlm_report.setup_text(CONFIG, 300, 60)
    assert recipe.startswith("The model learns from the haplotypes of 300 people")
    why = mlm_report.setup_text(CONFIG, 300, 60, why="this run was asked to retrain (`--retrain`)")
    assert why.startswith("This run trains the model from scratch because this run was asked to retrain")
    provenance = {"command": "lmeqtl weights --preset top10", "git_commit": "0123456789abcdef", "wall_seconds": 5400,
                  "sittings": [{"hardware": {"cpu": "AMD EPYC", "torch_threads": 2}}] * 2}
    text = mlm_report.shipped_text("/x/lmeqtl/weights/top10", provenance, recipe)
    assert "(`lmeqtl/weights/top10`)" in text and "1.5 hours of training (2 sitting(s), last on AMD EPYC, 2 threads)" \
        in text and "`0123456789`" in text and "--retrain" in text and text.endswith(recipe)
    assert "not recorded" in mlm_report.shipped_text("w", None, recipe)
    paused = {**provenance, "sittings": [{"note": "paused while tests ran"}]}
    assert "1.5 hours of training (1 sitting(s), last on an unrecorded CPU, ? threads) (paused while tests ran)" \
        in mlm_report.shipped_text("w", paused, recipe)


def test_model_summary_lists_sizes_parameters_and_the_training_run():
    model = HaplotypeMLM(SMALL, n_genes=3, gene_lengths=[10, 20, 30])
    table = mlm_report.model_summary(model, mlm_report.training_summary(history(), CONFIG, 90), device="cpu")
    values = table["value"]
    assert values["d_model (channels)"] == "8" and values["state-space blocks"] == "2"
    assert values["epochs"] == "stopped in epoch 3 of 5 (time budget of 2 min)"
    assert values["training haplotypes/s"] == "10.0"
    assert "crops of 100 SNPs" in values["haplotypes seen"] and values["device"] == "cpu"
    assert "epochs" not in mlm_report.model_summary(model).index


def test_checkpoint_history_and_train_config_are_found(tmp_path):
    (tmp_path / "run" / "checkpoint").mkdir(parents=True)
    assert mlm_report.checkpoint_history(tmp_path / "run" / "checkpoint") is None
    history().to_csv(tmp_path / "run" / "history.csv", index=False)
    assert len(mlm_report.checkpoint_history(tmp_path / "run" / "checkpoint")) == 3
    book = tmp_path / "01_train_mlm"
    (book / "training").mkdir(parents=True)
    (book / "checkpoint").mkdir()
    history().to_csv(book / "training" / "history.csv", index=False)
    assert len(mlm_report.checkpoint_history(book / "checkpoint")) == 3
    info = {"train_config": {"epochs": 9, "from_the_future": 1}}
    assert mlm_report.train_config_from(info, CONFIG) == dataclasses.replace(CONFIG, epochs=9)
    assert mlm_report.train_config_from({}, CONFIG) == CONFIG


def test_split_maf_is_the_minor_allele_frequency_within_the_split():
    cohort = founder_cohort(n_samples=8, genes={"ENSG01.1": 3}, test_fraction=0.5)
    cohort.haplotypes["ENSG01.1"][:] = 0
    cohort.haplotypes["ENSG01.1"][4:, 0, 0] = 1  # test people: 4 of 8 haplotypes ALT at SNP 0
    cohort.haplotypes["ENSG01.1"][4:, :, 1] = 1  # all ALT at SNP 1: MAF 0
    cohort.haplotypes["ENSG01.1"][4, 0, 2] = 1
    np.testing.assert_allclose(mlm_report.split_maf(cohort, "test"), [0.5, 0.0, 0.125])
    np.testing.assert_allclose(mlm_report.split_maf(cohort, "train"), [0.0, 0.0, 0.0])


def test_comparison_table_has_the_model_baselines_validation_and_the_original():
    model = evaluation(masked_accuracy=0.97, recall_ref=0.99, recall_alt=0.9, iqs_snp_mean=0.8, iqs_pooled=0.9)
    major = evaluation(masked_accuracy=0.8, recall_ref=1.0, recall_alt=0.0, iqs_snp_mean=0.0, iqs_pooled=0.4)
    table = mlm_report.comparison_table(model, {"major allele": major}, validation={"val_masked_accuracy": 0.96},
                                        original=mlm_report.ORIGINAL_REPORTED)
    assert list(table.index) == ["this model", "major allele", "this model, validation", mlm_report.ORIGINAL_LABEL]
    assert table.loc[mlm_report.ORIGINAL_LABEL, "masked_accuracy"] == 0.9915
    assert math.isnan(table.loc[mlm_report.ORIGINAL_LABEL, "iqs_snp_mean"])  # the original reported no per-SNP IQS
    assert table.loc["this model, validation", "masked_accuracy"] == 0.96
    assert table.loc[mlm_report.ORIGINAL_LABEL, "scored_on"] == "validation, real data"


def test_sentences_follow_the_numbers():
    assert "better" in mlm_report.baseline_verdict({"iqs_snp_mean": 0.9}, {"iqs_snp_mean": 0.8})
    assert "worse" in mlm_report.baseline_verdict({"iqs_snp_mean": 0.7}, {"iqs_snp_mean": 0.8})
    assert "about as good" in mlm_report.baseline_verdict({"iqs_snp_mean": 0.801}, {"iqs_snp_mean": 0.8})
    assert mlm_report.subset_text(10, 10, 5, 1).startswith("All 10")
    assert "600 of the 10,060" in mlm_report.subset_text(600, 10_060, 503, 10)
    assert mlm_report.is_full_size(dataclasses.replace(ModelConfig(), snp_embedding=True))
    assert not mlm_report.is_full_size(SMALL)
    counts = pd.Series({"SNP embedding": 480, "total": 1000})
    assert "reduced model" in mlm_report.scale_text(SMALL, counts, 6_000_000) and "480 of them" in \
        mlm_report.scale_text(SMALL, counts, 6_000_000)
    test = {"masked_accuracy": 0.97, "iqs_pooled": 0.93}
    text = mlm_report.original_text(test, {"val_masked_accuracy": 0.96, "val_iqs_pooled": 0.92}, full_size=False)
    assert "0.9915" in text and "0.960" in text and "0.970" in text and "wider and deeper" in text
    assert "wider" not in mlm_report.original_text(test, None, full_size=True)


def test_headline_numbers_and_readable_tables_come_from_the_evaluations():
    by_maf = pd.DataFrame({"maf_bin": ["(0, 0.05]", "(0.05, 0.5]", "all"], "n_snps": [2, 3, 5],
                           "n_masked": [4.0, 6.0, 10.0], "masked_accuracy": [0.9, 0.8, 0.84],
                           "recall_ref": [1.0, 0.9, 0.95], "recall_alt": [0.2, 0.7, 0.5],
                           "iqs_snp_mean": [0.1, 0.6, 0.4], "iqs_pooled": [0.3, 0.7, 0.5], "loss": [0.1] * 3,
                           "n_snps_iqs": [1.0, 3.0, 4.0]})
    summary = by_maf.iloc[-1].drop("maf_bin").to_dict()
    per_snp = pd.DataFrame({"n_masked": [2.0, 2.0, 2.0, 2.0, 2.0]})
    test = MLMEvaluation(summary, by_maf, per_snp, np.zeros((5, 2, 2)))
    tag = MLMEvaluation({**summary, "iqs_snp_mean": 0.5}, by_maf.assign(iqs_snp_mean=[0.3, 0.7, 0.5]), per_snp,
                        np.zeros((5, 2, 2)))
    numbers = mlm_report.headline_numbers(test, {"major allele": test, "LD tag SNP": tag})
    assert numbers["rare_bin"] == "0–0.05" and numbers["common_bin"] == "0.05–0.5"
    assert (numbers["rare_iqs"], numbers["rare_tag_iqs"], numbers["common_tag_iqs"]) == (0.1, 0.3, 0.7)
    assert numbers["tag_iqs"] == 0.5 and numbers["n_snps"] == 5 and numbers["copies_per_snp"] == 2.0
    shown = mlm_report.readable(by_maf)
    assert shown.index.name == "MAF bin" and "loss" not in shown.columns and "n_snps_iqs" not in shown.columns
    assert list(shown.index) == ["0–0.05", "0.05–0.5", "all"]
    assert shown["masked alleles"].dtype.kind == "i" and list(shown.columns)[:2] == ["SNPs", "masked alleles"]
