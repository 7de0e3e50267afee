"""Shipped pretrained weights: how they are made (`lmeqtl weights`), when a run may use them, and
that the ones in the repository are what their provenance says."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from lmeqtl.book.run import NotebookRun, choose_model, make_run_data
from lmeqtl.book.steps import DATA
from lmeqtl.cli import main
from lmeqtl.config import get_preset
from lmeqtl.data.cohort import load_cohort
from lmeqtl.data.io import as_json
from lmeqtl.mlm import weights
from lmeqtl.mlm.batches import cohort_fingerprint
from lmeqtl.mlm.checkpoint import WEIGHTS_FILE, load_checkpoint

SHIPPED = ("top10",)  # presets whose weights the repository must hold


def _cohort(preset: str, run_dir: Path):
    run = NotebookRun(step=DATA, preset=get_preset(preset), run_dir=run_dir, data_dir=None, checkpoint=None,
                      device="cpu")
    paths = make_run_data(run, progress=False)
    return load_cohort(paths.dataset, paths.meta)


@pytest.fixture(scope="module")
def smoke_weights(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """`lmeqtl weights --preset smoke` into a temporary work directory and target."""
    root = tmp_path_factory.mktemp("weights")
    work, out = root / "work", root / "published"
    assert main(["weights", "--preset", "smoke", "--work-dir", str(work), "--out", str(out), "--quiet"]) == 0
    return work, out


def test_weights_command_publishes_a_checkpoint_with_its_history_and_provenance(smoke_weights):
    work, out = smoke_weights
    preset = get_preset("smoke")
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.json", "history.csv", "model.pt", "provenance.json"]
    provenance = weights.read_provenance(out)
    assert provenance["epochs"] == preset.train.epochs
    assert provenance["command"] == "lmeqtl weights --preset smoke"
    assert provenance["train"] == as_json(dataclasses.asdict(preset.train))
    assert provenance["sittings"][0]["hardware"]["cpu_cores"] >= 1
    assert provenance["wall_seconds"] > 0
    cohort = load_cohort(work / DATA / "cohort" / "dataset.parquet", work / DATA / "cohort" / "meta.csv.gz")
    assert provenance["data_fingerprint"] == cohort_fingerprint(cohort)
    # tensors only: loads with weights_only=True, and the check it recorded repeats exactly
    torch.load(out / WEIGHTS_FILE, weights_only=True)
    model, _ = load_checkpoint(out)
    assert weights.check_scores(model, cohort, preset.train) == provenance["check"]


def test_weights_command_resumes_instead_of_training_again(smoke_weights):
    work, out = smoke_weights
    before = (out / WEIGHTS_FILE).read_bytes()
    assert main(["weights", "--preset", "smoke", "--work-dir", str(work), "--out", str(out), "--quiet"]) == 0
    sittings = (work / "sittings.jsonl").read_text().splitlines()
    assert len(sittings) == 2 and json.loads(sittings[1])["epochs_done"] == get_preset("smoke").train.epochs
    assert (out / WEIGHTS_FILE).read_bytes() == before  # nothing retrained, same bytes republished


def test_mismatch_names_what_differs(smoke_weights):
    work, out = smoke_weights
    preset = get_preset("smoke")
    cohort = load_cohort(work / DATA / "cohort" / "dataset.parquet", work / DATA / "cohort" / "meta.csv.gz")
    fingerprint = cohort_fingerprint(cohort)
    assert weights.mismatch(out, preset.model, preset.train, fingerprint) is None
    # what a run scores, or a wall-clock budget the run did not hit, does not change the weights
    assert weights.mismatch(out, preset.model, dataclasses.replace(preset.train, test_max_haplotypes=7),
                            fingerprint) is None
    assert "data fingerprint" in weights.mismatch(out, preset.model, preset.train, "0" * 16)
    assert "d_model" in weights.mismatch(out, dataclasses.replace(preset.model, d_model=48), preset.train,
                                         fingerprint)
    assert "epochs" in weights.mismatch(out, preset.model, dataclasses.replace(preset.train, epochs=9), fingerprint)
    # a setting added to lmeqtl later counts as its default in older weights: at the default they still fit
    info = json.loads((out / "checkpoint.json").read_text())
    del info["train_config"]["grad_clip"], info["model_config"]["dss_kernel"]
    older = out.parent / "older"
    shutil.copytree(out, older, dirs_exist_ok=True)
    (older / "checkpoint.json").write_text(json.dumps(info))
    assert weights.mismatch(older, preset.model, preset.train, fingerprint) is None
    assert "grad_clip" in weights.mismatch(older, preset.model, dataclasses.replace(preset.train, grad_clip=0.5),
                                           fingerprint)


def test_a_book_run_uses_fitting_weights_and_says_why_it_trains_otherwise(smoke_weights, monkeypatch):
    work, out = smoke_weights
    monkeypatch.setattr(weights, "WEIGHTS_ROOT", out.parent)
    monkeypatch.setattr(weights, "weights_dir", lambda preset: out)
    cohort = load_cohort(work / DATA / "cohort" / "dataset.parquet", work / DATA / "cohort" / "meta.csv.gz")
    run = NotebookRun(step="01_train_mlm", preset=get_preset("smoke"), run_dir=work, data_dir=None,
                      checkpoint=None, device="cpu")
    choice = choose_model(run, cohort)
    assert (choice.source, choice.checkpoint) == ("shipped", out)
    retrain = choose_model(dataclasses.replace(run, retrain=True), cohort)
    assert retrain.source == "train" and "--retrain" in retrain.reason
    other = dataclasses.replace(run, preset=dataclasses.replace(
        run.preset, train=dataclasses.replace(run.preset.train, learning_rate=1e-2)))
    changed = choose_model(other, cohort)
    assert changed.source == "train" and "learning_rate" in changed.reason
    given = choose_model(dataclasses.replace(run, checkpoint=out), cohort)
    assert given.source == "given"


def test_no_preset_trains_on_a_wall_clock_budget():
    from lmeqtl.config import PRESETS

    for preset in PRESETS.values():
        assert preset.train.max_minutes is None, preset.name
        assert preset.finetune.max_minutes is None, preset.name


@pytest.mark.parametrize("preset", SHIPPED)
def test_shipped_weights_fit_todays_simulation_and_reproduce_their_recorded_scores(preset, tmp_path):
    """The repository's weights: tensors only, trained on exactly the cohort `lmeqtl simulate` makes now
    (a changed simulator must retrain them: `make weights`), and their recorded check repeats."""
    path = weights.shipped_weights(preset)
    assert path is not None, f"lmeqtl/weights/{preset} is missing (make weights PRESET={preset})"
    torch.load(path / WEIGHTS_FILE, weights_only=True)
    provenance = weights.read_provenance(path)
    spec = get_preset(preset)
    assert provenance["train"] == as_json(dataclasses.asdict(spec.train))
    cohort = _cohort(preset, tmp_path)
    assert weights.mismatch(path, spec.model, spec.train, cohort_fingerprint(cohort)) is None
    model, _ = load_checkpoint(path)
    check = weights.check_scores(model, cohort, spec.train)
    recorded = provenance["check"]
    assert {k: v for k, v in check.items() if not isinstance(v, float)} == \
        {k: v for k, v in recorded.items() if not isinstance(v, float)}
    for key in ("masked_accuracy", "iqs_pooled"):  # other CPUs may round a few logits differently
        assert check[key] == pytest.approx(recorded[key], abs=2e-3), key
