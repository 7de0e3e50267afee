"""GM12878-like histone ChIP-seq peaks (ENCODE narrowPeak) and SNP-in-peak enrichment.

Per mark, peaks fall in the simulated regions at roughly the genome-wide rate of the
ENCODE GM12878 peak sets (peaks per Mb) with log-normal widths; active promoter marks sit
on TSSs (H3K4me3 almost always, H3K27ac often, H3K4me1 on their flanks), H3K36me3 covers
gene bodies downstream of the TSS, and the repressive marks (H3K27me3, H3K9me3) come in
domains that avoid the (expressed) genes' TSSs and the H3K27ac/H3K4me3 peaks. Numbers are approximate, chosen to look
like the real tracks, not fitted to them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lmeqtl.data.peaks import (
    NARROWPEAK_COLUMNS,
    REPRESSIVE_MARKS,
    in_peaks,
    merge_overlaps,
    overlaps_peaks,
)

# The active marks in whose peaks causal SNPs are planted more often (promoters and enhancers:
# not the gene-body mark H3K36me3); in the repressive marks' peaks they are planted less often.
CAUSAL_ENRICHED_MARKS = ("H3K27ac", "H3K4me1", "H3K4me3")


@dataclass(frozen=True)
class MarkModel:
    per_mb: float  # background peaks per Mb
    width_median: float  # bp
    width_sigma: float  # log-normal sigma of the width
    tss_probability: float  # chance of a peak at (or, for H3K4me1, beside) each TSS
    domain_size: float = 1.0  # mean peaks per domain (clustered marks)
    domain_sd: float = 0.0  # bp spread of a domain
    avoid_tss_bp: int = 0  # no peak this close to a TSS


MARKS = {
    "H3K4me3": MarkModel(per_mb=4, width_median=1500, width_sigma=0.5, tss_probability=0.95),
    "H3K27ac": MarkModel(per_mb=12, width_median=1800, width_sigma=0.6, tss_probability=0.8),
    "H3K4me1": MarkModel(per_mb=30, width_median=2000, width_sigma=0.6, tss_probability=0.7),
    "H3K36me3": MarkModel(per_mb=15, width_median=2500, width_sigma=0.7, tss_probability=0.8,
                          domain_size=4, domain_sd=15_000),
    "H3K27me3": MarkModel(per_mb=12, width_median=2000, width_sigma=0.7, tss_probability=0.0,
                          domain_size=5, domain_sd=20_000, avoid_tss_bp=5_000),
    "H3K9me3": MarkModel(per_mb=8, width_median=1200, width_sigma=0.6, tss_probability=0.0,
                         domain_size=4, domain_sd=15_000, avoid_tss_bp=5_000),
}


def _mark_centres(model: MarkModel, mark: str, start: int, end: int, tss: np.ndarray,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Peak centres and whether each one is TSS-driven (stronger signal)."""
    length_mb = (end - start) / 1e6
    n_domains = rng.poisson(model.per_mb * length_mb / model.domain_size)
    domains = rng.uniform(start, end, n_domains)
    if model.domain_size > 1:
        sizes = rng.poisson(model.domain_size, n_domains)
        centres = np.repeat(domains, sizes) + rng.normal(0, model.domain_sd, sizes.sum())
    else:
        centres = domains
    at_tss = tss[rng.random(len(tss)) < model.tss_probability]
    if mark == "H3K4me1":  # enhancer/flank mark: beside the promoter
        at_tss = at_tss + rng.choice([-1, 1], len(at_tss)) * rng.uniform(1_000, 4_000, len(at_tss))
    elif mark == "H3K36me3":  # elongation: along the gene body
        strand = rng.choice([-1, 1], len(at_tss))
        at_tss = np.repeat(at_tss, 5) + np.repeat(strand, 5) * rng.uniform(2_000, 40_000, 5 * len(at_tss))
    else:
        at_tss = at_tss + rng.normal(0, 300, len(at_tss))
    centres = np.r_[centres, at_tss]
    strong = np.r_[np.zeros(len(centres) - len(at_tss), bool), np.ones(len(at_tss), bool)]
    if model.avoid_tss_bp and len(tss):
        near = np.min(np.abs(centres[:, None] - tss[None, :]), axis=1) < model.avoid_tss_bp
        centres, strong = centres[~near], strong[~near]
    inside = (centres >= start) & (centres < end)
    return centres[inside], strong[inside]


def simulate_peaks(regions: list[tuple[str, int, int]], tss: dict[str, np.ndarray],
                   rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """narrowPeak tables (chrom without ``chr``, 0-based half-open) per mark for the regions."""
    tracks = {}
    for mark, model in MARKS.items():
        frames = []
        for chrom, start, end in regions:
            centres, strong = _mark_centres(model, mark, start, end, np.asarray(tss.get(chrom, [])), rng)
            width = np.clip(rng.lognormal(np.log(model.width_median), model.width_sigma, len(centres)), 150, 20_000)
            lo = np.maximum(np.round(centres - width / 2), 0).astype(np.int64)
            hi = np.round(centres + width / 2).astype(np.int64)
            signal = rng.lognormal(np.log(np.where(strong, 12.0, 4.0)), 0.5)
            order = np.argsort(lo, kind="stable")
            lo, hi, signal = merge_overlaps(lo[order], hi[order], signal[order])
            if mark in REPRESSIVE_MARKS:  # H3K27 is acetylated or methylated, not both
                free = ~np.any([overlaps_peaks(chrom, lo, hi, tracks[m]) for m in ("H3K27ac", "H3K4me3")], axis=0)
                lo, hi, signal = lo[free], hi[free], signal[free]
            p_value = signal * rng.uniform(2.5, 4.0, len(signal))
            frames.append(pd.DataFrame({
                "chrom": chrom, "start": lo, "end": hi, "name": ".", "score": np.minimum(1000, (signal * 40).astype(int)),
                "strand": ".", "signalValue": signal.round(5), "pValue": p_value.round(5),
                "qValue": np.maximum(p_value - 1.3, 0).round(5),
                "peak": (rng.uniform(0.3, 0.7, len(lo)) * (hi - lo)).astype(np.int64)}))
        table = pd.concat(frames, ignore_index=True).sort_values(["chrom", "start"], kind="stable")
        table["name"] = [f"GM12878_{mark}_peak_{i + 1}" for i in range(len(table))]
        tracks[mark] = table.loc[:, list(NARROWPEAK_COLUMNS)].reset_index(drop=True)
    return tracks


def enrichment(snps: pd.DataFrame, tracks: dict[str, pd.DataFrame], configured_fold: float) -> pd.DataFrame:
    """Per mark: share of window SNPs vs of causal SNPs inside peaks, and their ratio (realised fold).

    ``snps`` has ``chrom, pos, causal`` (all window SNPs of all genes).
    """
    rows = []
    for mark, peaks in tracks.items():
        inside = in_peaks(snps["chrom"], snps["pos"], peaks)
        causal = snps["causal"].to_numpy()
        share_all, share_causal = inside.mean(), inside[causal].mean() if causal.any() else np.nan
        rows.append({"mark": mark, "active": mark in CAUSAL_ENRICHED_MARKS, "n_snps": len(snps),
                     "n_in_peaks": int(inside.sum()),
                     "n_causal": int(causal.sum()), "n_causal_in_peaks": int(inside[causal].sum()),
                     "share_all": share_all, "share_causal": share_causal,
                     "realised_fold": share_causal / share_all if share_all > 0 else np.nan,
                     "configured_fold": configured_fold if mark in CAUSAL_ENRICHED_MARKS else 1.0})
    return pd.DataFrame(rows)
