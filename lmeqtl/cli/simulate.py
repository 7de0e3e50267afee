"""``lmeqtl simulate``: a simulated 1000 Genomes-like cohort with known eQTLs, in the real formats."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from lmeqtl.config import get_preset
from lmeqtl.simulate.cohort import simulate_cohort


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Simulate a 1000 Genomes-like cohort with known causal eQTLs and write it in the real "
        "formats (VCFs + panel, GEUVADIS expression and eQTL tables, ENCODE-style peaks, truth/). "
        "Then run `lmeqtl prepare --data-dir OUT`.")
    parser.add_argument("--preset", default="top10", help="smoke | top10 | top10-gpu | top100 (see `lmeqtl presets`)")
    parser.add_argument("--out", type=Path, required=True, help="output directory, e.g. data/sim_top10")
    parser.add_argument("--seed", type=int, default=None, help="random seed; if not given: the preset's")
    parser.add_argument("--force", action="store_true", help="write into a non-empty directory")


def run(args: argparse.Namespace) -> int:
    config = get_preset(args.preset).simulation
    if args.seed is not None:
        config = dataclasses.replace(config, seed=args.seed)
    try:
        manifest = simulate_cohort(config, args.out, preset=args.preset, force=args.force)
    except FileExistsError as err:
        print(f"lmeqtl simulate: error: {err}")
        return 1
    print(f"wrote {len(manifest['files'])} files to {args.out} in {manifest['simulate_seconds']} s")
    return 0
