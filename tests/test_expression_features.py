"""Haplotype combinations, the in-fold SNP selector, lead SNPs from an eQTL table, row alignment."""

import numpy as np
import pandas as pd
import pytest

from lmeqtl.errors import InputError
from lmeqtl.expression.features import (
    COMBINATIONS,
    HaplotypeCombiner,
    LeadSnpSelector,
    align_rows,
    combine_haplotypes,
    flatten_pairs,
    genetic_value,
    lead_snps,
)

INVARIANT = [m for m in COMBINATIONS if m != "concat"]


@pytest.fixture
def pairs():
    rng = np.random.default_rng(3)
    embeddings = rng.normal(size=(30, 2, 8))
    embeddings[5, 1] = embeddings[5, 0]  # a homozygous person: two identical haplotypes
    embeddings[7, 1] = embeddings[7, 0]
    embeddings[7, 1, 6] += 1e-3  # nearly identical: a tie-break case for the projection
    return embeddings


@pytest.mark.parametrize("method", INVARIANT)
def test_combinations_do_not_depend_on_haplotype_order(pairs, method):
    swapped = pairs[:, ::-1]
    fitted = HaplotypeCombiner(method).fit(flatten_pairs(pairs[:20]))
    np.testing.assert_array_equal(fitted.transform(flatten_pairs(pairs[20:])),
                                  fitted.transform(flatten_pairs(swapped[20:])))
    np.testing.assert_array_equal(combine_haplotypes(pairs, method), combine_haplotypes(swapped, method))


def test_file_order_concatenation_is_the_order_dependent_control(pairs):
    assert not np.array_equal(combine_haplotypes(pairs, "concat"), combine_haplotypes(pairs[:, ::-1], "concat"))


def test_combination_values_and_shapes(pairs):
    h1, h2 = pairs[:, 0], pairs[:, 1]
    np.testing.assert_allclose(combine_haplotypes(pairs, "sum"), h1 + h2)
    np.testing.assert_allclose(combine_haplotypes(pairs, "mean"), (h1 + h2) / 2)
    np.testing.assert_allclose(combine_haplotypes(pairs, "product_absdiff"), np.hstack([h1 * h2, np.abs(h1 - h2)]))
    sorted_pairs = combine_haplotypes(pairs, "concat_sorted")
    assert sorted_pairs.shape == (30, 16)
    # each row holds the person's two haplotypes, in some order
    halves = {tuple(sorted_pairs[0, :8]), tuple(sorted_pairs[0, 8:])}
    assert halves == {tuple(h1[0]), tuple(h2[0])}
    with pytest.raises(ValueError, match="unknown combination"):
        combine_haplotypes(pairs, "max")
    with pytest.raises(ValueError, match=r"\(n, 2, H\)"):
        flatten_pairs(pairs[:, 0])


def test_sorting_direction_comes_from_the_rows_it_was_fitted_on(pairs):
    fitted_a = HaplotypeCombiner("concat_sorted").fit(flatten_pairs(pairs[:15]))
    fitted_b = HaplotypeCombiner("concat_sorted").fit(flatten_pairs(pairs[15:]))
    assert not np.allclose(fitted_a.direction_, fitted_b.direction_)


def test_lead_snp_selector_finds_the_planted_snp_in_training_rows():
    rng = np.random.default_rng(0)
    dosage = rng.binomial(2, 0.3, size=(200, 50)).astype(float)
    dosage[3, 17] = np.nan
    y = 0.8 * np.nan_to_num(dosage[:, 17]) + rng.normal(size=200)
    selector = LeadSnpSelector().fit(dosage, y)
    assert selector.index_ == 17
    column = selector.transform(dosage)
    assert column.shape == (200, 1) and not np.isnan(column).any()


def test_genetic_value_is_dosage_times_effects():
    assert genetic_value(np.array([[0, 1], [2, 1]]), np.array([0.5, -1.0])).tolist() == [-1.0, 0.0]


def test_align_rows_reorders_and_lists_missing():
    values = np.arange(6).reshape(3, 2)
    np.testing.assert_array_equal(align_rows(values, ["a", "b", "c"], ["c", "a"]), values[[2, 0]])
    with pytest.raises(InputError, match="2 samples absent from the embeddings: x, y"):
        align_rows(values, ["a", "b", "c"], ["x", "a", "y"], what="embeddings")


def test_lead_snps_from_an_eqtl_table():
    meta = pd.DataFrame({
        "chrom": "6", "pos": [100, 200, 300, 400], "id": ["rs1", "rs2", ".", "rs4"],
        "GENE_ID": ["G1.2", "G1.2", "G1.2", "G2.1"], "seq_idx": [0, 1, 2, 0],
    })
    eqtl = pd.DataFrame({
        "SNP_ID": ["rs9", "rs2", "rs1", "snp_6_300", "rs4"],
        "GENE_ID": ["G1.1", "G1.1", "G1.1", "G3.1", "G2.1"],
        "CHR_SNP": [6, 6, 6, 6, 6], "SNPpos": [999, 200, 100, 300, 400],
        "rvalue": [0.9, -0.6, 0.4, 0.3, 0.5], "pvalue": [1e-30, 1e-12, 1e-5, 1e-3, 1e-8],
    })
    eqtl.loc[5] = ["snp_6_300", "G4.1", 6, 300, 0.2, 1e-4]
    meta.loc[4] = ["6", 300, ".", "G4.1", 0]
    lead = lead_snps(eqtl, meta, ["G1.2", "G2.1", "G5.1", "G4.1"]).set_index("gene_id")
    assert lead.loc["G1.2", "SNP_ID"] == "rs2"  # rs9 (the table's lead) lies outside the window
    assert lead.loc["G1.2", "seq_idx"] == 1 and lead.loc["G1.2", "table_rank"] == 1
    assert "1 stronger table SNPs outside the window" in lead.loc["G1.2", "note"]
    assert lead.loc["G2.1", "note"] == "lead SNP" and lead.loc["G2.1", "rvalue"] == 0.5
    assert lead.loc["G5.1", "seq_idx"] == -1 and "no eQTL" in lead.loc["G5.1", "note"]
    assert lead.loc["G4.1", "seq_idx"] == 0  # matched on chromosome and position
