"""Histone-mark peaks: the ENCODE narrowPeak reader and writer, the marks, and SNP-in-peak overlap.

A peak is a 0-based half-open interval ``[start, end)`` (BED); a SNP at 1-based position
``pos`` lies in it when ``start <= pos - 1 < end``. Lookups sort each chromosome's peaks by
start and find the last peak starting before a query's end with one ``searchsorted``; the
running maximum of the ends says whether any peak so far reaches past the query's start
(numpy, no interval library: bioframe 0.8.0 gives the same overlaps but warns on every call
under pandas 3.1). Chromosome names are compared without ``chr`` (:func:`normalise_chrom`).
"""

from __future__ import annotations

import gzip
import os

import numpy as np
import pandas as pd

from lmeqtl.data.formats import _numbers, _read_table, normalise_chrom
from lmeqtl.data.io import atomic_path, write_gzip_text
from lmeqtl.errors import InputError

# Marks of open, transcribed chromatin (promoters, enhancers, gene bodies) and of closed chromatin.
ACTIVE_MARKS = ("H3K27ac", "H3K4me1", "H3K4me3", "H3K36me3")
REPRESSIVE_MARKS = ("H3K27me3", "H3K9me3")
PEAK_MARKS = ACTIVE_MARKS + REPRESSIVE_MARKS  # the GM12878 tracks a cohort has, one file each
BED_COLUMNS = ("chrom", "start", "end")
NARROWPEAK_COLUMNS = (*BED_COLUMNS, "name", "score", "strand", "signalValue", "pValue", "qValue", "peak")


def _header_lines(path: str | os.PathLike[str]) -> int:
    """Number of leading ``track``/``browser``/``#`` lines (they may only come first in a BED file)."""
    try:
        with open(path, "rb") as handle:
            compressed = handle.read(2) == b"\x1f\x8b"
        with (gzip.open(path, "rt") if compressed else open(path)) as handle:
            count = 0
            for line in handle:  # stops at the first data line
                if not line.startswith(("track", "browser", "#")):
                    break
                count += 1
            return count
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise InputError(f"cannot read ({err})", path=path) from None


def _coordinates(peaks: pd.DataFrame, path: str | os.PathLike[str] | None = None,
                 lines: np.ndarray | None = None, require_sorted: bool = False) -> pd.DataFrame:
    """Validated ``chrom, start, end`` of a peak table, in its row order.

    Errors name the 1-based file ``lines`` of the rows when given, else the 0-based rows.
    """
    missing = [c for c in BED_COLUMNS if c not in peaks.columns]
    if missing:
        raise InputError(f"missing columns {missing} (found {list(peaks.columns)[:10]})", path=path,
                         expected="columns chrom, start, end (BED, 0-based half-open)")
    where = "row" if lines is None else "line"
    lines = np.arange(len(peaks)) if lines is None else lines
    coordinates = {}
    for column in ("start", "end"):
        values = pd.to_numeric(peaks[column], errors="coerce").to_numpy(dtype=float)
        bad = np.isnan(values) | (values % 1 != 0) | (values < 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(f"{column} {peaks[column].iloc[row]!r} is not a non-negative integer", path=path,
                             where=f"{where} {lines[row]}, column {column}", expected="0-based integer coordinates")
        coordinates[column] = values.astype(np.int64)
    bad = coordinates["start"] >= coordinates["end"]
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"start {coordinates['start'][row]} is not before end {coordinates['end'][row]}",
                         path=path, where=f"{where} {lines[row]}", expected="0 <= start < end (BED half-open)")
    out = pd.DataFrame({"chrom": normalise_chrom(peaks["chrom"]).to_numpy(), **coordinates})
    if require_sorted:
        same_chrom = out["chrom"].to_numpy()[1:] == out["chrom"].to_numpy()[:-1]
        backwards = same_chrom & (np.diff(out["start"].to_numpy()) < 0)
        seen_before = out["chrom"].ne(out["chrom"].shift()) & out["chrom"].duplicated()
        bad = np.flatnonzero(np.r_[False, backwards] | seen_before.to_numpy())
        if len(bad):
            raise InputError("peaks are not sorted by chromosome and start", path=path,
                             where=f"{where} {lines[bad[0]]}",
                             expected="a coordinate-sorted BED (sort -k1,1 -k2,2n), or require_sorted=False")
    return out


def _sorted(peaks: pd.DataFrame) -> pd.DataFrame:
    return peaks.sort_values(["chrom", "start", "end"], kind="stable").reset_index(drop=True)


def check_peaks(peaks: pd.DataFrame) -> pd.DataFrame:
    """Validate a peak table (``chrom, start, end``, e.g. :func:`read_narrowpeak`'s) -> sorted ``chrom, start, end``."""
    return _sorted(_coordinates(peaks))


def read_narrowpeak(path: str | os.PathLike[str], require_sorted: bool = False) -> pd.DataFrame:
    """Read an ENCODE narrowPeak file (BED6+4; plain or gzip; ``track``/``browser``/``#`` lines skipped).

    Returns :data:`NARROWPEAK_COLUMNS` with ``chrom`` WITHOUT the ``chr`` prefix (``chr6``
    and ``6`` are both accepted), 0-based half-open ``start``/``end``, sorted by chrom and
    start; ``peak`` is the summit offset from ``start`` (-1 = unknown). Refuses, naming the
    1-based line: other than 10 columns, non-integer or negative coordinates, ``start >= end``,
    non-numeric values, a strand other than ``+ - .``, and (``require_sorted``; ENCODE files
    are ordered by signal, not position) lines out of (chrom, start) order.
    """
    skip = _header_lines(path)
    frame = _read_table(path, header=None, skiprows=skip)
    first_line = skip + 1
    if frame.shape[1] != len(NARROWPEAK_COLUMNS):
        raise InputError(f"{frame.shape[1]} columns", path=path, where=f"line {first_line}",
                         expected="10 tab-separated narrowPeak columns (BED6+4)")
    frame.columns = list(NARROWPEAK_COLUMNS)
    out = _coordinates(frame, path, np.arange(len(frame)) + first_line, require_sorted)
    for column in ("score", "peak"):
        out[column] = _numbers(frame, column, path, integer=True, first_line=first_line,
                               lo=-1 if column == "peak" else 0)
    for column in ("signalValue", "pValue", "qValue"):
        out[column] = _numbers(frame, column, path, integer=False, first_line=first_line)
    bad = ~frame["strand"].isin(["+", "-", "."]).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"strand {frame['strand'].iloc[row]!r}", path=path,
                         where=f"line {row + first_line}, column 6", expected="+, - or .")
    out["name"], out["strand"] = frame["name"], frame["strand"]
    return _sorted(out.loc[:, list(NARROWPEAK_COLUMNS)])


def write_narrowpeak(path: str | os.PathLike[str], peaks: pd.DataFrame, chrom_prefix: str = "chr") -> None:
    """Write narrowPeak (no header; ENCODE uses ``chr`` names); gzip when the name ends in ``.gz``."""
    frame = peaks.loc[:, list(NARROWPEAK_COLUMNS)].copy()
    frame["chrom"] = chrom_prefix + normalise_chrom(frame["chrom"])
    text = frame.to_csv(sep="\t", index=False, header=False, float_format="%.5g")
    if str(path).endswith(".gz"):
        write_gzip_text(path, text)
    else:
        with atomic_path(path) as tmp:
            tmp.write_text(text)


def merge_overlaps(start: np.ndarray, end: np.ndarray, value: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Merge overlapping half-open intervals of one chromosome, sorted by ``start``.

    Returns ``(start, end, value)`` of the merged intervals; each keeps the largest ``value``
    (a peak's signal; None: none kept) of those it merges. Book-ended intervals (``[1, 5)``,
    ``[5, 9)``) share no base and stay apart; for 1-based inclusive spans pass ``end + 1``.
    """
    if len(start) == 0:
        return start, end, value
    new = np.r_[True, start[1:] >= np.maximum.accumulate(end)[:-1]]
    group = np.cumsum(new) - 1
    merged_end = np.zeros(group[-1] + 1, dtype=np.int64)
    np.maximum.at(merged_end, group, end)
    if value is not None:
        merged_value = np.zeros(group[-1] + 1)
        np.maximum.at(merged_value, group, value)
        value = merged_value
    return start[new], merged_end, value


def overlaps_peaks(chrom: str | np.ndarray | pd.Series, start: np.ndarray, end: np.ndarray,
                   peaks: pd.DataFrame) -> np.ndarray:
    """Boolean ``(n,)``: the 0-based half-open interval ``[start, end)`` on ``chrom`` (one name or
    one per interval) overlaps a peak of ``peaks`` (``chrom, start, end``, any order, ``chr`` or not)."""
    start, end = np.asarray(start, dtype=np.int64), np.asarray(end, dtype=np.int64)
    chrom = np.broadcast_to(normalise_chrom(np.atleast_1d(chrom)).to_numpy(), start.shape)
    inside = np.zeros(len(start), dtype=bool)
    for name, on in check_peaks(peaks).groupby("chrom", sort=False):  # one vectorised lookup per chromosome
        here = chrom == name
        reach = np.maximum.accumulate(on["end"].to_numpy())  # furthest end of the peaks starting so far
        last = np.searchsorted(on["start"].to_numpy(), end[here], side="left") - 1  # last peak starting before end
        inside[here] = (last >= 0) & (reach[np.maximum(last, 0)] > start[here])
    return inside


def in_peaks(chrom: str | np.ndarray | pd.Series, pos: np.ndarray | pd.Series, peaks: pd.DataFrame) -> np.ndarray:
    """Boolean ``(n_snps,)``: the SNP at 1-based ``pos`` on ``chrom`` (one name or one per SNP) lies in a peak."""
    point = np.asarray(pos, dtype=np.int64) - 1  # 0-based
    return overlaps_peaks(chrom, point, point + 1, peaks)
