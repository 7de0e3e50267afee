"""Figures of RQ3: training curves per gene and fold, attention weights along the SNP window.

Each function draws a new figure and returns it; titles, axis labels with units and
legends are always set. Per-gene r next to RQ2/RQ4 uses :func:`lmeqtl.expression.plots.plot_gene_r`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from lmeqtl.config.figures import PAGE_WIDTH


def plot_training_curves(history: pd.DataFrame, labels: Mapping[str, str] | None = None,
                         columns: int = 3) -> Figure:
    """Inner-validation loss (standardised expression MSE) per epoch: one panel per unit, one line per fold.

    Epoch 0 is the untrained head (the training mean, MSE ~1); the dot marks the kept epoch.
    """
    units = list(dict.fromkeys(history["unit"]))
    rows = -(-len(units) // columns)
    width = min(PAGE_WIDTH, 2.5 * min(columns, len(units)))
    fig, axes = plt.subplots(rows, min(columns, len(units)), figsize=(width, 2.0 * rows + 0.8),
                             squeeze=False, sharey=True, layout="constrained")
    colours = plt.get_cmap("tab10")
    for ax, unit in zip(axes.flat, units, strict=False):
        for fold, curve in history[history["unit"] == unit].groupby("fold"):
            ax.plot(curve["epoch"], curve["val_loss"], color=colours(int(fold) % 10), lw=1, label=f"fold {fold}")
            best = curve[curve["best"]]
            ax.plot(best["epoch"], best["val_loss"], "o", color=colours(int(fold) % 10), ms=4)
        ax.axhline(1.0, color="grey", lw=0.6, ls=":")
        ax.set_title((labels or {}).get(unit, unit), fontsize="small")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    for ax in axes.flat[len(units):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("validation MSE\n(standardised expression²)")
    axes.flat[0].legend(fontsize="x-small", title="outer fold", title_fontsize="x-small")
    fig.suptitle("Fine-tuning: inner-validation loss by epoch\n(dot: kept epoch; dotted: predicting the mean)",
                 fontsize="medium")
    return fig


def plot_snp_weights(snp_weights: pd.DataFrame, genes: Sequence[str], causal: Mapping[str, Sequence[int]] | None = None,
                     labels: Mapping[str, str] | None = None, positions: Mapping[str, np.ndarray] | None = None,
                     tss: Mapping[str, int] | None = None, columns: int = 2) -> Figure:
    """Attention pooling weight of each SNP (mean over outer folds) along each gene's window.

    The weight is shown relative to the uniform weight of mean pooling (1 = uniform), on a
    log scale, so that a head that barely departs from uniform is not a flat line. With
    ``positions`` (gene -> 1-based position of each window SNP, by ``seq_idx``) and ``tss``,
    x is the distance to the TSS in kb; else the SNP index. Red lines mark causal SNPs.
    """
    rows = -(-len(genes) // columns)
    fig, axes = plt.subplots(rows, min(columns, len(genes)), figsize=(PAGE_WIDTH, 1.9 * rows + 0.9), squeeze=False,
                             sharey=True, layout="constrained")
    by_position = positions is not None and tss is not None
    spread = 1.0
    for ax, gene in zip(axes.flat, genes, strict=False):
        rows_of_gene = snp_weights[snp_weights["gene"] == gene]
        mean = rows_of_gene.groupby("seq_idx")["weight"].mean()
        relative = mean.to_numpy() * len(mean)  # 1 = the uniform weight of mean pooling
        spread = max(spread, float(np.nanmax(np.abs(np.log10(np.clip(relative, 1e-6, None))))))

        def where(idx, gene=gene):
            idx = np.asarray(idx, dtype=int)
            return (np.asarray(positions[gene])[idx] - tss[gene]) / 1e3 if by_position else idx

        x = where(mean.index.to_numpy())
        ax.plot(x, relative, lw=0.6, color="tab:blue", marker=".", ms=2, label="attention weight / uniform")
        ax.axhline(1.0, color="grey", lw=0.8, ls="--", label="uniform (mean pooling)")
        first, last = int(mean.index.min()), int(mean.index.max())
        planted = list((causal or {}).get(gene, []))
        inside = [idx for idx in planted if first <= idx <= last]
        for k, idx in enumerate(inside):
            ax.axvline(float(where([idx])[0]), color="tab:red", lw=0.8, alpha=0.7,
                       label="causal SNP" if k == 0 else None)
        outside = len(planted) - len(inside)
        note = f"\n({outside} causal SNP{'s' if outside > 1 else ''} outside the window)" if outside else ""
        ax.set_xlim(float(np.min(x)), float(np.max(x)))
        ax.set_title((labels or {}).get(gene, gene) + note, fontsize="small")
        ax.set_yscale("log")
        ax.set_xlabel("distance to TSS (kb)" if by_position else "SNP index in the window", fontsize="x-small")
    for ax in axes.flat[len(genes):]:
        ax.set_visible(False)
    limit = 10 ** max(np.ceil(spread * 10) / 10, 0.3)
    axes[0, 0].set_ylim(1 / limit, limit)
    for ax in axes[:, 0]:
        ax.set_ylabel("weight / uniform")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), fontsize="x-small", loc="outside lower center", ncol=3,
               frameon=False)
    fig.suptitle("Where the fine-tuned head looks: attention weight per SNP (log scale)", fontsize="medium")
    return fig
