"""What the contextual estimators read of a gene: the MLM's per-SNP hidden states, the dosages, the alleles.

:func:`snp_states` runs the MLM once over each haplotype (unmasked) and keeps its hidden state at the
SNPs asked for; :func:`mlm_state_source` wraps that as a :data:`StateSource`, so that a gene's states are
extracted only at the SNPs its folds choose; :class:`GeneData` holds one gene's arrays for the
estimators of :mod:`lmeqtl.expression.contextual` and :mod:`lmeqtl.expression.haplotype_pairs`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from lmeqtl.mlm.embed import hidden_batch, unmasked_tokens

# snps (S,) window indices -> states (n, 2, S, d) of the analysed people (rows in analysis order)
StateSource = Callable[[np.ndarray], np.ndarray]


@torch.no_grad()
def snp_states(model: torch.nn.Module, haplotypes: np.ndarray, gene: int, positions: np.ndarray | None = None, *,
               layer: int = -1, batch_size: int = 16, dtype: type = np.float32,
               device: str | torch.device = "cpu") -> np.ndarray:
    """Hidden states ``(n, c, S, d)`` at ``layer`` of haplotypes ``(n, c, L)`` (``c`` = 2 per person, or 1) of gene
    index ``gene``.

    One unmasked pass per haplotype, ``batch_size`` haplotypes per pass; only the states at
    ``positions`` (window indices, ``S`` of them; None: all ``L``) are kept, as ``dtype``
    (float16 halves the memory). ``model`` must be in eval mode.
    """
    haplotypes = np.asarray(haplotypes)
    n, copies, length = haplotypes.shape
    tokens = unmasked_tokens(haplotypes.reshape(n * copies, length))  # (nc, L)
    device = torch.device(device)
    keep = None if positions is None else torch.as_tensor(np.asarray(positions, dtype=np.int64), device=device)
    out = None
    for lo in range(0, len(tokens), batch_size):
        hidden = hidden_batch(model, tokens[lo:lo + batch_size], gene, layer, device)  # (b, L, d)
        hidden = hidden if keep is None else hidden[:, keep]  # (b, S, d)
        if out is None:
            out = np.empty((len(tokens), *hidden.shape[1:]), dtype=dtype)  # (nc, S, d)
        out[lo:lo + len(hidden)] = hidden.cpu().numpy()
    return out.reshape(n, copies, *out.shape[1:])


def mlm_state_source(model: torch.nn.Module, haplotypes: np.ndarray, gene: int, *, layer: int = -1,
                     batch_size: int = 16, dtype: type = np.float32,
                     device: str | torch.device = "cpu") -> StateSource:
    """``snps -> (n, 2, S, d)``: :func:`snp_states` of these haplotypes ``(n, 2, L)`` at the SNPs asked for."""
    def source(snps: np.ndarray) -> np.ndarray:
        return snp_states(model, haplotypes, gene, snps, layer=layer, batch_size=batch_size, dtype=dtype,
                          device=device)
    return source


@dataclass
class GeneData:
    """What the estimators read of one gene; rows are the people in analysis order.

    ``dosage (n, L)`` ALT dosages of every window SNP; ``states (n, 2, S, d)`` the hidden
    states at the window SNPs ``state_snps (S,)`` (sorted; None: all ``L``). States are
    needed only by the context feature sets; ``scan (n, L, k)`` (:func:`~lmeqtl.expression.snp_selection.scan_scores`) only
    by ``selection="state"``; ``haplotypes (n, 2, L)`` only by ``reduction="alt_pca"`` and ``"gated"``.
    """

    dosage: np.ndarray
    states: np.ndarray | None = None
    state_snps: np.ndarray | None = None
    scan: np.ndarray | None = None
    haplotypes: np.ndarray | None = None

    def states_at(self, rows: np.ndarray, snps: np.ndarray) -> np.ndarray:
        """States ``(m, 2, S, d)`` of ``rows`` at window SNPs ``snps``."""
        if self.states is None:
            raise ValueError("no states given: the context features need GeneData.states")
        if self.state_snps is None:
            return self.states[:, :, snps][rows]  # the SNPs first: (n, 2, S, d) is small, (n, 2, L, d) is not
        columns = np.searchsorted(self.state_snps, snps).clip(0, len(self.state_snps) - 1)
        missing = snps[self.state_snps[columns] != snps]
        if len(missing):
            raise ValueError(f"no states at SNPs {missing[:10].tolist()}: extract the states at every SNP a fold "
                             "selects (contextual_run.fold_selections)")
        return self.states[:, :, columns][rows]
