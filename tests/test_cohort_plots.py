"""Every figure of chapter 00_data draws from small tables, with titles and labelled axes."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from lmeqtl.book.chapters import cohort_plots as plots  # noqa: E402

META = pd.DataFrame({"GENE_ID": ["G1"] * 4 + ["G2"] * 3, "pos": [1, 50, 400, 900, 10, 2_000, 9_000]})
WINDOWS = pd.DataFrame({"symbol": ["A", "B"], "span_kb": [0.9, 9.0]}, index=["G1", "G2"])
DECAY = pd.DataFrame({"gene": ["G1"] * 4, "group": ["EUR", "EUR", "AFR", "AFR"], "distance_mid": [100, 1000] * 2,
                      "mean_r2": [0.5, 0.2, 0.4, 0.1]})
SCORES = pd.DataFrame({"PC1": [0.0, 1, 2, 3], "PC2": [1.0, 0, 1, 0], "PC3": [0.0, 0, 1, 1],
                       "super_pop": ["EUR", "EUR", "AFR", "AFR"]})
LEVELS = pd.DataFrame({"gene": ["A", "A", "B", "B"], "sample_id": ["s1", "s2", "s1", "s2"],
                       "log10_rpkm": [0.1, 0.3, 1.2, 1.5]})
EQTL = pd.DataFrame({"GENE_ID": ["G1", "G1"], "SNPpos": [100, 300], "TSSpos": [200, 200], "log10pvalue": [5.0, 3.0]})
PEAKS = {"H3K27ac": pd.DataFrame({"start": [0, 100], "end": [50, 400]}),
         "H3K9me3": pd.DataFrame({"start": [10], "end": [30]})}
PEAK_SUMMARY = pd.DataFrame({"peaks_per_mb": [2.0, 1.0]}, index=pd.Index(["H3K27ac", "H3K9me3"], name="mark"))
TRUTH_GENES = pd.DataFrame({"gene_id": ["G1", "G2"], "symbol": ["A", "B"], "h2": [0.1, 0.4], "h2_realised": [0.1, 0.3]})
ENRICHMENT = pd.DataFrame({"mark": ["H3K27ac", "H3K9me3"], "active": [True, False], "share_all": [0.1, 0.05],
                           "share_causal": [0.5, 0.0]})

CAUSAL = pd.DataFrame({"gene_id": ["G1", "G1", "G2"], "distance_to_tss": [-500, 3_000, 20_000],
                       "effect": [0.5, -1.0, 0.2], "in_active_peak": [True, False, False]})


@pytest.mark.parametrize("draw", [
    lambda: plots.plot_snp_density(WINDOWS, META),
    lambda: plots.plot_maf_spectrum(pd.DataFrame({"this": [0.5, 0.5]}, index=["0.03-0.05", "0.05-0.10"])),
    lambda: plots.plot_ld_decay(DECAY, {"G1": "A"}),
    lambda: plots.plot_structure_pca(SCORES, np.array([0.5, 0.2, 0.1])),
    lambda: plots.plot_expression(LEVELS, pd.Series({"s1": "EUR", "s2": "AFR"})),
    lambda: plots.plot_expression(LEVELS),
    lambda: plots.plot_eqtls(EQTL, pd.DataFrame({"pairs": [2, 0]}, index=["G1", "G2"]), {"G1": "A"}),
    lambda: plots.plot_peaks(PEAKS, PEAK_SUMMARY),
    lambda: plots.plot_truth(TRUTH_GENES, ENRICHMENT),
    lambda: plots.plot_causal_snps(CAUSAL, {"G1": "A"}),
], ids=["density", "maf", "ld", "pca", "expression", "expression_all", "eqtls", "peaks", "truth", "causal"])
def test_figures_have_titles_and_labelled_axes(draw):
    fig = draw()
    assert fig.get_size_inches()[0] <= plots.WIDTH
    assert fig.get_suptitle() or fig.axes[0].get_title()
    for ax in fig.axes:
        assert ax.get_title() and (ax.get_xlabel() or ax.get_ylabel())
    plt.close(fig)


def test_snp_density_labels_genes_by_symbol():
    fig = plots.plot_snp_density(WINDOWS, META)
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["A", "B"]
    plt.close(fig)
