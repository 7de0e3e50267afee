import json

import nbformat
import numpy as np
import pytest

from lmeqtl.book.build import NOTEBOOKS_DIR
from lmeqtl.book.notebook import STANDARD_PARAMETERS, notebook_setup, plain, resolve_preset
from lmeqtl.book.pipeline import discover_steps
from lmeqtl.book.template import (
    PARAMETERS_CELL,
    check_notebook,
    notebook_problems,
    notebook_template,
    write_notebook_template,
)
from lmeqtl.errors import InputError


def test_resolve_preset_applies_seed_epochs_and_overrides():
    preset = resolve_preset("smoke", seed=7, epochs=2,
                            overrides={"expression.outer_folds": 4, "expression.models": ["ridge"]})
    assert preset.train.epochs == 2 and preset.expression.outer_folds == 4
    assert preset.expression.models == ("ridge",)  # lists from JSON become the field's tuple
    assert {preset.train.seed, preset.simulation.seed, preset.explain.seed, preset.finetune.seed} == {7}
    assert resolve_preset("smoke") == resolve_preset("smoke", overrides={})
    with pytest.raises(ValueError, match="unknown preset field 'train.epoch'"):
        resolve_preset("smoke", overrides={"train.epoch": 1})
    assert resolve_preset("smoke", overrides={"expression.context_scan": True}).expression.context_scan is True
    for word in ("no", 0, "false"):  # a string would be truthy: a switch takes true or false only
        with pytest.raises(ValueError, match="'expression.context_scan' is a switch, got .*true or false"):
            resolve_preset("smoke", overrides={"expression.context_scan": word})


def test_plain_turns_numpy_scalars_into_python_numbers():
    # myst-nb formats the text of a glued value; numpy 2 prints np.float64(0.5), which it cannot parse.
    assert type(plain(np.float64(0.5))) is float and type(plain(np.int64(3))) is int
    assert plain(np.array(2.5)) == 2.5 and plain("text") == "text"


def test_notebook_setup_prints_and_records_the_run(tmp_path, capsys):
    run = notebook_setup("02_x", "smoke", run_dir=tmp_path, device="cpu", seed=5)
    out = capsys.readouterr().out
    assert "preset 'smoke'" in out and "device cpu" in out and "seed=5" in out
    assert "versions: python" in out and "data: not written yet" in out
    assert run.out_dir == tmp_path.resolve() / "02_x" and run.out_dir.is_dir()
    provenance = json.loads((run.out_dir / "provenance.json").read_text())
    assert provenance["preset"]["train"]["seed"] == 5 and provenance["device"].startswith("cpu")
    with pytest.raises(FileNotFoundError, match="--only 00_data"):
        run.step_dir("00_data")
    (tmp_path / "00_data").mkdir()
    (tmp_path / "00_data" / "dataset.parquet").write_bytes(b"x")
    notebook_setup("02_x", "smoke", run_dir=tmp_path, device="cpu")
    assert "cohort written by 00_data (1 files); fingerprint" in capsys.readouterr().out


def test_template_follows_every_convention(tmp_path):
    assert notebook_problems(NOTEBOOKS_DIR / "TEMPLATE.ipynb") == []
    path = write_notebook_template(tmp_path / "04_rq3_finetuning.ipynb", "04_rq3_finetuning", "RQ3")
    assert notebook_problems(path) == []
    with pytest.raises(FileExistsError):
        write_notebook_template(path, "04_rq3_finetuning", "RQ3")


@pytest.mark.parametrize("step", discover_steps(NOTEBOOKS_DIR), ids=lambda s: s.name)
def test_committed_chapters_follow_the_conventions(step):
    check_notebook(step.path)


def _broken(tmp_path, name, edit):
    notebook = notebook_template(name, "t")
    edit(notebook)
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return notebook_problems(path)


def test_problems_are_found_and_named(tmp_path):
    def untag(nb):
        nb.cells[2].metadata["tags"] = []

    def wrong_step(nb):
        nb.cells[2].source = PARAMETERS_CELL.format(step="03_other", preset="smoke")

    def missing_parameter(nb):
        nb.cells[2].source = nb.cells[2].source.replace("epochs: Optional[int] = None", "")

    def edited_parameters(nb):
        nb.cells[2].source = nb.cells[2].source.replace("device: str", "device")

    def with_outputs(nb):
        nb.cells[3].outputs = [nbformat.v4.new_output("stream", text="hi")]
        nb.metadata["kernelspec"]["name"] = "python3"

    assert _broken(tmp_path, "01_a", untag) == ["expected exactly one cell tagged 'parameters', found 0"]
    assert "sets step = '03_other', expected '01_b'" in _broken(tmp_path, "01_b", wrong_step)[0]
    assert _broken(tmp_path, "01_c", missing_parameter) == ["the parameters cell does not define epochs"]
    assert _broken(tmp_path, "01_e", edited_parameters) == [
        "the parameters cell is not the template's (lmeqtl.book.template.PARAMETERS_CELL)"]
    assert [p.split(":")[0] for p in _broken(tmp_path, "01_d", with_outputs)] == [
        "kernelspec is 'python3', expected 'lmeqtl'", "has outputs"]
    with pytest.raises(InputError, match="01_c.ipynb: the parameters cell does not define epochs"):
        check_notebook(tmp_path / "01_c.ipynb", conventions=False)
    assert set(STANDARD_PARAMETERS) >= {"preset", "data_dir", "checkpoint", "device", "seed", "epochs"}


def test_parameters_are_typed_for_papermill():
    from papermill.translators import PythonTranslator

    found = {p.name: p.inferred_type_name for p in PythonTranslator.inspect({"source": PARAMETERS_CELL})}
    assert set(found) == set(STANDARD_PARAMETERS) and "None" not in found.values()
    assert found["seed"] == "Optional[int]" and found["overrides"] == "dict"


def test_glue_without_myst_nb_shows_values_readably(monkeypatch, capsys):
    import sys

    import IPython.display
    from IPython.display import Markdown

    from lmeqtl.book.notebook import glue

    shown = []
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # as in Colab: importing it fails
    monkeypatch.setattr(IPython.display, "display", shown.append)
    glue("r", np.float64(0.123456))
    glue("name", "ridge")
    text = Markdown("**bold**")
    glue("text", text)
    assert capsys.readouterr().out == "r: 0.1235\nname: ridge\n"
    assert shown == [text]  # displayed as Markdown, not printed as <IPython.core.display.Markdown object>


def test_no_page_needs_mathjax():
    """MathJax comes from a CDN, which an offline reader lacks: the prose writes formulas in plain
    Unicode (p₁, −), never as TeX math that would show raw."""
    import re

    tex = re.compile(r"\$[^$\s][^$]*\$|\\\(|\\\[|```\{math\}")
    pages = {p.name: p.read_text() for p in (NOTEBOOKS_DIR.parent / "book").glob("*.md")}
    for path in NOTEBOOKS_DIR.glob("*.ipynb"):
        cells = nbformat.read(path, as_version=4).cells
        pages[path.name] = "\n".join(c.source for c in cells if c.cell_type == "markdown")
    assert {name: tex.findall(text) for name, text in pages.items() if tex.search(text)} == {}
