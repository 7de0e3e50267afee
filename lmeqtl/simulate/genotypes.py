"""Simulated genotypes per chromosome: the SNPs, their true and observed haplotypes, decoy rows.

- top10: one region per chromosome holding every real list SNP and filler
  (:mod:`lmeqtl.simulate.top10`), coalescent variants mapped onto them (:mod:`lmeqtl.simulate.coalescent`);
- synthetic: one 2 x ``window_bp`` (+ flanks) region per made-up gene (ids ``SIMG...``).

*Observed* haplotypes (written to the VCF) differ from the *true* ones (which drive
expression) by optional genotyping errors (about ``genotype_error_rate`` of the genotypes
get one allele flipped; reverted at a SNP if they would move it across the AF filter, so
the simulated windows never depend on the errors) and phasing switch errors
(``switch_errors_per_mb`` per person and Mb: from a switch on, the two haplotypes are
swapped). Decoy rows — rare SNPs, deletions and multi-allelic sites — are written to the
VCF as in real data; ``prepare`` must skip them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from lmeqtl.config import SimulationConfig
from lmeqtl.data.vcf_writer import VcfRecords
from lmeqtl.simulate.coalescent import (
    haplotype_columns,
    simulate_free_region,
    simulate_mapped_region,
)
from lmeqtl.simulate.top10 import random_snp_alleles, top10_genes, top10_targets

SYNTHETIC_FLANK_BP = 50_000


@dataclass
class ChromosomeGenotypes:
    """The kept SNPs of one chromosome (all pass the AF filter) and its decoy VCF rows.

    true/observed: ``uint8 (m, n_people, 2)`` alleles (1 = ALT) of people in panel order.
    """

    chrom: str
    pos: np.ndarray
    ids: np.ndarray
    ref: np.ndarray
    alt: np.ndarray
    true: np.ndarray
    observed: np.ndarray
    decoys: VcfRecords

    def vcf_records(self) -> VcfRecords:
        """Kept SNPs (observed) and decoys, merged in position order."""
        order = np.argsort(np.r_[self.pos, self.decoys.pos], kind="stable")
        return VcfRecords(
            chrom=self.chrom, pos=np.r_[self.pos, self.decoys.pos][order],
            ids=np.r_[self.ids, self.decoys.ids][order], ref=np.r_[self.ref, self.decoys.ref][order],
            alt=np.r_[self.alt, self.decoys.alt][order],
            alleles=np.concatenate([self.observed, self.decoys.alleles])[order])


def synthetic_genes(n_genes: int, window_bp: int) -> pd.DataFrame:
    """Made-up genes spread over the autosomes, windows far apart (ids ``SIMG<n>.1``)."""
    k = np.arange(n_genes)
    return pd.DataFrame({"gene_id": [f"SIMG{i + 1:011d}.1" for i in k], "chrom": [str(1 + i % 22) for i in k],
                         "tss": 10_000_000 + (k // 22) * (2 * window_bp + 3 * SYNTHETIC_FLANK_BP + 500_000),
                         "symbol": [f"SIM{i + 1}" for i in k]})


def _people_alleles(haplotypes: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``(m, 2n_hap)`` simulated haplotypes -> ``(m, n_people, 2)`` in panel order."""
    return haplotypes[:, columns.ravel()].reshape(haplotypes.shape[0], columns.shape[0], 2)


def add_genotype_errors(alleles: np.ndarray, rate: float, min_af: float, rng: np.random.Generator) -> np.ndarray:
    """Flip one allele of about ``rate`` of the genotypes; never move a SNP across the AF filter.

    The genotypes hit are drawn sparsely (a binomial count of random cells), not cell by cell.
    """
    noisy = alleles.copy()
    if rate <= 0:
        return noisy
    m, n, _ = alleles.shape
    hits = np.unique(rng.integers(0, m * n, rng.binomial(m * n, rate)))
    snp, person = np.divmod(hits, n)
    haplotype = rng.integers(0, 2, len(hits))
    noisy[snp, person, haplotype] ^= 1
    passes = lambda a: (a >= min_af) & (a <= 1 - min_af)  # noqa: E731
    changed = passes(allele_frequency(alleles)) != passes(allele_frequency(noisy))
    noisy[changed] = alleles[changed]
    return noisy


def add_switch_errors(alleles: np.ndarray, pos: np.ndarray, per_mb: float, rng: np.random.Generator) -> np.ndarray:
    """Swap a person's two haplotypes from each phasing switch on.

    Switches fall as a Poisson process of ``per_mb`` per Mb along each person's genome; a
    SNP's haplotypes are swapped when an odd number of switches lies before it.
    """
    if per_mb <= 0 or len(pos) < 2:
        return alleles
    m, n, _ = alleles.shape
    span_mb = (pos[-1] - pos[0]) / 1e6
    count = rng.poisson(per_mb * span_mb, n)  # switches per person
    person = np.repeat(np.arange(n), count)
    first_swapped = np.searchsorted(pos, rng.uniform(pos[0], pos[-1], count.sum()), side="right")
    toggles = np.zeros((m + 1, n), dtype=bool)
    np.logical_xor.at(toggles, (first_swapped, person), True)
    swapped = np.logical_xor.accumulate(toggles[:m], axis=0)  # (m, n)
    out = alleles.copy()
    out[swapped] = alleles[swapped][:, ::-1]
    return out


def _decoys(chrom: str, spare: np.ndarray, spare_af: np.ndarray, taken: np.ndarray, lo: int, hi: int,
            n_kept: int, config: SimulationConfig, columns: np.ndarray, rng: np.random.Generator) -> VcfRecords:
    """Rare SNPs, indels and multi-allelic SNPs at free positions (``prepare`` must drop them)."""
    rare = np.flatnonzero((spare_af < config.min_af - 0.01) | (spare_af > 1 - config.min_af + 0.01))
    n_rare = min(len(rare), int(config.decoy_ratio * n_kept))
    n_indel, n_multi = max(1, n_kept // 100), max(1, n_kept // 200)
    if len(spare) < n_indel + 2 * n_multi:
        n_indel = n_multi = 0
    free = np.setdiff1d(rng.integers(lo, hi + 1, size=3 * (n_rare + n_indel + n_multi) + 10), taken)
    free = rng.permutation(free)[: n_rare + n_indel + n_multi]
    n_rare = max(0, min(n_rare, len(free) - n_indel - n_multi))
    rows = rng.permutation(len(spare))
    rare_rows, indel_rows = rng.choice(rare, n_rare, replace=False), rows[:n_indel]
    first, second = rows[n_indel:n_indel + n_multi], rows[n_indel + n_multi:n_indel + 2 * n_multi]
    multi = np.where(spare[first] == 1, 1, np.where(spare[second] == 1, 2, 0)).astype(np.uint8)
    haplotypes = np.concatenate([spare[rare_rows], spare[indel_rows], multi])  # (k, 2n)
    ref, alt = random_snp_alleles(len(haplotypes), rng)
    alt[n_rare:n_rare + n_indel] = ref[n_rare:n_rare + n_indel]  # deletions: REF "CT", ALT "C"
    ref[n_rare:n_rare + n_indel] = [r + "T" for r in ref[n_rare:n_rare + n_indel]]
    alt[n_rare + n_indel:] = [a + "," + next(b for b in "ACGT" if b not in (r, a))
                              for r, a in zip(ref[n_rare + n_indel:], alt[n_rare + n_indel:], strict=True)]
    order = np.argsort(free[: len(haplotypes)])
    alleles = _people_alleles(haplotypes, columns)
    return VcfRecords(chrom, free[: len(haplotypes)][order], np.full(len(order), ".", dtype=object),
                      ref[order], alt[order], alleles[order])


def simulate_genotypes(config: SimulationConfig, super_pops: np.ndarray, seed: int,
                       progress: bool = True) -> tuple[pd.DataFrame, Iterator[ChromosomeGenotypes]]:
    """The gene table (``genes.tsv`` rows) and an iterator over the chromosomes' genotypes.

    Chromosomes are simulated one at a time, so a caller that writes and drops each one
    holds a single chromosome in memory (top100 has 100 windows).
    """
    if config.genes == "top10":
        genes = top10_genes()
        targets = top10_targets(config.window_bp, config.max_snps, rng=np.random.default_rng([seed, 0]))
        regions = list(targets.items())
    elif config.genes == "synthetic":
        genes = synthetic_genes(config.n_genes, config.window_bp)
        regions = [(g.chrom, g) for g in genes.itertuples()]
    else:
        raise ValueError(f"unknown genes {config.genes!r}: 'top10' or 'synthetic'")
    return genes, _chromosomes(regions, config, super_pops, seed, progress)


def _chromosomes(regions: list, config: SimulationConfig, super_pops: np.ndarray, seed: int,
                 progress: bool) -> Iterator[ChromosomeGenotypes]:
    by_chrom: dict[str, list] = {}
    for k, (chrom, region) in enumerate(regions):  # k numbers the regions: it seeds each one
        by_chrom.setdefault(chrom, []).append((k, region))
    with tqdm(total=len(regions), desc="simulate: coalescent regions", disable=not progress) as bar:
        for chrom, members in by_chrom.items():
            parts = []
            for k, region in members:
                parts.append(_simulate_region(chrom, region, config, super_pops, np.random.default_rng([seed, 1, k])))
                bar.update()
            yield _merge(parts)


def _simulate_region(chrom: str, region, config: SimulationConfig, super_pops: np.ndarray,  # noqa: ANN001
                     rng: np.random.Generator) -> ChromosomeGenotypes:
    _, columns = haplotype_columns(super_pops)
    if config.genes == "top10":
        variants = simulate_mapped_region(super_pops, region["pos"].to_numpy(), region["af"].to_numpy(),
                                          min_af=config.min_af, seed=int(rng.integers(1, 2**31)),
                                          oversampling=config.oversampling, model=config.demography,
                                          n_spare=int(config.decoy_ratio * len(region)) * 3 + 50)
        ids, ref, alt = (region[c].to_numpy(dtype=object) for c in ("id", "ref", "alt"))
    else:
        lo = region.tss - config.window_bp - SYNTHETIC_FLANK_BP
        variants = simulate_free_region(super_pops, lo, region.tss + config.window_bp + SYNTHETIC_FLANK_BP,
                                        min_af=config.min_af, seed=int(rng.integers(1, 2**31)),
                                        model=config.demography, n_spare=2000)
        ids = np.full(len(variants.positions), ".", dtype=object)
        ref, alt = random_snp_alleles(len(variants.positions), rng)
    true = _people_alleles(variants.alleles, columns)  # (m, n, 2)
    observed = add_genotype_errors(true, config.genotype_error_rate, config.min_af, rng)
    observed = add_switch_errors(observed, variants.positions, config.switch_errors_per_mb, rng)
    decoys = _decoys(chrom, variants.spare_alleles, variants.spare_af, variants.positions,
                     int(variants.positions[0]), int(variants.positions[-1]), len(variants.positions),
                     config, columns, rng)
    return ChromosomeGenotypes(chrom, variants.positions, ids, ref, alt, true, observed, decoys)


def _merge(parts: list[ChromosomeGenotypes]) -> ChromosomeGenotypes:
    if len(parts) == 1:
        return parts[0]
    parts = sorted(parts, key=lambda p: int(p.pos[0]))
    cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
    decoy = lambda name: np.concatenate([getattr(p.decoys, name) for p in parts])  # noqa: E731
    return ChromosomeGenotypes(
        parts[0].chrom, cat("pos"), cat("ids"), cat("ref"), cat("alt"), cat("true"), cat("observed"),
        VcfRecords(parts[0].chrom, decoy("pos"), decoy("ids"), decoy("ref"), decoy("alt"), decoy("alleles")))


def allele_frequency(alleles: np.ndarray) -> np.ndarray:
    """ALT frequency per SNP of ``(m, n, 2)`` alleles (no missing ones)."""
    flat = alleles.reshape(alleles.shape[0], -1)
    return flat.sum(axis=1, dtype=np.int64) / flat.shape[1]
