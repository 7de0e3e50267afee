"""``lmeqtl simulate``: a 1000 Genomes-like cohort with known truth, written in the real formats.

The people are the 2504 of 1000 Genomes Phase 3 (real sample ids, populations, gender;
``lmeqtl/data/phase3_samples.csv.gz``) or a stratified subset of them; their genotypes are
coalescent simulations (:mod:`lmeqtl.coalescent`, :mod:`lmeqtl.simulate_genotypes`). Written
into ``out`` (the layout of :meth:`lmeqtl.io.DataPaths.from_dir`):

``vcf/chr{c}.vcf.gz`` (+ ``.tbi``), ``integrated_call_samples_v3.20130502.ALL.panel``,
``genes.tsv``, ``GD660.GeneQuantRPKM.txt.gz`` (373 EUR + 89 YRI, replicate libraries),
``EUR373.gene.cis.FDR5.all.rs137.txt.gz`` (our cis-eQTL scan), ``peaks/GM12878_<mark>.narrowPeak.gz``,
``truth/`` (causal SNPs, h2, enrichment) and ``manifest.json`` (settings + SHA-256 of every
file). The same seed gives byte-identical files. ``lmeqtl prepare --data-dir out`` then
writes ``dataset.parquet`` and ``meta.csv.gz``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from lmeqtl import chromatin
from lmeqtl.config import SimulationConfig, get_preset
from lmeqtl.dataprep import select_window
from lmeqtl.formats import (
    Truth,
    write_eqtl_table,
    write_genes,
    write_geuvadis_expression,
    write_narrowpeak,
    write_panel,
    write_truth,
)
from lmeqtl.io import EQTL_NAME, EXPRESSION_NAME, PANEL_NAME, write_manifest
from lmeqtl.simulate_expression import (
    benjamini_hochberg,
    choose_causal,
    cis_eqtl_scan,
    library_table,
    simulate_gene,
)
from lmeqtl.simulate_genotypes import simulate_genotypes
from lmeqtl.top10 import real_top10_meta
from lmeqtl.vcf_writer import write_vcf

GEUVADIS_EUR_POPS = ("CEU", "FIN", "GBR", "TSI")  # GEUVADIS had no IBS


def phase3_panel() -> pd.DataFrame:
    """The 2504 people of 1000 Genomes Phase 3: ``sample, pop, super_pop, gender``."""
    with resources.files("lmeqtl").joinpath("data/phase3_samples.csv.gz").open("rb") as handle:
        return pd.read_csv(handle, compression="gzip", dtype=str)


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
    by_chrom = {c.chrom: c for c in chromosomes}
    for chrom in tqdm(chromosomes, desc="simulate: writing VCFs", disable=not progress):
        write_vcf(out / "vcf" / f"chr{chrom.chrom}.vcf.gz", chrom.vcf_records(), panel["sample"].tolist(),
                  super_pops=super_pops, source=f"lmeqtl simulate (seed {seed})")

    # windows exactly as `prepare` will cut them (every kept SNP passes the AF filter)
    windows = {g.gene_id: select_window(by_chrom[g.chrom].pos, g.tss, config.window_bp, config.max_snps)[0]
               for g in genes.itertuples()}
    if config.genes == "top10":
        _check_top10(genes, by_chrom, windows)

    regions = [(c.chrom, int(c.pos[0]) - 20_000, int(c.pos[-1]) + 20_000) for c in chromosomes]
    tracks = chromatin.simulate_peaks(regions, {c: genes.loc[genes.chrom == c, "tss"].to_numpy() for c in by_chrom},
                                      np.random.default_rng([seed, 3]))
    for mark, peaks in tracks.items():
        write_narrowpeak(out / "peaks" / f"GM12878_{mark}.narrowPeak.gz", peaks)

    rng = np.random.default_rng([seed, 4])
    expressed = panel.index[panel["expression"]].to_numpy()
    eur = (panel.loc[expressed, "super_pop"] == "EUR").to_numpy()
    log_expression, gene_rows, causal_rows, window_rows = [], [], [], []
    for gene in genes.itertuples():
        chrom, rows = by_chrom[gene.chrom], windows[gene.gene_id]
        pos, ids = chrom.pos[rows], _snp_ids(chrom.ids[rows], gene.chrom, chrom.pos[rows])
        alleles = np.transpose(chrom.true[rows][:, expressed], (1, 2, 0))  # (n_expr, 2, L)
        marks = {m: chromatin.in_peaks(t, gene.chrom, pos) for m, t in tracks.items()}
        active = np.any([marks[m] for m in chromatin.ACTIVE_MARKS], axis=0)
        repressed = np.any([marks[m] for m in chromatin.REPRESSIVE_MARKS], axis=0) & ~active
        n_causal = int(rng.integers(config.n_causal_range[0], config.n_causal_range[1] + 1))
        causal, partner = choose_causal(pos, gene.tss, alleles[eur].sum(axis=1).astype(float), active,
                                        repressed, n_causal, config, rng)
        sim = simulate_gene(alleles, eur, causal, config, rng)
        log_expression.append(sim["y"])
        pair = ",".join(ids[causal[:2]]) if sim["interaction_fraction"] > 0 else ""
        gene_rows.append({"gene_id": gene.gene_id, "symbol": gene.symbol, "chrom": gene.chrom, "tss": gene.tss,
                          "h2": sim["h2"], "h2_realised": sim["h2_realised"], "n_causal": len(causal),
                          "interaction_fraction": sim["interaction_fraction"], "interaction_snps": pair,
                          "interaction_effect": sim["interaction_effect"], "log_mean": sim["log_mean"],
                          "log_sd": sim["log_sd"], "n_window_snps": len(rows)})
        af_eur = alleles[eur].mean(axis=(0, 1))
        for j, (k, ld) in enumerate(zip(causal, partner, strict=True)):
            causal_rows.append({
                "gene_id": gene.gene_id, "id": ids[k], "chrom": gene.chrom, "pos": int(pos[k]), "seq_idx": int(k),
                "distance_to_tss": int(pos[k] - gene.tss), "effect": sim["effect"][j], "effect_standardised": sim["b"][j],
                "af_eur": af_eur[k], "in_active_peak": bool(active[k]),
                "peaks": ";".join(m for m in tracks if marks[m][k]), "interacting": bool(pair) and j < 2,
                "drawn_in_ld_with": ids[ld] if ld >= 0 else ""})
        window_rows.append(pd.DataFrame({"chrom": gene.chrom, "pos": pos, "causal": np.isin(np.arange(len(pos)), causal)}))

    samples = panel.loc[expressed, "sample"].tolist()
    rpkm = library_table(samples, np.array(log_expression), config, rng)
    table = pd.DataFrame({"Gene_Symbol": genes["gene_id"].to_numpy(), "Chr": genes["chrom"].to_numpy(),
                          "Coord": genes["tss"].to_numpy()}, index=pd.Index(genes["gene_id"], name="TargetID"))
    write_geuvadis_expression(out / EXPRESSION_NAME, pd.concat([table, rpkm.set_index(table.index)], axis=1))
    eqtls = eqtl_table(genes, by_chrom, panel, rpkm, config)
    write_eqtl_table(out / EQTL_NAME, eqtls)

    enrichment = chromatin.enrichment(pd.concat(window_rows, ignore_index=True), tracks, config.active_mark_enrichment)
    summary = {"config": dataclasses.asdict(config), "n_people": len(panel), "n_expression_eur": int(eur.sum()),
               "n_expression_yri": int((~eur).sum()), "n_libraries": rpkm.shape[1], "n_eqtl_rows": len(eqtls),
               "h2_definition": "share of the variance of person-level log expression explained by the cis "
                                "genetic value, in the EUR people with expression"}
    write_truth(out / "truth", Truth(pd.DataFrame(gene_rows), pd.DataFrame(causal_rows), enrichment, summary))
    write_genes(out / "genes.tsv", genes)
    return write_manifest(out, preset=preset, seed=seed, simulation=dataclasses.asdict(config),
                          simulate_seconds=round(time.perf_counter() - started, 1))


def _check_top10(genes: pd.DataFrame, by_chrom: dict, windows: dict) -> None:
    """The simulated windows must be the real top10 SNP lists, SNP for SNP."""
    meta = real_top10_meta()
    for gene in genes.itertuples():
        real = meta[meta["GENE_ID"] == gene.gene_id]
        chrom = by_chrom[gene.chrom]
        rows = windows[gene.gene_id]
        if not (np.array_equal(chrom.pos[rows], real["pos"].to_numpy()) and list(chrom.ids[rows]) == list(real["id"])):
            raise AssertionError(f"simulated window of {gene.gene_id} differs from the real top10 list")


def eqtl_table(genes: pd.DataFrame, by_chrom: dict, panel: pd.DataFrame, rpkm: pd.DataFrame,
               config: SimulationConfig) -> pd.DataFrame:
    """GEUVADIS-style cis-eQTL scan on the EUR people with expression (observed genotypes).

    Phenotype: per person, the mean over libraries of log RPKM. SNPs: the kept SNPs within
    ``window_bp`` of the TSS with EUR MAF >= ``eqtl_min_maf``. BH over all tests; rows with
    q <= ``eqtl_fdr``, each gene's rows sorted by p-value.
    """
    eur_people = panel.index[panel["expression"] & (panel["super_pop"] == "EUR")].to_numpy()
    sample_of_library = pd.Index([c.split(".", 1)[0] for c in rpkm.columns])
    log_rpkm = np.log(rpkm.to_numpy())
    phenotype = pd.DataFrame(log_rpkm.T, index=sample_of_library).groupby(level=0).mean()
    phenotype = phenotype.loc[panel.loc[eur_people, "sample"]].to_numpy()  # (n_eur, G)
    parts = []
    for k, gene in enumerate(genes.itertuples()):
        chrom = by_chrom[gene.chrom]
        near = np.flatnonzero(np.abs(chrom.pos - gene.tss) <= config.window_bp)
        dosage = chrom.observed[near][:, eur_people].sum(axis=2).T.astype(float)  # (n_eur, m)
        af = dosage.mean(axis=0) / 2
        near, dosage = near[np.minimum(af, 1 - af) >= config.eqtl_min_maf], dosage[:, np.minimum(af, 1 - af) >= config.eqtl_min_maf]
        r, p, log10p = cis_eqtl_scan(dosage, phenotype[:, k])
        pos = chrom.pos[near]
        parts.append(pd.DataFrame({
            "SNP_ID": _snp_ids(chrom.ids[near], gene.chrom, pos), "ID": "-", "GENE_ID": gene.gene_id,
            "PROBE_ID": gene.gene_id, "CHR_SNP": gene.chrom, "CHR_GENE": gene.chrom, "SNPpos": pos,
            "TSSpos": gene.tss, "distance": np.abs(pos - gene.tss), "rvalue": r, "pvalue": p, "log10pvalue": log10p}))
    table = pd.concat(parts, ignore_index=True)
    table = table[benjamini_hochberg(table["pvalue"].to_numpy()) <= config.eqtl_fdr]
    order = {g: i for i, g in enumerate(genes["gene_id"])}
    table = table.assign(_gene=table["GENE_ID"].map(order)).sort_values(["_gene", "pvalue", "SNPpos"], kind="stable")
    return table.drop(columns="_gene").reset_index(drop=True)


# --------------------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Simulate a 1000 Genomes-like cohort with known causal eQTLs and write it in the real "
        "formats (VCFs + panel, GEUVADIS expression and eQTL tables, ENCODE-style peaks, truth/). "
        "Then run `lmeqtl prepare --data-dir OUT`.")
    parser.add_argument("--preset", default="top10", help="smoke | top10 | top10-gpu | top100 (see `lmeqtl presets`)")
    parser.add_argument("--out", type=Path, required=True, help="output directory, e.g. data/sim_top10")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: the preset's)")
    parser.add_argument("--force", action="store_true", help="write into a non-empty directory")


def run(args: argparse.Namespace) -> int:
    config = get_preset(args.preset).simulation
    if args.seed is not None:
        config = dataclasses.replace(config, seed=args.seed)
    try:
        manifest = simulate_cohort(config, args.out, preset=args.preset, force=args.force)
    except FileExistsError as err:
        print(f"lmeqtl simulate: error: {err}")
        return 1
    print(f"wrote {len(manifest['files'])} files to {args.out} in {manifest['simulate_seconds']} s")
    return 0
