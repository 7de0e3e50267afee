"""Figures of RQ2/RQ4: per-gene r per method, predicted vs observed, embedding PCA by genotype.

Each function draws on a new figure (or the given axes) and returns the figure; titles,
axis labels with units and legends are always set.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from lmeqtl.config.figures import PAGE_WIDTH, page_width
from lmeqtl.expression.features import combine_haplotypes

EXPRESSION_UNITS = "inverse-normal expression (SD units)"


def _figure(ax, size):
    if ax is None:
        fig, ax = plt.subplots(figsize=(page_width(size[0]), size[1]), layout="constrained")
    return ax.figure, ax


def _label(labels: Mapping[str, str] | None, method: str) -> str:
    return (labels or {}).get(method, method)


def plot_gene_r(results: pd.DataFrame, methods: Sequence[str] | None = None, ax=None,
                labels: Mapping[str, str] | None = None) -> Figure:
    """Pearson r (with CI bars) of each method on each gene, methods side by side per gene.

    ``labels`` maps method codes to the names shown in the legend; the legend sits below the
    axes so that the figure keeps the page's width.
    """
    methods = list(methods or dict.fromkeys(results["method"]))
    table = results[results["method"].isin(methods)]
    genes = list(dict.fromkeys(table["gene"]))
    fig, ax = _figure(ax, (PAGE_WIDTH, 4.2 + 0.22 * -(-len(methods) // 2)))
    palette = sns.color_palette("tab10" if len(methods) <= 10 else "husl", len(methods))
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        rows = table[table["method"] == method].set_index("gene").reindex(genes)
        x = np.arange(len(genes)) - 0.4 + width * (i + 0.5)
        errors = np.vstack([rows["r"] - rows["r_low"], rows["r_high"] - rows["r"]])
        ax.errorbar(x, rows["r"], yerr=errors, fmt="o", ms=4, capsize=2, color=palette[i], label=_label(labels, method))
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xticks(np.arange(len(genes)), genes, rotation=45, ha="right")
    ax.set_xlabel("gene")
    ax.set_ylabel("Pearson r, predicted vs observed (unitless)")
    ax.set_title("Per-gene prediction accuracy (bars: bootstrap CI)")
    fig.legend(*ax.get_legend_handles_labels(), title="method", fontsize="small", loc="outside lower center",
               ncol=2, frameon=False)
    return fig


def plot_method_r(results: pd.DataFrame, ax=None, labels: Mapping[str, str] | None = None) -> Figure:
    """Each method's r over genes (one dot per gene, bar at the mean), best method first.

    ``labels`` maps method codes to the names on the y axis.
    """
    results = results.assign(method=results["method"].map(lambda m: _label(labels, m)))
    means = results.groupby("method")["r"].mean().sort_values(ascending=False)
    order = means.index.tolist()
    fig, ax = _figure(ax, (6, max(3, 0.35 * len(order) + 1)))
    sns.stripplot(data=results, y="method", x="r", order=order, hue="gene", size=4, ax=ax)
    for row, mean in enumerate(means):
        ax.plot([mean, mean], [row - 0.35, row + 0.35], color="black", lw=1.5)
    ax.axvline(0, color="grey", lw=0.8)
    ax.set_xlabel("Pearson r per gene (unitless)")
    ax.set_ylabel("method")
    ax.set_title("Prediction accuracy across genes (bar: mean r)")
    ax.legend(title="gene", fontsize="x-small", bbox_to_anchor=(1.01, 1), loc="upper left")
    return fig


def plot_predicted_vs_observed(predictions: pd.DataFrame, genes: Sequence[str], methods: Sequence[str],
                               labels: Mapping[str, str] | None = None) -> Figure:
    """Scatter of out-of-fold prediction vs observed expression: one panel per (gene, method)."""
    fig, axes = plt.subplots(len(genes), len(methods), figsize=(page_width(3.2 * len(methods)), 3 * len(genes)),
                             squeeze=False, layout="constrained")
    for row, gene in enumerate(genes):
        for col, method in enumerate(methods):
            ax = axes[row, col]
            rows = predictions[(predictions["gene"] == gene) & (predictions["method"] == method)]
            ax.scatter(rows["observed"], rows["predicted"], s=6, alpha=0.6)
            r = np.corrcoef(rows["observed"], rows["predicted"])[0, 1] if len(rows) > 2 else np.nan
            ax.set_title(f"{gene}\n{_label(labels, method)} (r = {r:.2f})", fontsize="small")
            ax.set_xlabel(f"observed, {EXPRESSION_UNITS}", fontsize="x-small")
            ax.set_ylabel("predicted (same units)", fontsize="x-small")
    fig.suptitle("Out-of-fold predictions (nested CV)")
    return fig


def plot_embedding_pca(embeddings: np.ndarray, genotype: np.ndarray, combine: str = "sum",
                       gene: str = "", snp: str = "", ax=None) -> Figure:
    """First two PCs of people's combined embeddings ``(n, 2, H)``, coloured by a SNP's dosage 0/1/2.

    PCA here is descriptive (all people, no expression), not part of any prediction.
    """
    features = combine_haplotypes(embeddings, combine)  # (n, d)
    centred = features - features.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    pcs = centred @ vt[:2].T  # (n, 2)
    explained = s[:2] ** 2 / (s**2).sum() * 100
    fig, ax = _figure(ax, (5.5, 4.5))
    labels = pd.Series(np.asarray(genotype)).map(lambda d: "missing" if np.isnan(d) else f"{int(d)}")
    sns.scatterplot(x=pcs[:, 0], y=pcs[:, 1], hue=labels, hue_order=sorted(set(labels)), s=14, ax=ax,
                    palette="viridis")
    ax.set_xlabel(f"PC1 ({explained[0]:.1f} % of variance)")
    ax.set_ylabel(f"PC2 ({explained[1]:.1f} % of variance)")
    ax.set_title(f"Embeddings ({combine}) of {gene or 'the gene'}, by lead eQTL {snp}".rstrip())
    ax.legend(title="alt-allele dosage")
    return fig


def plot_model_combine(results: pd.DataFrame, ax=None) -> Figure:
    """Mean r over genes of every embedding model (rows) x haplotype combination (columns)."""
    table = results.pivot_table(index="model", columns="combine", values="r", aggfunc="mean")
    fig, ax = _figure(ax, (1.5 * table.shape[1] + 3, 0.5 * table.shape[0] + 2))
    sns.heatmap(table, annot=True, fmt=".3f", cmap="viridis", cbar_kws={"label": "mean Pearson r (unitless)"}, ax=ax)
    ax.tick_params(axis="y", rotation=0)  # model names read horizontally
    ax.tick_params(axis="x", rotation=20)
    ax.set_xlabel("haplotype combination")
    ax.set_ylabel("model")
    ax.set_title("Embeddings -> expression: mean r over genes")
    return fig
