"""Coalescent genotypes for a 1000 Genomes-like cohort (msprime + stdpopsim).

Demography: stdpopsim ``HomSap/AmericanAdmixture_4B18`` (AFR, EUR, ASIA and an admixed
AMR-like population ADMIX) plus a South-Asian-like population ``SAS`` that we add: founded
500 generations ago from EUR (45 %) and ASIA (55 %), growing to 30,000. Super-populations
map to demes as AFR->AFR, EUR->EUR, EAS->ASIA, SAS->SAS, AMR->ADMIX; populations within a
super-population (YRI, LWK, ...) are labels on one deme.

Two ways to make SNPs:

- :func:`simulate_free_region`: a region of ``length`` bp, uniform mutation rate (the
  model's 2.36e-8) — synthetic gene windows (~1 SNP with MAF >= 3 % per ~400 bp);
- :func:`simulate_mapped_region`: the SNPs must sit at given *target* positions with given
  allele frequencies (the real top10 windows). The mutation rate map is set from the
  genealogy so that about ``oversampling`` x more common variants than targets appear,
  with the targets' local density; the variants are then assigned to the targets *in
  order* (so LD still decays with distance) by dynamic programming that minimises the sum
  of |AF(variant) - AF(target)| (a variant may be used with its ancestral allele as ALT).

Mutations are infinite-sites (continuous genome): every variant is biallelic.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

SUPER_POP_DEMES = {"AFR": "AFR", "EUR": "EUR", "EAS": "ASIA", "SAS": "SAS", "AMR": "ADMIX"}
RECOMBINATION_RATE = 1.2e-8  # per bp per generation (HomSap genome-wide mean ~1.15e-8)


def demography(model: str = "AmericanAdmixture_4B18"):  # noqa: ANN201 - msprime.Demography
    """The stdpopsim HomSap model with a SAS population added (see the module docstring)."""
    import stdpopsim

    species = stdpopsim.get_species("HomSap")
    base = species.get_demographic_model(model)
    dem = copy.deepcopy(base.model)
    names = {p.name for p in dem.populations}
    if "SAS" not in names and {"EUR", "ASIA"} <= names:
        dem.add_population(name="SAS", initial_size=30_000, growth_rate=0.004,
                           description="South-Asian-like: EUR x ASIA admixture (lmeqtl addition)")
        dem.add_mass_migration(time=500, source="SAS", dest="EUR", proportion=0.45)
        dem.add_mass_migration(time=500, source="SAS", dest="ASIA", proportion=1.0)
        dem.add_population_parameters_change(time=500, population="SAS", initial_size=100, growth_rate=0)
        dem.sort_events()
    return dem


def model_mutation_rate(model: str = "AmericanAdmixture_4B18") -> float:
    import stdpopsim

    return float(stdpopsim.get_species("HomSap").get_demographic_model(model).mutation_rate)


def haplotype_columns(super_pops: np.ndarray) -> tuple[dict[str, int], np.ndarray]:
    """Samples per deme (in :data:`SUPER_POP_DEMES` order) and, per person, its two sample nodes.

    Returns ``(samples, columns)``: ``columns[i] = (2k, 2k + 1)`` for the k-th simulated
    individual given to person ``i`` (people keep their order within a super-population).
    """
    super_pops = np.asarray(super_pops)
    unknown = sorted(set(super_pops) - set(SUPER_POP_DEMES))
    if unknown:
        raise ValueError(f"unknown super-populations {unknown}; expected {sorted(SUPER_POP_DEMES)}")
    samples, columns, offset = {}, np.zeros((len(super_pops), 2), dtype=np.int64), 0
    for pop, deme in SUPER_POP_DEMES.items():
        members = np.flatnonzero(super_pops == pop)
        if len(members):
            samples[deme] = len(members)
            individual = offset + np.arange(len(members))
            columns[members] = np.stack([2 * individual, 2 * individual + 1], axis=1)
            offset += len(members)
    return samples, columns


def simulate_ancestry(super_pops: np.ndarray, length: float, seed: int, model: str = "AmericanAdmixture_4B18"):  # noqa: ANN201
    """Genealogies of the cohort's ``2 n`` haplotypes over ``length`` bp (a tskit TreeSequence)."""
    import msprime

    samples, _ = haplotype_columns(super_pops)
    return msprime.sim_ancestry(samples=samples, demography=demography(model), sequence_length=length,
                                recombination_rate=RECOMBINATION_RATE, random_seed=seed)


def derived_counts(ts) -> np.ndarray:  # noqa: ANN001 - tskit.TreeSequence
    """Number of haplotypes carrying each site's (single) derived allele."""
    tables = ts.tables
    site_of_mutation, node_of_mutation = tables.mutations.site, tables.mutations.node
    tree_of_site = np.searchsorted(ts.breakpoints(as_array=True), tables.sites.position, side="right") - 1
    counts = np.zeros(ts.num_sites, dtype=np.int64)
    mutation_tree = tree_of_site[site_of_mutation]
    bounds = np.searchsorted(mutation_tree, np.arange(ts.num_trees + 1))  # mutations are sorted by site
    for tree in ts.trees():
        lo, hi = bounds[tree.index], bounds[tree.index + 1]
        if hi > lo:
            counts[site_of_mutation[lo:hi]] = [tree.num_samples(u) for u in node_of_mutation[lo:hi]]
    return counts


def decode_sites(ts, site_ids: np.ndarray, chunk: int = 4000) -> np.ndarray:  # noqa: ANN001
    """Alleles (0 ancestral, 1 derived) of the given sites, ``uint8 (k, n_haplotypes)``, in site order."""
    site_ids = np.asarray(site_ids)
    out = np.empty((len(site_ids), ts.num_samples), dtype=np.uint8)
    order = np.argsort(site_ids, kind="stable")
    sorted_ids = site_ids[order]
    for lo in range(0, len(sorted_ids), chunk):
        drop = np.ones(ts.num_sites, dtype=bool)
        drop[sorted_ids[lo:lo + chunk]] = False
        out[order[lo:lo + chunk]] = ts.delete_sites(np.flatnonzero(drop)).genotype_matrix().astype(np.uint8)
    return out


def match_frequencies(target_af: np.ndarray, candidate_af: np.ndarray, chunk: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """Assign candidates to targets in order, minimising the total |AF difference|.

    Returns ``(index, flip)``: target ``i`` gets candidate ``index[i]`` (strictly
    increasing), with its alleles swapped when ``flip[i]`` (then its AF is ``1 - p``).
    Targets are cut into chunks that get a proportional share of the candidates, and
    each chunk is solved exactly by dynamic programming over (target, skipped candidates).
    """
    n, m = len(target_af), len(candidate_af)
    if m < n:
        raise ValueError(f"{m} candidate variants for {n} targets: raise the oversampling")
    index, flip = np.empty(n, dtype=np.int64), np.empty(n, dtype=bool)
    for i0 in range(0, n, chunk):
        i1 = min(i0 + chunk, n)
        j0 = i0 * m // n
        j1 = m if i1 == n else i1 * m // n
        q, p = target_af[i0:i1], candidate_af[j0:j1]
        rows, slack = i1 - i0, (j1 - j0) - (i1 - i0)
        window = np.lib.stride_tricks.sliding_window_view(p, slack + 1)[:rows]  # (rows, slack+1)
        direct, swapped = np.abs(window - q[:, None]), np.abs(1 - window - q[:, None])
        cost = np.minimum(direct, swapped)
        back = np.zeros((rows, slack + 1), dtype=np.int32)
        best = cost[0].copy()
        positions = np.arange(slack + 1)
        for i in range(1, rows):
            prefix_min = np.minimum.accumulate(best)
            back[i] = np.maximum.accumulate(np.where(best == prefix_min, positions, 0))
            best = cost[i] + prefix_min
        skip = np.empty(rows, dtype=np.int64)
        skip[-1] = int(np.argmin(best))
        for i in range(rows - 1, 0, -1):
            skip[i - 1] = back[i, skip[i]]
        chosen = np.arange(rows) + skip
        index[i0:i1] = j0 + chosen
        flip[i0:i1] = swapped[np.arange(rows), skip] < direct[np.arange(rows), skip]
    return index, flip


@dataclass
class RegionVariants:
    """Simulated variants of one region in genome coordinates, before errors.

    positions/alleles of the kept (``common``) variants, and of ``spare`` variants (rare
    ones and unused common ones) from which decoy VCF rows are drawn. Alleles are
    ``uint8 (k, 2n)`` with 1 = the ALT allele.
    """

    positions: np.ndarray
    alleles: np.ndarray
    spare_alleles: np.ndarray
    spare_af: np.ndarray


def _spare(ts, counts: np.ndarray, exclude: np.ndarray, n_spare: int, rng: np.random.Generator):  # noqa: ANN001
    usable = counts > 0
    usable[exclude] = False
    pool = np.flatnonzero(usable)
    chosen = np.sort(rng.choice(pool, size=min(n_spare, len(pool)), replace=False))
    alleles = decode_sites(ts, chosen) if len(chosen) else np.zeros((0, ts.num_samples), np.uint8)
    return alleles, counts[chosen] / ts.num_samples


def simulate_free_region(super_pops: np.ndarray, start: int, end: int, *, min_af: float, seed: int,
                         n_spare: int = 0, model: str = "AmericanAdmixture_4B18") -> RegionVariants:
    """All variants with ``min_af <= AF <= 1 - min_af`` in ``[start, end)``, at integer positions."""
    import msprime

    rng = np.random.default_rng(seed)
    ts = simulate_ancestry(super_pops, end - start, seed=int(rng.integers(1, 2**31)), model=model)
    ts = msprime.sim_mutations(ts, rate=model_mutation_rate(model), discrete_genome=False,
                               random_seed=int(rng.integers(1, 2**31)))
    counts = derived_counts(ts)
    position = start + np.floor(ts.tables.sites.position).astype(np.int64)
    first_at_position = np.r_[True, np.diff(position) > 0]
    af = counts / ts.num_samples
    common = np.flatnonzero(first_at_position & (af >= min_af) & (af <= 1 - min_af))
    spare, spare_af = _spare(ts, counts, common, n_spare, rng)
    return RegionVariants(position[common], decode_sites(ts, common), spare, spare_af)


def simulate_mapped_region(super_pops: np.ndarray, target_pos: np.ndarray, target_af: np.ndarray, *,
                           min_af: float, seed: int, oversampling: float = 2.0, n_spare: int = 0,
                           bin_targets: int = 64, model: str = "AmericanAdmixture_4B18") -> RegionVariants:
    """Variants at exactly ``target_pos`` (sorted), AFs matched to ``target_af`` in order."""
    import msprime

    rng = np.random.default_rng(seed)
    offset = int(target_pos[0]) - 1
    length = float(target_pos[-1] - offset + 1)
    ts = simulate_ancestry(super_pops, length, seed=int(rng.integers(1, 2**31)), model=model)
    x = target_pos - offset  # (N,) simulation coordinates
    first_of_bin = np.arange(bin_targets, len(x), bin_targets)
    edges = np.r_[0.0, (x[first_of_bin] + x[first_of_bin - 1]) / 2, length]
    n_per_bin = np.diff(np.searchsorted(x, edges))
    n_hap = ts.num_samples
    spectrum = ts.allele_frequency_spectrum(windows=edges, mode="branch", polarised=True, span_normalise=False)
    frequency = np.arange(n_hap + 1) / n_hap
    yield_per_rate = spectrum[:, (frequency >= min_af) & (frequency <= 1 - min_af)].sum(axis=1)  # (bins,)
    rate = oversampling * n_per_bin / np.maximum(yield_per_rate, 1e-300)
    ts = msprime.sim_mutations(ts, rate=msprime.RateMap(position=edges, rate=rate), discrete_genome=False,
                               random_seed=int(rng.integers(1, 2**31)))
    counts = derived_counts(ts)
    af = counts / n_hap
    candidates = np.flatnonzero((af >= min_af) & (af <= 1 - min_af))
    index, flip = match_frequencies(np.asarray(target_af, dtype=float), af[candidates])
    alleles = decode_sites(ts, candidates[index])  # (N, 2n)
    alleles[flip] = 1 - alleles[flip]
    spare, spare_af = _spare(ts, counts, candidates[index], n_spare, rng)
    return RegionVariants(np.asarray(target_pos, dtype=np.int64), alleles, spare, spare_af)
