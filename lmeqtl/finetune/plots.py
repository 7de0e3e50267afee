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


def plot_training_curves(history: pd.DataFrame, labels: Mapping[str, str] | None = None,
                         columns: int = 5) -> Figure:
    """Inner-validation loss (standardised expression MSE) per epoch: one panel per unit, one line per fold.

    Epoch 0 is the untrained head (the training mean, MSE ~1); the dot marks the kept epoch.
    """
    units = list(dict.fromkeys(history["unit"]))
    rows = -(-len(units) // columns)
    fig, axes = plt.subplots(rows, min(columns, len(units)), figsize=(2.6 * min(columns, len(units)), 2.3 * rows + 0.6),
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
    fig.suptitle("Fine-tuning: inner-validation loss by epoch (dot: kept epoch; dotted: predicting the mean)")
    return fig


def plot_snp_weights(snp_weights: pd.DataFrame, genes: Sequence[str], causal: Mapping[str, Sequence[int]] | None = None,
                     labels: Mapping[str, str] | None = None) -> Figure:
    """Attention pooling weight of each SNP (mean over outer folds) along each gene's window.

    The dashed line is the uniform weight (mean pooling); red ticks mark the causal SNPs.
    """
    fig, axes = plt.subplots(len(genes), 1, figsize=(8, 1.9 * len(genes) + 0.6), squeeze=False, layout="constrained")
    for ax, gene in zip(axes[:, 0], genes, strict=True):
        rows = snp_weights[snp_weights["gene"] == gene]
        mean = rows.groupby("seq_idx")["weight"].mean()
        ax.plot(mean.index, mean.to_numpy(), lw=0.8, color="tab:blue", label="attention weight (mean of folds)")
        ax.axhline(1.0 / len(mean), color="grey", lw=0.8, ls="--", label="uniform (mean pooling)")
        first, last = int(mean.index.min()), int(mean.index.max())
        planted = list((causal or {}).get(gene, []))
        inside = [idx for idx in planted if first <= idx <= last]
        for k, idx in enumerate(inside):
            ax.axvline(idx, color="tab:red", lw=0.8, alpha=0.7, label="causal SNP" if k == 0 else None)
        outside = len(planted) - len(inside)
        note = f" ({outside} causal SNP{'s' if outside > 1 else ''} outside the window)" if outside else ""
        ax.set_xlim(first, last)
        ax.set_title((labels or {}).get(gene, gene) + note, fontsize="small")
        ax.set_ylabel("weight")
        ax.set_ylim(0, max(float(np.max(mean.to_numpy())) * 1.1, 2.0 / len(mean)))
    axes[-1, 0].set_xlabel("SNP index in the gene window (sorted by position)")
    axes[0, 0].legend(fontsize="x-small", loc="upper right")
    fig.suptitle("Where the fine-tuned head looks: attention weight per SNP")
    return fig
