"""Scaling curves: time and peak memory vs SNPs per gene, samples and genes, for prepare and a model forward.

One axis varies at a time, the others stay at the base point:

- ``lmeqtl prepare`` (each case a fresh process; synthetic VCFs from
  :func:`benchmarks.common.write_inputs`): SNPs per gene 500..5000 (3 genes, 2504 samples);
  samples 250..2504 (3 genes x 5000 SNPs); genes 3..100 (500 SNPs, 2504 samples).
- a forward pass of the haplotype MLM in eval mode (the ``top10`` preset's architecture,
  cached kernels, ``--threads`` torch threads): SNPs 500..5000 (a batch of 8 haplotypes);
  samples 250..2504 (every haplotype of one gene, 2n of them, at 500 SNPs, batches of 32);
  genes 3..100 (a model with a 5000-SNP embedding table per gene; one batch of 4 whole
  haplotypes per gene). An axis runs in one child process in increasing size; the peak RSS
  after a case is that case's peak as long as peaks grow along the axis (they do here).

"exponent" is the slope of log(time) on log(size) over the axis (prepare: its own timer,
without the process start-up): 1 = linear.

    python -m benchmarks.bench_scaling [--part prepare|model] [--threads 1]
    python -m benchmarks.bench_scaling --quick
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import (
    cached_inputs,
    load_average,
    markdown,
    measure,
    peak_rss_mb,
    prepare_command,
)

FULL = {"snps": [500, 1000, 2000, 5000], "samples": [250, 500, 1000, 2504], "genes": [3, 10, 30, 100]}
QUICK = {"snps": [200, 500], "samples": [100, 250], "genes": [3, 10]}
BASE = {"snps": 5000, "samples": 2504, "genes": 3, "genes_axis_snps": 500}
QUICK_BASE = {"snps": 500, "samples": 250, "genes": 3, "genes_axis_snps": 200}


def thin(sizes: list[int], points: int) -> list[int]:
    """``points`` of ``sizes`` spread evenly by index, the first and last included."""
    index = np.unique(np.round(np.linspace(0, len(sizes) - 1, max(points, 2))).astype(int))
    return [sizes[i] for i in index]


def _exponent(sizes: list[int], seconds: list[float]) -> float:
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0]) if len(sizes) > 1 else float("nan")


def _prepare(command: list[str]) -> dict:
    """Process wall time and peak RSS, and prepare's own time (printed by the command: 'in 12.3 s')."""
    result = measure(command)
    found = re.search(r" in ([0-9.]+) s", result.pop("stdout"))
    result["own_seconds"] = float(found.group(1)) if found else float("nan")
    return result


def prepare_curves(grid: dict, base: dict, scratch: Path) -> list[dict]:
    rows = []
    for snps in grid["snps"]:
        inputs = cached_inputs(base["genes"], max(grid["snps"]), base["samples"], scratch)
        result = _prepare(prepare_command(inputs, scratch / "out", snps, base["genes"]))
        rows.append({"axis": "SNPs per gene", "size": snps, **result})
    for samples in grid["samples"]:
        inputs = cached_inputs(base["genes"], max(grid["snps"]), samples, scratch)
        result = _prepare(prepare_command(inputs, scratch / "out", max(grid["snps"]), base["genes"]))
        rows.append({"axis": "samples", "size": samples, **result})
    for genes in grid["genes"]:
        inputs = cached_inputs(max(grid["genes"]), base["genes_axis_snps"], base["samples"], scratch)
        result = _prepare(prepare_command(inputs, scratch / "out", base["genes_axis_snps"], genes))
        rows.append({"axis": "genes", "size": genes, **result})
    return rows


def _model_axis(axis: str, sizes: list[int], base: dict, threads: int) -> list[dict]:
    """Run one model axis in this process (increasing sizes) and return its rows."""
    import torch

    from lmeqtl.config import get_preset
    from lmeqtl.mlm.model import HaplotypeMLM, count_parameters

    torch.set_num_threads(threads)
    config = get_preset("top10").model
    generator = torch.Generator().manual_seed(0)
    rows = []
    for size in sizes:
        if axis == "snps":
            length, n_genes, batches = size, 3, [8]
        elif axis == "samples":
            length, n_genes = 500, 3
            batches = [min(32, 2 * size - i) for i in range(0, 2 * size, 32)]
        else:
            length, n_genes, batches = base["snps"], size, [4] * size
        model = HaplotypeMLM(config, n_genes, [max(length, base["snps"])] * n_genes).eval()
        tokens = torch.randint(0, 2, (max(batches), length), generator=generator)
        with torch.no_grad():
            model(tokens[:1], torch.zeros(1, dtype=torch.long))  # builds the kernel cache for this length
            start = time.perf_counter()
            for i, batch in enumerate(batches):
                model(tokens[:batch], torch.full((batch,), i % n_genes, dtype=torch.long))
            seconds = time.perf_counter() - start
        rows.append({"axis": {"snps": "SNPs per gene", "samples": "samples", "genes": "genes"}[axis], "size": size,
                     "seconds": seconds, "peak_mb": peak_rss_mb(), "haplotypes": sum(batches),
                     "parameters": count_parameters(model)})
    return rows


def model_curves(grid: dict, base: dict, threads: int) -> list[dict]:
    rows = []
    for axis in ("snps", "samples", "genes"):
        command = [sys.executable, "-m", "benchmarks.bench_scaling", "--model-case", axis,
                   json.dumps(grid[axis]), json.dumps(base), str(threads)]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        rows += json.loads(done.stdout.strip().splitlines()[-1])
    return rows


def _table(rows: list[dict], unit: str, extra: dict[str, str] | None = None) -> str:
    for axis in dict.fromkeys(r["axis"] for r in rows):
        these = [r for r in rows if r["axis"] == axis]
        slope = _exponent([r["size"] for r in these], [r.get("own_seconds", r["seconds"]) for r in these])
        for r in these:
            r["exponent"] = f"{slope:.2f}"
    for r in rows:
        r["seconds"], r["peak_mb"] = round(r["seconds"], 2), round(r["peak_mb"])
    columns = {"axis": "axis", "size": "size", "seconds": f"wall s ({unit})", "peak_mb": "peak RSS MB",
               **(extra or {}), "exponent": "exponent"}
    return markdown(rows, columns)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="two small sizes per axis (a smoke test)")
    parser.add_argument("--part", choices=["prepare", "model"], action="append", help="default: both")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the model forward")
    parser.add_argument("--points", type=int, default=None,
                        help="sizes per axis, the two ends included (default: all 4; 2 or 3 for a shorter run)")
    parser.add_argument("--model-case", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.model_case:
        axis, sizes, base, threads = args.model_case
        print(json.dumps(_model_axis(axis, json.loads(sizes), json.loads(base), int(threads))))
        return 0
    grid, base = (QUICK, QUICK_BASE) if args.quick else (FULL, BASE)
    if args.points:
        grid = {axis: thin(sizes, args.points) for axis, sizes in grid.items()}
    parts = args.part or ["prepare", "model"]

    load_before = load_average()
    if "prepare" in parts:
        with tempfile.TemporaryDirectory(prefix="bench_scaling_") as scratch:
            rows = prepare_curves(grid, base, Path(scratch))
        print(f"### lmeqtl prepare: one axis at a time (base: {base['genes']} genes x {base['snps']} SNPs x "
              f"{base['samples']} samples; genes axis at {base['genes_axis_snps']} SNPs)\n")
        print(_table(rows, "process", {"own_seconds": "prepare's own s"}))
        print()
    if "model" in parts:
        rows = model_curves(grid, base, args.threads)
        for r in rows:
            r["per_haplotype_ms"] = round(1000 * r["seconds"] / r["haplotypes"], 1)
        print(f"### HaplotypeMLM forward (eval, top10 preset architecture, {args.threads} torch thread(s)): "
              f"SNPs: batch of 8; samples: all 2n haplotypes at 500 SNPs; genes: 4 haplotypes x "
              f"{base['snps']} SNPs per gene\n")
        print(_table(rows, "forward passes", {"haplotypes": "haplotypes", "per_haplotype_ms": "ms per haplotype",
                                              "parameters": "parameters"}))
        print()
    print(f"load average before {load_before:.2f}, after {load_average():.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
