"""Run every ``benchmarks/bench_*.py`` and record their tables in ``benchmarks/RESULTS.md``.

    python -m benchmarks            # all benchmarks, full size
    python -m benchmarks --quick    # pass --quick to each (a smoke test)
    python -m benchmarks --only model --no-write

Each benchmark is a module with ``main(argv) -> int`` that prints a markdown table; it runs
in its own process. RESULTS.md gets the date, commit, machine and every table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return f"{cpu}, {os.cpu_count()} CPU cores, GPU: {gpu}, torch {torch.__version__}, Python {platform.python_version()}"


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="pass --quick to every benchmark")
    parser.add_argument("--only", action="append", help="run only bench_<ONLY>.py (repeatable)")
    parser.add_argument("--no-write", action="store_true", help="print only, do not write RESULTS.md")
    args = parser.parse_args(argv)
    names = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if args.only:
        names = [n for n in names if n.removeprefix("bench_") in args.only]
    sections = [f"# Benchmark results\n\n{dt.date.today()}, commit {_commit()}\n\nMachine: {_machine()}\n"]
    summary = []
    for name in names:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", f"benchmarks.{name}"] + (["--quick"] if args.quick else []),
                              capture_output=True, text=True, cwd=HERE.parent)
        seconds = time.perf_counter() - start
        status = "ok" if done.returncode == 0 else f"failed ({done.returncode})"
        body = done.stdout if done.returncode == 0 else done.stdout + "\n```\n" + done.stderr[-3000:] + "\n```\n"
        print(body, flush=True)
        sections.append(f"## {name}\n\n{body.strip()}\n")
        summary.append((name, status, seconds))
    table = "| benchmark | status | seconds |\n|---|---|---|\n" + "".join(
        f"| {n} | {s} | {t:.0f} |\n" for n, s, t in summary)
    print(table)
    if not args.no_write:
        from lmeqtl.io import atomic_path

        with atomic_path(HERE / "RESULTS.md") as tmp:
            tmp.write_text("\n".join(sections[:1] + [table] + sections[1:]))
    return 0 if all(s == "ok" for _, s, _ in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
