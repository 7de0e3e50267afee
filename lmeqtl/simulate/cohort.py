"""``lmeqtl simulate``: a 1000 Genomes-like cohort with known truth, written in the real formats.

The people are a 1000 Genomes Phase 3-like panel (:func:`phase3_panel`: Phase 3's 26
populations and sizes, made-up ids in its style) or a stratified subset of it; their genotypes are
coalescent simulations (:mod:`lmeqtl.simulate.coalescent`, :mod:`lmeqtl.simulate.genotypes`). Written
into ``out`` (the layout of :meth:`lmeqtl.data.paths.DataPaths.from_dir`):

``vcf/chr{c}.vcf.gz`` (+ ``.tbi``), ``integrated_call_samples_v3.20130502.ALL.panel``,
``genes.tsv``, ``GD660.GeneQuantRPKM.txt.gz`` (373 EUR + 89 YRI, replicate libraries),
``EUR373.gene.cis.FDR5.all.rs137.txt.gz`` (our cis-eQTL scan), ``peaks/GM12878_<mark>.narrowPeak.gz``,
``truth/`` (causal SNPs, h2, enrichment) and ``manifest.json`` (settings + SHA-256 of every
file). The same seed gives byte-identical files. ``lmeqtl prepare --data-dir out`` then
writes ``dataset.parquet`` and ``meta.csv.gz``.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd

from lmeqtl.config import SimulationConfig
from lmeqtl.data.formats import (
    library_samples,
    write_eqtl_table,
    write_genes,
    write_geuvadis_expression,
    write_panel,
)
from lmeqtl.data.paths import EQTL_NAME, EXPRESSION_NAME, PANEL_NAME, write_manifest
from lmeqtl.data.peaks import write_narrowpeak
from lmeqtl.data.prepare import select_window
from lmeqtl.data.truth import Truth, write_truth
from lmeqtl.data.vcf_writer import write_vcf
from lmeqtl.simulate import chromatin
from lmeqtl.simulate.expression import GeneGenotypes, eqtl_table, library_table, simulate_expression
from lmeqtl.simulate.genotypes import simulate_genotypes
from lmeqtl.simulate.top10 import real_top10_meta

GEUVADIS_EUR_POPS = ("CEU", "FIN", "GBR", "TSI")  # GEUVADIS had no IBS


# 1000 Genomes Phase 3 population sizes (2504 people). HapMap-era populations used NA ids.
PHASE3_POPULATIONS = {
    "AFR": {"YRI": 108, "LWK": 99, "GWD": 113, "MSL": 85, "ESN": 99, "ACB": 96, "ASW": 61},
    "AMR": {"MXL": 64, "PUR": 104, "CLM": 94, "PEL": 85},
    "EAS": {"CHB": 103, "JPT": 104, "CHS": 105, "CDX": 93, "KHV": 99},
    "EUR": {"CEU": 99, "TSI": 107, "FIN": 99, "GBR": 91, "IBS": 107},
    "SAS": {"GIH": 103, "PJL": 96, "BEB": 86, "STU": 102, "ITU": 102},
}
_NA_POPULATIONS = ("YRI", "LWK", "ASW", "MXL", "CHB", "JPT", "CEU", "TSI", "GIH")


def phase3_panel() -> pd.DataFrame:
    """A 1000 Genomes Phase 3-like panel: ``sample, pop, super_pop, gender`` for 2504 people.

    Population sizes are Phase 3's; sample ids follow its style (``NA`` + 5 digits for the
    HapMap populations, ``HG`` + 5 digits otherwise) but are made up, as are the genders
    (alternating), so no third-party sample list ships with the package.
    """
    rows = []
    for block, (super_pop, pops) in enumerate(PHASE3_POPULATIONS.items()):
        for offset, (pop, n) in enumerate(pops.items()):
            prefix = "NA" if pop in _NA_POPULATIONS else "HG"
            first = 10_000 + 2_000 * block + 200 * offset
            for i in range(n):
                rows.append((f"{prefix}{first + i:05d}", pop, super_pop, ("male", "female")[i % 2]))
    return pd.DataFrame(rows, columns=["sample", "pop", "super_pop", "gender"])


def choose_samples(sizes: dict[str, int], n_expression_eur: int, n_expression_yri: int, seed: int) -> pd.DataFrame:
    """The cohort (panel file order) with an ``expression`` column: GEUVADIS-like EUR and YRI people.

    Takes ``sizes[super_pop]`` people of each super-population (all of them when the
    sizes are Phase 3's), always including ``n_expression_eur`` CEU/FIN/GBR/TSI and
    ``n_expression_yri`` YRI people, who are the ones with expression.
    """
    rng = np.random.default_rng([seed, 2])
    panel = phase3_panel()
    unknown = sorted(set(sizes) - set(panel["super_pop"]))
    if unknown:
        raise ValueError(f"unknown super-populations {unknown}; Phase 3 has AFR, AMR, EAS, EUR, SAS")
    chosen = np.zeros(len(panel), dtype=bool)
    expression = np.zeros(len(panel), dtype=bool)
    for pop, members, n_expr in (("EUR", GEUVADIS_EUR_POPS, n_expression_eur), ("AFR", ("YRI",), n_expression_yri)):
        pool = np.flatnonzero(panel["pop"].isin(members))
        if n_expr > min(len(pool), sizes.get(pop, 0)):
            raise ValueError(f"{n_expr} people with expression in {members} but only "
                             f"{min(len(pool), sizes.get(pop, 0))} can be chosen")
        picked = rng.choice(pool, n_expr, replace=False)
        chosen[picked] = expression[picked] = True
    for pop, n in sizes.items():
        members = np.flatnonzero(panel["super_pop"] == pop)
        if n > len(members):
            raise ValueError(f"{n} {pop} people asked for, Phase 3 has {len(members)}")
        free = members[~chosen[members]]
        chosen[rng.choice(free, n - chosen[members].sum(), replace=False)] = True
    return panel[chosen].assign(expression=expression[chosen]).reset_index(drop=True)


OUTPUTS = ("vcf", "peaks", "truth", PANEL_NAME, "genes.tsv", EXPRESSION_NAME, EQTL_NAME, "manifest.json",
           "dataset.parquet", "meta.csv.gz", "prepare.json")


def _clear_outputs(out: Path) -> None:
    """Remove what an earlier simulate/prepare wrote here (and nothing else)."""
    import shutil

    for name in OUTPUTS:
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def _snp_ids(ids: np.ndarray, chrom: str, pos: np.ndarray) -> np.ndarray:
    return np.where(ids == ".", [f"snp_{chrom}_{p}" for p in pos], ids).astype(object)


def simulate_cohort(config: SimulationConfig, out: Path, *, preset: str = "custom", force: bool = False,
                    progress: bool = True) -> dict:
    """Simulate and write everything (see the module docstring); returns the manifest."""
    started = time.perf_counter()
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not force:
            raise FileExistsError(f"{out} is not empty; use --force to overwrite")
        _clear_outputs(out)
    seed = config.seed
    panel = choose_samples(config.super_population_sizes, config.n_expression_eur, config.n_expression_yri, seed)
    write_panel(out / PANEL_NAME, panel)
    super_pops = panel["super_pop"].to_numpy()
    genes, chromosomes = simulate_genotypes(config, super_pops, seed, progress=progress)
    expressed = panel.index[panel["expression"]].to_numpy()
    eur = (panel.loc[expressed, "super_pop"] == "EUR").to_numpy()
    per_gene, regions = {}, []
    for chrom in chromosomes:  # one chromosome in memory at a time
        write_vcf(out / "vcf" / f"chr{chrom.chrom}.vcf.gz", chrom.vcf_records(), panel["sample"].tolist(),
                  super_pops=super_pops, source=f"lmeqtl simulate (seed {seed})")
        regions.append((chrom.chrom, int(chrom.pos[0]) - 20_000, int(chrom.pos[-1]) + 20_000))
        for gene in genes[genes["chrom"] == chrom.chrom].itertuples():
            per_gene[gene.gene_id] = _cut_gene(chrom, gene, expressed, expressed[eur], config)
    gene_data = [per_gene[g] for g in genes["gene_id"]]
    if config.genes == "top10":
        _check_top10(gene_data)

    tracks = chromatin.simulate_peaks(regions, {c: genes.loc[genes.chrom == c, "tss"].to_numpy() for c, _, _ in regions},
                                      np.random.default_rng([seed, 3]))
    for mark, peaks in tracks.items():
        write_narrowpeak(out / "peaks" / f"GM12878_{mark}.narrowPeak.gz", peaks)

    rng = np.random.default_rng([seed, 4])
    simulated = simulate_expression(gene_data, eur, tracks, config, rng)
    rpkm = library_table(panel.loc[expressed, "sample"].tolist(), simulated["log_expression"], config, rng)
    table = pd.DataFrame({"Gene_Symbol": genes["gene_id"].to_numpy(), "Chr": genes["chrom"].to_numpy(),
                          "Coord": genes["tss"].to_numpy()}, index=pd.Index(genes["gene_id"], name="TargetID"))
    write_geuvadis_expression(out / EXPRESSION_NAME, pd.concat([table, rpkm.set_index(table.index)], axis=1))
    # the scan sees what a user sees: mean log RPKM over each EUR person's libraries
    log_mean = pd.DataFrame(np.log(rpkm.to_numpy()).T, index=library_samples(rpkm.columns)).groupby(level=0).mean()
    eqtls = eqtl_table(gene_data, log_mean.loc[panel.loc[expressed[eur], "sample"]].to_numpy(), config)
    write_eqtl_table(out / EQTL_NAME, eqtls)

    enrichment = chromatin.enrichment(simulated["window_snps"], tracks, config.active_mark_enrichment)
    summary = {"config": dataclasses.asdict(config), "n_people": len(panel), "n_expression_eur": int(eur.sum()),
               "n_expression_yri": int((~eur).sum()), "n_libraries": rpkm.shape[1], "n_eqtl_rows": len(eqtls),
               "h2_definition": "share of the variance of person-level log expression explained by the cis "
                                "genetic value, in the EUR people with expression"}
    write_truth(out / "truth", Truth(simulated["genes"], simulated["causal_snps"], enrichment, summary))
    write_genes(out / "genes.tsv", genes)
    return write_manifest(out, preset=preset, seed=seed, simulation=dataclasses.asdict(config),
                          simulate_seconds=round(time.perf_counter() - started, 1))


def _cut_gene(chrom, gene, expressed: np.ndarray, eur_expressed: np.ndarray,  # noqa: ANN001
              config: SimulationConfig) -> GeneGenotypes:
    """The gene's window (cut exactly as `prepare` will: every kept SNP passes the AF filter) and cis SNPs."""
    rows, _ = select_window(chrom.pos, gene.tss, config.window_bp, config.max_snps)
    near = np.flatnonzero(np.abs(chrom.pos - gene.tss) <= config.window_bp)
    return GeneGenotypes(
        gene_id=gene.gene_id, symbol=gene.symbol, chrom=gene.chrom, tss=int(gene.tss), pos=chrom.pos[rows],
        ids=_snp_ids(chrom.ids[rows], gene.chrom, chrom.pos[rows]),
        true=np.ascontiguousarray(np.transpose(chrom.true[rows][:, expressed], (1, 2, 0))),  # (n_expr, 2, L)
        cis_pos=chrom.pos[near], cis_ids=_snp_ids(chrom.ids[near], gene.chrom, chrom.pos[near]),
        cis_dosage=chrom.observed[near][:, eur_expressed].sum(axis=2).T.astype(np.float32))  # (n_eur, m)


def _check_top10(genes: list[GeneGenotypes]) -> None:
    """The simulated windows must be the real top10 SNP lists, SNP for SNP."""
    meta = real_top10_meta()
    for gene in genes:
        real = meta[meta["GENE_ID"] == gene.gene_id]
        if not (np.array_equal(gene.pos, real["pos"].to_numpy()) and list(gene.ids) == list(real["id"])):
            raise AssertionError(f"simulated window of {gene.gene_id} differs from the real top10 list")


# --------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------

