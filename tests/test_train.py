import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from mlm_fixtures import founder_cohort

import lmeqtl
from lmeqtl import cli
from lmeqtl.config import ModelConfig, TrainConfig
from lmeqtl.data.encoding import decode_haplotypes
from lmeqtl.data.io import write_dataset, write_meta
from lmeqtl.errors import InputError
from lmeqtl.mlm.batches import kfold_samples
from lmeqtl.mlm.checkpoint import load_checkpoint
from lmeqtl.mlm.evaluate import evaluate_mlm
from lmeqtl.mlm.model import HaplotypeMLM
from lmeqtl.mlm.train import lr_factor, train_mlm

TINY = ModelConfig(d_model=16, n_layers=1, n_resnet_blocks=1, d_state=8, dropout=0.1)
QUICK = TrainConfig(epochs=3, batch_size=16, learning_rate=1e-2, warmup_steps=2, edge_frame=2, n_folds=4,
                    crop_length=32, mask_strategy="maf_stratified")


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small models: threads only add noise


def test_a_tiny_model_overfits_a_tiny_dataset(tmp_path):
    cohort = founder_cohort(n_samples=24, genes={"ENSG01.1": 64, "ENSG02.1": 48}, n_founders=3, test_fraction=0.0)
    config = TrainConfig(epochs=40, batch_size=16, learning_rate=3e-2, warmup_steps=5, edge_frame=2, n_folds=1)
    result = train_mlm(cohort, ModelConfig(d_model=32, n_layers=1, n_resnet_blocks=1, d_state=8, dropout=0.0),
                       config, tmp_path, "cpu", progress=False)
    scored = evaluate_mlm(result.model, cohort, split="train", edge_frame=2, progress=False, device="cpu")
    assert scored.summary["masked_accuracy"] > 0.95
    assert scored.summary["iqs_snp_mean"] > 0.8
    assert set(scored.by_maf["maf_bin"]) >= {"all"} and len(scored.per_snp) == 112


def test_bf16_autocast_on_cpu_trains_with_float32_weights(tmp_path):
    cohort = founder_cohort(n_samples=24, genes={"ENSG01.1": 64, "ENSG02.1": 48}, n_founders=3, test_fraction=0.0)
    config = TrainConfig(epochs=40, batch_size=16, learning_rate=3e-2, warmup_steps=5, edge_frame=2, n_folds=1,
                         amp="bf16")
    model_config = ModelConfig(d_model=32, n_layers=1, n_resnet_blocks=1, d_state=8, dropout=0.0)
    result = train_mlm(cohort, model_config, config, tmp_path / "bf16", "cpu", progress=False)
    assert all(p.dtype == torch.float32 for p in result.model.parameters())
    scored = evaluate_mlm(result.model, cohort, split="train", edge_frame=2, progress=False, device="cpu")
    assert scored.summary["masked_accuracy"] > 0.9
    full = train_mlm(cohort, model_config, TrainConfig(**{**config.__dict__, "amp": "off"}),
                     tmp_path / "fp32", "cpu", progress=False).history
    # autocast really ran: the same seed and schedule in float32 give other losses
    assert not np.allclose(full["train_loss"], result.history["train_loss"], rtol=1e-6, atol=0)


def test_same_seed_gives_identical_runs_and_another_seed_does_not(tmp_path):
    cohort = founder_cohort()
    runs = [train_mlm(cohort, TINY, QUICK, tmp_path / name, "cpu", progress=False).history
            for name in ("a", "b")]
    columns = ["train_loss", "train_masked_accuracy", "val_loss", "val_masked_accuracy", "val_iqs_pooled"]
    pd.testing.assert_frame_equal(runs[0][columns], runs[1][columns])
    other = train_mlm(cohort, TINY, TrainConfig(**{**QUICK.__dict__, "seed": 2}), tmp_path / "c", "cpu",
                      progress=False).history
    assert not np.allclose(other["train_loss"], runs[0]["train_loss"])
    weights = [torch.load(tmp_path / name / "checkpoint" / "model.pt", weights_only=True) for name in ("a", "b")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


class Killed(Exception):
    pass


def test_a_killed_run_resumes_to_the_same_final_numbers(tmp_path):
    cohort = founder_cohort()
    whole = train_mlm(cohort, TINY, QUICK, tmp_path / "whole", "cpu", progress=False).history

    def kill_after_epoch_2(row):
        if row["epoch"] == 2:
            raise Killed

    with pytest.raises(Killed):
        train_mlm(cohort, TINY, QUICK, tmp_path / "killed", "cpu", progress=False, on_epoch_end=kill_after_epoch_2)
    resumed = train_mlm(cohort, TINY, QUICK, tmp_path / "killed", "cpu", progress=False).history
    assert list(resumed["epoch"]) == [1, 2, 3]
    columns = ["train_loss", "val_loss", "val_masked_accuracy", "val_iqs_snp_mean"]
    pd.testing.assert_frame_equal(resumed[columns], whole[columns])
    with pytest.raises(InputError, match="cannot resume: train"):
        train_mlm(cohort, TINY, TrainConfig(**{**QUICK.__dict__, "learning_rate": 0.5}), tmp_path / "killed", "cpu",
                  progress=False)


def test_learning_rate_warms_up_then_decays():
    config = TrainConfig(warmup_steps=10, lr_schedule="cosine", min_lr_ratio=0.1)
    factors = [lr_factor(s, config, total_steps=110) for s in range(110)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[60] == pytest.approx(0.55) and factors[-1] == pytest.approx(0.1, abs=1e-3)


def write_files(cohort, directory: Path) -> Path:
    rows = []
    for gene, haplotypes in cohort.haplotypes.items():
        for sample, split, seq in zip(cohort.sample_ids, cohort.samples["split"], decode_haplotypes(haplotypes),
                                      strict=True):
            rows.append({"split": split, "sample_id": sample, "gene_id": gene, "seq": seq})
    write_dataset(directory / "dataset.parquet", pd.DataFrame(rows))
    write_meta(directory / "meta.csv.gz", cohort.meta)
    return directory / "dataset.parquet"


TRAIN_ARGS = ["--d_model", "16", "--n_layers", "1", "--n-resnet-blocks", "1", "--d-state", "8", "--tot_epochs", "2",
              "--batch_size", "16", "--Nfolds", "4", "--fold", "1", "--crop-length", "32", "--edge-frame", "2",
              "--masking", "stratified_maf", "--quiet"]


def test_cli_train_with_the_original_flag_names_then_evaluate(tmp_path, capsys):
    cohort = founder_cohort(genes={"ENSG09.1": 96, "ENSG02.1": 80})  # gene order is not alphabetical
    dataset = write_files(cohort, tmp_path)
    out = tmp_path / "run"
    assert cli.main(["train", "--dataset", str(dataset), "--output_dir", str(out), "--preset", "smoke",
                     "--device", "cpu", *TRAIN_ARGS]) == 0
    model, info = load_checkpoint(out / "checkpoint")
    assert model.config.d_model == 16 and info["train_config"]["fold"] == 1 and info["train_config"]["epochs"] == 2
    assert info["train_config"]["mask_strategy"] == "maf_stratified"
    assert len(pd.read_csv(out / "history.csv")) == 2
    table = tmp_path / "by_maf.csv"
    assert cli.main(["evaluate", "--checkpoint", str(out / "checkpoint"), "--dataset", str(dataset),
                     "--split", "test", "--device", "cpu", "--edge-frame", "2", "--output", str(table)]) == 0
    assert "maf_bin" in capsys.readouterr().out and pd.read_csv(table)["maf_bin"].iloc[-1] == "all"
    direct = evaluate_mlm(model, cohort, split="test", edge_frame=2, progress=False, device="cpu")
    assert pd.read_csv(table)["masked_accuracy"].iloc[-1] == pytest.approx(direct.summary["masked_accuracy"])


@pytest.mark.parametrize("damage, message", [
    (lambda seq: "X" + seq[1:], "unknown genotype letter 'X'"),  # wrong alphabet
    (lambda seq: seq[:-1], "has length"),  # ragged genotype strings
])
def test_bad_dataset_gives_a_clear_error(tmp_path, capsys, damage, message):
    dataset = write_files(founder_cohort(), tmp_path)
    frame = pd.read_parquet(dataset)
    frame.loc[3, "seq"] = damage(frame.loc[3, "seq"])
    frame.to_parquet(dataset)
    assert cli.main(["train", "--dataset", str(dataset), "--output_dir", str(tmp_path / "r"), *TRAIN_ARGS]) == 2
    assert re.search(message, capsys.readouterr().err)


def test_gene_missing_from_meta_gives_a_clear_error(tmp_path, capsys):
    cohort = founder_cohort()
    dataset = write_files(cohort, tmp_path)
    write_meta(tmp_path / "meta.csv.gz", cohort.meta[cohort.meta["GENE_ID"] == cohort.genes[0]])
    assert cli.main(["train", "--dataset", str(dataset), "--output_dir", str(tmp_path / "r"), *TRAIN_ARGS]) == 2
    assert "not in the meta table" in capsys.readouterr().err


def test_ddp_two_processes_on_cpu_log_the_metrics_of_the_saved_model(tmp_path):
    cohort = founder_cohort()
    dataset = write_files(cohort, tmp_path)
    out = tmp_path / "ddp"
    root = Path(lmeqtl.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m",
               "lmeqtl.cli", "train", "--dataset", str(dataset), "--output_dir", str(out), "--device", "cpu",
               "--seed", "3", "--amp", "off", *TRAIN_ARGS]  # the top10 preset's bf16 would differ from fp32 scoring
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    history = pd.read_csv(out / "history.csv")
    assert list(history["epoch"]) == [1, 2]
    fit, _ = kfold_samples(cohort.sample_ids[cohort.split_mask("train")], 4, 1, 3)
    assert history["train_haplotypes"].iloc[0] == len(fit) * 2 * len(cohort.genes)  # both ranks counted
    model, info = load_checkpoint(out / "checkpoint")
    _, validation = kfold_samples(cohort.sample_ids[cohort.split_mask("train")], 4, 1, 3)
    single = evaluate_mlm(model, cohort, validation, seed=3, edge_frame=2, progress=False, device="cpu")
    assert single.summary["masked_accuracy"] == pytest.approx(history["val_masked_accuracy"].iloc[-1], abs=1e-12)
    assert single.summary["loss"] == pytest.approx(history["val_loss"].iloc[-1], rel=1e-5)
    assert info["metrics"]["val_iqs_snp_mean"] == pytest.approx(single.summary["iqs_snp_mean"], abs=1e-12)


def test_original_weights_can_be_evaluated_and_fine_tuned(tmp_path):
    import dataclasses

    from test_checkpoint import original_layout

    cohort = founder_cohort()
    dataset = write_files(cohort, tmp_path)
    model = HaplotypeMLM(dataclasses.replace(TINY, dss_kernel="softmax", dropout=0.0), n_genes=2)
    weights = tmp_path / "epoch_100_weights_model.pt"
    torch.save(original_layout(model.eval()), weights)
    assert cli.main(["evaluate", "--model_weight", str(weights), "--dataset", str(dataset), "--device", "cpu",
                     "--edge-frame", "2"]) == 0
    out = tmp_path / "tuned"
    assert cli.main(["train", "--dataset", str(dataset), "--output_dir", str(out), "--model_weight", str(weights),
                     "--device", "cpu", *TRAIN_ARGS]) == 0
    tuned, _ = load_checkpoint(out / "checkpoint")
    assert tuned.config.dss_kernel == "softmax"
