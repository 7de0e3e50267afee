"""The ``lmeqtl`` command: one entry point, one subcommand per pipeline step.

Each subcommand is a module of this package that defines ``add_arguments(parser)`` and
``run(args) -> int`` and calls the library; the library itself holds no argparse code.
Modules are imported only when their command runs, so ``lmeqtl --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NamedTuple


class Command(NamedTuple):
    module: str
    summary: str


# In pipeline order.
COMMANDS: dict[str, Command] = {
    "presets": Command("lmeqtl.cli.presets", "show the presets (smoke, top10, top10-gpu, top100)"),
    "simulate": Command("lmeqtl.cli.simulate", "simulate a 1000 Genomes-like cohort with known eQTLs (real formats)"),
    "prepare": Command("lmeqtl.cli.prepare", "VCFs + panel + gene TSS list -> dataset.parquet + meta.csv.gz"),
    "train": Command("lmeqtl.cli.train", "train the haplotype masked language model (resumable; DDP via torchrun)"),
    "weights": Command("lmeqtl.cli.weights", "make the pretrained weights lmeqtl ships for a preset (resumable)"),
    "evaluate": Command("lmeqtl.cli.evaluate", "masked accuracy, recall and IQS of a trained model, by MAF bin"),
    "rq1": Command("lmeqtl.cli.rq1", "RQ1: genotype reconstruction, MLM vs Beagle 5 vs most frequent genotype, by MAF bin"),
    "embed": Command("lmeqtl.cli.embed", "haplotype embeddings of a trained model (single, masked or rolling; resumable)"),
    "finetune": Command("lmeqtl.cli.finetune", "RQ3: fine-tune a checkpoint on expression (frozen layers, per-gene head, RQ2 folds)"),
    "book": Command("lmeqtl.cli.book", "run the notebooks with papermill and build the HTML book"),
}


def _overview() -> str:
    width = max(len(name) for name in COMMANDS)
    rows = [f"  {name:<{width}}  {command.summary}" for name, command in COMMANDS.items()]
    return "commands:\n" + "\n".join(rows) + "\n\nRun 'lmeqtl COMMAND --help' for a command's options."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lmeqtl",
        description="What does a masked language model of human haplotypes know about gene expression?",
        epilog=_overview(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from lmeqtl import __version__

    parser.add_argument("--version", action="version", version=f"lmeqtl {__version__}")
    parser.add_argument("command", choices=list(COMMANDS), metavar="COMMAND", help="one of the commands below")
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command, return its exit code."""
    top = build_parser().parse_args(argv)
    command = COMMANDS[top.command]
    module = importlib.import_module(command.module)
    parser = argparse.ArgumentParser(
        prog=f"lmeqtl {top.command}",
        description=command.summary,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    module.add_arguments(parser)
    return int(module.run(parser.parse_args(top.args)) or 0)


if __name__ == "__main__":
    sys.exit(main())
