"""The VCF writer (bgzip + tabix) and the validating SNP reader."""

import numpy as np
import pytest

from lmeqtl.data.encoding import MISSING_ALLELE
from lmeqtl.data.vcf import read_snps, vcf_samples
from lmeqtl.data.vcf_writer import VcfRecords, write_vcf
from lmeqtl.errors import InputError

HEADER = "##fileformat=VCFv4.1\n##contig=<ID={contig},length=1000>\n" \
         "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3\n"


def write_text_vcf(path, rows, contig="6"):
    """A plain-text (unindexed) VCF: each row is 'pos id ref alt filter info gt1 gt2 gt3'."""
    lines = []
    for row in rows:
        pos, vid, ref, alt, filt, info, *gts = row.split()
        fmt = "GT:DP" if any(":" in g for g in gts) else "GT"
        lines.append("\t".join([contig, pos, vid, ref, alt, "100", filt, info, fmt, *gts]))
    path.write_text(HEADER.format(contig=contig) + "\n".join(lines) + "\n")
    return path


def test_write_then_read_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    alleles = rng.integers(0, 2, size=(40, 7, 2), dtype=np.uint8)
    alleles[3] = 0  # monomorphic: AF filter drops it
    pos = np.sort(rng.choice(np.arange(100, 100_000), 40, replace=False))
    records = VcfRecords("6", pos, np.array([f"rs{i}" for i in range(40)], object),
                         np.array(["A"] * 40, object), np.array(["G"] * 40, object), alleles)
    samples = [f"HG{i:05d}" for i in range(7)]
    write_vcf(tmp_path / "chr6.vcf.gz", records, samples, super_pops=np.array(["EUR"] * 3 + ["AFR"] * 4))
    assert (tmp_path / "chr6.vcf.gz.tbi").exists()
    assert vcf_samples(tmp_path / "chr6.vcf.gz") == samples
    block = read_snps(tmp_path / "chr6.vcf.gz", "chr6", 1, 200_000, min_af=0.03, max_af=0.97)
    af = alleles.mean(axis=(1, 2))
    keep = (af >= 0.03) & (af <= 0.97)
    np.testing.assert_array_equal(block.pos, pos[keep])
    np.testing.assert_array_equal(block.haplotypes, alleles[keep])
    np.testing.assert_allclose(block.af, af[keep])
    # region query and sample subset/order
    part = read_snps(tmp_path / "chr6.vcf.gz", "6", int(pos[10]), int(pos[20]), samples=["HG00005", "HG00001"],
                     min_af=0.0, max_af=1.0)
    np.testing.assert_array_equal(part.pos, pos[10:21])
    np.testing.assert_array_equal(part.haplotypes, alleles[10:21][:, [5, 1]])


def test_writer_is_byte_reproducible(tmp_path):
    alleles = np.zeros((3, 2, 2), np.uint8)
    alleles[:, 0, 0] = 1
    records = VcfRecords("1", np.array([5, 9, 12]), np.array(["."] * 3, object), np.array(["C"] * 3, object),
                         np.array(["T"] * 3, object), alleles)
    write_vcf(tmp_path / "a.vcf.gz", records, ["A", "B"])
    write_vcf(tmp_path / "b.vcf.gz", records, ["A", "B"])
    assert (tmp_path / "a.vcf.gz").read_bytes() == (tmp_path / "b.vcf.gz").read_bytes()


def test_reader_applies_the_rules(tmp_path):
    path = write_text_vcf(tmp_path / "x.vcf", [
        "10 rs1 A G PASS AF=0.5 0|1 1|0 0|0",      # kept
        "20 rs2 A G,T PASS . 0|1 2|0 0|0",         # multi-allelic: skipped
        "30 rs3 AT A PASS . 0|1 1|0 0|0",          # indel: skipped
        "40 rs4 C T LowQual . 0|1 1|0 0|0",        # not PASS: skipped
        "50 rs5 C T PASS . 0|1 1|0 0|0",           # split multi-allelic site (two SNP rows): skipped
        "50 rs5b C G PASS . 0|0 0|1 0|0",
        "60 . G A . . .|. 1|1 0|1",                # missing call kept as missing; FILTER '.' is fine
        "70 rs7 G A PASS . . 0/0 1/1",             # lone '.' = missing; unphased homozygotes are exact
        "80 rs8 T C PASS . 0|0:3 0|0:4 0|0:5",     # extra FORMAT fields; monomorphic -> AF filter
        "90 rs9 T C PASS MULTI_ALLELIC 0|1 0|0 0|0",
    ])
    block = read_snps(path, "6", 1, 1000)
    assert block.pos.tolist() == [10, 60, 70]
    assert block.ids.tolist() == ["rs1", ".", "rs7"]
    assert block.haplotypes[1].tolist() == [[MISSING_ALLELE, MISSING_ALLELE], [1, 1], [0, 1]]
    assert block.haplotypes[2].tolist() == [[MISSING_ALLELE, MISSING_ALLELE], [0, 0], [1, 1]]
    assert block.af.tolist() == [2 / 6, 3 / 4, 2 / 4]
    assert block.skipped == {"multi_allelic": 2, "not_snp": 1, "filter": 1, "af": 1, "duplicate_position": 1}


def test_unphased_heterozygote_is_an_error_or_missing(tmp_path):
    path = write_text_vcf(tmp_path / "x.vcf", ["10 rs1 A G PASS . 0/1 1|1 0|0"])
    with pytest.raises(InputError, match="record 6:10: unphased heterozygous genotype of sample S1"):
        read_snps(path, "6", 1, 100)
    block = read_snps(path, "6", 1, 100, unphased="missing")
    assert block.haplotypes[0, 0].tolist() == [MISSING_ALLELE, MISSING_ALLELE]


def test_chr_prefixed_contigs_and_info_af(tmp_path):
    path = write_text_vcf(tmp_path / "x.vcf", ["10 rs1 A G PASS AF=0.02 0|1 1|0 0|0",
                                               "20 rs2 A G PASS AF=0.5 0|0 0|0 0|0"], contig="chr6")
    assert read_snps(path, "6", 1, 100).pos.tolist() == [10]
    assert read_snps(path, "chr6", 1, 100, af_source="info").pos.tolist() == [20]


@pytest.mark.parametrize(("rows", "message"), [
    (["20 rs1 A G PASS . 0|1 1|0 0|0", "10 rs2 A G PASS . 0|1 1|0 0|0"], "not sorted"),
    (["10 rs1 A G PASS . 0|1 1 0|0"], "not a diploid"),
    (["10 rs1 A G PASS . 0|1 1|0"], "2 genotype columns"),
    (["10 rs1 A G PASS . 0|1 1|X 0|0"], "not a diploid call of a biallelic SNP"),
])
def test_malformed_vcfs(tmp_path, rows, message):
    path = write_text_vcf(tmp_path / "x.vcf", rows)
    with pytest.raises(InputError, match=message):
        read_snps(path, "6", 1, 100)


def test_missing_contig_and_samples(tmp_path):
    path = write_text_vcf(tmp_path / "x.vcf", ["10 rs1 A G PASS . 0|1 1|0 0|0"])
    with pytest.raises(InputError, match="no contig '17'"):
        read_snps(path, "17", 1, 100)
    with pytest.raises(InputError, match="not in the VCF"):
        read_snps(path, "6", 1, 100, samples=["S1", "NA12878"])
