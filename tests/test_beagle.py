import gzip

import numpy as np
import pytest

from lmeqtl.config import GenotypeEvalConfig
from lmeqtl.data.vcf import read_snps
from lmeqtl.data.vcf_writer import write_vcf
from lmeqtl.genotypes import beagle
from lmeqtl.genotypes.beagle import (
    beagle_command,
    gene_records,
    impute_beagle,
    read_beagle_vcf,
)
from lmeqtl.genotypes.imputation import make_setup, masked_entries
from lmeqtl.genotypes.metrics import genotype_metrics
from tests.mlm_fixtures import founder_cohort

needs_beagle = pytest.mark.skipif(beagle_command() is None, reason=beagle.NOT_FOUND)


def test_target_vcf_leaves_out_the_masked_snps(tmp_path):
    cohort = founder_cohort(n_samples=6, genes={"ENSG01.1": 30})
    meta, haplotypes = cohort.gene_meta("ENSG01.1"), cohort.haplotypes["ENSG01.1"]
    keep = np.ones(30, dtype=bool)
    keep[[3, 10]] = False
    write_vcf(tmp_path / "snps.vcf.gz", gene_records(meta, haplotypes, keep), list(cohort.sample_ids))
    block = read_snps(tmp_path / "snps.vcf.gz", "6", 1, 10**7, min_af=0, max_af=1)
    assert len(block.pos) == 28 and not set(block.pos) & set(meta["pos"][[3, 10]])
    np.testing.assert_array_equal(block.haplotypes, haplotypes[:, :, keep].transpose(2, 0, 1))  # phased as given


BEAGLE_LIKE = """##fileformat=VCFv4.2
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tP1\tP2
6\t100\ts1\tA\tG\t.\tPASS\t.\tGT\t0|1\t1|1
6\t200\ts2\tA\tG\t.\tPASS\tDR2=0.9;AF=0.3;IMP\tGT:DS:AP1:AP2:GP\t0|1:0.8:0.1:0.7:0.27,0.66,0.07\t0|0:0.05:0.02:0.03:0.95,0.05,0
"""


def test_parse_beagle_output_with_genotyped_and_imputed_rows(tmp_path):
    path = tmp_path / "out.vcf.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(BEAGLE_LIKE)
    samples, pos, fields = read_beagle_vcf(path)
    assert samples == ["P1", "P2"] and pos.tolist() == [100, 200]
    np.testing.assert_array_equal(fields["GT"], [[[0, 1], [1, 1]], [[0, 1], [0, 0]]])
    assert np.isnan(fields["DS"][0]).all() and fields["DS"][1].tolist() == [0.8, 0.05]
    assert fields["AP2"][1].tolist() == [0.7, 0.03]
    np.testing.assert_allclose(fields["GP"][1, 0], [0.27, 0.66, 0.07])
    p_alt, prob = beagle._gene_imputation(fields, np.array([0, 1]), np.array([1, 0]))
    np.testing.assert_allclose(p_alt, [[1, 1], [0.1, 0.7]])  # genotyped row: the call itself
    np.testing.assert_allclose(prob, [[0, 0, 1], [0.27, 0.66, 0.07]])


def test_missing_beagle_is_reported_clearly(monkeypatch):
    monkeypatch.delenv("LMEQTL_BEAGLE", raising=False)
    monkeypatch.setattr(beagle.shutil, "which", lambda name: None)
    assert beagle_command() is None
    cohort = founder_cohort(n_samples=6, genes={"ENSG01.1": 30})
    with pytest.raises(FileNotFoundError, match="Beagle is not installed"):
        impute_beagle(cohort, make_setup(cohort, GenotypeEvalConfig(edge_frame=2)), progress=False)
    monkeypatch.setenv("LMEQTL_BEAGLE", "java -Xmx1g -jar /opt/beagle.jar")
    assert beagle_command() == ["java", "-Xmx1g", "-jar", "/opt/beagle.jar"]


@needs_beagle
def test_beagle_imputes_masked_genotypes_of_strong_ld_haplotypes(tmp_path):
    cohort = founder_cohort(n_samples=80, genes={"ENSG01.1": 60}, test_fraction=0.25)
    setup = make_setup(cohort, GenotypeEvalConfig(edge_frame=3, seed=3))
    result = impute_beagle(cohort, setup, threads=1, work_dir=tmp_path, progress=False)
    snp, person, truth = masked_entries(cohort, setup)
    order = np.lexsort((result.person, result.snp))
    np.testing.assert_array_equal(result.snp[order], snp[np.lexsort((person, snp))])
    np.testing.assert_array_equal(result.true_alleles[order], truth[np.lexsort((person, snp))])
    np.testing.assert_allclose(result.genotype_prob.sum(axis=1), 1.0, atol=1e-6)
    table = genotype_metrics(result, np.full(len(cohort.meta), 0.3)).set_index("maf_bin")
    assert table.loc["all", "genotype_accuracy"] > 0.9  # copies of 4 founders: easy
    assert (tmp_path / "ENSG01.1.imputed.log").exists()
