"""Faults: a training run killed mid-epoch or mid-save resumes to the same numbers; every write is atomic.

Also tested elsewhere: a run killed between epochs (test_train), the book runner resuming
after a failed notebook without redoing finished steps (test_pipeline), atomic_path itself
(test_io).
"""

import ast
import os
from pathlib import Path

import pandas as pd
import pytest
import torch
from mlm_fixtures import founder_cohort

import lmeqtl
from lmeqtl.config import ModelConfig, TrainConfig
from lmeqtl.mlm.batches import HaplotypeBatches
from lmeqtl.mlm.train import STATE_FILE, train_mlm

TINY = ModelConfig(d_model=16, n_layers=1, n_resnet_blocks=1, d_state=8, dropout=0.1)
QUICK = TrainConfig(epochs=3, batch_size=16, learning_rate=1e-2, warmup_steps=2, edge_frame=2, n_folds=4,
                    crop_length=32)
COLUMNS = ["epoch", "train_loss", "train_masked_accuracy", "val_loss", "val_masked_accuracy", "val_iqs_snp_mean"]


class Killed(BaseException):  # like SIGINT: not an Exception, so nothing on the way may swallow it
    pass


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # small models: threads only add noise


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    torch.set_num_threads(1)
    cohort = founder_cohort()
    return cohort, train_mlm(cohort, TINY, QUICK, tmp_path_factory.mktemp("whole"), "cpu", progress=False).history


def test_killed_mid_epoch_resumes_to_the_same_numbers(uninterrupted, tmp_path, monkeypatch):
    cohort, whole = uninterrupted
    original = HaplotypeBatches._train_epoch

    def dies_in_epoch_2(self, epoch, rank, world_size):
        for number, batch in enumerate(original(self, epoch, rank, world_size)):
            if epoch == 2 and number == 3:
                raise Killed  # after 3 optimiser steps of epoch 2
            yield batch

    monkeypatch.setattr(HaplotypeBatches, "_train_epoch", dies_in_epoch_2)
    with pytest.raises(Killed):
        train_mlm(cohort, TINY, QUICK, tmp_path, "cpu", progress=False)
    assert torch.load(tmp_path / STATE_FILE, weights_only=True)["epoch"] == 1  # the last finished epoch
    monkeypatch.setattr(HaplotypeBatches, "_train_epoch", original)
    resumed = train_mlm(cohort, TINY, QUICK, tmp_path, "cpu", progress=False).history
    pd.testing.assert_frame_equal(resumed[COLUMNS], whole[COLUMNS])


def test_killed_while_saving_the_state_resumes_to_the_same_numbers(uninterrupted, tmp_path, monkeypatch):
    cohort, whole = uninterrupted
    real_save = torch.save
    calls = {"state": 0}

    def dies_half_way(obj, target, *args, **kwargs):
        path = Path(getattr(target, "name", target))  # a path, or the open temporary file
        if STATE_FILE.split(".")[0] in path.name:
            calls["state"] += 1
            if calls["state"] == 2:  # the end of epoch 2: half a file, then the process dies
                real_save(obj, target, *args, **kwargs)
                if hasattr(target, "flush"):
                    target.flush()
                os.truncate(path, path.stat().st_size // 2)
                raise Killed
        return real_save(obj, target, *args, **kwargs)

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(Killed):
        train_mlm(cohort, TINY, QUICK, tmp_path, "cpu", progress=False)
    monkeypatch.setattr(torch, "save", real_save)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary left
    assert torch.load(tmp_path / STATE_FILE, weights_only=True)["epoch"] == 1  # the previous, whole state
    resumed = train_mlm(cohort, TINY, QUICK, tmp_path, "cpu", progress=False).history
    pd.testing.assert_frame_equal(resumed[COLUMNS], whole[COLUMNS])


# ---------------------------------------------------------------------------------------
# every write in lmeqtl/ goes through lmeqtl.data.io.atomic_path (a source audit)
# ---------------------------------------------------------------------------------------

WRITER_METHODS = {"write_text", "write_bytes", "to_csv", "to_parquet", "to_json", "to_feather", "savefig",
                  "to_markdown", "to_html", "to_excel"}
WRITER_FUNCTIONS = {("torch", "save"): 1, ("np", "save"): 0, ("np", "savez"): 0, ("np", "savez_compressed"): 0,
                    ("nbformat", "write"): 1, ("json", "dump"): 1, ("pq", "write_table"): 1, ("shutil", "copy"): 1,
                    ("shutil", "copyfile"): 1, ("shutil", "copy2"): 1}
# (file, function) of writes that may bypass atomic_path: only the live progress stream of a book run
# (a log the console tails while a notebook runs, not an output). (papermill writes a step's executed
# notebook itself, and keeps it on failure on purpose: the book state records success only after.)
ALLOWED: set[tuple[str, str]] = {("book/progress.py", "route_progress_bars"), ("book/progress.py", "__enter__")}


def _bound_by_atomic_path(function: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(function):
        if isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                call = item.context_expr
                if (isinstance(call, ast.Call) and getattr(call.func, "id", getattr(call.func, "attr", None))
                        == "atomic_path" and isinstance(item.optional_vars, ast.Name)):
                    names.add(item.optional_vars.id)
    # a file opened on an atomic temp path (`with atomic_path(p) as tmp, open(tmp, "wb") as handle`)
    for node in ast.walk(function):
        if isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                call = item.context_expr
                if (isinstance(call, ast.Call) and getattr(call.func, "id", None) == "open" and call.args
                        and isinstance(item.optional_vars, ast.Name)
                        and {n.id for n in ast.walk(call.args[0]) if isinstance(n, ast.Name)} & names):
                    names.add(item.optional_vars.id)
    return names


def _target(call: ast.Call) -> ast.AST | None:
    """The path a writer call writes to, or None when the call writes nothing (e.g. ``to_csv()`` -> str)."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        if getattr(func, "id", None) == "open":
            mode = call.args[1] if len(call.args) > 1 else next((k.value for k in call.keywords if k.arg == "mode"),
                                                                   None)
            writes = isinstance(mode, ast.Constant) and any(c in str(mode.value) for c in "wax")
            return call.args[0] if writes and call.args else None
        return None
    owner = getattr(func.value, "id", None)
    if (owner, func.attr) in WRITER_FUNCTIONS:
        index = WRITER_FUNCTIONS[(owner, func.attr)]
        return call.args[index] if len(call.args) > index else None
    if func.attr in WRITER_METHODS:
        if func.attr in ("write_text", "write_bytes"):
            return func.value
        path_keywords = [k.value for k in call.keywords if k.arg in ("path", "path_or_buf", "fname")]
        return call.args[0] if call.args else (path_keywords[0] if path_keywords else None)
    return None


def test_every_write_in_the_package_goes_through_atomic_path():
    root = Path(lmeqtl.__file__).parent
    direct = []
    for source in sorted(root.rglob("*.py")):
        tree = ast.parse(source.read_text())
        scopes = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        for scope in [tree, *scopes]:
            safe = _bound_by_atomic_path(scope)
            body = scope.body if scope is tree else [scope]
            calls = [n for stmt in body for n in ast.walk(stmt) if isinstance(n, ast.Call)]
            if scope is tree:  # module level: only statements outside functions
                calls = [n for stmt in tree.body if not isinstance(stmt, ast.FunctionDef | ast.ClassDef)
                         for n in ast.walk(stmt) if isinstance(n, ast.Call)]
            for call in calls:
                target = _target(call)
                if target is None:
                    continue
                names = {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
                where = (str(source.relative_to(root)), getattr(scope, "name", "<module>"))
                if not names & safe and where not in ALLOWED:
                    direct.append(f"{where[0]}:{call.lineno}: {ast.unparse(call)[:80]}")
    assert sorted(set(direct)) == []


def test_the_audit_catches_a_direct_write():
    tree = ast.parse("def f(path, frame):\n    frame.to_csv(path)\n    path.write_text('x')\n"
                     "    with atomic_path(path) as tmp:\n        frame.to_csv(tmp)\n")
    function = tree.body[0]
    calls = [n for n in ast.walk(function) if isinstance(n, ast.Call) and _target(n) is not None]
    safe = _bound_by_atomic_path(function)
    flagged = [c for c in calls if not {n.id for n in ast.walk(_target(c)) if isinstance(n, ast.Name)} & safe]
    assert [ast.unparse(c) for c in flagged] == ["frame.to_csv(path)", "path.write_text('x')"]
