"""``lmeqtl simulate``: a simulated 1000 Genomes-like cohort with known eQTLs, in the real formats."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from lmeqtl.cli.options import add_out_argument, add_preset_argument, checked
from lmeqtl.config import get_preset
from lmeqtl.config.validate import COUNT
from lmeqtl.simulate.cohort import simulate_cohort


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Simulate a 1000 Genomes-like cohort with known causal eQTLs and write it in the real "
        "formats (VCFs + panel, GEUVADIS expression and eQTL tables, ENCODE-style peaks, truth/). "
        "Then run `lmeqtl prepare --data-dir OUT`.")
    add_preset_argument(parser, "which cohort to simulate")
    add_out_argument(parser, "output directory, e.g. data/sim_top10", aliases=("--output-dir", "--output_dir"),
                     type=Path)
    parser.add_argument("--seed", type=checked(COUNT), default=None, help="random seed (default: the preset's)")
    parser.add_argument("--force", action="store_true", help="write into a non-empty directory")


def run(args: argparse.Namespace) -> int:
    from lmeqtl.data.io import ensure_output_dir

    config = get_preset(args.preset).simulation
    if args.seed is not None:
        config = dataclasses.replace(config, seed=args.seed)
    ensure_output_dir(args.out, create=False)
    manifest = simulate_cohort(config, args.out, preset=args.preset, force=args.force)
    print(f"wrote {len(manifest['files'])} files to {args.out} in {manifest['simulate_seconds']} s")
    return 0
