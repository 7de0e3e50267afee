"""lmeqtl prepare: the crop rule, a hand-made VCF end to end, and the real top10 windows."""

import json

import numpy as np
import pandas as pd
import pytest

from lmeqtl import cli
from lmeqtl.data.cohort import load_cohort
from lmeqtl.data.formats import write_eqtl_table, write_geuvadis_expression
from lmeqtl.data.io import read_dataset, read_meta
from lmeqtl.data.paths import DataPaths
from lmeqtl.data.prepare import genes_from_geuvadis, prepare, select_window
from lmeqtl.errors import InputError
from lmeqtl.simulate.top10 import (
    filler_counts,
    real_top10_meta,
    top10_genes,
    top10_targets,
    tss_interval,
)


@pytest.mark.parametrize(("tss", "expected", "n_window"), [
    (55, [30, 40, 50, 60, 70, 80], 10),  # centred: 3 before the TSS, 3 from it on
    (50, [20, 30, 40, 50, 60, 70], 10),  # a SNP at the TSS counts as "from the TSS on"
    (12, [10, 20, 30, 40, 50, 60], 7),  # 1 SNP before the TSS: shifted right
    (98, [50, 60, 70, 80, 90, 100], 7),  # 1 SNP from the TSS on: shifted left
])
def test_select_window(tss, expected, n_window):
    positions = np.arange(10, 101, 10)
    kept, n = select_window(positions, tss, window_bp=60, max_snps=6)
    assert positions[kept].tolist() == expected and n == n_window


def test_select_window_keeps_all_when_few():
    kept, n = select_window(np.array([5, 7]), 6, window_bp=10, max_snps=6)
    assert kept.tolist() == [0, 1] and n == 2
    kept, n = select_window(np.array([5, 7]), 600, window_bp=10, max_snps=6)
    assert len(kept) == 0 and n == 0


VCF = """##fileformat=VCFv4.1
##contig=<ID=6,length=100000>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tHG1\tNA2\tHG3\tNA4
6\t100\trs1\tA\tG\t100\tPASS\t.\tGT\t0|1\t0|0\t0|0\t0|0
6\t150\trs2\tC\tT\t100\tPASS\t.\tGT\t0|0\t0|0\t0|0\t0|0
6\t200\t.\tG\tA\t100\tPASS\t.\tGT\t1|1\t1|0\t0|1\t0|0
6\t250\trs3\tA\tC,T\t100\tPASS\t.\tGT\t1|2\t1|0\t0|1\t0|0
6\t300\trs4\tT\tC\t100\tPASS\t.\tGT\t0|0\t0|1\t1|1\t.|.
6\t400\trs5\tT\tG\t100\tPASS\t.\tGT\t1|1\t1|1\t1|1\t1|0
6\t500\trs6\tC\tA\t100\tPASS\t.\tGT\t1|0\t0|0\t0|0\t0|1
"""
PANEL = "sample\tpop\tsuper_pop\tgender\nHG1\tGBR\tEUR\tmale\nNA2\tYRI\tAFR\tfemale\nHG3\tCEU\tEUR\tfemale\n" \
        "NA4\tCHB\tEAS\tmale\n"


@pytest.fixture
def tiny_inputs(tmp_path):
    (tmp_path / "vcf").mkdir()
    (tmp_path / "vcf" / "chr6.vcf").write_text(VCF)
    (tmp_path / "panel").write_text(PANEL)
    (tmp_path / "genes.tsv").write_text("gene_id\tchrom\ttss\nGENE_B.1\t6\t420\nGENE_A.1\tchr6\t210\n")
    return DataPaths(out_dir=tmp_path / "out", vcf=str(tmp_path / "vcf" / "chr{chrom}.vcf"),
                     panel=tmp_path / "panel", genes=tmp_path / "genes.tsv")


def test_prepare_matches_a_hand_made_vcf(tiny_inputs):
    record = prepare(tiny_inputs, window_bp=150, max_snps=2, min_af=0.2, max_af=0.8, progress=False)
    meta = read_meta(tiny_inputs.meta)
    # passing SNPs: 200 (AF 4/8), 300 (AF 3/6: one missing call), 500 (AF 2/8); 100 (1/8) fails,
    # 150 is monomorphic, 250 multi-allelic, 400 has AF 7/8.
    assert meta["GENE_ID"].tolist() == ["GENE_B.1"] * 2 + ["GENE_A.1"] * 2  # genes.tsv order
    assert meta["pos"].tolist() == [300, 500, 200, 300]
    assert meta["id"].tolist() == ["rs4", "rs6", "snp_6_200", "rs4"]
    assert meta["initial_counts"].tolist() == [2, 2, 2, 2]
    assert meta["seq_idx"].tolist() == [0, 1, 0, 1]
    np.testing.assert_allclose(meta["AF"], [0.5, 0.25, 0.5, 0.5])
    table = read_dataset(tiny_inputs.dataset)
    got = {(r.sample_id, r.gene_id): (r.split, r.seq) for r in table.itertuples()}
    assert got[("HG1", "GENE_A.1")] == ("test", "BR")
    assert got[("NA2", "GENE_A.1")] == ("train", "FM")
    assert got[("HG3", "GENE_B.1")] == ("test", "BR")
    assert got[("NA4", "GENE_B.1")] == ("train", "NM")
    assert record["n_test"] == 2 and record["skipped_vcf_rows"]["6:60-570"]["multi_allelic"] == 1
    cohort = load_cohort(tiny_inputs.dataset, tiny_inputs.meta, panel=tiny_inputs.panel)
    assert cohort.samples.loc["NA4", "super_pop"] == "EAS"
    with pytest.raises(FileExistsError):
        prepare(tiny_inputs, window_bp=150, max_snps=2, min_af=0.2, max_af=0.8, progress=False)


def test_prepare_refuses_samples_missing_from_the_panel(tiny_inputs):
    tiny_inputs.panel.write_text(PANEL.rsplit("NA4", 1)[0])
    with pytest.raises(InputError, match=r"VCF samples \['NA4'\] are not in the panel"):
        prepare(tiny_inputs, progress=False)


def test_prepare_command_with_a_json_config(tiny_inputs, tmp_path, capsys):
    spec = {"vcf": "vcf/chr{chrom}.vcf", "panel": "panel", "genes": "genes.tsv", "out_dir": "from_json"}
    (tmp_path / "real.json").write_text(json.dumps(spec))
    assert cli.main(["prepare", "--config", str(tmp_path / "real.json"), "--window-bp", "150",
                     "--max-snps", "2", "--min-af", "0.2", "--test-super-pops", "EUR", "EAS"]) == 0
    assert "4 samples (3 test)" in capsys.readouterr().out
    assert read_meta(tmp_path / "from_json" / "meta.csv.gz")["pos"].tolist() == [300, 500, 200, 300]
    assert cli.main(["prepare", "--config", str(tmp_path / "real.json")]) == 2  # exists: needs --force


def test_genes_ranked_by_strong_geuvadis_eqtls(tmp_path):
    eqtl = pd.DataFrame({"SNP_ID": ["rs1", "rs2", "rs3", "rs4"], "ID": "-", "GENE_ID": ["G1", "G2", "G2", "G3"],
                         "PROBE_ID": ["G1", "G2", "G2", "G3"], "CHR_SNP": "6", "CHR_GENE": "6",
                         "SNPpos": [1, 2, 3, 4], "TSSpos": [10, 20, 20, 30], "distance": [9, 18, 17, 26],
                         "rvalue": 0.5, "pvalue": [1e-13, 1e-20, 1e-15, 1e-3], "log10pvalue": [13.0, 20.0, 15.0, 3.0]})
    write_eqtl_table(tmp_path / "e.txt.gz", eqtl)
    expression = pd.DataFrame({"Gene_Symbol": ["G2"], "Chr": ["6"], "Coord": [25], "HG1.1.M_1_1": [1.0]},
                              index=pd.Index(["G2"], name="TargetID"))
    write_geuvadis_expression(tmp_path / "x.txt.gz", expression)
    genes = genes_from_geuvadis(tmp_path / "x.txt.gz", tmp_path / "e.txt.gz", top_n=2)
    assert genes["gene_id"].tolist() == ["G2", "G1"] and genes["tss"].tolist() == [25, 10]


def test_real_top10_windows_are_reproduced_by_the_filler_layout():
    """Real SNPs + fillers, cropped by the prepare rule, give the ten real lists and initial_counts."""
    meta, genes = real_top10_meta(), top10_genes()
    targets = top10_targets(rng=np.random.default_rng(7))
    for gene in genes.itertuples():
        real = meta[meta["GENE_ID"] == gene.gene_id]
        union = np.sort(meta.loc[meta["chrom"] == gene.chrom, "pos"].unique())
        _, lo, hi = tss_interval(real["pos"].to_numpy(), union, 1_000_000, 5000)
        assert lo <= gene.tss <= hi
        table = targets[gene.chrom]
        kept, n_window = select_window(table["pos"].to_numpy(), gene.tss, 1_000_000, 5000)
        assert n_window == real["initial_counts"].iloc[0]
        assert table["pos"].to_numpy()[kept].tolist() == real["pos"].tolist()
        assert table["id"].to_numpy()[kept].tolist() == real["id"].tolist()
        assert table["ref"].to_numpy()[kept].tolist() == real["ref"].tolist()
    hla = filler_counts(genes[genes.chrom == "6"], meta[meta.chrom == "6"], 1_000_000, 5000)
    density = (hla["end"] - hla["start"]) / hla["n_fillers"].clip(lower=1)
    assert hla["n_fillers"].sum() > 8000 and density.median() < 400  # ~1 filler per 200 bp, no big holes
