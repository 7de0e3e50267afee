"""Where a run's cohort lives (simulated by step 00_data, or real), made once and reused."""

import json
import shutil

import pytest
import torch

import lmeqtl.data.paths
import lmeqtl.data.prepare
import lmeqtl.simulate.cohort
from lmeqtl.book.notebook import resolve_preset
from lmeqtl.book.run import (
    NotebookRun,
    configured_paths,
    is_prepared,
    load_run_cohort,
    load_run_model,
    make_run_data,
    require_inputs,
    run_checkpoint,
    run_data_paths,
    save_run_checkpoint,
    trained_checkpoint_dir,
)
from lmeqtl.config import get_preset
from lmeqtl.data.paths import DataPaths
from lmeqtl.errors import InputError
from lmeqtl.mlm.checkpoint import checkpoint_genes, original_gene_order

SMOKE = get_preset("smoke")


def _run(run_dir, step="00_data", data_dir=None):
    return NotebookRun(step=step, preset=SMOKE, run_dir=run_dir, data_dir=data_dir, checkpoint=None, device="cpu")


def _fail(*args, **kwargs):
    raise AssertionError("should have been reused, not made again")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """Step 00_data of the smoke preset, run once for the module (~3 s)."""
    run_dir = tmp_path_factory.mktemp("run")
    return run_dir, make_run_data(_run(run_dir), progress=False)


def test_simulated_cohort_is_written_into_the_data_step(simulated):
    run_dir, paths = simulated
    assert paths.out_dir == run_dir / "00_data" / "cohort" and is_prepared(paths)
    assert paths.truth is not None and sorted(paths.peaks) == sorted(lmeqtl.data.paths.PEAK_MARKS)
    assert paths.expression.exists() and paths.eqtl.exists() and paths.genes.exists()
    record = json.loads((paths.out_dir / "prepare.json").read_text())["settings"]
    assert (record["max_snps"], record["window_bp"]) == (SMOKE.simulation.max_snps, SMOKE.simulation.window_bp)


def test_a_second_call_reuses_the_cohort(simulated, monkeypatch):
    run_dir, paths = simulated
    monkeypatch.setattr(lmeqtl.simulate.cohort, "simulate_cohort", _fail)
    monkeypatch.setattr(lmeqtl.data.prepare, "prepare", _fail)
    assert make_run_data(_run(run_dir), progress=False) == paths


def test_a_missing_dataset_is_prepared_again_without_simulating(simulated, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    shutil.copytree(simulated[0], run_dir)
    (run_dir / "00_data" / "cohort" / "dataset.parquet").unlink()
    monkeypatch.setattr(lmeqtl.simulate.cohort, "simulate_cohort", _fail)
    assert is_prepared(make_run_data(_run(run_dir), progress=False))


def test_other_settings_simulate_again(simulated, tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    shutil.copytree(simulated[0], run_dir)
    calls = []
    monkeypatch.setattr(lmeqtl.simulate.cohort, "simulate_cohort", lambda config, out, **kw: calls.append(config.seed))
    monkeypatch.setattr(lmeqtl.data.prepare, "prepare", lambda *a, **kw: None)
    run = NotebookRun("00_data", resolve_preset("smoke", seed=99), run_dir, None, None, "cpu")
    make_run_data(run, progress=False)
    assert calls == [99]


def test_later_steps_find_the_cohort_and_load_it_with_the_panel(simulated):
    run_dir, paths = simulated
    later = _run(run_dir, step="03_x")
    assert run_data_paths(later) == paths == later.data_paths()
    cohort = load_run_cohort(later)
    assert {"super_pop", "pop", "split"} <= set(cohort.samples.columns)
    assert (cohort.samples.loc[cohort.split_mask("test"), "super_pop"] == "EUR").all()
    assert len(cohort.genes) == SMOKE.simulation.n_genes
    assert "super_pop" not in later.load_cohort(panel=False).samples.columns


def test_a_later_step_before_step_00_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="--only 00_data"):
        run_data_paths(_run(tmp_path, step="01_train_mlm"))


def test_real_data_are_prepared_into_the_run_not_into_the_data_directory(simulated, tmp_path):
    data = tmp_path / "real"
    shutil.copytree(simulated[1].out_dir, data, ignore=shutil.ignore_patterns("dataset.parquet", "meta.csv.gz",
                                                                              "prepare.json", "manifest.json"))
    run_dir = tmp_path / "run"
    paths = make_run_data(_run(run_dir, data_dir=data), progress=False)
    assert paths.out_dir == run_dir / "00_data" / "cohort" and is_prepared(paths)
    assert not (data / "dataset.parquet").exists()
    assert paths.expression == data / "GD660.GeneQuantRPKM.txt.gz"  # inputs stay where they are
    assert run_data_paths(_run(run_dir, step="02_x", data_dir=data)) == paths


def test_real_data_already_prepared_are_used_in_place(simulated, tmp_path, monkeypatch):
    data = tmp_path / "real"
    shutil.copytree(simulated[1].out_dir, data)
    monkeypatch.setattr(lmeqtl.data.prepare, "prepare", _fail)
    paths = make_run_data(_run(tmp_path / "run", data_dir=data), progress=False)
    assert paths.out_dir == data and not (tmp_path / "run" / "00_data" / "cohort").exists()


def test_a_real_data_json_is_found_in_the_directory_or_given_directly(simulated, tmp_path):
    source = simulated[1].out_dir
    spec = {"vcf": str(source / "vcf" / "chr{chrom}.vcf.gz"), "panel": str(simulated[1].panel),
            "genes": str(simulated[1].genes), "expression": "../elsewhere/GD660.txt.gz", "out_dir": "prepared"}
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "real_data.json").write_text(json.dumps(spec))
    from_dir, from_file = configured_paths(folder), configured_paths(folder / "real_data.json")
    assert from_dir == from_file and from_dir.out_dir == folder / "prepared"
    with pytest.raises(InputError, match="does not exist"):
        require_inputs(from_dir, "expression")
    with pytest.raises(InputError, match="no eqtl given"):
        require_inputs(from_dir, "eqtl")
    with pytest.raises(InputError, match="no such file or directory"):
        configured_paths(tmp_path / "absent")


def test_default_layout_directory_is_read_as_such(simulated):
    assert configured_paths(simulated[1].out_dir) == DataPaths.from_dir(simulated[1].out_dir)


# --- the run's trained model -------------------------------------------------------------


def _tiny_checkpoint(directory, genes, dss_kernel="exp"):
    from lmeqtl.config import ModelConfig
    from lmeqtl.mlm.checkpoint import save_checkpoint
    from lmeqtl.mlm.model import HaplotypeMLM

    torch.manual_seed(0)
    model = HaplotypeMLM(ModelConfig(d_model=8, n_layers=1, n_resnet_blocks=1, d_state=4, dss_kernel=dss_kernel),
                         n_genes=len(genes)).eval()
    save_checkpoint(directory, model, genes=genes, data_fingerprint=None)
    return model


def test_without_a_checkpoint_or_a_trained_model_the_error_says_what_to_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="--only 01_train_mlm.*--checkpoint"):
        run_checkpoint(_run(tmp_path, step="02_x"))
    given = NotebookRun("02_x", SMOKE, tmp_path, None, tmp_path / "absent.pt", "cpu")
    with pytest.raises(InputError, match="does not exist"):
        run_checkpoint(given)


def test_a_trained_checkpoint_is_published_where_later_steps_find_it(tmp_path):
    genes = ["ENSG0B.1", "ENSG0A.1"]  # not alphabetical: the order is the checkpoint's
    model = _tiny_checkpoint(tmp_path / "training" / "checkpoint", genes)
    run = _run(tmp_path / "run", step="01_train_mlm")
    with pytest.raises(InputError, match="not an lmeqtl checkpoint"):
        save_run_checkpoint(run, tmp_path)
    for _ in range(2):  # a second save replaces the first
        published = save_run_checkpoint(run, tmp_path / "training" / "checkpoint")
    assert published == trained_checkpoint_dir(run.run_dir) == run.out_dir / "checkpoint"
    assert sorted(p.name for p in published.parent.iterdir()) == ["checkpoint"]
    later = _run(tmp_path / "run", step="03_x")
    assert run_checkpoint(later) == published
    loaded, info = load_run_model(later, device="cpu")
    assert checkpoint_genes(info) == genes and not loaded.training
    tokens, gene = torch.randint(0, 3, (2, 40)), torch.tensor([0, 1])
    with torch.no_grad():
        torch.testing.assert_close(loaded(tokens, gene), model(tokens, gene))
    given = NotebookRun("03_x", SMOKE, tmp_path / "run", None, tmp_path / "training" / "checkpoint", "cpu")
    assert run_checkpoint(given) == tmp_path / "training" / "checkpoint"


def test_original_weights_get_the_gene_order_of_the_run_dataset(simulated, tmp_path):
    from test_checkpoint import original_layout

    run_dir, paths = simulated
    order = original_gene_order(paths.dataset)
    model = _tiny_checkpoint(tmp_path / "c", order, dss_kernel="softmax")
    weights = tmp_path / "epoch_100_weights_model.pt"
    torch.save(original_layout(model), weights)
    loaded, info = load_run_model(NotebookRun("02_x", SMOKE, run_dir, None, weights, "cpu"))
    assert checkpoint_genes(info) == order and loaded.n_genes == len(order)
