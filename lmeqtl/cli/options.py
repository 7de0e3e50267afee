"""The options every command spells the same way: ``--out``, ``--threads``, ``--preset``, checked values.

Light on imports (no torch): ``lmeqtl prepare`` and ``lmeqtl simulate`` use it too.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from lmeqtl.config.validate import POSITIVE_INT, Rule
from lmeqtl.errors import InputError

DEFAULT_PRESET = "top10"


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default only where it says something: not None, not a store_true/false switch."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (action.default in (None, True, False, argparse.SUPPRESS) or "%(default)" in text
                or "default" in text.lower() or not action.option_strings):
            return text
        return text + " (default: %(default)s)"


def checked(rule: Rule, flag: str = "") -> Callable[[str], int | float]:
    """An argparse ``type`` that parses a number and checks it against ``rule``.

    The error (argparse prints it with the flag) says what was found and what was expected.
    """
    def parse(text: str) -> int | float:
        try:
            value: int | float = rule.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {rule.describe()}") from None
        if not rule.accepts(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {rule.describe()}")
        return value

    parse.__name__ = rule.describe()
    return parse


def add_out_argument(parser: argparse.ArgumentParser, help: str, aliases: Sequence[str] = (),  # noqa: A002
                     required: bool = True, **kwargs) -> None:  # noqa: ANN003 - passed to add_argument
    """``--out`` (the one output flag of every command); older spellings work but are not shown."""
    parser.add_argument("--out", dest="out", metavar="OUT", help=help + (" (required)" if required else ""),
                        **kwargs)
    for alias in aliases:
        parser.add_argument(alias, dest="out", help=argparse.SUPPRESS, **kwargs)
    if required:
        parser.set_defaults(_required_out=True)


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=checked(POSITIVE_INT), help="torch CPU threads (default: torch's "
                        "choice, usually one per core)")


def add_preset_argument(parser: argparse.ArgumentParser, help: str) -> None:  # noqa: A002
    from lmeqtl.config import PRESETS

    parser.add_argument("--preset", default=DEFAULT_PRESET, choices=list(PRESETS),
                        help=f"{help} (default: {DEFAULT_PRESET}; see `lmeqtl presets`)")


def finish(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """Checks argparse cannot express: a required ``--out`` given under an old spelling."""
    if getattr(args, "_required_out", False) and getattr(args, "out", None) is None:
        parser.error("the following arguments are required: --out")
    return args


def require(condition: bool, message: str, option: str, expected: str) -> None:
    """An :class:`InputError` naming ``option`` unless ``condition``."""
    if not condition:
        raise InputError(message, where=f"option {option}", expected=expected)
