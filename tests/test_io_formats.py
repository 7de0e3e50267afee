"""Readers and writers of the published formats (lmeqtl.data.formats), the simulation's truth (lmeqtl.data.truth)
and the data directory (lmeqtl.data.io)."""

import json

import numpy as np
import pandas as pd
import pytest

from lmeqtl.data.formats import (
    EQTL_COLUMNS,
    library_samples,
    read_eqtl_table,
    read_genes,
    read_geuvadis_expression,
    read_panel,
    write_eqtl_table,
    write_genes,
    write_geuvadis_expression,
    write_panel,
)
from lmeqtl.data.io import sha256_file, write_meta
from lmeqtl.data.paths import DataPaths, write_manifest
from lmeqtl.data.truth import Truth, read_truth, write_truth
from lmeqtl.errors import InputError


def test_panel_round_trip_and_real_header_quirk(tmp_path):
    # the real 1000 Genomes panel's header ends in two empty columns
    path = tmp_path / "panel"
    path.write_text("sample\tpop\tsuper_pop\tgender\t\t\nHG00096\tGBR\tEUR\tmale\nNA18486\tYRI\tAFR\tmale\n")
    panel = read_panel(path)
    assert list(panel.columns) == ["sample", "pop", "super_pop", "gender"]
    assert panel["super_pop"].tolist() == ["EUR", "AFR"]
    write_panel(tmp_path / "again", panel)
    pd.testing.assert_frame_equal(read_panel(tmp_path / "again"), panel)


@pytest.mark.parametrize(("text", "message"), [
    ("sample\tpop\tgender\nHG1\tGBR\tmale\n", "missing columns \\['super_pop'\\]"),
    ("sample\tpop\tsuper_pop\tgender\nHG1\tGBR\tEUR\tmale\nHG1\tGBR\tEUR\tmale\n", "line 3, column sample"),
    ("sample\tpop\tsuper_pop\tgender\nHG1\t\tEUR\tmale\n", "line 2, column pop"),
])
def test_bad_panels(tmp_path, text, message):
    (tmp_path / "p").write_text(text)
    with pytest.raises(InputError, match=message):
        read_panel(tmp_path / "p")


def test_genes_round_trip_normalises_chrom(tmp_path):
    (tmp_path / "g.tsv").write_text("gene_id\tchrom\ttss\nG1\tchr6\t100\nG2\t17\t200\n")
    genes = read_genes(tmp_path / "g.tsv")
    assert genes["chrom"].tolist() == ["6", "17"] and genes["tss"].tolist() == [100, 200]
    write_genes(tmp_path / "again.tsv", genes)
    pd.testing.assert_frame_equal(read_genes(tmp_path / "again.tsv"), genes)
    (tmp_path / "bad.tsv").write_text("gene_id\tchrom\ttss\nG1\t6\t100\nG2\t6\t1.5e\n")
    with pytest.raises(InputError, match="line 3, column tss"):
        read_genes(tmp_path / "bad.tsv")


def _expression():
    table = pd.DataFrame({"Gene_Symbol": ["ENSG1.1", "ENSG2.3"], "Chr": ["6", "17"], "Coord": [100, 2000],
                          "HG00096.1.M_111124_6": [1.5, 0.25], "HG00096.2.M_120110_1": [1.25, 0.5],
                          "NA18486.1.M_111215_2": [300.0, 0.125]},
                         index=pd.Index(["ENSG1.1", "ENSG2.3"], name="TargetID"))
    return table


def test_geuvadis_expression_round_trip(tmp_path):
    write_geuvadis_expression(tmp_path / "GD660.txt.gz", _expression())
    table = read_geuvadis_expression(tmp_path / "GD660.txt.gz")
    pd.testing.assert_frame_equal(table, _expression(), check_dtype=False)
    assert library_samples(table.columns[3:]) == ["HG00096", "HG00096", "NA18486"]


@pytest.mark.parametrize(("change", "message"), [
    (lambda t: t.rename(columns={"HG00096.1.M_111124_6": "HG00096"}), "not a library name"),
    (lambda t: t.assign(**{"NA18486.1.M_111215_2": [-1.0, 0.0]}), "line 2, column NA18486.1.M_111215_2"),
    (lambda t: t.drop(columns="Coord"), "missing columns \\['Coord'\\]"),
])
def test_bad_expression_tables(tmp_path, change, message):
    write_geuvadis_expression(tmp_path / "x.txt.gz", change(_expression()))
    with pytest.raises(InputError, match=message):
        read_geuvadis_expression(tmp_path / "x.txt.gz")


def _eqtls():
    return pd.DataFrame({"SNP_ID": ["rs1", "snp_6_150"], "ID": ["-", "-"], "GENE_ID": ["G1", "G1"],
                         "PROBE_ID": ["G1", "G1"], "CHR_SNP": ["6", "6"], "CHR_GENE": ["6", "6"],
                         "SNPpos": [120, 150], "TSSpos": [100, 100], "distance": [20, 50],
                         "rvalue": [-0.5, 0.25], "pvalue": [1e-30, 2e-3], "log10pvalue": [30.0, -np.log10(2e-3)]})


def test_eqtl_table_round_trip_and_checks(tmp_path):
    write_eqtl_table(tmp_path / "e.txt.gz", _eqtls())
    table = read_eqtl_table(tmp_path / "e.txt.gz")
    assert list(table.columns) == list(EQTL_COLUMNS)
    pd.testing.assert_frame_equal(table, _eqtls(), check_dtype=False)
    write_eqtl_table(tmp_path / "bad.txt.gz", _eqtls().assign(rvalue=[0.5, 1.5]))
    with pytest.raises(InputError, match="line 3, column rvalue"):
        read_eqtl_table(tmp_path / "bad.txt.gz")


def test_truth_round_trip(tmp_path):
    truth = Truth(pd.DataFrame({"gene_id": ["G1"], "h2": [0.3]}), pd.DataFrame({"gene_id": ["G1"], "pos": [5]}),
                  pd.DataFrame({"mark": ["H3K27ac"], "realised_fold": [2.0]}), {"n_people": 3})
    write_truth(tmp_path / "truth", truth)
    again = read_truth(tmp_path / "truth")
    pd.testing.assert_frame_equal(again.genes, truth.genes)
    assert again.summary == {"n_people": 3}
    with pytest.raises(InputError, match="file not found"):
        read_truth(tmp_path)


def test_meta_gzip_is_byte_reproducible(tmp_path):
    meta = pd.DataFrame({"chrom": "6", "pos": [10, 20], "id": ["rs1", "rs2"], "ref": "A", "alt": "G",
                         "AF": [0.1, 0.5], "initial_counts": 2, "GENE_ID": "G1.1", "seq_idx": [0, 1]})
    write_meta(tmp_path / "a.csv.gz", meta)
    write_meta(tmp_path / "b.csv.gz", meta)
    assert (tmp_path / "a.csv.gz").read_bytes() == (tmp_path / "b.csv.gz").read_bytes()
    assert (tmp_path / "a.csv.gz").read_bytes()[4:8] == b"\0\0\0\0"  # no timestamp


def test_manifest_hashes_every_file(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "x.txt").write_text("x")
    manifest = write_manifest(tmp_path, seed=3)
    assert manifest["seed"] == 3
    assert manifest["files"] == {"sub/x.txt": sha256_file(tmp_path / "sub" / "x.txt")}
    assert json.loads((tmp_path / "manifest.json").read_text())["files"] == manifest["files"]


def test_data_paths_from_dir_and_json(tmp_path):
    (tmp_path / "peaks").mkdir()
    (tmp_path / "peaks" / "GM12878_H3K27ac.narrowPeak.gz").write_bytes(b"")
    paths = DataPaths.from_dir(tmp_path)
    assert paths.vcf_for("chr6") == tmp_path / "vcf" / "chr6.vcf.gz"
    assert paths.peaks == {"H3K27ac": tmp_path / "peaks" / "GM12878_H3K27ac.narrowPeak.gz"}
    assert paths.dataset == tmp_path / "dataset.parquet"
    spec = {"vcf": "1kg/ALL.chr{chrom}.phase3.vcf.gz", "panel": "1kg/panel", "out_dir": "out",
            "expression": "/abs/GD660.txt.gz", "peaks": {"H3K4me3": "encode/ENCFF001.bed.gz"}, "top_n_genes": 10}
    (tmp_path / "real.json").write_text(json.dumps(spec))
    real = DataPaths.from_json(tmp_path / "real.json")
    assert real.vcf_for(17) == tmp_path / "1kg" / "ALL.chr17.phase3.vcf.gz"
    assert real.expression == tmp_path / "/abs/GD660.txt.gz" and str(real.expression) == "/abs/GD660.txt.gz"
    assert real.genes is None and real.top_n_genes == 10
    assert real.peaks["H3K4me3"] == tmp_path / "encode" / "ENCFF001.bed.gz"


@pytest.mark.parametrize(("spec", "message"), [
    ({"vcf": "a{chrom}", "panel": "p"}, "missing keys \\['out_dir'\\]"),
    ({"vcf": "a.vcf.gz", "panel": "p", "out_dir": "o"}, "has no \\{chrom\\}"),
    ({"vcf": "a{chrom}", "panel": "p", "out_dir": "o", "colour": 1}, "unknown keys"),
    ({"vcf": "a{chrom}", "panel": "p", "out_dir": "o", "peaks": {"H3K99": "x"}}, "unknown marks"),
])
def test_bad_data_path_json(tmp_path, spec, message):
    (tmp_path / "c.json").write_text(json.dumps(spec))
    with pytest.raises(InputError, match=message):
        DataPaths.from_json(tmp_path / "c.json")
