"""Tiny in-memory cohorts with strong linkage disequilibrium, for the MLM tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmeqtl.data.cohort import Cohort


def founder_cohort(n_samples: int = 40, genes: dict[str, int] | None = None, n_founders: int = 4,
                   seed: int = 0, test_fraction: float = 0.25) -> Cohort:
    """Haplotypes copied from a few founder haplotypes per gene: masked alleles are predictable."""
    genes = genes or {"ENSG01.1": 96, "ENSG02.1": 80}
    rng = np.random.default_rng(seed)
    samples = pd.DataFrame({"split": np.where(np.arange(n_samples) < n_samples * (1 - test_fraction),
                                              "train", "test")},
                           index=pd.Index([f"HG{i:05d}" for i in range(n_samples)], name="sample_id"))
    haplotypes, frames = {}, []
    for gene, length in genes.items():
        founders = rng.integers(0, 2, size=(n_founders, length), dtype=np.uint8)
        founders[0] = 0  # a common all-reference haplotype, as in real data
        copies = rng.integers(0, n_founders, size=(n_samples, 2))
        haplotypes[gene] = founders[copies]  # (n, 2, L)
        af = haplotypes[gene].reshape(-1, length).mean(axis=0).clip(0.01, 0.99)
        frames.append(pd.DataFrame({
            "chrom": "6", "pos": 1_000_000 + 100 * np.arange(length), "id": [f"rs{gene[-3]}{i}" for i in range(length)],
            "ref": "A", "alt": "G", "AF": af, "initial_counts": 0, "GENE_ID": gene, "seq_idx": np.arange(length),
        }))
    return Cohort(samples=samples, meta=pd.concat(frames, ignore_index=True), genes=list(genes),
                  haplotypes=haplotypes)
