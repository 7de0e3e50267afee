"""Tables on the book's pages: readable headers, no pandas 0..n index, and room to scroll.

:func:`display_table` is what a chapter's last line shows instead of a bare DataFrame. The
table carries the CSS class ``lmeqtl-table``; ``book/_static/lmeqtl.css`` lets tables of
that class (and every ``.dataframe``) scroll sideways inside the page column instead of
spilling out of it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

TABLE_CLASS = "dataframe lmeqtl-table"


def _number(digits: int):
    def format_value(value) -> str:
        if isinstance(value, (bool, np.bool_)):
            return str(value)
        if isinstance(value, (int, np.integer)):
            return f"{value:,}"
        if isinstance(value, (float, np.floating)):
            if not np.isfinite(value):
                return "n/a" if np.isnan(value) else ("∞" if value > 0 else "−∞")
            return f"{value:.{digits}f}" if value == 0 or abs(value) >= 10 ** -digits else f"{value:.1e}"
        return str(value)
    return format_value


def display_table(table: pd.DataFrame, *, digits: int = 3, index: bool | None = None,
                  columns: Mapping[str, str] | None = None, caption: str | None = None) -> Styler:
    """``table`` as a page-ready table: numbers to ``digits``, no row numbers, readable headers.

    ``index``: keep the index as the first column (default: only when it is named or not made
    of row numbers, e.g. a pivot's genes); ``columns`` renames headers (e.g.
    :data:`lmeqtl.book.chapters.names.COLUMN_NAMES`). Returns a Styler, which Jupyter and
    the book show as HTML.
    """
    frame = table.copy()
    row_numbers = frame.index.name is None and frame.index.nlevels == 1 and pd.api.types.is_integer_dtype(frame.index)
    if index is None:
        index = not row_numbers
    if index:
        frame = frame.rename_axis([n or "" for n in frame.index.names]).reset_index()
    if columns:
        frame = frame.rename(columns={c: columns[c] for c in frame.columns if c in columns})
    frame.columns = [str(c) for c in frame.columns]
    styler = frame.style.format(_number(digits), na_rep="n/a").hide(axis="index")
    styler = styler.set_table_attributes(f'class="{TABLE_CLASS}"')
    return styler.set_caption(caption) if caption else styler
