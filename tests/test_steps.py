"""The step registry: its names are the notebooks, and a run finds an earlier step's outputs by name."""

from pathlib import Path

import pytest

from lmeqtl.book import steps
from lmeqtl.book.run import NotebookRun
from lmeqtl.config import get_preset

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_registry_names_every_notebook_and_no_other():
    named = {steps.DATA, steps.MLM, steps.GENOTYPES, steps.EXPRESSION, steps.FINETUNE, steps.BASELINES,
             steps.EXPLAIN, steps.SUMMARY}
    assert named == {p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")}
    assert {step for step, _ in steps.OUTPUTS.values()} <= named


def test_run_output_needs_the_step_that_writes_it(tmp_path):
    run = NotebookRun(step=steps.GENOTYPES, preset=get_preset("smoke"), run_dir=tmp_path, data_dir=None,
                      checkpoint=None, device="cpu")
    with pytest.raises(FileNotFoundError, match=steps.MLM):
        run.output("checkpoint")
    (tmp_path / steps.MLM).mkdir()
    assert run.output("checkpoint") == tmp_path / steps.MLM / "checkpoint"
    assert steps.output_path(tmp_path, "rq1_table") == tmp_path / steps.GENOTYPES / "rq1" / "rq1_table.csv"
    with pytest.raises(KeyError):
        run.output("no such output")
