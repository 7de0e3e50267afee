"""Exceptions that explain what is wrong with an input, and where."""

from __future__ import annotations

from os import PathLike


class InputError(ValueError):
    """A file or value is not what lmeqtl expects.

    The message names the file, the place in it (row, column, field) and what was
    expected, so that a user can fix the input without reading our code.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | PathLike[str] | None = None,
        where: str | None = None,
        expected: str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.where = where
        self.expected = expected
        parts = []
        if self.path is not None:
            parts.append(self.path)
        if where is not None:
            parts.append(where)
        prefix = ": ".join(parts)
        text = f"{prefix}: {message}" if prefix else message
        if expected is not None:
            text += f" (expected {expected})"
        super().__init__(text)
