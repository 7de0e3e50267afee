"""Histone-mark peaks (lmeqtl.data.peaks): the narrowPeak reader and writer, merging, SNP-in-peak overlap."""

import gzip

import numpy as np
import pandas as pd
import pytest

from lmeqtl.data.peaks import (
    ACTIVE_MARKS,
    PEAK_MARKS,
    REPRESSIVE_MARKS,
    check_peaks,
    in_peaks,
    merge_overlaps,
    overlaps_peaks,
    read_narrowpeak,
    write_narrowpeak,
)
from lmeqtl.errors import InputError

NARROWPEAK = "{chrom}\t{start}\t{end}\tpeak{i}\t0\t.\t5.1\t-1\t3.2\t50\n"


def _write(path, rows, header=""):
    text = header + "".join(NARROWPEAK.format(chrom=c, start=s, end=e, i=i) for i, (c, s, e) in enumerate(rows))
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


def test_marks_are_active_or_repressive():
    assert set(ACTIVE_MARKS) | set(REPRESSIVE_MARKS) == set(PEAK_MARKS) and not set(ACTIVE_MARKS) & set(REPRESSIVE_MARKS)


def test_narrowpeak_accepts_both_chrom_styles_and_sorts(tmp_path):
    lines = ["chr6\t500\t900\tp2\t10\t.\t3.5\t5.0\t2.0\t100", "6\t100\t300\tp1\t1000\t.\t9.0\t20.0\t18.0\t-1",
             "chr17\t5\t10\tp3\t0\t+\t1\t1\t1\t2"]
    (tmp_path / "x.narrowPeak").write_text("track name=x\n" + "\n".join(lines) + "\n")
    peaks = read_narrowpeak(tmp_path / "x.narrowPeak")
    assert peaks["chrom"].tolist() == ["17", "6", "6"] and peaks["start"].tolist() == [5, 100, 500]
    assert peaks["start"].dtype == np.int64 and peaks["score"].tolist() == [0, 1000, 10]
    write_narrowpeak(tmp_path / "y.narrowPeak.gz", peaks)
    assert gzip.open(tmp_path / "y.narrowPeak.gz", "rt").readline().startswith("chr17\t5\t10")
    pd.testing.assert_frame_equal(read_narrowpeak(tmp_path / "y.narrowPeak.gz"), peaks)


def test_gzip_with_track_lines_and_unsorted_files_are_read_sorted(tmp_path):
    path = _write(tmp_path / "H3K27ac.narrowPeak.gz", [("chr6", 300, 400), ("6", 100, 200), ("chr17", 5, 9)],
                  header="track name=x\nbrowser position chr6\n")
    peaks = read_narrowpeak(path)
    assert peaks[["chrom", "start"]].values.tolist() == [["17", 5], ["6", 100], ["6", 300]]
    with pytest.raises(InputError, match="not sorted"):
        read_narrowpeak(path, require_sorted=True)


@pytest.mark.parametrize(("rows", "message", "line"), [
    ([("chr6", 300, 400), ("chr6", 100, 200)], "not sorted", "line 2"),
    ([("chr6", 100, 200), ("chr7", 1, 2), ("chr6", 300, 400)], "not sorted", "line 3"),
    ([("chr6", 100, 200), ("chr6", 250, 250)], "not before end", "line 2"),
    ([("chr6", -5, 200)], "non-negative integer", "line 1, column start"),
    ([("chr6", "1e2x", 200)], "non-negative integer", "line 1, column start"),
    ([("chr6", 100, 200), ("chr6", 300, 400.5)], "non-negative integer", "line 2, column end"),
])
def test_bad_peak_files_are_refused_with_the_line(tmp_path, rows, message, line):
    with pytest.raises(InputError, match=message) as error:
        read_narrowpeak(_write(tmp_path / "bad.bed", rows), require_sorted=True)
    assert line in str(error.value) and "bad.bed" in str(error.value)


@pytest.mark.parametrize(("line", "message"), [
    ("chr6\t900\t500\tp\t0\t.\t1\t1\t1\t2", "line 1: start 900 is not before end 500"),
    ("chr6\t100\t500\tp\t0\t.\t1\t1\t1", "9 columns"),
    ("chr6\t100\t500", "3 columns"),
    ("chr6\t-5\t500\tp\t0\t.\t1\t1\t1\t2", "line 1, column start"),
    ("chr6\t100\t500\tp\t0\t*\t1\t1\t1\t2", "line 1, column 6"),
    ("chr6\t100\t500\tp\t0\t.\tx\t1\t1\t2", "line 1, column signalValue"),
    ("chr6\t100\t500\tp\t0\t.\t1\t1\t1\t-2", "line 1, column peak"),
])
def test_bad_narrowpeak(tmp_path, line, message):
    (tmp_path / "x.bed").write_text(line + "\n")
    with pytest.raises(InputError, match=message):
        read_narrowpeak(tmp_path / "x.bed")


def test_missing_files_and_bad_tables(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_narrowpeak(tmp_path / "absent.bed")
    with pytest.raises(InputError, match="missing columns \\['end'\\]"):
        check_peaks(pd.DataFrame({"chrom": ["6"], "start": [1]}))
    with pytest.raises(InputError, match="row 1"):  # tables (e.g. read_narrowpeak's) name 0-based rows
        check_peaks(pd.DataFrame({"chrom": ["6", "6"], "start": [1, 9], "end": [5, 3]}))


def test_merge_keeps_the_strongest_signal_and_leaves_book_ended_peaks_apart():
    start, end, signal = merge_overlaps(np.array([100, 120, 150, 500]), np.array([150, 130, 160, 600]),
                                        np.array([1.0, 7.0, 2.0, 3.0]))
    assert start.tolist() == [100, 150, 500] and end.tolist() == [150, 160, 600]  # [100,150) and [150,160) share no base
    assert signal.tolist() == [7.0, 2.0, 3.0]
    start, end, none = merge_overlaps(np.array([1, 3, 9]), np.array([5, 4, 10]))
    assert (start.tolist(), end.tolist(), none) == ([1, 9], [5, 10], None)


def test_point_overlap_uses_bed_half_open_coordinates():
    peaks = pd.DataFrame({"chrom": ["chr6", "6", "6", "6"], "start": [100, 120, 150, 500], "end": [150, 130, 160, 600]})
    # 1-based SNP positions: pos 101 is base 100 (first base of the peak), pos 160 is base 159 (last)
    positions = np.array([100, 101, 160, 161, 550, 101])
    chroms = np.array(["6", "chr6", "6", "6", "6", "7"])
    assert list(in_peaks(chroms, positions, peaks)) == [False, True, True, False, True, False]
    assert list(in_peaks("chr6", positions, peaks)) == [False, True, True, False, True, True]  # one chromosome
    assert list(in_peaks("6", np.array([], dtype=int), peaks)) == []


def test_interval_overlap_matches_brute_force():
    rng = np.random.default_rng(3)
    start = rng.integers(0, 10_000, 300)
    peaks = pd.DataFrame({"chrom": "6", "start": start, "end": start + rng.integers(1, 400, 300)})
    lo = rng.integers(0, 10_500, 2000)
    hi = lo + rng.integers(1, 50, 2000)
    brute = ((peaks["start"].to_numpy()[None] < hi[:, None]) & (peaks["end"].to_numpy()[None] > lo[:, None])).any(axis=1)
    np.testing.assert_array_equal(overlaps_peaks("6", lo, hi, peaks), brute)
    assert not overlaps_peaks("7", lo, hi, peaks).any()
