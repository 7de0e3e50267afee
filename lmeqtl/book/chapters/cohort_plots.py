"""Figures of chapter 00_data, drawn from the tables of :mod:`lmeqtl.book.chapters.cohort` and :mod:`lmeqtl.simulate.popgen`.

Each function makes a new figure, at most 8 inches wide so that the book shows it near
full size, and returns it; titles, axis labels with units and legends are always set.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from lmeqtl.config.figures import PAGE_WIDTH

SUPER_POP_COLOURS = {"AFR": "#e6a11f", "AMR": "#c0392b", "EAS": "#27ae60", "EUR": "#2e6fba", "SAS": "#8e44ad"}
WIDTH = PAGE_WIDTH  # inches: the page column


def _labels(genes: list[str], symbols: Mapping[str, str] | None) -> list[str]:
    return [(symbols or {}).get(g, g) for g in genes]


def plot_snp_density(windows: pd.DataFrame, meta: pd.DataFrame) -> Figure:
    """Left: each gene's window span; right: distances between neighbouring SNPs per gene."""
    labels = list(windows["symbol"]) if "symbol" in windows.columns else list(windows.index)
    fig, (left, right) = plt.subplots(1, 2, figsize=(WIDTH, 0.3 * len(windows) + 2), layout="constrained")
    y = np.arange(len(windows))
    left.barh(y, windows["span_kb"], color="#4c72b0")
    left.set_yticks(y, labels)
    left.invert_yaxis()
    left.set_xlabel("span of the window SNPs (kb)")
    left.set_title("Window span")
    gaps = meta.assign(gap=meta.groupby("GENE_ID", sort=False)["pos"].diff(), row=meta["GENE_ID"].map(
        {g: i for i, g in enumerate(windows.index)}))
    gaps = gaps[gaps["gap"] > 0]
    right.boxplot([gaps.loc[gaps["row"] == i, "gap"] for i in y], positions=y, orientation="horizontal", widths=0.6,
                  flierprops={"markersize": 1}, medianprops={"color": "black"})
    right.set_yticks(y, [""] * len(y))
    right.invert_yaxis()
    right.set_xscale("log")
    right.set_xlabel("distance to the previous SNP (bp)")
    right.set_title("SNP spacing")
    fig.suptitle("SNP density of the gene windows")
    return fig


def plot_maf_spectrum(spectrum: pd.DataFrame) -> Figure:
    """Share of SNPs per MAF bin, one bar series per source (e.g. simulated vs real top10)."""
    fig, ax = plt.subplots(figsize=(7, 3.6), layout="constrained")
    spectrum.plot.bar(ax=ax, width=0.8, rot=45)
    ax.set_xlabel("minor allele frequency (all people)")
    ax.set_ylabel("share of window SNPs")
    ax.set_title("MAF spectrum of the window SNPs")
    ax.legend(title="SNPs")
    return fig


def plot_ld_decay(decay: pd.DataFrame, symbols: Mapping[str, str] | None = None) -> Figure:
    """Mean r² vs distance: one panel per gene, one line per group of people (``gene, group`` columns)."""
    genes = list(dict.fromkeys(decay["gene"]))
    fig, axes = plt.subplots(1, len(genes), figsize=(WIDTH, 3.2), sharey=True, squeeze=False,
                             layout="constrained")
    for ax, gene, label in zip(axes[0], genes, _labels(genes, symbols), strict=True):
        for group, rows in decay[decay["gene"] == gene].groupby("group", sort=False):
            ax.plot(rows["distance_mid"], rows["mean_r2"], marker="o", ms=3,
                    color=SUPER_POP_COLOURS.get(group), label=group)
        ax.set_xscale("log")
        ax.set_title(label)
        ax.set_xlabel("distance (bp)")
    axes[0, 0].set_ylabel("mean r² of SNP pairs")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), title="people", loc="outside right center", fontsize="small")
    fig.suptitle("LD decay: r² of random SNP pairs by distance")
    return fig


def plot_structure_pca(scores: pd.DataFrame, explained: np.ndarray) -> Figure:
    """PC1 vs PC2 and PC1 vs PC3 of the genotypes, coloured by super-population."""
    pairs = [("PC1", "PC2"), ("PC1", "PC3")] if "PC3" in scores.columns else [("PC1", "PC2")]
    fig, axes = plt.subplots(1, len(pairs), figsize=(WIDTH, 3.9), squeeze=False, layout="constrained")
    order = [p for p in SUPER_POP_COLOURS if p in set(scores.get("super_pop", []))]
    for ax, (x, y) in zip(axes[0], pairs, strict=True):
        for pop in order or [None]:
            rows = scores if pop is None else scores[scores["super_pop"] == pop]
            ax.scatter(rows[x], rows[y], s=5, alpha=0.6, linewidths=0, color=SUPER_POP_COLOURS.get(pop), label=pop)
        ax.set_title(f"{x} vs {y}")
        ax.set_xlabel(f"{x} ({100 * explained[int(x[2:]) - 1]:.1f} % of variance)")
        ax.set_ylabel(f"{y} ({100 * explained[int(y[2:]) - 1]:.1f} % of variance)")
    if order:
        fig.legend(*axes[0, 0].get_legend_handles_labels(), title="super-population", loc="outside right center",
                   markerscale=2.5, fontsize="small")
    fig.suptitle("Population structure: PCA of window-SNP dosages")
    return fig


def plot_expression(levels: pd.DataFrame, super_pop: Mapping[str, str] | None = None) -> Figure:
    """log10 RPKM per gene (replicates averaged), split by super-population when given."""
    mapping = {} if super_pop is None else dict(super_pop)  # a dict or a Series (sample -> super_pop)
    people = levels["sample_id"].map(mapping).astype(object).fillna("all" if super_pop is None else "other")
    groups = [p for p in [*SUPER_POP_COLOURS, "other", "all"] if p in set(people)]
    genes = list(dict.fromkeys(levels["gene"]))
    fig, ax = plt.subplots(figsize=(min(WIDTH, 0.6 * len(genes) + 3), 3.8), layout="constrained")
    width = 0.8 / len(groups)
    for k, group in enumerate(groups):
        values = [levels.loc[(levels["gene"] == g) & (people == group), "log10_rpkm"] for g in genes]
        boxes = ax.boxplot(values, positions=np.arange(len(genes)) - 0.4 + width * (k + 0.5), widths=0.9 * width,
                           patch_artist=True, flierprops={"markersize": 1}, medianprops={"color": "black"})
        for box in boxes["boxes"]:
            box.set_facecolor(SUPER_POP_COLOURS.get(group, "#999999"))
        boxes["boxes"][0].set_label(group)
    ax.set_xticks(np.arange(len(genes)), genes, rotation=45, ha="right")
    ax.set_xlabel("gene")
    ax.set_ylabel("log10 RPKM")
    ax.set_title("Expression per person (mean of their libraries)")
    ax.legend(title="super-population", fontsize="small")
    return fig


def plot_eqtls(eqtl: pd.DataFrame, summary: pd.DataFrame, symbols: Mapping[str, str] | None = None) -> Figure:
    """Top: significant pairs per gene; bottom: -log10 p of every pair by distance to the TSS."""
    labels = _labels(list(summary.index), symbols)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(WIDTH, 6.4), layout="constrained",
                                      gridspec_kw={"height_ratios": [1, 1.4]})
    x = np.arange(len(summary))
    top.bar(x, summary["pairs"], color="#55a868")
    top.set_xticks(x, labels, rotation=30, ha="right")
    top.set_ylabel("eQTL SNPs (5 % FDR)")
    top.set_title("Significant cis-eQTL SNPs per gene")
    palette = sns.color_palette("tab10", len(summary))
    for colour, gene, label in zip(palette, summary.index, labels, strict=True):
        rows = eqtl[eqtl["GENE_ID"] == gene]
        bottom.scatter((rows["SNPpos"] - rows["TSSpos"]) / 1e3, rows["log10pvalue"], s=4, alpha=0.6,
                       color=colour, label=label)
    bottom.set_xlabel("SNP position relative to the TSS (kb)")
    bottom.set_ylabel("-log10 p-value")
    bottom.set_title("Significant pairs by distance to the TSS")
    if len(summary):
        bottom.legend(title="gene", fontsize="x-small", markerscale=2.5, ncol=2 if len(summary) > 5 else 1)
    fig.suptitle("cis-eQTLs of the European people with expression")
    return fig


def plot_peaks(tracks: Mapping[str, pd.DataFrame], summary: pd.DataFrame) -> Figure:
    """Left: peaks per Mb of the windows per mark; right: peak widths per mark."""
    marks = list(summary.index)
    fig, (left, right) = plt.subplots(1, 2, figsize=(WIDTH, 3.6), layout="constrained")
    left.bar(marks, summary["peaks_per_mb"], color="#8172b3")
    left.tick_params(axis="x", rotation=45)
    left.set_xlabel("histone mark")
    left.set_ylabel("peaks per Mb of window")
    left.set_title("Peak density")
    right.boxplot([(tracks[m]["end"] - tracks[m]["start"]).to_numpy() for m in marks], widths=0.6,
                  flierprops={"markersize": 1}, medianprops={"color": "black"})
    right.set_xticks(np.arange(1, len(marks) + 1), marks, rotation=45)
    right.set_yscale("log")
    right.set_xlabel("histone mark")
    right.set_ylabel("peak width (bp)")
    right.set_title("Peak widths")
    fig.suptitle("GM12878 histone ChIP-seq peaks in the gene windows")
    return fig


def plot_truth(genes: pd.DataFrame, enrichment: pd.DataFrame) -> Figure:
    """Left: planted vs realised h2 per gene; right: share of all vs causal SNPs in each mark's peaks."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(WIDTH, 3.9), layout="constrained")
    labels = list(genes["symbol"]) if "symbol" in genes.columns else list(genes["gene_id"])
    x = np.arange(len(genes))
    left.bar(x - 0.2, genes["h2"], 0.4, label="drawn", color="#4c72b0")
    left.bar(x + 0.2, genes["h2_realised"], 0.4, label="realised", color="#c44e52")
    left.set_xticks(x, labels, rotation=45, ha="right")
    left.set_ylabel("cis-heritability h²")
    left.set_title("h² per gene (EUR with expression)")
    left.legend(fontsize="small")
    m = np.arange(len(enrichment))
    right.bar(m - 0.2, enrichment["share_all"], 0.4, label="all window SNPs", color="#8c8c8c")
    right.bar(m + 0.2, enrichment["share_causal"], 0.4, label="causal SNPs", color="#dd8452")
    right.set_xticks(m, enrichment["mark"], rotation=45, ha="right")
    for label, active in zip(right.get_xticklabels(), enrichment["active"], strict=True):
        label.set_fontweight("bold" if active else "normal")
    right.set_ylabel("share of SNPs inside a peak")
    right.set_title("Causal SNPs in peaks (active marks in bold)")
    right.legend(fontsize="small")
    fig.suptitle("The simulated truth")
    return fig


def plot_causal_snps(causal: pd.DataFrame, symbols: Mapping[str, str] | None = None) -> Figure:
    """Each planted causal SNP: distance to the TSS vs its additive effect; filled when in an active peak."""
    genes = list(dict.fromkeys(causal["gene_id"]))
    fig, ax = plt.subplots(figsize=(WIDTH, 3.8), layout="constrained")
    palette = sns.color_palette("tab10", len(genes))
    for colour, gene, label in zip(palette, genes, _labels(genes, symbols), strict=True):
        rows = causal[causal["gene_id"] == gene]
        active = rows["in_active_peak"].to_numpy(dtype=bool)
        x, y = rows["distance_to_tss"] / 1e3, rows["effect"].abs()
        ax.scatter(x[active], y[active], s=30, color=colour, label=label)
        ax.scatter(x[~active], y[~active], s=30, facecolors="none", edgecolors=colour)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xscale("symlog", linthresh=10)  # linear within 10 kb of the TSS, logarithmic beyond
    ax.set_xlabel("causal SNP position relative to the TSS (kb; linear within ±10 kb)")
    ax.set_ylabel("|effect| (ln RPKM per ALT allele)")
    ax.set_title("Planted causal SNPs (filled: inside an active-mark peak)")
    fig.legend(*ax.get_legend_handles_labels(), title="gene", fontsize="x-small", loc="outside right center")
    return fig
