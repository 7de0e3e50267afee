"""Range and type checks of settings, shared by the config sections and the command line.

A bad value is refused where it enters (a dataclass's ``__post_init__``, a JSON key, a flag)
with an :class:`~lmeqtl.errors.InputError` naming the setting, the value found and what was
expected, so that ``--epochs 0`` or ``"top_n_genes": "3"`` never reaches the code that would
divide by it, loop zero times or slice with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lmeqtl.errors import InputError


@dataclass(frozen=True)
class Rule:
    """What a numeric setting may be: ``kind`` int or float, bounds, open or closed, optional None."""

    kind: type = int
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    optional: bool = False

    def describe(self) -> str:
        kind = "an integer" if self.kind is int else "a number"
        if self.lo is not None and self.hi is not None:
            left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
            bounds = f" in {left}{self.lo:g}, {self.hi:g}{right}"
        elif self.lo is not None:
            bounds = f" {'>' if self.lo_open else '>='} {self.lo:g}"
        elif self.hi is not None:
            bounds = f" {'<' if self.hi_open else '<='} {self.hi:g}"
        else:
            bounds = ""
        return kind + bounds + (" or null" if self.optional else "")

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, (int, float)):  # True is an int to Python
            return False
        if self.kind is int and not isinstance(value, int):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        return not (self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi))


# Shorthands for the usual cases.
POSITIVE_INT = Rule(int, lo=1)
COUNT = Rule(int, lo=0)
POSITIVE = Rule(float, lo=0, lo_open=True)
NON_NEGATIVE = Rule(float, lo=0)
RATE = Rule(float, lo=0, hi=1, lo_open=True, hi_open=True)  # a share strictly between 0 and 1


def flag_name(field: str) -> str:
    """The command-line flag of a config field (``batch_size`` -> ``--batch-size``)."""
    return "--" + field.replace("_", "-")


def check_value(value: Any, rule: Rule, name: str, path: str | None = None) -> Any:
    """``value`` if ``rule`` accepts it, else an :class:`InputError` naming ``name`` and the value."""
    if not rule.accepts(value):
        raise InputError(f"{value!r} is not valid", path=path, where=name, expected=rule.describe())
    return value


def check_fields(obj: Any, section: str, rules: dict[str, Rule]) -> None:
    """Check the fields of a config dataclass; the error names ``section.field`` and its flag."""
    for field, rule in rules.items():
        value = getattr(obj, field)
        if not rule.accepts(value):
            raise InputError(f"{value!r} is not valid", where=f"{section}.{field} ({flag_name(field)})",
                             expected=rule.describe())
