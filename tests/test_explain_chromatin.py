import pandas as pd

from lmeqtl.explain.chromatin import annotate_snps


def test_annotate_snps_one_column_per_mark():
    snps = pd.DataFrame({"chrom": ["6", "6", "6"], "pos": [10, 20, 30]})
    marks = {"H3K27ac": pd.DataFrame({"chrom": ["chr6"], "start": [15], "end": [25]}),
             "H3K9me3": pd.DataFrame({"chrom": ["chr6"], "start": [0], "end": [10]})}
    annotation = annotate_snps(snps, marks)
    assert annotation.to_dict("list") == {"H3K27ac": [False, True, False], "H3K9me3": [True, False, False]}
