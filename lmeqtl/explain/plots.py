"""Figures of RQ5: the locus plot of one gene and the enrichment forest plot.

Each function returns a new matplotlib figure with titles, axis labels and legends set.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lmeqtl.config.figures import PAGE_WIDTH
from lmeqtl.data.formats import normalise_chrom
from lmeqtl.data.peaks import ACTIVE_MARKS

CAUSAL_COLOUR = "crimson"


def plot_locus(positions: np.ndarray, scores: Mapping[str, np.ndarray], *, chrom: str | None = None,
               eqtl_minus_log10_p: np.ndarray | None = None, peaks: Mapping[str, pd.DataFrame] | None = None,
               is_causal: np.ndarray | None = None, tss: int | None = None, title: str = "") -> Figure:
    """Position vs each method's SNP score (scaled to max 1), eQTL -log10 p, and peak tracks.

    True causal SNPs (simulation) are marked in every panel; ``peaks`` are drawn on
    ``chrom`` within the window of ``positions`` (1-based SNP positions).
    """
    x = np.asarray(positions, dtype=float) / 1e6  # Mb
    causal = np.zeros(len(x), dtype=bool) if is_causal is None else np.asarray(is_causal, dtype=bool)
    panels = list(scores) + (["eQTL"] if eqtl_minus_log10_p is not None else [])
    heights = [1.0] * len(panels) + ([0.25 * max(len(peaks), 1)] if peaks else [])
    fig, axes = plt.subplots(len(heights), 1, sharex=True, figsize=(PAGE_WIDTH, 1.1 * sum(heights) + 1.0),
                             height_ratios=heights, layout="constrained", squeeze=False)
    axes = axes[:, 0]
    for ax, name in zip(axes, panels, strict=False):
        if name == "eQTL":
            values, label = np.nan_to_num(np.asarray(eqtl_minus_log10_p, dtype=float)), "eQTL\n-log10 p"
        else:
            values = np.nan_to_num(np.asarray(scores[name], dtype=float))
            top = np.max(np.abs(values)) if len(values) else 0
            values, label = (values / top if top > 0 else values), f"{name}\n(scaled)"
        ax.scatter(x[~causal], values[~causal], s=4, color="grey", alpha=0.6, label="SNP")
        ax.scatter(x[causal], values[causal], s=30, color=CAUSAL_COLOUR, marker="D", label="causal SNP")
        ax.set_ylabel(label, fontsize=8)
    if peaks:
        _peak_tracks(axes[-1], x, peaks, chrom)
    for ax in axes:
        for position in x[causal]:
            ax.axvline(position, color=CAUSAL_COLOUR, lw=0.6, ls="--", alpha=0.5)
        if tss is not None:
            ax.axvline(tss / 1e6, color="black", lw=0.8, ls=":")
    if causal.any() and panels:
        axes[0].legend(loc="upper right", fontsize=7, frameon=False)
    where = f"chr{normalise_chrom([chrom])[0]} " if chrom is not None else ""
    axes[-1].set_xlabel(f"{where}position (Mb){'; dotted: TSS' if tss is not None else ''}")
    fig.suptitle(title or "SNP scores along the locus")
    return fig


def _peak_tracks(ax, x: np.ndarray, peaks: Mapping[str, pd.DataFrame], chrom: str | None) -> None:
    low, high = (np.min(x), np.max(x)) if len(x) else (0.0, 1.0)
    for row, (mark, table) in enumerate(peaks.items()):
        table = table[normalise_chrom(table["chrom"]) == normalise_chrom([chrom])[0]] if chrom is not None else table
        start, end = table["start"].to_numpy() / 1e6, table["end"].to_numpy() / 1e6
        keep = (end >= low) & (start <= high)
        colour = "darkgreen" if mark in ACTIVE_MARKS else "slateblue"
        ax.broken_barh(list(zip(start[keep], (end - start)[keep], strict=True)), (row + 0.1, 0.8), color=colour)
    ax.set_yticks(np.arange(len(peaks)) + 0.5, list(peaks), fontsize=7)
    ax.set_ylim(len(peaks), 0)  # first mark on top
    ax.set_ylabel("peaks", fontsize=8)


def plot_enrichment_forest(table: pd.DataFrame, title: str = "") -> Figure:
    """Odds ratio (95 % CI) of top-ranked SNPs in each mark's peaks, per method; x = planted OR.

    An odds ratio of 0 (no top SNP in the mark's peaks) or infinity (every top SNP in them)
    has no place on a log axis: it is drawn as a hollow triangle at the axis edge, pointing
    out of the plot, and named in the legend; CI bounds of 0 or infinity are cut at the edge.
    """
    table = table.copy()
    if "method" not in table:
        table["method"] = "top SNPs"
    marks = list(dict.fromkeys(table["mark"]))
    methods = list(dict.fromkeys(table["method"]))
    height = max(0.45 * len(marks), 0.14 * len(marks) * len(methods)) + 1.8
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH, height), layout="constrained")
    finite = table[["ci_low", "odds_ratio", "ci_high"]].replace([np.inf, 0], np.nan).stack()
    floor, ceiling = (finite.min() / 2, finite.max() * 2) if len(finite) else (0.1, 10.0)
    offsets = np.linspace(-0.3, 0.3, len(methods)) if len(methods) > 1 else [0.0]
    colours = plt.get_cmap("tab10")
    edges = {"zero": False, "infinite": False}
    for k, method in enumerate(methods):
        rows = table[table["method"] == method].set_index("mark").reindex(marks)
        y = np.arange(len(marks)) + offsets[k]
        odds = rows["odds_ratio"].to_numpy(dtype=float)
        finite_or = np.isfinite(odds) & (odds > 0)
        estimate = np.clip(odds, floor, ceiling)
        low = rows["ci_low"].clip(floor, ceiling).to_numpy(dtype=float)
        high = rows["ci_high"].clip(floor, ceiling).to_numpy(dtype=float)
        ax.errorbar(estimate[finite_or], y[finite_or],
                    xerr=[(estimate - low)[finite_or], (high - estimate)[finite_or]], fmt="o", ms=4,
                    color=colours(k % 10), capsize=2, label=method)
        for kind, where, marker, x in (("zero", odds == 0, "<", floor), ("infinite", np.isposinf(odds), ">", ceiling)):
            if where.any():
                ax.scatter(np.full(int(where.sum()), x), y[where], marker=marker, s=40, facecolors="none",
                           edgecolors=colours(k % 10), zorder=3)
                edges[kind] = True
    if "planted_or" in table and table["planted_or"].notna().any():
        planted = table.drop_duplicates("mark").set_index("mark").reindex(marks)["planted_or"]
        ax.scatter(planted.clip(floor, ceiling), np.arange(len(marks)), marker="x", color="black", s=50,
                   zorder=3, label="planted")
    for kind, marker, words in (("zero", "<", "OR 0: no top SNP in the peaks (at the left edge)"),
                                ("infinite", ">", "OR ∞: every top SNP in the peaks (at the right edge)")):
        if edges[kind]:
            ax.scatter([], [], marker=marker, s=40, facecolors="none", edgecolors="black", label=words)
    ax.axvline(1.0, color="grey", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xlim(floor / 1.3, ceiling * 1.3)
    ax.set_yticks(np.arange(len(marks)), marks)
    ax.invert_yaxis()
    ax.set_xlabel("odds ratio of being in a peak (top-ranked vs other SNPs), 95 % CI")
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1))
    ax.set_title(title or "Enrichment of top-ranked SNPs in histone-mark peaks", fontsize="medium")
    return fig


def plot_ranking_metric(table: pd.DataFrame, metric: str = "average_precision") -> Figure:
    """One point per gene and method (``gene, method, <metric>`` rows); the mean as a bar."""
    methods = list(dict.fromkeys(table["method"]))
    fig, ax = plt.subplots(figsize=(min(PAGE_WIDTH, 0.8 * len(methods) + 2), 3.8), layout="constrained")
    for k, method in enumerate(methods):
        values = table.loc[table["method"] == method, metric].to_numpy(dtype=float)
        ax.bar(k, np.nanmean(values) if len(values) else np.nan, color="lightgrey")
        ax.scatter(np.full(len(values), k), values, s=12, color="black")
    if "random_average_precision" in table and metric == "average_precision":
        ax.scatter(np.arange(len(methods)), table.groupby("method", sort=False)["random_average_precision"].mean(),
                   marker="_", s=400, color=CAUSAL_COLOUR, label="random ranking")
        ax.legend(fontsize=7, frameon=False)
    ax.set_xticks(np.arange(len(methods)), methods, rotation=30, ha="right")
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title(f"{metric.replace('_', ' ')} of causal SNPs per gene (points) and mean (bars)", fontsize="medium")
    return fig
