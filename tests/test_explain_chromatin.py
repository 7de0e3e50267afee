import gzip

import numpy as np
import pandas as pd
import pytest

from lmeqtl.errors import InputError
from lmeqtl.explain.chromatin import (
    annotate_snps,
    check_peaks,
    in_peaks,
    merge_peaks,
    read_peak_bed,
)

NARROWPEAK = "{chrom}\t{start}\t{end}\tpeak{i}\t0\t.\t5.1\t-1\t3.2\t50\n"


def _write(path, rows, header=""):
    text = header + "".join(NARROWPEAK.format(chrom=c, start=s, end=e, i=i) for i, (c, s, e) in enumerate(rows))
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt") as handle:
            handle.write(text)
    else:
        path.write_text(text)
    return path


def test_read_narrowpeak_normalises_chr_prefix_and_skips_track_lines(tmp_path):
    path = _write(tmp_path / "H3K27ac.narrowPeak.gz", [("chr6", 100, 200), ("chr6", 150, 300), ("chr17", 5, 9)],
                  header="track name=x\n")
    peaks = read_peak_bed(path, require_sorted=False)
    assert list(peaks.columns) == ["chrom", "start", "end"]
    assert set(peaks["chrom"]) == {"6", "17"}
    assert peaks["start"].dtype == np.int64


@pytest.mark.parametrize(("rows", "message", "line"), [
    ([("chr6", 300, 400), ("chr6", 100, 200)], "not sorted", "line 2"),
    ([("chr6", 100, 200), ("chr7", 1, 2), ("chr6", 300, 400)], "not sorted", "line 3"),
    ([("chr6", 100, 200), ("chr6", 250, 250)], "not before end", "line 2"),
    ([("chr6", -5, 200)], "non-negative integer", "line 1"),
    ([("chr6", "1e2x", 200)], "non-negative integer", "line 1"),
])
def test_bad_bed_files_are_refused_with_the_line(tmp_path, rows, message, line):
    with pytest.raises(InputError, match=message) as error:
        read_peak_bed(_write(tmp_path / "bad.bed", rows))
    assert line in str(error.value) and "bad.bed" in str(error.value)


def test_wrong_columns_and_missing_files(tmp_path):
    two = tmp_path / "two.bed"
    two.write_text("chr6\t100\nchr6\t200\n")
    with pytest.raises(InputError, match="at least 3 tab-separated BED columns"):
        read_peak_bed(two)
    with pytest.raises(InputError, match="file not found"):
        read_peak_bed(tmp_path / "absent.bed")
    with pytest.raises(InputError, match="missing columns \\['end'\\]"):
        check_peaks(pd.DataFrame({"chrom": ["6"], "start": [1]}))
    with pytest.raises(InputError, match="row 1"):  # tables (e.g. read_narrowpeak's) name 0-based rows
        check_peaks(pd.DataFrame({"chrom": ["6", "6"], "start": [1, 9], "end": [5, 3]}))


def test_unsorted_files_are_sorted_on_request(tmp_path):
    path = _write(tmp_path / "x.bed", [("chr6", 300, 400), ("6", 100, 200)])
    peaks = read_peak_bed(path, require_sorted=False)
    assert list(peaks["start"]) == [100, 300]


def test_merge_and_point_overlap_use_bed_half_open_coordinates():
    peaks = pd.DataFrame({"chrom": ["chr6", "6", "6", "6"], "start": [100, 120, 150, 500], "end": [150, 130, 160, 600]})
    merged = merge_peaks(peaks)
    assert merged.to_dict("list") == {"chrom": ["6", "6"], "start": [100, 500], "end": [160, 600]}
    # 1-based SNP positions: pos 101 is base 100 (first base of the peak), pos 160 is base 159 (last)
    positions = np.array([100, 101, 160, 161, 550, 101])
    chroms = np.array(["6", "chr6", "6", "6", "6", "7"])
    assert list(in_peaks(chroms, positions, peaks)) == [False, True, True, False, True, False]


def test_annotate_snps_one_column_per_mark():
    snps = pd.DataFrame({"chrom": ["6", "6", "6"], "pos": [10, 20, 30]})
    marks = {"H3K27ac": pd.DataFrame({"chrom": ["chr6"], "start": [15], "end": [25]}),
             "H3K9me3": pd.DataFrame({"chrom": ["chr6"], "start": [0], "end": [10]})}
    annotation = annotate_snps(snps, marks)
    assert annotation.to_dict("list") == {"H3K27ac": [False, True, False], "H3K9me3": [True, False, False]}
