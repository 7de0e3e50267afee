"""The runner, on tiny throwaway notebooks (each papermill run starts a kernel: ~2-3 s)."""

import json

import nbformat
import pytest

from lmeqtl.book.pipeline import (
    RunSettings,
    StepFailed,
    changed_inputs,
    discover_steps,
    ensure_kernel,
    find_step,
    load_state,
    run_steps,
    step_inputs,
    step_needs,
    why_run,
)
from lmeqtl.book.template import PARAMETERS_CELL
from lmeqtl.errors import InputError

WRITE = """\
from pathlib import Path
out = Path(run_dir) / step
out.mkdir(parents=True, exist_ok=True)
"""


def write_step(folder, name, body, needs=None):
    """A chapter with the standard parameters cell and ``body`` (which may use them)."""
    cells = [nbformat.v4.new_code_cell(PARAMETERS_CELL.format(step=name, preset="top10"),
                                       metadata={"tags": ["parameters"]}),
             nbformat.v4.new_code_cell(WRITE + body)]
    notebook = nbformat.v4.new_notebook(cells=cells)
    if needs is not None:
        notebook.metadata["lmeqtl"] = {"needs": needs}
    path = folder / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


def statuses(outcomes):
    return {o.step: o.status for o in outcomes}


def test_discover_steps_orders_numbered_notebooks_only(tmp_path):
    for name in ("10_later", "02_b", "00_a"):
        write_step(tmp_path, name, "")
    write_step(tmp_path, "TEMPLATE", "")
    (tmp_path / "notes.ipynb").write_text("{}")
    steps = discover_steps(tmp_path)
    assert [s.name for s in steps] == ["00_a", "02_b", "10_later"]
    assert find_step("2", steps).name == "02_b" and find_step("10_later", steps).name == "10_later"
    with pytest.raises(InputError, match="no step '03'"):
        find_step("03", steps)
    write_step(tmp_path, "02_c", "")
    with pytest.raises(InputError, match="share the step number 02"):
        discover_steps(tmp_path)
    (tmp_path / "02_c.ipynb").rename(tmp_path / "03_RQ2.ipynb")
    with pytest.raises(InputError, match="not named NN_name"):
        discover_steps(tmp_path)


def test_inputs_follow_parameters_data_content_and_needs(tmp_path):
    steps = [write_step(tmp_path, "00_a", ""), write_step(tmp_path, "01_b", "", needs=[]),
             write_step(tmp_path, "02_c", "", needs=["00_a"])]
    steps = discover_steps(tmp_path)
    assert step_needs(steps[1], steps) == [] and step_needs(steps[2], steps) == [steps[0]]
    data = tmp_path / "data"
    data.mkdir()
    (data / "panel.txt").write_text("sample pop")
    base = RunSettings("smoke", tmp_path / "run", data_dir=data)
    inputs = step_inputs(steps[2], base, [steps[0]], {})
    assert changed_inputs(inputs, step_inputs(steps[2], RunSettings("smoke", tmp_path / "elsewhere", data_dir=data), [steps[0]], {})) == []
    assert changed_inputs(inputs, step_inputs(steps[2], RunSettings("smoke", tmp_path / "run", data_dir=data, seed=3), [steps[0]], {})) == ["parameters changed", "preset changed"]
    (data / "panel.txt").write_text("sample pop super_pop")
    (tmp_path / "run" / "00_a").mkdir(parents=True)
    (tmp_path / "run" / "00_a" / "x.npz").write_text("new")
    assert changed_inputs(inputs, step_inputs(steps[2], base, [steps[0]], {})) == ["data changed", "upstream 00_a changed"]
    assert changed_inputs(None, inputs) == ["never ran"]
    bad = write_step(tmp_path, "03_d", "", needs=["04_later"])
    with pytest.raises(InputError, match="not earlier steps"):
        step_needs(discover_steps(tmp_path)[3], discover_steps(tmp_path))
    bad.unlink()


def test_runs_in_order_passes_parameters_and_skips_up_to_date(tmp_path, jupyter_kernel):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    value = '(out / "value.txt").write_text(f"{VALUE} seed={seed} epochs={epochs} preset={preset}")'
    write_step(notebooks, "00_a", "VALUE = 1\n" + value)
    write_step(notebooks, "01_b", 'up = (Path(run_dir) / "00_a" / "value.txt").read_text()\n'
                                  '(out / "copy.txt").write_text(up + " | b")')
    settings = RunSettings("smoke", tmp_path / "run", seed=7, epochs=2)
    run = lambda: statuses(run_steps(settings, discover_steps(notebooks), kernel_name=jupyter_kernel, progress=False))  # noqa: E731

    assert run() == {"00_a": "ran", "01_b": "ran"}
    assert (tmp_path / "run" / "01_b" / "copy.txt").read_text() == "1 seed=7 epochs=2 preset=smoke | b"
    executed = nbformat.read(tmp_path / "run" / "chapters" / "01_b.ipynb", as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in executed.cells)
    assert run() == {"00_a": "up to date", "01_b": "up to date"}

    # A change to 00_a that leaves its outputs as they were re-runs it, but not 01_b.
    path = notebooks / "00_a.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[1].source = "# a comment\n" + notebook.cells[1].source
    nbformat.write(notebook, path)
    assert run() == {"00_a": "ran", "01_b": "up to date"}

    # Now its output changes: 01_b re-runs because its upstream did.
    notebook.cells[1].source = notebook.cells[1].source.replace("VALUE = 1", "VALUE = 2")
    nbformat.write(notebook, path)
    outcomes = run_steps(settings, discover_steps(notebooks), kernel_name=jupyter_kernel, progress=False)
    assert statuses(outcomes) == {"00_a": "ran", "01_b": "ran"} and outcomes[1].reasons == ["upstream 00_a changed"]
    assert (tmp_path / "run" / "01_b" / "copy.txt").read_text().startswith("2 seed=7")

    # Outputs edited by hand are noticed.
    (tmp_path / "run" / "01_b" / "copy.txt").write_text("tampered")
    state = load_state(tmp_path / "run")
    steps = discover_steps(notebooks)
    assert why_run(steps[1], steps[:1], settings, state, {})[1] == ["outputs changed since it ran"]


def test_failure_keeps_the_notebook_and_the_next_run_resumes(tmp_path, jupyter_kernel, capsys):
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    write_step(notebooks, "00_a", '(out / "a.txt").write_text("a")')
    write_step(notebooks, "01_b", 'raise ValueError("no expression table")')
    settings = RunSettings("smoke", tmp_path / "run")
    with pytest.raises(InputError, match="needs 00_a, which has not run"):
        run_steps(settings, discover_steps(notebooks), only="01", kernel_name=jupyter_kernel)
    with pytest.raises(StepFailed) as failure:
        run_steps(settings, discover_steps(notebooks), kernel_name=jupyter_kernel, progress=False)
    kept = tmp_path / "run" / "chapters" / "01_b.ipynb"
    assert "step 01_b failed" in str(failure.value) and "ValueError: no expression table" in str(failure.value)
    assert str(kept.resolve()) in str(failure.value) and "no expression table" in kept.read_text()
    assert list(load_state(tmp_path / "run")["steps"]) == ["00_a"]

    write_step(notebooks, "01_b", '(out / "b.txt").write_text("b")')
    outcomes = run_steps(settings, discover_steps(notebooks), kernel_name=jupyter_kernel, progress=False)
    assert statuses(outcomes) == {"00_a": "up to date", "01_b": "ran"}
    outcomes = run_steps(settings, discover_steps(notebooks), only="01_b", force=True,
                         kernel_name=jupyter_kernel, progress=False)
    assert statuses(outcomes) == {"00_a": "not selected", "01_b": "ran"}
    assert json.loads((tmp_path / "run" / "book-state.json").read_text())["steps"]["01_b"]["seconds"] > 0


def test_a_missing_kernel_is_explained():
    with pytest.raises(InputError, match="ipykernel install --sys-prefix --name no-such-kernel"):
        ensure_kernel("no-such-kernel")


def test_the_intro_box_shows_the_five_answers_once_the_summary_ran(tmp_path):
    from lmeqtl.book.pipeline import RunSettings, Step
    from lmeqtl.book.reproducibility import render_this_build
    from lmeqtl.book.steps import SUMMARY, output_path

    settings = RunSettings(preset="smoke", run_dir=tmp_path)
    steps = [Step(name, tmp_path / f"{name}.ipynb") for name in ("00_data", SUMMARY)]
    assert "The five answers" not in render_this_build(settings, steps, steps)  # summary wrote nothing
    answers = output_path(tmp_path, "answers")
    answers.parent.mkdir(parents=True)
    answers.write_text(json.dumps({"RQ1": "The model reaches\n\nIQS 0.9.", "RQ2": "No."}))
    page = render_this_build(settings, steps, steps)
    assert "- **RQ1.** The model reaches IQS 0.9." in page and "- **RQ2.** No." in page
    assert "The five answers" not in render_this_build(settings, steps, steps[:1])  # summary did not run
