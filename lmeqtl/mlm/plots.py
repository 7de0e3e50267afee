"""Figures of chapter 01_train_mlm: training curves, scores by MAF bin, recall, per-SNP IQS, comparison.

Each function makes a new figure at most 8 inches wide and returns it; titles, axis labels
and legends are always set. Inputs are the tables of :mod:`lmeqtl.mlm.train` (``history``),
:mod:`lmeqtl.mlm.evaluate` (``by_maf``, ``per_snp``) and :mod:`lmeqtl.book.chapters.mlm`.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lmeqtl.config.figures import PAGE_WIDTH
from lmeqtl.mlm.evaluate import LABELS, ORIGINAL_LABEL, short_bin

WIDTH = PAGE_WIDTH  # inches: the page column (lmeqtl.config.figures)
# one colour per predictor, the model first; the original's reported numbers are hatched
COLOURS = ("#2e6fba", "#9a9a9a", "#e6a11f", "#55a868", "#c44e52")
ORIGINAL_COLOUR = "#ffffff"


def plot_training_curves(history: pd.DataFrame) -> Figure:
    """Loss, masked accuracy and IQS per epoch: training (running mean over crops) vs validation."""
    fig, axes = plt.subplots(1, 3, figsize=(WIDTH, 3.3), layout="constrained")
    epoch = history["epoch"]
    # validation runs every `validate_every` epochs: join the validated epochs, not the gaps between them
    validated = history.dropna(subset=["val_masked_accuracy"]) if "val_masked_accuracy" in history else history
    panels = [("loss", "cross-entropy (nats per masked allele)"), ("masked_accuracy", "masked accuracy")]
    for ax, (metric, label) in zip(axes, panels, strict=False):
        ax.plot(epoch, history[f"train_{metric}"], marker="o", ms=3, color=COLOURS[2], label="training")
        if f"val_{metric}" in history:
            ax.plot(validated["epoch"], validated[f"val_{metric}"], marker="o", ms=3, color=COLOURS[0],
                    label="validation")
        ax.set_ylabel(label)
        ax.set_title(label.split(" (")[0].capitalize())
    iqs = axes[2]
    for metric, style in (("iqs_snp_mean", "-"), ("iqs_pooled", "--")):
        if f"val_{metric}" in history:
            iqs.plot(validated["epoch"], validated[f"val_{metric}"], style, marker="o", ms=3, color=COLOURS[0],
                     label=f"validation, {'per SNP' if metric == 'iqs_snp_mean' else 'pooled'}")
    iqs.set_ylabel("IQS")
    iqs.set_title("IQS (validation only)")
    stopped = history.loc[history["stopped_early"].astype(bool), "epoch"]
    for ax in axes:
        ax.set_xlabel("epoch")
        for e in stopped:
            ax.axvline(e, color="grey", lw=0.8, ls=":")
        ax.legend(fontsize="x-small")
    fig.suptitle("Training curves" + (" (dotted: stopped by the time budget)" if len(stopped) else ""))
    return fig


def _bar_groups(ax: plt.Axes, tables: Mapping[str, pd.DataFrame], column: str, categories: list[str]) -> None:
    width = 0.8 / len(tables)
    x = np.arange(len(categories))
    for k, (name, table) in enumerate(tables.items()):
        values = table.set_index("maf_bin").reindex(categories)[column]
        ax.bar(x - 0.4 + width * (k + 0.5), values, width, color=COLOURS[k % len(COLOURS)], label=name)
    ax.set_xticks(x, [short_bin(c) for c in categories], rotation=45, ha="right")


def plot_by_maf(tables: Mapping[str, pd.DataFrame],
                metrics: tuple[str, ...] = ("masked_accuracy", "iqs_snp_mean", "iqs_pooled")) -> Figure:
    """One panel per metric, bars per MAF bin (the ``all`` row last), one colour per predictor."""
    first = next(iter(tables.values()))
    categories = list(first["maf_bin"])
    fig, axes = plt.subplots(1, len(metrics), figsize=(WIDTH, 3.6), squeeze=False, layout="constrained")
    for ax, metric in zip(axes[0], metrics, strict=True):
        _bar_groups(ax, tables, metric, categories)
        ax.set_xlabel("MAF bin (all people)")
        ax.set_ylabel(LABELS.get(metric, metric))
        ax.set_title(LABELS.get(metric, metric)[0].upper() + LABELS.get(metric, metric)[1:])
        ax.set_ylim(min(0.0, float(np.nanmin([t[metric].min() for t in tables.values()]))), 1.0)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), title="predictor", loc="outside lower center",
               ncol=len(tables), fontsize="small")
    fig.suptitle("Masked test haplotypes by MAF bin")
    return fig


def plot_recall(by_maf: pd.DataFrame, label: str = "this model") -> Figure:
    """Recall of the REF and the ALT allele per MAF bin: is the minor allele recovered or overwritten?"""
    fig, ax = plt.subplots(figsize=(7.5, 3.4), layout="constrained")
    categories = list(by_maf["maf_bin"])
    x = np.arange(len(categories))
    for k, (allele, colour) in enumerate((("ref", COLOURS[1]), ("alt", COLOURS[0]))):
        ax.bar(x - 0.2 + 0.4 * k, by_maf[f"recall_{allele}"], 0.4, color=colour, label=f"true allele {allele.upper()}")
    ax.set_xticks(x, [short_bin(c) for c in categories])
    ax.set_xlabel("MAF bin (all people)")
    ax.set_ylabel("recall (share called right)")
    ax.set_ylim(0, 1)
    ax.set_title(f"Per-allele recall at masked positions ({label})")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside right center", fontsize="small")
    return fig


def plot_iqs_vs_maf(per_snp: pd.DataFrame, maf_column: str = "maf", maf_label: str = "MAF") -> Figure:
    """Per-SNP IQS against MAF (one dot per SNP with a defined IQS) with the binned mean."""
    rows = per_snp[np.isfinite(per_snp["iqs"])]
    fig, ax = plt.subplots(figsize=(6.5, 3.8), layout="constrained")
    ax.scatter(rows[maf_column], rows["iqs"], s=2, alpha=0.15, linewidths=0, color=COLOURS[0],
               rasterized=True, label="one SNP")
    edges = np.linspace(0, 0.5, 11)
    middle = (edges[:-1] + edges[1:]) / 2
    binned = rows.groupby(pd.cut(rows[maf_column], edges), observed=False)["iqs"].mean().to_numpy()
    ax.plot(middle, binned, color="black", marker="o", ms=4, label="mean per 0.05 of MAF")
    ax.set_xlim(0, 0.5)
    ax.set_ylim(min(-0.2, float(rows["iqs"].min()) - 0.03) if len(rows) else -0.2, 1.03)
    ax.set_xlabel(maf_label)
    ax.set_ylabel("IQS of the SNP")
    ax.set_title(f"Per-SNP IQS ({len(rows):,} of {len(per_snp):,} SNPs have a defined IQS)")
    legend = ax.legend(fontsize="small", loc="lower right")
    legend.legend_handles[0].set_alpha(1.0)
    legend.legend_handles[0].set_sizes([12])
    return fig


def plot_comparison(table: pd.DataFrame,
                    metrics: tuple[str, ...] = ("masked_accuracy", "iqs_snp_mean", "iqs_pooled")) -> Figure:
    """Bars per metric for each predictor of :func:`lmeqtl.book.chapters.mlm.comparison_table`; missing values left out."""
    fig, ax = plt.subplots(figsize=(WIDTH, 3.6), layout="constrained")
    width = 0.8 / len(table)
    x = np.arange(len(metrics))
    for k, (name, row) in enumerate(table.iterrows()):
        original = name == ORIGINAL_LABEL
        values = row[list(metrics)].astype(float).to_numpy()
        bars = ax.bar(x - 0.4 + width * (k + 0.5), values, width, label=name,
                      color=ORIGINAL_COLOUR if original else COLOURS[k % len(COLOURS)],
                      edgecolor="black" if original else None, hatch="//" if original else None)
        ax.bar_label(bars, labels=["" if np.isnan(v) else f"{v:.3f}" for v in values], fontsize="x-small",
                     padding=1)
    ax.set_xticks(x, [LABELS[m] for m in metrics])
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("score")
    ax.set_title("The model next to trivial baselines and the original's reported numbers")
    fig.legend(*ax.get_legend_handles_labels(), title="predictor", loc="outside lower center", ncol=2,
               fontsize="small")
    return fig
