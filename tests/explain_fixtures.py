"""Tiny inputs for the RQ5 tests: haplotypes with LD and small torch predictors."""

from __future__ import annotations

import numpy as np
import torch


def ld_haplotypes(n: int, length: int, seed: int = 0, copy: float = 0.85) -> np.ndarray:
    """``uint8 (n, 2, L)``: a Markov chain along the SNPs (each copies its left neighbour with prob ``copy``)."""
    rng = np.random.default_rng(seed)
    frequency = rng.uniform(0.1, 0.5, length)
    fresh = rng.random((n, 2, length)) < frequency
    keep = rng.random((n, 2, length)) < copy
    haplotypes = fresh.copy()
    for j in range(1, length):  # fixture, not a hot path
        haplotypes[:, :, j] = np.where(keep[:, :, j], haplotypes[:, :, j - 1], fresh[:, :, j])
    return haplotypes.astype(np.uint8)


class TinyPersonModel(torch.nn.Module):
    """A small nonlinear predictor ``(B, 2, V, L) -> (B,)``: conv per haplotype, tanh, pooled, summed."""

    def __init__(self, n_tokens: int = 2, channels: int = 4, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = torch.nn.Conv1d(n_tokens, channels, 5, padding=2)
        self.head = torch.nn.Linear(channels, 1)

    def forward(self, onehot: torch.Tensor) -> torch.Tensor:
        batch = onehot.shape[0]
        hidden = torch.tanh(self.conv(onehot.flatten(0, 1)))  # (2B, C, L)
        pooled = hidden.mean(-1).reshape(batch, 2, -1)  # (B, 2, C)
        return self.head(torch.tanh(pooled.sum(1))).squeeze(-1)  # (B,)


class PlantedSnpModel(torch.nn.Module):
    """Expression driven by one SNP's alt dosage (nonlinearly), plus a faint linear trace of all SNPs."""

    def __init__(self, causal: int, length: int, seed: int = 0):
        super().__init__()
        self.causal = causal
        self.faint = torch.nn.Parameter(0.01 * torch.randn(length, generator=torch.Generator().manual_seed(seed)))

    def forward(self, onehot: torch.Tensor) -> torch.Tensor:
        alt = onehot[..., 1, :]  # (B, 2, L) or (B, L)
        alt = alt if alt.ndim == 3 else alt[:, None]
        dosage = alt.sum(1)  # (B, L)
        return 2.0 * torch.tanh(dosage[:, self.causal]) + dosage @ self.faint
