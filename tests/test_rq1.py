import pandas as pd
import pytest
import torch

from lmeqtl import cli
from lmeqtl.book.chapters.genotypes import summary_text
from lmeqtl.config import GenotypeEvalConfig, ModelConfig
from lmeqtl.data.encoding import decode_haplotypes
from lmeqtl.data.io import write_dataset, write_meta
from lmeqtl.genotypes import beagle
from lmeqtl.genotypes.comparison import load_rq1, per_gene_table, plot_rq1, run_rq1
from lmeqtl.mlm.checkpoint import save_checkpoint
from lmeqtl.mlm.model import HaplotypeMLM
from tests.mlm_fixtures import founder_cohort

TINY = ModelConfig(d_model=8, n_layers=1, n_resnet_blocks=1, d_state=4, dropout=0.0)


def tiny_model(n_genes: int) -> HaplotypeMLM:
    torch.manual_seed(0)
    return HaplotypeMLM(TINY, n_genes).eval()


def test_run_rq1_table_notes_and_saved_outputs(tmp_path, monkeypatch):
    monkeypatch.setattr(beagle, "beagle_command", lambda: None)  # as on a machine without Beagle
    cohort = founder_cohort(n_samples=24, genes={"ENSG01.1": 60, "ENSG02.1": 40}, test_fraction=0.5)
    config = GenotypeEvalConfig(edge_frame=4, max_samples=8, batch_size=3)
    result = run_rq1(tiny_model(2), cohort, config, out_dir=tmp_path, device="cpu", progress=False)
    assert result.notes and "Beagle is not installed" in result.notes[0]
    assert list(result.table.index.get_level_values("method").unique()) == ["MLM", "most frequent genotype"]
    assert result.table.loc[("MLM", "all"), "n_genotypes"] == 8 * (10 + 6) == result.info["n_genotypes"]
    assert {"genotype_accuracy", "iqs", "dosage_r2", "allele_accuracy", "allele_iqs"} <= set(result.table.columns)
    assert set(result.per_snp["method"]) == {"MLM", "most frequent genotype"} and result.seconds["MLM"] > 0
    loaded = load_rq1(tmp_path)
    pd.testing.assert_frame_equal(loaded.table, result.table, check_dtype=False)
    assert loaded.notes == result.notes and loaded.info["masked_snps_per_gene"] == {"ENSG01.1": 10, "ENSG02.1": 6}
    text = summary_text(result)
    assert "On 128 masked genotypes of 8 test people, the MLM reaches genotype accuracy" in text
    assert "Beagle is not installed" in text and "IQS 0 by construction" in text
    by_gene = per_gene_table(result.per_snp)
    assert list(by_gene.columns) == ["MLM", "most frequent genotype"] and list(by_gene.index) == cohort.genes
    mlm = result.per_snp[(result.per_snp.method == "MLM") & (result.per_snp.gene == "ENSG02.1")]
    right = (mlm.genotype_accuracy * mlm.n_masked).sum() / mlm.n_masked.sum()
    assert by_gene.loc["ENSG02.1", "MLM"] == pytest.approx(right)
    assert by_gene.notna().all().all()
    figure = plot_rq1(result.table)
    assert len(figure.axes) == 3 and figure.legends and figure.get_size_inches()[0] <= 7.5
    off = run_rq1(tiny_model(2), cohort, GenotypeEvalConfig(edge_frame=4, max_samples=4, run_beagle=False),
                  device="cpu", progress=False)
    assert off.notes == ["Beagle not run (run_beagle = False)"]


def test_cli_rq1(tmp_path, capsys):
    cohort = founder_cohort(n_samples=20, genes={"ENSG01.1": 50}, test_fraction=0.5)
    rows = [{"split": cohort.samples.loc[s, "split"], "sample_id": s, "gene_id": "ENSG01.1", "seq": seq}
            for s, seq in zip(cohort.sample_ids, decode_haplotypes(cohort.haplotypes["ENSG01.1"]), strict=True)]
    write_dataset(tmp_path / "dataset.parquet", pd.DataFrame(rows))
    write_meta(tmp_path / "meta.csv.gz", cohort.meta)
    save_checkpoint(tmp_path / "ckpt", tiny_model(1), genes=["ENSG01.1"], data_fingerprint=None)
    code = cli.main(["rq1", "--checkpoint", str(tmp_path / "ckpt"), "--dataset", str(tmp_path / "dataset.parquet"),
                     "--out", str(tmp_path / "rq1"), "--max-samples", "6", "--no-beagle", "--edge-frame", "2",
                     "--device", "cpu"])
    out = capsys.readouterr().out
    assert code == 0 and "genotype_accuracy" in out and "most frequent genotype" in out
    assert load_rq1(tmp_path / "rq1").info["n_people"] == 6


@pytest.mark.skipif(beagle.beagle_command() is None, reason=beagle.NOT_FOUND)
def test_run_rq1_with_beagle_scores_the_same_genotypes(tmp_path):
    cohort = founder_cohort(n_samples=40, genes={"ENSG01.1": 50}, test_fraction=0.25)
    result = run_rq1(tiny_model(1), cohort, GenotypeEvalConfig(edge_frame=3, beagle_threads=1), out_dir=tmp_path,
                     device="cpu", progress=False)
    methods = list(result.table.index.get_level_values("method").unique())
    assert methods == ["MLM", "Beagle 5", "most frequent genotype"] and result.notes == []
    assert "Beagle 5 reaches genotype accuracy" in summary_text(result)
    counts = result.table.xs("all", level="maf_bin")["n_genotypes"]
    assert counts.nunique() == 1 and (tmp_path / "beagle" / "ENSG01.1.imputed.vcf.gz").exists()
