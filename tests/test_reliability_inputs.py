"""Bad inputs the module tests do not cover yet: each gives a clear InputError and leaves no partial output.

The other cases (truncated parquet, unknown letters, ragged strings, meta/dataset mismatch,
duplicate rows, unsorted or malformed VCFs, unphased calls, bad BED coordinates, missing
expression samples, foreign or truncated checkpoints, pickles) are tested next to their
readers; benchmarks/README.md lists where.
"""

import numpy as np
import pandas as pd
import pytest
import torch

from lmeqtl import cli
from lmeqtl.config import ModelConfig, TrainConfig
from lmeqtl.data.encoding import MISSING_ALLELE
from lmeqtl.data.formats import read_geuvadis_expression
from lmeqtl.data.io import dataset_writer, read_dataset
from lmeqtl.data.paths import DataPaths
from lmeqtl.data.prepare import prepare
from lmeqtl.data.vcf import read_snps, vcf_samples
from lmeqtl.errors import InputError
from lmeqtl.mlm.train import STATE_FILE, train_mlm
from tests.mlm_fixtures import founder_cohort

HEADER = "##fileformat=VCFv4.1\n##contig=<ID=6,length=100000>\n" \
         "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{samples}\n"
PANEL = "sample\tpop\tsuper_pop\tgender\nHG1\tGBR\tEUR\tmale\nNA2\tYRI\tAFR\tfemale\nHG3\tCEU\tEUR\tfemale\n"


def vcf_text(rows: list[str], samples: str = "HG1\tNA2\tHG3") -> str:
    """Rows 'pos ref alt gt1 gt2 gt3' -> a VCF with FORMAT GT."""
    lines = []
    for row in rows:
        pos, ref, alt, *calls = row.split()
        lines.append("\t".join(["6", pos, f"rs{pos}", ref, alt, "100", "PASS", ".", "GT", *calls]))
    return HEADER.format(samples=samples) + "\n".join(lines) + "\n"


def leftovers(directory):
    """Every file under ``directory`` (atomic-write temporaries included)."""
    return sorted(p.name for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


# ---------------------------------------------------------------------------------------
# readers
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("content", "message"), [
    (b"", "cannot read as parquet"),  # empty file
    (b"seq_name,seq\ntest:HG1:G1,RR\n", "cannot read as parquet"),  # a CSV named .parquet
])
def test_not_a_parquet_file(tmp_path, content, message):
    (tmp_path / "dataset.parquet").write_bytes(content)
    with pytest.raises(InputError, match=message) as error:
        read_dataset(tmp_path / "dataset.parquet")
    assert "dataset.parquet" in str(error.value)


def test_corrupt_parquet_bytes_are_refused(tmp_path):
    table = pd.DataFrame({"split": "train", "sample_id": [f"HG{i}" for i in range(40)], "gene_id": "G1",
                          "seq": ["RFMB" * 50] * 40})
    with dataset_writer(tmp_path / "good.parquet") as write:
        write(table)
    raw = bytearray((tmp_path / "good.parquet").read_bytes())
    raw[4:200] = bytes(b ^ 0xFF for b in raw[4:200])  # a damaged data page, intact header and footer
    (tmp_path / "bad.parquet").write_bytes(bytes(raw))
    with pytest.raises(InputError, match="cannot read as parquet"):
        read_dataset(tmp_path / "bad.parquet")


def test_parquet_without_the_seq_column(tmp_path):
    pd.DataFrame({"seq_name": ["test:HG1:G1"], "sequence": ["RR"]}).to_parquet(tmp_path / "d.parquet")
    with pytest.raises(InputError, match="missing column 'seq'"):
        read_dataset(tmp_path / "d.parquet")


def test_a_sample_named_twice_in_the_vcf_header_is_refused(tmp_path):
    """Before: the second column silently replaced the first one's genotypes."""
    path = tmp_path / "x.vcf"
    path.write_text(vcf_text(["10 A G 0|1 1|0 0|0"], samples="HG1\tNA2\tHG1"))
    with pytest.raises(InputError, match="sample 'HG1' appears twice"):
        read_snps(path, "6", 1, 100)
    with pytest.raises(InputError, match="appears twice"):
        vcf_samples(path)


def test_vcf_without_gt_is_refused_and_unphased_missing_calls_are_missing(tmp_path):
    path = tmp_path / "x.vcf"
    path.write_text(vcf_text(["10 A G 0|1 1|0 0|0"]).replace("\tGT\t", "\tDP\t"))
    with pytest.raises(InputError, match="record 6:10: FORMAT 'DP' .*GT as the first FORMAT field"):
        read_snps(path, "6", 1, 100)
    path.write_text(vcf_text(["10 A G ./. 0|1 1/1"]))  # ./. and an unphased homozygote: no phase needed
    block = read_snps(path, "6", 1, 100, min_af=0.0, max_af=1.0)
    assert block.haplotypes[0].tolist() == [[MISSING_ALLELE, MISSING_ALLELE], [0, 1], [1, 1]]


def test_expression_with_a_non_numeric_value_or_a_column_named_twice(tmp_path):
    header = "TargetID\tGene_Symbol\tChr\tCoord\tHG00096.1.M_1_1\tNA18486.1.M_1_2\n"
    (tmp_path / "words.txt").write_text(header + "ENSG1.1\tENSG1.1\t6\t100\t1.5\tabc\n")
    with pytest.raises(InputError, match="line 2, column NA18486.1.M_1_2: 'abc' is not valid"):
        read_geuvadis_expression(tmp_path / "words.txt")
    # pandas would rename the second column 'HG00096.1.M_1_1.1', a valid-looking library name
    twice = header.replace("NA18486.1.M_1_2", "HG00096.1.M_1_1")
    (tmp_path / "twice.txt").write_text(twice + "ENSG1.1\tENSG1.1\t6\t100\t1.5\t2.5\n")
    with pytest.raises(InputError, match="line 1 \\(header\\): column 'HG00096.1.M_1_1' appears twice"):
        read_geuvadis_expression(tmp_path / "twice.txt")


# ---------------------------------------------------------------------------------------
# writers: a bad input part-way leaves nothing behind, and never damages an earlier output
# ---------------------------------------------------------------------------------------


@pytest.fixture
def inputs(tmp_path):
    """Two genes on chr6 far apart (two VCF regions); the second region is unsorted."""
    (tmp_path / "vcf").mkdir()
    rows = ["100 A G 0|1 1|0 0|0", "150 C T 1|1 0|1 0|0", "200 G A 0|0 1|1 0|1",
            "50200 A G 0|1 1|0 0|0", "50100 C T 0|1 0|0 1|1"]
    (tmp_path / "vcf" / "chr6.vcf").write_text(vcf_text(rows))
    (tmp_path / "panel").write_text(PANEL)
    (tmp_path / "genes.tsv").write_text("gene_id\tchrom\ttss\nGENE_A.1\t6\t150\nGENE_B.1\t6\t50150\n")
    return DataPaths(out_dir=tmp_path / "out", vcf=str(tmp_path / "vcf" / "chr{chrom}.vcf"),
                     panel=tmp_path / "panel", genes=tmp_path / "genes.tsv")


def test_prepare_failing_on_the_second_gene_writes_nothing(inputs):
    with pytest.raises(InputError, match="not sorted"):
        prepare(inputs, window_bp=500, max_snps=3, min_af=0.0, max_af=1.0, progress=False)
    assert leftovers(inputs.out_dir) == []  # no dataset.parquet, meta, prepare.json or temporary file


def test_prepare_failing_with_force_keeps_the_earlier_output_intact(inputs):
    genes = inputs.genes.read_text()
    inputs.genes.write_text(genes.rsplit("GENE_B", 1)[0])  # first gene only: succeeds
    prepare(inputs, window_bp=500, max_snps=3, min_af=0.0, max_af=1.0, progress=False)
    before = {name: (inputs.out_dir / name).read_bytes() for name in leftovers(inputs.out_dir)}
    assert {"dataset.parquet", "meta.csv.gz", "prepare.json"} <= set(before)
    inputs.genes.write_text(genes)
    with pytest.raises(InputError, match="not sorted"):
        prepare(inputs, window_bp=500, max_snps=3, min_af=0.0, max_af=1.0, force=True, progress=False)
    assert {name: (inputs.out_dir / name).read_bytes() for name in leftovers(inputs.out_dir)} == before


def test_prepare_command_reports_the_error_on_stderr_and_exits_2(inputs, capsys):
    code = cli.main(["prepare", "--vcf", inputs.vcf, "--panel", str(inputs.panel), "--genes", str(inputs.genes),
                     "--out", str(inputs.out_dir), "--window-bp", "500", "--min-af", "0"])
    assert code == 2
    assert "lmeqtl prepare: " in capsys.readouterr().err
    assert leftovers(inputs.out_dir) == []


def test_dataset_writer_interrupted_part_way_leaves_no_file(tmp_path):
    part = pd.DataFrame({"split": "train", "sample_id": ["HG1", "HG2"], "gene_id": "G1", "seq": ["RF", "MB"]})
    with pytest.raises(RuntimeError), dataset_writer(tmp_path / "dataset.parquet") as write:
        write(part)
        raise RuntimeError("killed after the first gene")
    assert leftovers(tmp_path) == []


def test_train_on_a_bad_dataset_writes_no_run(tmp_path, capsys):
    table = pd.DataFrame({"split": "train", "sample_id": [f"HG{i}" for i in range(8)], "gene_id": "G1",
                          "seq": ["RFMB" * 20] * 7 + ["RFMX" * 20]})
    with dataset_writer(tmp_path / "dataset.parquet") as write:
        write(table)
    meta = pd.DataFrame({"chrom": "6", "pos": np.arange(80) + 1, "id": [f"rs{i}" for i in range(80)], "ref": "A",
                         "alt": "G", "AF": 0.5, "initial_counts": 80, "GENE_ID": "G1", "seq_idx": np.arange(80)})
    meta.to_csv(tmp_path / "meta.csv.gz", index=False)
    assert cli.main(["train", "--dataset", str(tmp_path / "dataset.parquet"), "--output_dir", str(tmp_path / "run"),
                     "--preset", "smoke", "--quiet"]) == 2
    assert "row 7, position 3: unknown genotype letter 'X'" in capsys.readouterr().err
    assert leftovers(tmp_path / "run") == []


@pytest.mark.parametrize("damage", ["truncated", "weights only"])
def test_a_damaged_training_state_is_refused_on_resume_by_name(tmp_path, damage):
    """Before: a truncated ``train_state.pt`` surfaced torch's own zip error, not the file and the way out."""
    cohort = founder_cohort(n_samples=8, genes={"ENSG01.1": 24})
    config = TrainConfig(epochs=1, batch_size=8, warmup_steps=1, edge_frame=2, n_folds=2, crop_length=16)
    model = ModelConfig(d_model=8, n_layers=1, n_resnet_blocks=1, d_state=4, dropout=0.0)
    train_mlm(cohort, model, config, tmp_path, "cpu", progress=False)
    state = tmp_path / STATE_FILE
    if damage == "truncated":
        state.write_bytes(state.read_bytes()[:1000])
        message = "train_state.pt.*truncated or not a torch file.*--no-resume"
    else:  # a model state dict where the training state belongs
        torch.save(torch.load(tmp_path / "checkpoint" / "model.pt", weights_only=True), state)
        message = "train_state.pt.*not a training state: it lacks \\['epoch', 'history'"
    with pytest.raises(InputError, match=message):
        train_mlm(cohort, model, config, tmp_path, "cpu", progress=False)
