"""The ``lmeqtl`` command: one entry point, one subcommand per pipeline step.

Each subcommand is a module of this package that defines ``add_arguments(parser)`` and
``run(args) -> int`` and calls the library; the library itself holds no argparse code.
Modules are imported only when their command runs, so ``lmeqtl --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence
from typing import NamedTuple

from lmeqtl.errors import InputError


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
    parser.add_argument("--debug", action="store_true", help="on an input error, show the Python traceback "
                        f"too (or set {DEBUG_VARIABLE}=1)")
    parser.add_argument("command", choices=list(COMMANDS), metavar="COMMAND", help="one of the commands below")
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


DEBUG_VARIABLE = "LMEQTL_DEBUG"
# Errors that are the user's to fix: a bad file or value, a file that is missing, in the way
# or not ours to write. Anything else is a bug in lmeqtl and keeps its traceback.
USER_ERRORS = (InputError, FileExistsError, FileNotFoundError, IsADirectoryError, NotADirectoryError,
               PermissionError)


def user_message(err: BaseException) -> str:
    """One or two lines for a user error: the file or option, where, what was found and expected."""
    if isinstance(err, OSError) and not isinstance(err, InputError) and err.filename is not None:
        text = f"{err.filename}: {err.strerror or err}"
    else:
        text = str(err) or type(err).__name__
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[:2])


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the command, return its exit code.

    A user error (:data:`USER_ERRORS`) prints ``lmeqtl COMMAND: message`` on stderr and returns
    2 (with the traceback under ``--debug`` or ``LMEQTL_DEBUG=1``); other exceptions propagate.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    top = build_parser().parse_args(argv)
    rest = list(top.args)
    debug = top.debug or "--debug" in rest or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
    rest = [a for a in rest if a != "--debug"]
    command = COMMANDS[top.command]
    module = importlib.import_module(command.module)
    from lmeqtl.cli.options import HelpFormatter, finish

    parser = argparse.ArgumentParser(prog=f"lmeqtl {top.command}", description=command.summary,
                                     formatter_class=HelpFormatter)
    module.add_arguments(parser)
    args = finish(parser, parser.parse_args(rest))
    try:
        if getattr(args, "threads", None):
            import torch

            torch.set_num_threads(args.threads)
        return int(module.run(args) or 0)
    except USER_ERRORS as err:
        if debug:
            traceback.print_exc()
        print(f"lmeqtl {top.command}: {user_message(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
