"""LD decay, population-structure PCA and lead-SNP tagging on cohorts with a known answer."""

import numpy as np
import pandas as pd
import pytest

from lmeqtl.data.cohort import Cohort
from lmeqtl.data.encoding import MISSING_ALLELE
from lmeqtl.simulate import popgen


def _cohort(haplotypes: dict[str, np.ndarray], super_pop: list[str], split: list[str] | None = None) -> Cohort:
    n = len(super_pop)
    samples = pd.DataFrame({"split": split or ["test"] * n, "super_pop": super_pop},
                           index=pd.Index([f"S{i}" for i in range(n)], name="sample_id"))
    meta = pd.concat([pd.DataFrame({"chrom": "1", "pos": 1_000 + 500 * np.arange(h.shape[2]), "GENE_ID": g,
                                    "seq_idx": np.arange(h.shape[2]), "id": [f"{g}_{i}" for i in range(h.shape[2])]})
                      for g, h in haplotypes.items()], ignore_index=True)
    return Cohort(samples=samples, meta=meta, genes=list(haplotypes), haplotypes=haplotypes)


def test_ld_decay_is_one_in_perfect_ld_and_skips_monomorphic_snps():
    rng = np.random.default_rng(0)
    column = rng.integers(0, 2, size=(50, 2, 1), dtype=np.uint8)
    haplotypes = np.repeat(column, 40, axis=2)  # (50, 2, 40): every SNP the same
    haplotypes[:, :, 5] = 0  # monomorphic: no r2
    haplotypes[0, 0, 7] = MISSING_ALLELE  # a missing allele counts as the mean, r2 just below 1
    pos = 100 * np.arange(40) + 1
    decay = popgen.ld_decay(haplotypes, pos, n_pairs=2_000, seed=1)
    counted = decay[decay["n_pairs"] > 0]
    assert len(counted) >= 5 and counted["mean_r2"].between(0.98, 1.0).all()
    assert decay["n_pairs"].sum() < 2_000  # pairs with SNP 5 were dropped
    again = popgen.ld_decay(haplotypes, pos, n_pairs=2_000, seed=1)
    pd.testing.assert_frame_equal(decay, again)  # same seed, same pairs


def test_ld_decay_of_independent_snps_is_near_zero_and_groups_compare():
    rng = np.random.default_rng(2)
    haplotypes = rng.integers(0, 2, size=(200, 2, 60), dtype=np.uint8)
    cohort = _cohort({"G": haplotypes}, ["EUR"] * 100 + ["AFR"] * 100)
    decay = popgen.ld_decay_by_group(cohort, ["G"], ["EUR", "AFR", "EAS"], n_pairs=3_000, seed=0)
    assert set(decay["group"]) == {"EUR", "AFR"}  # no EAS people: left out
    within = popgen.mean_r2_within(decay, 1e9)
    assert within["EUR"] < 0.02 and within["AFR"] < 0.02  # E[r2] ~ 1/(2n) = 0.005


def test_structure_pcs_separate_populations_with_different_frequencies():
    rng = np.random.default_rng(3)
    first = (rng.random((60, 2, 300)) < 0.15).astype(np.uint8)
    second = (rng.random((60, 2, 300)) < 0.85).astype(np.uint8)
    haplotypes = np.concatenate([first, second])  # (120, 2, 300)
    cohort = _cohort({"A": haplotypes[:, :, :150], "B": haplotypes[:, :, 150:]}, ["EUR"] * 60 + ["AFR"] * 60)
    scores, explained = popgen.genotype_pcs(cohort, n_components=3, max_snps=200, seed=0)
    assert list(scores.columns) == ["PC1", "PC2", "PC3", "super_pop", "split"]
    means = scores.groupby("super_pop")["PC1"].mean()
    assert np.sign(means["EUR"]) != np.sign(means["AFR"]) and abs(means["EUR"] - means["AFR"]) > 10
    assert explained[0] > 0.3 and explained[0] > 3 * explained[1]
    again, _ = popgen.genotype_pcs(cohort, n_components=3, max_snps=200, seed=0)
    pd.testing.assert_frame_equal(scores, again)


def test_lead_causal_r2_is_one_for_a_causal_lead_and_nan_outside_the_window():
    rng = np.random.default_rng(4)
    haplotypes = rng.integers(0, 2, size=(80, 2, 10), dtype=np.uint8)
    haplotypes[:, :, 3] = haplotypes[:, :, 6]  # SNP 3 and 6 in perfect LD
    cohort = _cohort({"G1": haplotypes, "G2": haplotypes}, ["EUR"] * 80)
    leads = pd.DataFrame({"gene_id": ["G1", "G2"], "seq_idx": [3, -1]})
    causal = pd.DataFrame({"gene_id": ["G1", "G1", "G2"], "seq_idx": [6, 0, 6]})
    r2 = popgen.lead_causal_r2(cohort, leads, causal)
    assert r2["G1"] == pytest.approx(1.0) and np.isnan(r2["G2"])
