"""Progress bars reach the console, never the executed notebooks (the book's pages)."""

from __future__ import annotations

import io

import nbformat
import pytest
from tqdm import std

from lmeqtl.book.progress import PROGRESS_ENV, ProgressEcho, last_line, route_progress_bars


@pytest.mark.parametrize(("text", "line"), [("a 10%\rb 20%\r", "b 20%"), ("x\n\n", "x"), ("", "")])
def test_last_line_is_the_newest_redraw(text, line):
    assert last_line(text) == line


def test_bars_go_to_the_progress_file_not_to_the_notebook(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(std.tqdm, "__init__", std.tqdm.__init__)  # restored after the test
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    assert route_progress_bars() is None  # by hand: bars unchanged
    path = tmp_path / "bars.txt"
    monkeypatch.setenv(PROGRESS_ENV, str(path))
    assert route_progress_bars() == path
    assert route_progress_bars() == path  # idempotent: one wrapper, not a stack
    for _ in std.tqdm(range(5), desc="training", mininterval=0):
        pass
    captured = capsys.readouterr()
    assert "training" not in captured.err + captured.out
    assert "training" in path.read_text() and "5/5" in last_line(path.read_text())


def test_echo_shows_the_newest_line_and_cleans_up(tmp_path, monkeypatch):
    monkeypatch.delenv(PROGRESS_ENV, raising=False)
    console = io.StringIO()
    path = tmp_path / ".step.progress"
    with ProgressEcho(path, "[1/2] 00_a", stream=console, interval=0.01, every=0.0):
        import os
        import time

        assert os.environ[PROGRESS_ENV] == str(path)
        with open(path, "a") as bars:
            bars.write("epoch 1: 10%\repoch 1: 50%")
        time.sleep(0.3)
    assert "[1/2] 00_a: epoch 1: 50%" in console.getvalue()
    assert PROGRESS_ENV not in __import__("os").environ and not path.exists()


def test_a_book_step_keeps_its_bars_off_the_page(tmp_path, jupyter_kernel, capsys):
    from lmeqtl.book.pipeline import RunSettings, discover_steps, run_steps
    from lmeqtl.book.template import PARAMETERS_CELL

    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    body = ("from lmeqtl.book.notebook import _quiet_progress_bars\n_quiet_progress_bars()\n"
            "from tqdm.auto import tqdm\nfor _ in tqdm(range(3), desc='fitting genes', mininterval=0):\n    pass\n"
            "print('done')")
    cells = [nbformat.v4.new_code_cell(PARAMETERS_CELL.format(step="00_a", preset="smoke"),
                                       metadata={"tags": ["parameters"]}), nbformat.v4.new_code_cell(body)]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), notebooks / "00_a.ipynb")
    settings = RunSettings("smoke", tmp_path / "run")
    run_steps(settings, discover_steps(notebooks), kernel_name=jupyter_kernel, progress=False)
    executed = nbformat.read(tmp_path / "run" / "chapters" / "00_a.ipynb", as_version=4)
    shown = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    assert "done" in shown and "fitting genes" not in shown and "it/s" not in shown
    assert not list((tmp_path / "run").glob(".*.progress"))  # the progress file is removed
