"""The tables of chapter 00_data, on hand-made inputs whose answers are known."""

import numpy as np
import pandas as pd
import pytest

from lmeqtl.book.chapters import cohort as cs
from lmeqtl.data.truth import Truth


def _meta(genes):
    """meta rows: gene -> (chrom, positions, initial_counts)."""
    frames = [pd.DataFrame({"chrom": chrom, "pos": pos, "id": [f"rs{gene}{i}" for i in range(len(pos))],
                            "AF": 0.5, "initial_counts": counts, "GENE_ID": gene, "seq_idx": np.arange(len(pos))})
              for gene, (chrom, pos, counts) in genes.items()]
    return pd.concat(frames, ignore_index=True)


META = _meta({"G1": ("6", [1_000, 1_100, 1_400, 2_000], 9), "G2": ("6", [1_800, 2_500, 3_000], 3),
              "G3": ("17", [50_000, 60_000], 2)})


def test_people_per_super_population_and_split():
    samples = pd.DataFrame({"super_pop": ["EUR", "EUR", "AFR", "AFR", "EAS"],
                            "split": ["test", "test", "train", "train", "train"]},
                           index=pd.Index(["a", "b", "c", "d", "e"], name="sample_id"))
    table = cs.people_table(samples, with_expression={"a", "c", "zz"})
    assert table.loc["EUR", "test"] == 2 and table.loc["EUR", "train"] == 0 and table.loc["all", "all"] == 5
    assert list(table.columns) == ["train", "test", "all", "with expression"]
    assert table["with expression"].to_dict() == {"AFR": 1, "EAS": 0, "EUR": 1, "all": 2}


def test_gene_windows_span_and_spacing():
    genes = pd.DataFrame({"gene_id": ["G1", "G2"], "chrom": ["6", "6"], "tss": [1_200, 2_400], "symbol": ["A", "B"]})
    table = cs.gene_windows(META, genes)
    assert list(table.index) == ["G1", "G2", "G3"]
    g1 = table.loc["G1"]
    assert (g1["n_snps"], g1["initial_counts"], g1["span_kb"]) == (4, 9, 1.0)
    assert g1["bp_per_snp"] == 250 and g1["median_gap_bp"] == 300  # gaps 100, 300, 600
    assert table.loc["G2", "symbol"] == "B" and table.loc["G3", "symbol"] == "G3"  # no symbol: the id
    assert table.loc["G1", "tss"] == 1_200 and np.isnan(table.loc["G3", "tss"])


def test_maf_spectrum_folds_frequencies_and_sums_to_one():
    spectrum = cs.maf_spectrum({"a": np.array([0.04, 0.96, 0.5, 0.2]), "b": np.array([0.3])})
    assert spectrum.index[0] == "0.03-0.05" and spectrum.index[-1] == "0.45-0.50"
    assert spectrum.loc["0.03-0.05", "a"] == 0.5  # 0.04 and 0.96 share a bin
    assert spectrum.loc["0.45-0.50", "a"] == 0.25 and spectrum.loc["0.15-0.20", "a"] == 0.0
    assert spectrum.loc["0.20-0.25", "a"] == 0.25  # edges belong to the bin above
    assert np.allclose(spectrum.sum(), 1.0)


def test_af_agreement_with_a_reference_at_shared_positions():
    meta = META.assign(AF=np.linspace(0.1, 0.9, len(META)))
    same = cs.af_agreement(meta, meta)
    assert same["n_shared"] == len(META) and same["r"] == pytest.approx(1) and same["mean_abs_diff"] == 0
    shifted = cs.af_agreement(meta, meta.assign(AF=meta["AF"] + 0.01).iloc[:4])
    assert shifted["n_shared"] == 4 and shifted["mean_abs_diff"] == pytest.approx(0.01)
    none = cs.af_agreement(meta, meta.assign(GENE_ID="other"))
    assert none["n_shared"] == 0 and "not the top10" in cs.af_agreement_text(none)
    assert "r = 1.000" in cs.af_agreement_text(same)


def _raw_expression():
    table = pd.DataFrame({"Gene_Symbol": ["G1.2", "X.1"], "Chr": ["6", "1"], "Coord": [1_200, 5],
                          "S1.1.M_1": [10.0, 1.0], "S1.2.M_2": [30.0, 1.0], "S2.1.M_1": [0.1, 2.0]},
                         index=pd.Index(["G1.2", "X.1"], name="TargetID"))
    return table


def test_expression_levels_average_replicates_and_select_genes():
    levels = cs.expression_levels(_raw_expression(), ["G1"], {"G1": "ONE"})  # version differs: matched
    assert set(levels["gene_id"]) == {"G1"} and set(levels["gene"]) == {"ONE"}
    by_sample = levels.set_index("sample_id")
    assert by_sample.loc["S1", "rpkm"] == 20.0 and by_sample.loc["S1", "log10_rpkm"] == pytest.approx(np.log10(20))
    assert by_sample.loc["S2", "log10_rpkm"] == pytest.approx(-1)
    assert cs.replicate_table(_raw_expression())["people"].to_dict() == {1: 1, 2: 1}


def test_eqtl_summary_counts_pairs_and_finds_the_lead():
    eqtl = pd.DataFrame({"SNP_ID": ["rsG10", "rsG11", "rsX"], "GENE_ID": ["G1", "G1", "G2"],
                         "SNPpos": [1_000, 1_100, 9_000], "TSSpos": [1_200, 1_200, 2_400],
                         "rvalue": [0.3, -0.6, 0.2], "pvalue": [1e-3, 1e-9, 1e-4], "log10pvalue": [3.0, 9.0, 4.0]})
    window_ids = {g: set(META.loc[META["GENE_ID"] == g, "id"]) for g in ("G1", "G2", "G3")}
    table = cs.eqtl_summary(eqtl, ["G1", "G2", "G3"], window_ids)
    assert table["pairs"].to_dict() == {"G1": 2, "G2": 1, "G3": 0}
    assert table.loc["G1", "lead_snp"] == "rsG11" and table.loc["G1", "r"] == -0.6
    assert table.loc["G1", "kb_to_tss"] == -0.1 and table.loc["G1", "log10p"] == 9.0
    assert table["in_window"].to_dict() == {"G1": True, "G2": False, "G3": False}
    assert np.isnan(table.loc["G3", "log10p"])


def test_peaks_are_counted_inside_the_merged_windows():
    windows = cs.merged_windows(META)
    assert windows.values.tolist() == [["17", 50_000, 60_000], ["6", 1_000, 3_000]]  # G1 and G2 overlap
    peaks = pd.DataFrame({"chrom": ["6", "6", "6", "17"], "start": [1_099, 2_900, 10_000, 55_000],
                          "end": [1_200, 3_100, 10_500, 55_100]})  # 0-based half-open
    tracks = {"H3K27ac": peaks, "H3K9me3": peaks.iloc[2:3]}
    inside = cs.peaks_in_windows(tracks, META)
    assert len(inside["H3K27ac"]) == 3 and len(inside["H3K9me3"]) == 0
    table = cs.peak_summary(tracks, META)
    assert table.loc["H3K27ac", "n_peaks"] == 3
    assert table.loc["H3K27ac", "median_width_bp"] == 101
    assert table.loc["H3K27ac", "share_snps_in_peaks"] == pytest.approx(2 / 9)  # 1,100 and 3,000
    assert table.loc["H3K27ac", "peaks_per_mb"] == pytest.approx(3 / ((2_001 + 10_001) / 1e6))
    assert table.loc["H3K9me3", "n_peaks"] == 0 and np.isnan(table.loc["H3K9me3", "median_width_bp"])


def test_genes_by_span_spread_over_the_range():
    windows = pd.DataFrame({"span_kb": [5.0, 1.0, 3.0, 2.0, 4.0]}, index=list("abcde"))
    assert cs.genes_by_span(windows, 3) == ["b", "c", "a"]
    assert cs.genes_by_span(windows.iloc[:1], 3) == ["a"]


def test_tables_are_written_as_csv(tmp_path):
    written = cs.write_tables(tmp_path / "summary", {"t": pd.DataFrame({"x": [0.1234567891]}, index=["g"])})
    assert written == [tmp_path / "summary" / "t.csv"]
    assert pd.read_csv(written[0], index_col=0).loc["g", "x"] == pytest.approx(0.123457)


def test_truth_in_words_and_per_gene():
    assert "real data" in cs.truth_text(None)
    genes = pd.DataFrame({"gene_id": ["G1", "G2"], "symbol": ["A", "B"], "h2": [0.1, 0.5], "h2_realised": [0.12, 0.45],
                          "n_causal": [1, 3], "interaction_fraction": [0.0, 0.2]})
    causal = pd.DataFrame({"gene_id": ["G1", "G2", "G2", "G2"], "seq_idx": [0, 1, 2, 0],
                           "distance_to_tss": [-500, 20_000, 9_000, 10_001], "in_active_peak": [True, False, False, True]})
    enrichment = pd.DataFrame({"mark": ["H3K27ac", "H3K9me3"], "active": [True, False],
                               "configured_fold": [5.0, 1.0]})
    truth = Truth(genes, causal, enrichment)
    lead_r2 = pd.Series({"G1": 0.9, "G2": 0.5})
    text = cs.truth_text(truth, lead_r2)
    assert "4 causal SNPs in the 2 genes (1 to 3 per gene)" in text and "0.12 to 0.45" in text
    assert "for 1 of 2 genes" in text and "5-fold" in text
    assert "2 of them lie within 10 kb of the TSS and 2 inside a peak of an active mark" in text
    table = cs.truth_gene_table(truth, lead_r2)
    assert list(table.index) == ["A", "B"] and table.loc["B", "lead_r2"] == 0.5
