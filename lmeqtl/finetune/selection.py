"""The SNP-selecting head of RQ3 (``FinetuneConfig.pooling="select"``): few SNPs of the whole window carry the prediction.

A pooled head (:class:`~lmeqtl.finetune.model.ExpressionHead`) averages over SNPs, so a
handful of causal SNPs among thousands are washed out, and its softmax attention stays
nearly flat. This head scores every SNP of the gene's window and gates the scores:

    states (B, 2, L, H) -> fixed projection P (H, k) -> (B, 2, L, k)
      -> standardise per SNP and component (fit people) -> sum of the two haplotypes (B, L, k)
      -> per-SNP score s_l = z_l . u / |u|  (u: one learned direction, shared by all SNPs) (B, L)
      -> prediction = s @ gate + bias,   gate (L,) with an L1 penalty

The gates are fitted (``FinetuneConfig.select_solver``) by an elastic-net path on the
scores (``enet``: the head is linear in its gates once the direction is fixed; frozen trunk)
or by epochs of AdamW with a proximal L1 step after each update (``adam``; trains ``u`` too).

``P`` is the top-``k`` principal directions of the per-SNP-centred states (how haplotypes
differ *at* a SNP, not where the SNP is), estimated once per gene from a seeded subset of
haplotypes before training (genotypes only, no expression). With a frozen trunk the cache
holds the projected states ``(n, 2, L, k)``: ``k/H`` of the full states' memory. Swapping the
haplotypes cannot change a prediction, and the prediction is a sum of one term per
haplotype (:meth:`SelectionHead.haplotype_term`), which in-silico mutagenesis uses.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

PROJECTION_HAPLOTYPES = 128  # haplotypes whose states estimate the projection (seeded subset)


def principal_directions(states: torch.Tensor, k: int) -> torch.Tensor:
    """Top-``k`` principal directions ``(H, k)`` of states ``(N, L, H)`` centred per SNP (over the N haplotypes)."""
    centred = (states - states.mean(0, keepdim=True)).flatten(0, 1).double()  # (N L, H)
    covariance = centred.T @ centred  # (H, H)
    values, vectors = torch.linalg.eigh(covariance)  # ascending
    top = vectors[:, torch.argsort(values, descending=True)[:k]]  # (H, k)
    signs = torch.where(top.sum(0) < 0, -1.0, 1.0).to(top.dtype)  # a fixed sign per direction: reproducible
    return (top * signs).float()


def projection_rows(n_haplotypes: int, seed: int) -> np.ndarray:
    """The seeded subset of haplotype rows (sorted) whose states estimate the projection."""
    if n_haplotypes <= PROJECTION_HAPLOTYPES:
        return np.arange(n_haplotypes)
    return np.sort(np.random.default_rng(seed).choice(n_haplotypes, PROJECTION_HAPLOTYPES, replace=False))


class SelectionHead(nn.Module):
    """Per-gene gated sum of per-SNP scores; one gate per SNP of the window, L1-penalised."""

    pooling = "select"

    def __init__(self, d_model: int, lengths: Sequence[int], k: int) -> None:
        super().__init__()
        if not 1 <= k <= d_model:
            raise ValueError(f"select_dim must be in 1..{d_model} (the model's width), got {k}")
        n_genes = len(lengths)
        self.k = k
        self.gates = nn.ParameterList([nn.Parameter(torch.zeros(int(n))) for n in lengths])
        self.direction = nn.Parameter(torch.eye(k)[0].repeat(n_genes, 1))  # (G, k); first principal direction
        self.bias = nn.Parameter(torch.zeros(n_genes))
        for slot, n in enumerate(lengths):
            self.register_buffer(f"snp_mean_{slot}", torch.zeros(int(n), k))
            self.register_buffer(f"snp_scale_{slot}", torch.ones(int(n), k))
        self.register_buffer("projection", torch.zeros(n_genes, d_model, k))
        self.register_buffer("target_mean", torch.zeros(n_genes))
        self.register_buffer("target_scale", torch.ones(n_genes))

    @property
    def weight(self) -> torch.Tensor:  # the device of the head, as ExpressionHead.weight gives it
        return self.bias

    def pool(self, states: torch.Tensor, slot: int) -> torch.Tensor:
        """``(..., L, H) -> (..., L, k)``: each SNP's state in the projected space."""
        return states @ self.projection[slot].to(states.dtype)

    def set_statistics(self, projected: torch.Tensor, slot: int) -> None:
        """Per-SNP standardisation from the fit people's projected states ``(n, 2, L, k)``."""
        flat = projected.flatten(0, 1).float()  # (2n, L, k)
        getattr(self, f"snp_mean_{slot}").copy_(flat.mean(0))
        getattr(self, f"snp_scale_{slot}").copy_(flat.std(0).clamp_min(1e-6))

    def scores(self, projected: torch.Tensor, slot: int) -> torch.Tensor:
        """Projected states ``(..., L, k)`` -> per-SNP scores ``(..., L)`` of one haplotype."""
        z = (projected - getattr(self, f"snp_mean_{slot}")) / getattr(self, f"snp_scale_{slot}")
        unit = self.direction[slot] / self.direction[slot].norm().clamp_min(1e-12)  # (k,)
        return z @ unit.to(z.dtype)

    def haplotype_term(self, projected: torch.Tensor, slot: int) -> torch.Tensor:
        """One haplotype's additive term ``(B,)`` (standardised units) from ``(B, L, k)``."""
        return self.scores(projected, slot) @ self.gates[slot].to(projected.dtype)

    def forward(self, pooled: torch.Tensor, slot: int) -> torch.Tensor:
        """Projected pairs ``(B, 2, L, k)`` -> standardised expression ``(B,)``."""
        return self.haplotype_term(pooled.flatten(0, 1), slot).reshape(-1, 2).sum(1) + self.bias[slot]

    def to_expression(self, standardised: torch.Tensor, slot: int) -> torch.Tensor:
        return self.target_mean[slot] + self.target_scale[slot] * standardised

    def snp_weights(self, slot: int) -> torch.Tensor:
        """|gate| of each SNP ``(L,)``: its weight in the prediction (scores are standardised, so comparable)."""
        return self.gates[slot].detach().abs()

    @torch.no_grad()
    def shrink(self, threshold: float) -> None:
        """The L1 penalty's proximal step: soft-threshold every gate by ``threshold``."""
        for gate in self.gates:
            gate.copy_(torch.sign(gate) * (gate.abs() - threshold).clamp_min(0.0))

    def penalty(self) -> torch.Tensor:
        """Sum of |gate| over every gene's SNPs (reported; training applies it by :meth:`shrink`)."""
        return sum(g.abs().sum() for g in self.gates)
