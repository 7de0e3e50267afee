"""Histone-mark peaks and the enrichment of top-ranked SNPs in them.

Overlap: a SNP at 1-based position ``pos`` lies in a BED peak ``[start, end)`` (0-based,
half-open) when ``start <= pos - 1 < end``. Peaks are merged per chromosome and SNPs found
with one ``searchsorted`` per chromosome (numpy). We do not use an interval library:
bioframe 0.8.0 installs here and gives the same overlaps but emits a pandas deprecation
warning (``inplace=``) on every call under pandas 3.1, and a point-in-interval lookup needs
no more than this.

Enrichment per mark: a 2x2 table (top-ranked vs other SNPs, in vs out of peaks) with the
conditional maximum-likelihood odds ratio, its exact 95 % CI and Fisher's exact test
(two-sided: repressive marks may be depleted); and a matched-background permutation test:
each top SNP is replaced by a random SNP from the same stratum (gene, MAF bin, TSS-distance
bin) and the number in peaks recounted, which controls for the local SNP density and for
peaks sitting near TSSs.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Mapping

import numpy as np
import pandas as pd

from lmeqtl.errors import InputError

BED_COLUMNS = ("chrom", "start", "end")
ACTIVE_MARKS = ("H3K27ac", "H3K4me1", "H3K4me3", "H3K36me3")
REPRESSIVE_MARKS = ("H3K27me3", "H3K9me3")


def normalise_chrom(chrom: pd.Series | np.ndarray) -> np.ndarray:
    """Chromosome names without the ``chr`` prefix (``chr6`` and ``6`` -> ``6``), as strings."""
    return pd.Series(np.asarray(chrom)).astype(str).str.removeprefix("chr").to_numpy()


def read_peak_bed(path: str | os.PathLike[str], require_sorted: bool = True) -> pd.DataFrame:
    """Read a BED3+ / narrowPeak file (plain or gzip) -> ``chrom, start, end`` (chrom without ``chr``).

    Refuses, naming the 1-based line: fewer than 3 columns, non-integer or negative
    coordinates, ``start >= end``, and (``require_sorted``) lines out of (chrom, start) order.
    Leading ``track``/``browser``/``#`` lines are skipped.
    """
    header = _header_lines(path)
    try:
        raw = pd.read_csv(path, sep="\t", header=None, dtype=str, keep_default_na=False, skiprows=header)
    except pd.errors.EmptyDataError:
        raise InputError("file is empty", path=path, expected="BED lines chrom<TAB>start<TAB>end") from None
    except (OSError, pd.errors.ParserError, UnicodeDecodeError, EOFError) as err:
        raise InputError(f"cannot read as a tab-separated BED file ({err})", path=path) from None
    if raw.shape[1] < 3:
        raise InputError(f"{raw.shape[1]} column(s)", path=path, where="line 1",
                         expected="at least 3 tab-separated BED columns: chrom, start, end")
    return check_peaks(raw.iloc[:, :3].set_axis(list(BED_COLUMNS), axis=1), source=path,
                       require_sorted=require_sorted, lines=raw.index.to_numpy() + 1 + header)


def _header_lines(path: str | os.PathLike[str]) -> int:
    """Number of leading ``track``/``browser``/``#`` lines (they may only come first in a BED file)."""
    try:
        with open(path, "rb") as handle:
            compressed = handle.read(2) == b"\x1f\x8b"
        with (gzip.open(path, "rt") if compressed else open(path)) as handle:
            count = 0
            for line in handle:  # stops at the first data line
                if not line.startswith(("track", "browser", "#")):
                    return count
                count += 1
            return count
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except (OSError, UnicodeDecodeError, EOFError) as err:
        raise InputError(f"cannot read ({err})", path=path) from None


def check_peaks(peaks: pd.DataFrame, source: str | os.PathLike[str] | None = None, require_sorted: bool = False,
                lines: np.ndarray | None = None) -> pd.DataFrame:
    """Validate a peak table (from a file or :func:`~lmeqtl.data.formats.read_narrowpeak`) -> sorted ``chrom, start, end``."""
    missing = [c for c in BED_COLUMNS if c not in peaks.columns]
    if missing:
        raise InputError(f"missing columns {missing} (found {list(peaks.columns)[:10]})", path=source,
                         expected="columns chrom, start, end (BED, 0-based half-open)")
    where = "row" if lines is None else "line"  # a table: 0-based rows; a file: 1-based lines
    lines = np.arange(len(peaks)) if lines is None else lines
    coordinates = {}
    for column in ("start", "end"):
        values = pd.to_numeric(peaks[column], errors="coerce").to_numpy(dtype=float)
        bad = np.isnan(values) | (values % 1 != 0) | (values < 0)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InputError(f"{column} {peaks[column].iloc[row]!r} is not a non-negative integer", path=source,
                             where=f"{where} {lines[row]}, column {column}", expected="0-based integer coordinates")
        coordinates[column] = values.astype(np.int64)
    bad = coordinates["start"] >= coordinates["end"]
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"start {coordinates['start'][row]} is not before end {coordinates['end'][row]}",
                         path=source, where=f"{where} {lines[row]}", expected="0 <= start < end (BED half-open)")
    out = pd.DataFrame({"chrom": normalise_chrom(peaks["chrom"]), **coordinates})
    if require_sorted:
        same_chrom = out["chrom"].to_numpy()[1:] == out["chrom"].to_numpy()[:-1]
        backwards = same_chrom & (np.diff(out["start"].to_numpy()) < 0)
        seen_before = out["chrom"].ne(out["chrom"].shift()) & out["chrom"].duplicated()
        bad = np.flatnonzero(np.r_[False, backwards] | seen_before.to_numpy())
        if len(bad):
            raise InputError("peaks are not sorted by chromosome and start", path=source,
                             where=f"{where} {lines[bad[0]]}",
                             expected="a coordinate-sorted BED (sort -k1,1 -k2,2n), or require_sorted=False")
    return out.sort_values(["chrom", "start", "end"], kind="stable").reset_index(drop=True)


def merge_peaks(peaks: pd.DataFrame) -> pd.DataFrame:
    """Union of overlapping or touching peaks per chromosome (input: sorted ``chrom, start, end``)."""
    peaks = check_peaks(peaks)
    chrom, start, end = peaks["chrom"].to_numpy(), peaks["start"].to_numpy(), peaks["end"].to_numpy()
    new_chrom = np.r_[True, chrom[1:] != chrom[:-1]]
    reach = pd.Series(end).groupby(np.cumsum(new_chrom)).cummax().to_numpy()  # furthest end so far
    opens = new_chrom | (start > np.r_[-1, reach[:-1]])  # a gap after everything before
    cluster = np.cumsum(opens) - 1
    merged = pd.DataFrame({"chrom": chrom, "start": start, "end": end}).groupby(cluster).agg(
        chrom=("chrom", "first"), start=("start", "min"), end=("end", "max"))
    return merged.reset_index(drop=True)


def in_peaks(chrom: np.ndarray | pd.Series, pos: np.ndarray | pd.Series, peaks: pd.DataFrame) -> np.ndarray:
    """Boolean ``(n_snps,)``: SNP at 1-based ``pos`` on ``chrom`` lies in a peak (0-based half-open)."""
    chrom = normalise_chrom(chrom)
    point = np.asarray(pos, dtype=np.int64) - 1  # 0-based
    merged = merge_peaks(peaks)
    inside = np.zeros(len(point), dtype=bool)
    for name, intervals in merged.groupby("chrom", sort=False):  # one vectorised lookup per chromosome
        on_chrom = chrom == name
        starts, ends = intervals["start"].to_numpy(), intervals["end"].to_numpy()
        index = np.searchsorted(starts, point[on_chrom], side="right") - 1
        inside[on_chrom] = (index >= 0) & (point[on_chrom] < ends[np.maximum(index, 0)])
    return inside


def annotate_snps(snps: pd.DataFrame, peaks: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One boolean column per mark: is each SNP (``chrom``, 1-based ``pos``) in that mark's peaks."""
    return pd.DataFrame({mark: in_peaks(snps["chrom"], snps["pos"], table) for mark, table in peaks.items()},
                        index=snps.index)
