"""Run every ``benchmarks/bench_*.py`` and record their tables in ``RESULTS.md`` and ``RESULTS.json``.

    python -m benchmarks                  # all benchmarks (CPU, < 15 min): writes benchmarks/RESULTS.*
    python -m benchmarks --quick          # tiny sizes, a smoke test of every benchmark (writes nothing)
    python -m benchmarks --only model --only scaling --no-write

Contract of a benchmark: a module ``benchmarks/bench_NAME.py`` with ``main(argv) -> int``
that prints markdown (tables and notes) and accepts ``--quick``; ``--threads N`` and
``--device cuda`` are passed to the benchmarks that accept them. Each runs in its own
process, under a time limit: the rest of ``--budget-min`` (a benchmark that hits it is
reported as such, with what it printed). The arguments of the full run are in
:data:`FULL_RUN_ARGS`: they size the slow benchmarks so that the whole run fits in the
budget on 2 shared CPU cores. When a GPU is present, the benchmarks that take ``--device``
run a second time on it. RESULTS.json holds the same tables, parsed, for comparisons.

Other processes on the machine slow the timings down: the load average before and after
each benchmark is recorded; ratios inside one benchmark are measured side by side.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import git_commit, machine

HERE = Path(__file__).resolve().parent
# run order: the rows first; benchmarks not listed run after these, by name
ORDER = ["encoding", "dataprep", "training", "model", "scaling", "expression", "embed", "finetune", "explain", "data"]
# arguments of the full (non --quick) run, sized so that every row finishes within the 15 min budget on
# 2 CPU cores shared with other work (load average ~10 when measured: timings ~6x an idle machine's).
# The tables state their sizes; `python -m benchmarks.bench_X` (no arguments) runs the larger defaults.
FULL_RUN_ARGS = {
    "dataprep": ["--genes", "3", "--repeats", "1"],  # 3 x 5000 SNPs x 2504 samples (default 10 genes)
    "model": ["--d-model", "64", "--n-layers", "4", "--original-repeats", "1", "--repeats", "2"],  # top10 preset
    "scaling": ["--points", "2", "--part", "prepare"],  # each axis's two ends; `--part model`: the forward
    "expression": ["--genes", "3"],
    "embed": ["--d-model", "64", "--n-layers", "4", "--agreement-people", "4", "--rq1-samples", "30"],
    "finetune": ["--people", "40", "--length", "1000", "--epochs", "2"],
    "explain": ["--individuals", "2", "--steps", "4"],  # 5000 SNPs; attribution on 2 people (default 8 x 8 steps)
}

# benchmarks that train for many minutes run apart, into their own file: name -> (file, command)
APART = {"recipe": ("RESULTS-recipe.md", "python -m benchmarks.bench_recipe --data-dir runs/top10/00_data/cohort "
                    "--steps 300 --curve lmeqtl/weights/top10 --out benchmarks/RESULTS-recipe.md"),
         "context": ("RESULTS-context.md", "python -m benchmarks.bench_context --data-dir runs/top10/00_data/cohort "
                     "--checkpoint lmeqtl/weights/top10 --draws 2 --seed 12 --out benchmarks/RESULTS-context.md"),
         "genes_parallel": ("RESULTS-genes-parallel.md", "python -m benchmarks.bench_genes_parallel --data-dir "
                            "runs/top10/00_data/cohort --checkpoint lmeqtl/weights/top10 --genes 4 "
                            "--out benchmarks/RESULTS-genes-parallel.md")}

# the default-size model benchmark takes ~10 minutes: its own file, not part of the 15-minute run
ORIGINAL_SIZE_RESULTS = "RESULTS-original-size.md"
ORIGINAL_SIZE_COMMAND = ("python -m benchmarks.bench_model --bf16 --frozen-kernels "
                         f"--out benchmarks/{ORIGINAL_SIZE_RESULTS}")


def parse_tables(text: str) -> list[list[dict[str, str]]]:
    """The markdown tables of ``text`` as lists of rows (header -> cell)."""
    tables, lines = [], text.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and set(lines[i + 1].replace("|", "").strip()) <= set("-: "):
            header = [c.strip() for c in lines[i].strip().strip("|").split("|")]
            rows, i = [], i + 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(dict(zip(header, (c.strip() for c in lines[i].strip().strip("|").split("|")),
                                     strict=False)))
                i += 1
            tables.append(rows)
        else:
            i += 1
    return tables


def discover(only: list[str] | None) -> list[str]:
    names = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    names = [n for n in names if n not in APART or (only and n in only)]
    names = [n for n in ORDER if n in names] + [n for n in names if n not in ORDER]
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise SystemExit(f"no benchmarks/bench_{unknown[0]}.py; known: {', '.join(names)}")
        names = [n for n in names if n in only]
    return names


def run_one(name: str, args: list[str], limit_s: float, env: dict[str, str]) -> dict:
    """Run ``bench_<name>`` in a child process under ``limit_s`` seconds; its record."""
    start, load_before = time.perf_counter(), os.getloadavg()[0]
    command = [sys.executable, "-m", f"benchmarks.bench_{name}", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, cwd=HERE.parent, timeout=max(limit_s, 1),
                              env=env)
        status = "ok" if done.returncode == 0 else f"failed (exit {done.returncode})"
        stdout, stderr = done.stdout, done.stderr
    except subprocess.TimeoutExpired as err:
        status = f"stopped at the time limit ({limit_s:.0f} s)"
        stdout = err.stdout.decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
        stderr = err.stderr.decode() if isinstance(err.stderr, bytes) else (err.stderr or "")
    return {"name": name, "args": args, "status": status, "seconds": round(time.perf_counter() - start, 1),
            "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
            "stdout": stdout, "stderr_tail": "" if status == "ok" else stderr[-3000:],
            "tables": parse_tables(stdout)}


def _section(record: dict) -> str:
    title = f"## bench_{record['name']}" + (" (cuda)" if "cuda" in record["args"] else "")
    command = " ".join(["python -m benchmarks.bench_" + record["name"], *record["args"]])
    body = record["stdout"].strip() or "(no output)"
    if record["status"] != "ok":
        body += f"\n\n**{record['status']}**\n\n```\n{record['stderr_tail'].strip()}\n```"
    return f"{title}\n\n`{command}`\n\n{body}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark; write nothing")
    parser.add_argument("--only", action="append", help="run only bench_<ONLY>.py (repeatable)")
    parser.add_argument("--budget-min", type=float, default=None,
                        help="time limit of the whole run in minutes (default 15; --quick: 5)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for the benchmarks that take --threads (default 1: robust to a "
                             "busy machine; oversubscribed threads of small ops slow down many-fold)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--output", type=Path, default=None,
                        help="directory of RESULTS.md / RESULTS.json (default: benchmarks/; --quick: none)")
    args = parser.parse_args(argv)
    budget = 60 * (args.budget_min or (5 if args.quick else 15))
    output = args.output or (None if args.quick or args.no_write else HERE)
    names = discover(args.only)

    import torch

    runs = []
    for name in names:
        source = (HERE / f"bench_{name}.py").read_text()
        extra = ["--quick"] if args.quick else FULL_RUN_ARGS.get(name, [])
        if "--threads" in source:
            extra = [*extra, "--threads", str(args.threads)]
        runs.append((name, extra, "--quick" in source))
        if torch.cuda.is_available() and '"--device"' in source:
            runs.append((name, [*extra, "--device", "cuda"], "--quick" in source))

    started, load_before, records = time.perf_counter(), os.getloadavg()[0], []
    with tempfile.TemporaryDirectory(prefix="lmeqtl_bench_") as cache:
        env = {**os.environ, "LMEQTL_BENCH_CACHE": cache, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))}
        for name, extra, has_quick in runs:
            left = budget - (time.perf_counter() - started)
            if args.quick and not has_quick:
                record = {"name": name, "args": extra, "status": "skipped: no --quick mode", "seconds": 0.0,
                          "stdout": "", "stderr_tail": "", "tables": []}
            elif left <= 0:
                record = {"name": name, "args": extra, "status": "skipped: budget spent", "seconds": 0.0,
                          "stdout": "", "stderr_tail": "", "tables": []}
            else:
                print(f"-- bench_{name} {' '.join(extra)} (limit {left:.0f} s)", flush=True)
                record = run_one(name, extra, left, env)
            records.append(record)
            print(_section(record), flush=True)
    total = time.perf_counter() - started

    host = machine()
    header = {"date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "commit": git_commit(), "machine": host,
              "quick": args.quick, "threads": args.threads, "budget_s": budget, "total_s": round(total, 1),
              "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}
    summary = "| benchmark | status | seconds | load before / after |\n|---|---|---|---|\n" + "".join(
        f"| bench_{r['name']}{' (cuda)' if 'cuda' in r['args'] else ''} | {r['status']} | {r['seconds']:.0f} "
        f"| {r.get('load_before', '-')} / {r.get('load_after', '-')} |\n" for r in records)
    intro = (f"# Benchmark results\n\n{header['date']}, commit {header['commit']}"
             f"{', --quick' if args.quick else ''}\n\nMachine: {host['cpu']}, {host['cores']} CPU cores, "
             f"GPU: {host['gpu']}, torch {host['torch']}, Python {host['python']}; torch threads per "
             f"benchmark: {args.threads}\n\nWhole run: {total / 60:.1f} min (budget {budget / 60:.0f} min); load "
             f"average (1 min) before {header['load_before']}, after {header['load_after']} — other processes "
             f"shared the CPU cores when the load exceeds {host['cores']}.\n\n"
             f"The model at the original's size (d 256 x 16 layers, minutes per case) is timed apart: "
             f"{ORIGINAL_SIZE_RESULTS}, written by `{ORIGINAL_SIZE_COMMAND}`.\n"
             + "".join(f"\nbench_{name} takes many minutes on a book run's cohort and runs apart: {file}, written by "
                       f"`{command}`.\n"
                       for name, (file, command) in APART.items()))
    print(summary)
    print(f"whole run {total / 60:.1f} min")
    if output is not None:
        from lmeqtl.data.io import atomic_path, write_json

        with atomic_path(Path(output) / "RESULTS.md") as tmp:
            tmp.write_text("\n".join([intro, summary, *(_section(r) for r in records)]))
        write_json(Path(output) / "RESULTS.json", {**header, "benchmarks": records})
        print(f"wrote {Path(output) / 'RESULTS.md'} and RESULTS.json")
    return 0 if all(r["status"] == "ok" or r["status"].startswith("skipped: no") for r in records) else 1


if __name__ == "__main__":
    sys.exit(main())
