import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmeqtl.data.encoding import MISSING_ALLELE, decode_haplotypes, dosage, encode_genotypes
from lmeqtl.errors import InputError


def test_letters_map_to_phased_alleles():
    haplotypes = encode_genotypes(["RFMB", "BBRN"])
    assert haplotypes.shape == (2, 2, 4)
    np.testing.assert_array_equal(haplotypes[0, 0], [0, 1, 0, 1])  # first ("father") haplotype
    np.testing.assert_array_equal(haplotypes[0, 1], [0, 0, 1, 1])  # second ("mother") haplotype
    assert haplotypes[1, 0, 3] == MISSING_ALLELE


def test_dosage_sums_haplotypes_and_marks_missing():
    d = dosage(encode_genotypes(["RFMBN"]))
    np.testing.assert_array_equal(d[0, :4], [0, 1, 1, 2])
    assert np.isnan(d[0, 4])


def test_unknown_letter_names_row_and_position():
    with pytest.raises(InputError, match=r"dataset.parquet: row 1, position 2: unknown genotype letter 'X'"):
        encode_genotypes(["RRRR", "RRXR"], source="dataset.parquet")


def test_ragged_rows_are_refused():
    with pytest.raises(InputError, match="row 1"):
        encode_genotypes(["RRRR", "RRR"])


def test_non_ascii_is_refused():
    with pytest.raises(InputError, match="non-ASCII"):
        encode_genotypes(["RRRR", "RRÄR"])


@given(st.lists(st.text(alphabet="RFMBN", min_size=5, max_size=5), min_size=1, max_size=8))
def test_decode_inverts_encode(seqs):
    assert decode_haplotypes(encode_genotypes(seqs)) == seqs
