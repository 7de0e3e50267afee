"""Histone-mark peaks at the SNPs, and why the enrichment of top-ranked SNPs in them is tested twice.

Peak files, the marks and the SNP-in-peak overlap are in :mod:`lmeqtl.data.peaks`.

Enrichment per mark: a 2x2 table (top-ranked vs other SNPs, in vs out of peaks) with the
conditional maximum-likelihood odds ratio, its exact 95 % CI and Fisher's exact test
(two-sided: repressive marks may be depleted); and a matched-background permutation test:
each top SNP is replaced by a random SNP from the same stratum (gene, MAF bin, TSS-distance
bin) and the number in peaks recounted, which controls for the local SNP density and for
peaks sitting near TSSs.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from lmeqtl.data.peaks import in_peaks


def annotate_snps(snps: pd.DataFrame, peaks: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One boolean column per mark: is each SNP (``chrom``, 1-based ``pos``) in that mark's peaks."""
    return pd.DataFrame({mark: in_peaks(snps["chrom"], snps["pos"], table) for mark, table in peaks.items()},
                        index=snps.index)
