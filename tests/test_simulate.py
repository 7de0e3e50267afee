"""lmeqtl simulate: the smoke cohort end to end, the real top10 windows, and the truth."""

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from lmeqtl import cli
from lmeqtl.config import get_preset
from lmeqtl.data.formats import (
    library_samples,
    read_eqtl_table,
    read_genes,
    read_geuvadis_expression,
    read_panel,
)
from lmeqtl.data.io import read_dataset, read_json, read_meta, sha256_file
from lmeqtl.data.paths import EXPRESSION_NAME, PANEL_NAME, DataPaths
from lmeqtl.data.peaks import PEAK_MARKS, REPRESSIVE_MARKS, in_peaks, read_narrowpeak
from lmeqtl.data.prepare import prepare
from lmeqtl.data.truth import read_truth
from lmeqtl.data.vcf import vcf_samples
from lmeqtl.simulate import chromatin
from lmeqtl.simulate.coalescent import match_frequencies
from lmeqtl.simulate.cohort import choose_samples, simulate_cohort
from lmeqtl.simulate.expression import genetic_value, simulate_gene
from lmeqtl.simulate.genotypes import add_genotype_errors, add_switch_errors
from lmeqtl.simulate.top10 import real_top10_meta

SMOKE = get_preset("smoke").simulation


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim_smoke")
    manifest = simulate_cohort(SMOKE, out, preset="smoke", progress=False)
    record = prepare(DataPaths.from_dir(out), window_bp=SMOKE.window_bp, max_snps=SMOKE.max_snps,
                     min_af=SMOKE.min_af, max_af=1 - SMOKE.min_af, progress=False)
    return out, manifest, record


def test_smoke_files_are_in_the_real_formats(smoke):
    out, manifest, _ = smoke
    paths = DataPaths.from_dir(out)
    panel = read_panel(paths.panel)
    assert panel.groupby("super_pop").size().to_dict() == SMOKE.super_population_sizes
    assert vcf_samples(paths.vcf_for(1)) == panel["sample"].tolist()
    genes = read_genes(paths.genes)
    assert genes["gene_id"].str.startswith("SIMG").all()  # clearly simulated gene ids
    rpkm = read_geuvadis_expression(paths.expression)
    people = set(library_samples(rpkm.columns[3:]))
    assert len(people) == SMOKE.n_expression_eur + SMOKE.n_expression_yri
    assert rpkm.shape[1] - 3 > len(people)  # some replicate libraries
    assert panel.set_index("sample").loc[sorted(people), "pop"].isin(["CEU", "FIN", "GBR", "TSI", "YRI"]).all()
    values = rpkm.iloc[:, 3:].to_numpy()
    assert (values > 0).all() and rpkm["Coord"].tolist() == genes["tss"].tolist()
    eqtl = read_eqtl_table(paths.eqtl)
    assert (eqtl["distance"] == (eqtl["SNPpos"] - eqtl["TSSpos"]).abs()).all()
    for _, rows in eqtl.groupby("GENE_ID"):
        assert rows["pvalue"].is_monotonic_increasing
    assert set(paths.peaks) == set(PEAK_MARKS)
    h3k4me3 = read_narrowpeak(paths.peaks["H3K4me3"])
    at_tss = [((h3k4me3.chrom == g.chrom) & (h3k4me3.start < g.tss + 2000) & (h3k4me3.end > g.tss - 2000)).any()
              for g in genes.itertuples()]
    assert sum(at_tss) >= 2  # promoter mark on (nearly) every TSS
    assert manifest["files"]["vcf/chr1.vcf.gz"] == sha256_file(out / "vcf" / "chr1.vcf.gz")


def test_same_seed_same_bytes_other_seed_other_genotypes(smoke, tmp_path):
    out, manifest, _ = smoke
    again = simulate_cohort(SMOKE, tmp_path / "again", preset="smoke", progress=False)
    assert again["files"] == {k: v for k, v in manifest["files"].items() if k in again["files"]}
    other = simulate_cohort(dataclasses.replace(SMOKE, seed=2), tmp_path / "other", preset="smoke", progress=False)
    assert other["files"]["vcf/chr1.vcf.gz"] != manifest["files"]["vcf/chr1.vcf.gz"]
    assert cli.main(["simulate", "--preset", "smoke", "--out", str(tmp_path / "other")]) == 2  # not empty


def test_prepare_on_smoke_agrees_with_the_truth(smoke):
    out, _, record = smoke
    meta, table, truth = read_meta(out / "meta.csv.gz"), read_dataset(out / "dataset.parquet"), read_truth(out / "truth")
    assert meta.groupby("GENE_ID").size().tolist() == [SMOKE.max_snps] * SMOKE.n_genes
    assert len(table) == sum(SMOKE.super_population_sizes.values()) * SMOKE.n_genes
    assert (table["split"] == "test").sum() == SMOKE.super_population_sizes["EUR"] * SMOKE.n_genes
    causal = truth.causal_snps.merge(meta, left_on=["gene_id", "seq_idx"], right_on=["GENE_ID", "seq_idx"])
    assert len(causal) == len(truth.causal_snps) and (causal["pos_x"] == causal["pos_y"]).all()
    assert (causal["id_x"] == causal["id_y"]).all()
    # ~1 common SNP per 400 bp: the density the brief asks of the simulated windows
    bp_per_snp = 2 * SMOKE.window_bp / np.array([g["initial_counts"] for g in record["genes"].values()])
    assert ((bp_per_snp > 200) & (bp_per_snp < 600)).all()
    assert (truth.genes["h2"].between(*SMOKE.h2_range)).all()
    assert set(truth.enrichment["mark"]) == set(PEAK_MARKS)


def test_top10_simulation_reproduces_the_real_snp_lists(tmp_path):
    """prepare on the simulated VCFs gives the real top10 meta: genes, positions, ids, alleles, counts."""
    config = dataclasses.replace(get_preset("top10").simulation, oversampling=4.0, n_expression_eur=100,
                                 n_expression_yri=20,
                                 super_population_sizes={"AFR": 60, "AMR": 30, "EAS": 40, "EUR": 130, "SAS": 40})
    simulate_cohort(config, tmp_path, preset="top10-small", progress=False)
    prepare(DataPaths.from_dir(tmp_path), progress=False)
    simulated, real = read_meta(tmp_path / "meta.csv.gz"), real_top10_meta()
    for column in ("chrom", "pos", "id", "ref", "alt", "initial_counts", "GENE_ID", "seq_idx"):
        assert simulated[column].astype(str).tolist() == real[column].astype(str).tolist(), column
    assert simulated["AF"].between(0.03, 0.97).all()
    maf = lambda af: np.minimum(af, 1 - af)  # noqa: E731
    assert ks_2samp(maf(simulated["AF"]), maf(real["AF"])).statistic < 0.08
    assert read_json(tmp_path / "manifest.json")["simulation"]["oversampling"] == 4.0


def _random_cohort(n, n_snps, rng):
    af = rng.uniform(0.1, 0.9, n_snps)
    return (rng.random((n, 2, n_snps)) < af).astype(np.uint8)  # (n, 2, L)


def test_h2_is_recovered_from_the_causal_dosages():
    """OLS of expression on the true causal dosages (400 people) explains ~h2 of its variance."""
    rng = np.random.default_rng(3)
    config = dataclasses.replace(SMOKE, interaction_fraction=0.0, h2_range=(0.1, 0.6))
    errors = []
    for _ in range(20):
        alleles = _random_cohort(400, 30, rng)
        causal = rng.choice(30, 3, replace=False)
        sim = simulate_gene(alleles, np.ones(400, bool), causal, config, rng)
        x = np.c_[np.ones(400), alleles[:, :, causal].sum(axis=1)]
        fit = x @ np.linalg.lstsq(x, sim["y"], rcond=None)[0]
        errors.append(1 - np.var(sim["y"] - fit) / np.var(sim["y"]) - sim["h2"])
    assert abs(np.mean(errors)) < 0.03 and np.max(np.abs(errors)) < 0.12


def test_cis_interaction_is_the_non_additive_share():
    rng = np.random.default_rng(4)
    alleles = _random_cohort(3000, 5, rng)
    eur = np.ones(3000, bool)
    g = genetic_value(alleles, np.array([0, 1, 2]), np.array([1.0, -0.5, 0.3]), phi=0.3, eur=eur)
    assert abs(g["G"].mean()) < 1e-9 and abs(g["G"].var() - 1) < 1e-9
    x = np.c_[np.ones(3000), alleles[:, :, [0, 1, 2]].sum(axis=1)]
    additive_fit = x @ np.linalg.lstsq(x, g["G"], rcond=None)[0]
    assert abs(np.var(additive_fit) - 0.7) < 1e-6  # exactly 1 - phi in the sample it was fitted on
    both = (alleles[:, :, 0] & alleles[:, :, 1]).sum(axis=1)
    assert np.allclose(g["G"], g["intercept"] + x[:, 1:] @ g["additive"] + g["interaction"] * both)


def test_choose_samples():
    full = choose_samples({"AFR": 661, "AMR": 347, "EAS": 504, "EUR": 503, "SAS": 489}, 373, 89, seed=1)
    assert len(full) == 2504 and full["expression"].sum() == 462
    assert full.loc[full["expression"] & (full["super_pop"] == "EUR"), "pop"].isin(["CEU", "FIN", "GBR", "TSI"]).all()
    assert (full.loc[full["expression"] & (full["super_pop"] == "AFR"), "pop"] == "YRI").all()
    assert (full.groupby("pop").size() >= 61).all()  # 1000G populations and counts (YRI 108)
    with pytest.raises(ValueError, match="people with expression"):
        choose_samples({"EUR": 10, "AFR": 100}, 20, 5, seed=1)


def test_in_peaks_matches_brute_force():
    rng = np.random.default_rng(5)
    tracks = chromatin.simulate_peaks([("6", 1_000_000, 1_500_000)], {"6": np.array([1_200_000])}, rng)
    positions = rng.integers(1_000_000, 1_500_000, 2000)
    active = tracks["H3K27ac"]
    for mark in REPRESSIVE_MARKS:  # never on an acetylated stretch
        for peak in tracks[mark].itertuples():
            assert not ((active.start < peak.end) & (active.end > peak.start)).any()
    for mark, peaks in tracks.items():
        brute = ((peaks.start.to_numpy()[None] <= positions[:, None] - 1)
                 & (peaks.end.to_numpy()[None] > positions[:, None] - 1)).any(axis=1)
        assert (in_peaks("6", positions, peaks) == brute).all(), mark
        assert (peaks["start"] < peaks["end"]).all() and peaks["start"].is_monotonic_increasing


def test_errors_keep_the_filter_and_switches_keep_genotypes():
    rng = np.random.default_rng(6)
    alleles = np.transpose(_random_cohort(500, 200, rng), (2, 0, 1)).copy()  # (m, n, 2)
    noisy = add_genotype_errors(alleles, 0.01, 0.03, rng)
    assert 0.005 < (noisy != alleles).any(axis=2).mean() < 0.015
    switched = add_switch_errors(alleles, np.arange(200) * 10_000, per_mb=5.0, rng=rng)
    assert (switched.sum(axis=2) == alleles.sum(axis=2)).all()  # same genotypes ...
    assert (switched != alleles).any()  # ... other phase


def _assignment_cost(candidates, targets, chosen):
    p = candidates[list(chosen)]
    return np.minimum(np.abs(p - targets), np.abs(1 - p - targets)).sum()


def test_match_frequencies_is_the_best_order_preserving_choice():
    rng = np.random.default_rng(8)
    for _ in range(5):
        candidates, targets = rng.uniform(0.03, 0.97, 10), rng.uniform(0.03, 0.97, 5)
        index, flip = match_frequencies(targets, candidates)
        assert (np.diff(index) > 0).all()
        matched = np.where(flip, 1 - candidates[index], candidates[index])
        best = min(_assignment_cost(candidates, targets, c) for c in itertools.combinations(range(10), 5))
        assert np.isclose(np.abs(matched - targets).sum(), best)


def test_peaks_are_realistic_in_the_smoke_cohort(smoke):
    out, _, _ = smoke
    widths = {m: (lambda p: (p.end - p.start).median())(read_narrowpeak(out / "peaks" / f"GM12878_{m}.narrowPeak.gz"))
              for m in PEAK_MARKS}
    assert all(500 < w < 5000 for w in widths.values())
    truth = read_truth(out / "truth")
    assert pd.api.types.is_float_dtype(truth.enrichment["realised_fold"])


def test_per_gene_interaction_fractions_change_expression_not_haplotypes(smoke, tmp_path):
    """The smoke preset's interaction_fractions=(0.6, 0.0): gene 1 (and 3) get 60 % interaction, gene 2 stays
    additive; every haplotype, SNP and sample is what the one-fraction default writes (the shipped weights'
    data fingerprint holds)."""
    from lmeqtl.data.cohort import load_cohort
    from lmeqtl.mlm.batches import cohort_fingerprint

    assert SMOKE.interaction_fractions == (0.6, 0.0) == get_preset("top10").simulation.interaction_fractions
    out, manifest, _ = smoke
    default = dataclasses.replace(SMOKE, interaction_fractions=())
    other = simulate_cohort(default, tmp_path, preset="smoke", progress=False)
    prepare(DataPaths.from_dir(tmp_path), window_bp=SMOKE.window_bp, max_snps=SMOKE.max_snps,
            min_af=SMOKE.min_af, max_af=1 - SMOKE.min_af, progress=False)
    cohorts = [load_cohort(d / "dataset.parquet", d / "meta.csv.gz") for d in (out, tmp_path)]
    assert cohorts[0].genes == cohorts[1].genes
    for gene in cohorts[0].genes:
        assert np.array_equal(cohorts[0].haplotypes[gene], cohorts[1].haplotypes[gene]), gene
    pd.testing.assert_frame_equal(cohorts[0].meta, cohorts[1].meta)
    assert cohort_fingerprint(cohorts[0]) == cohort_fingerprint(cohorts[1])
    same = [f for f in manifest["files"] if f.startswith(("vcf/", "peaks/")) or f == PANEL_NAME]
    assert same and all(other["files"][f] == manifest["files"][f] for f in same)
    assert other["files"][EXPRESSION_NAME] != manifest["files"][EXPRESSION_NAME]
    genes = read_truth(out / "truth").genes
    assert genes["interaction_fraction"].tolist() == [0.6, 0.0, 0.6]
    assert (genes["n_causal"].iloc[[0, 2]] >= 2).all() and (genes["interaction_snps"].iloc[[0, 2]] != "").all()
    one = read_truth(tmp_path / "truth").genes["interaction_fraction"]
    assert set(one) <= {0.0, SMOKE.interaction_fraction}  # the default: one fraction for every gene
