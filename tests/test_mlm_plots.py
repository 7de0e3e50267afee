"""Every figure of chapter 01 draws from small tables, with titles, labelled axes and legends."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from lmeqtl.book.chapters.mlm import ORIGINAL_LABEL  # noqa: E402
from lmeqtl.mlm import plots as plots  # noqa: E402

HISTORY = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [0.5, 0.3, 0.2], "train_masked_accuracy": [0.8, 0.9, 0.93],
                        "val_loss": [0.4, 0.3, 0.25], "val_masked_accuracy": [0.85, 0.9, 0.92],
                        "val_iqs_snp_mean": [0.3, 0.5, 0.6], "val_iqs_pooled": [0.5, 0.7, 0.8],
                        "stopped_early": [False, False, True]})
BINS = ["(0, 0.05]", "(0.05, 0.5]", "all"]


def by_maf(offset=0.0):
    return pd.DataFrame({"maf_bin": BINS, "masked_accuracy": [0.98, 0.9, 0.95], "iqs_snp_mean": [0.2, 0.8, 0.6 - offset],
                         "iqs_pooled": [0.7, 0.9, 0.85], "recall_ref": [0.99, 0.95, 0.97], "recall_alt": [0.5, 0.9, 0.8]})


PER_SNP = pd.DataFrame({"maf_test": np.linspace(0, 0.5, 50), "iqs": np.r_[np.nan, np.linspace(0, 1, 49)]})
COMPARISON = pd.DataFrame({"masked_accuracy": [0.97, 0.8, 0.9915], "iqs_snp_mean": [0.8, 0.0, np.nan],
                           "iqs_pooled": [0.9, 0.4, 0.979]}, index=["this model", "major allele", ORIGINAL_LABEL])


@pytest.mark.parametrize("draw", [
    lambda: plots.plot_training_curves(HISTORY),
    lambda: plots.plot_by_maf({"this model": by_maf(), "LD tag SNP": by_maf(0.1)}),
    lambda: plots.plot_recall(by_maf()),
    lambda: plots.plot_iqs_vs_maf(PER_SNP, "maf_test", "MAF (test)"),
    lambda: plots.plot_comparison(COMPARISON),
], ids=["curves", "by_maf", "recall", "iqs_vs_maf", "comparison"])
def test_figures_have_titles_labelled_axes_and_legends(draw):
    fig = draw()
    assert fig.get_size_inches()[0] <= plots.WIDTH
    for ax in fig.axes:
        assert ax.get_title() and (ax.get_xlabel() or ax.get_ylabel())
    assert fig.legends or all(ax.get_legend() for ax in fig.axes)
    plt.close(fig)


def test_training_curves_mark_the_early_stop_and_plot_both_splits():
    fig = plots.plot_training_curves(HISTORY)
    loss = fig.axes[0]
    assert [line.get_label() for line in loss.get_lines()][:2] == ["training", "validation"]
    assert "time budget" in fig.get_suptitle()
    plt.close(fig)


def test_validation_every_few_epochs_draws_one_joined_line():
    sparse = HISTORY.assign(val_masked_accuracy=[np.nan, 0.9, 0.92], val_iqs_snp_mean=[np.nan, 0.5, 0.6])
    fig = plots.plot_training_curves(sparse)
    validation = [line for line in fig.axes[1].get_lines() if line.get_label() == "validation"][0]
    assert list(validation.get_xdata()) == [2, 3]  # no NaN gap that would hide the line
    plt.close(fig)


def test_comparison_leaves_out_what_the_original_did_not_report():
    fig = plots.plot_comparison(COMPARISON)
    labels = [t.get_text() for t in fig.axes[0].texts]
    assert "0.979" in labels and "nan" not in labels and labels.count("") == 1
    plt.close(fig)


def test_iqs_scatter_counts_only_snps_with_an_iqs():
    fig = plots.plot_iqs_vs_maf(PER_SNP, "maf_test")
    assert "49 of 50 SNPs" in fig.axes[0].get_title()
    plt.close(fig)
