"""Figure sizes that fit the book's page: every plotting module sizes its figures from here."""

from __future__ import annotations

# The width (inches) of the Jupyter Book page column at the book's figure dpi (110, set by
# lmeqtl.book.notebook): a wider figure is shrunk to fit, and its text with it.
PAGE_WIDTH = 7.5


def page_width(width: float) -> float:
    """``width`` in inches, capped at :data:`PAGE_WIDTH`."""
    return min(float(width), PAGE_WIDTH)
