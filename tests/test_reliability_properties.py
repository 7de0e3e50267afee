"""Property-based tests (hypothesis): encoders/decoders round-trip, and IQS behaves like a kappa.

test_encoding already checks strings -> haplotypes -> strings; these add the other way
round, dosage, the error for any foreign letter, the VCF writer/reader pair and metrics.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lmeqtl.data.encoding import MISSING_ALLELE, decode_haplotypes, dosage, encode_genotypes
from lmeqtl.data.vcf import read_snps
from lmeqtl.data.vcf_writer import VcfRecords, write_vcf
from lmeqtl.errors import InputError
from lmeqtl.mlm import metrics

FAST = settings(max_examples=60, deadline=None)


@st.composite
def haplotype_arrays(draw, max_n=6, max_length=40):
    """``(n, 2, L)`` uint8 alleles 0/1, a missing genotype having both alleles missing (as the format says)."""
    n, length = draw(st.integers(1, max_n)), draw(st.integers(1, max_length))
    alleles = draw(arrays(np.uint8, (n, 2, length), elements=st.integers(0, 1)))
    missing = draw(arrays(np.bool_, (n, length)))
    alleles[:, 0][missing] = MISSING_ALLELE
    alleles[:, 1][missing] = MISSING_ALLELE
    return alleles


@FAST
@given(haplotype_arrays())
def test_encode_inverts_decode_and_dosage_is_the_allele_sum(haplotypes):
    strings = decode_haplotypes(haplotypes)
    assert {len(s) for s in strings} == {haplotypes.shape[2]} and set("".join(strings)) <= set("RFMBN")
    np.testing.assert_array_equal(encode_genotypes(strings), haplotypes)
    d = dosage(haplotypes)  # (n, L)
    missing = haplotypes[:, 0] == MISSING_ALLELE
    assert np.isnan(d[missing]).all()
    np.testing.assert_array_equal(d[~missing], haplotypes.sum(axis=1)[~missing])


@FAST
@given(st.lists(st.text(alphabet="RFMBN", min_size=6, max_size=6), min_size=1, max_size=5), st.data())
def test_any_foreign_letter_is_named_with_its_row_and_position(seqs, data):
    row = data.draw(st.integers(0, len(seqs) - 1))
    col = data.draw(st.integers(0, 5))
    letter = data.draw(st.characters(min_codepoint=33, max_codepoint=126).filter(lambda c: c not in "RFMBN"))
    seqs[row] = seqs[row][:col] + letter + seqs[row][col + 1:]
    with pytest.raises(InputError, match=rf"row {row}, position {col}: unknown genotype letter"):
        encode_genotypes(seqs)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(haplotype_arrays(max_n=5, max_length=25), st.integers(0, 2**32 - 1))
def test_vcf_writer_then_reader_gives_back_the_haplotypes(tmp_path, haplotypes, seed):
    n, _, length = haplotypes.shape
    alleles = np.ascontiguousarray(haplotypes.transpose(2, 0, 1))  # (L, n, 2)
    pos = np.sort(np.random.default_rng(seed).choice(np.arange(1, 10_000), length, replace=False))
    records = VcfRecords("6", pos, np.array([f"rs{i}" for i in range(length)], object),
                         np.array(["A"] * length, object), np.array(["G"] * length, object), alleles)
    path = tmp_path / f"x{seed}.vcf.gz"
    write_vcf(path, records, [f"S{i}" for i in range(n)])
    block = read_snps(path, "6", 1, 10_000, min_af=0.0, max_af=1.0)
    called = (alleles != MISSING_ALLELE).any(axis=(1, 2))  # an all-missing SNP has no AF: dropped
    np.testing.assert_array_equal(block.pos, pos[called])
    np.testing.assert_array_equal(block.haplotypes, alleles[called])


# ---------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------

counts = st.sampled_from([2, 3]).flatmap(lambda k: arrays(np.int64, (k, k), elements=st.integers(0, 50)))


@FAST
@given(counts)
def test_iqs_is_a_bounded_symmetric_kappa(cm):
    value = metrics.iqs(cm)
    if np.isnan(value):  # undefined: nothing counted, or a single class among truth and calls
        marginals = cm.sum(axis=0) + cm.sum(axis=1)
        assert cm.sum() == 0 or (marginals > 0).sum() == 1
        return
    assert -1.0 - 1e-12 <= value <= 1.0 + 1e-12
    assert metrics.iqs(cm.T) == pytest.approx(value)  # truth and calls play symmetric roles
    assert metrics.iqs(3 * cm) == pytest.approx(value)  # counts, not their scale
    order = np.random.default_rng(int(cm.sum())).permutation(len(cm))
    assert metrics.iqs(cm[np.ix_(order, order)]) == pytest.approx(value)  # class labels do not matter
    assert 0.0 <= metrics.accuracy(cm) <= 1.0


@FAST
@given(arrays(np.int64, st.integers(2, 3), elements=st.integers(0, 40)))
def test_perfect_imputation_scores_one(diagonal):
    cm = np.diag(diagonal)
    if (diagonal > 0).sum() >= 2:
        assert metrics.iqs(cm) == pytest.approx(1.0) and metrics.accuracy(cm) == 1.0
    else:
        assert np.isnan(metrics.iqs(cm))  # one class only: chance agreement is 1


@FAST
@given(st.integers(1, 200), st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_confusion_counts_and_iqs_summaries(n, n_snps, seed):
    rng = np.random.default_rng(seed)
    true, pred, snp = rng.integers(0, 3, n), rng.integers(0, 3, n), rng.integers(0, n_snps, n)
    per_snp = metrics.confusion_matrices(true, pred, 3, group=snp, n_groups=n_snps)
    assert per_snp.sum() == n
    np.testing.assert_array_equal(per_snp.sum(axis=0), metrics.confusion_matrices(true, pred, 3))
    values = metrics.iqs_per_snp(per_snp)
    mean = metrics.mean_iqs(per_snp)
    if np.isfinite(values).any():
        assert np.nanmin(values) - 1e-12 <= mean <= np.nanmax(values) + 1e-12
    else:
        assert np.isnan(mean)
    assert metrics.pooled_iqs(per_snp[:1]) == pytest.approx(metrics.iqs(per_snp[0]), nan_ok=True)
    assert metrics.accuracy(per_snp) == pytest.approx(np.mean(true == pred))
