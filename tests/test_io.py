import os

import numpy as np
import pandas as pd
import pytest

from lmeqtl.data.cohort import load_cohort
from lmeqtl.data.io import atomic_path, read_dataset, read_meta, write_dataset, write_meta
from lmeqtl.errors import InputError


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.csv.gz"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_suffixes(tmp_path):
    with atomic_path(tmp_path / "x.vcf.gz") as tmp:
        assert tmp.name.endswith(".vcf.gz")
        tmp.write_text("ok")
    assert (tmp_path / "x.vcf.gz").read_text() == "ok"


def test_atomic_path_gives_the_permissions_of_the_umask_at_write_time(tmp_path):
    before = os.umask(0o027)  # set after lmeqtl.data.io was imported: still obeyed
    try:
        with atomic_path(tmp_path / "x.txt") as tmp:
            tmp.write_text("x")
        assert os.umask(0o027) == 0o027  # writing left the umask as it was
    finally:
        os.umask(before)
    assert (tmp_path / "x.txt").stat().st_mode & 0o777 == 0o640


def test_dataset_round_trip(tiny_files):
    dataset, _, _, samples = tiny_files
    table = read_dataset(dataset)
    assert list(table.columns) == ["split", "sample_id", "gene_id", "seq"]
    assert set(table.sample_id) == set(samples)
    write_dataset(dataset.with_name("again.parquet"), table)
    pd.testing.assert_frame_equal(read_dataset(dataset.with_name("again.parquet")), table)


def test_dataset_with_seq_name_index_is_accepted(tmp_path):
    frame = pd.DataFrame({"seq": ["RFMB"]}, index=pd.Index(["test:HG1:G1"], name="seq_name"))
    frame.to_parquet(tmp_path / "d.parquet")
    assert read_dataset(tmp_path / "d.parquet").iloc[0].to_dict() == {
        "split": "test", "sample_id": "HG1", "gene_id": "G1", "seq": "RFMB"}


@pytest.mark.parametrize(("seq_names", "message"), [
    (["test:HG1"], "not split:sample_id:gene_id"),
    (["valid:HG1:G1"], "unknown split 'valid'"),
    (["test:HG1:G1", "train:HG1:G1"], "appears twice"),
])
def test_bad_seq_names(tmp_path, seq_names, message):
    pd.DataFrame({"seq_name": seq_names, "seq": "R" * len(seq_names[0])}).to_parquet(tmp_path / "d.parquet")
    with pytest.raises(InputError, match=message):
        read_dataset(tmp_path / "d.parquet")


def test_truncated_parquet_is_refused(tiny_files, tmp_path):
    dataset = tiny_files[0]
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(dataset.read_bytes()[:100])
    with pytest.raises(InputError, match="cannot read as parquet"):
        read_dataset(broken)


def test_meta_seq_idx_must_count_within_gene(tiny_files, tmp_path):
    meta = read_meta(tiny_files[1])
    meta.loc[3, "seq_idx"] = 9
    write_meta(tmp_path / "m.csv.gz", meta)
    with pytest.raises(InputError, match=r"row 5, column seq_idx"):
        read_meta(tmp_path / "m.csv.gz")


def test_meta_missing_column(tmp_path):
    pd.DataFrame({"chrom": [1]}).to_csv(tmp_path / "m.csv.gz", index=False)
    with pytest.raises(InputError, match="missing columns"):
        read_meta(tmp_path / "m.csv.gz")


def test_load_cohort_matches_written_haplotypes(tiny_files):
    dataset, meta, haplotypes, samples = tiny_files
    cohort = load_cohort(dataset, meta)
    assert cohort.genes == list(haplotypes)
    for gene, h in haplotypes.items():
        order = [samples.index(s) for s in cohort.sample_ids]
        np.testing.assert_array_equal(cohort.haplotypes[gene], h[order])
    assert cohort.split_mask("test").sum() == 2
    sub = cohort.subset(cohort.sample_ids[:2][::-1])
    np.testing.assert_array_equal(sub.haplotypes["ENSG02.1"][0], cohort.haplotypes["ENSG02.1"][1])


def test_cohort_refuses_length_mismatch(tiny_files, tmp_path):
    dataset, meta_path, _, _ = tiny_files
    meta = read_meta(meta_path)
    write_meta(tmp_path / "short.csv.gz", meta[meta.seq_idx < 6].reset_index(drop=True))
    with pytest.raises(InputError, match="7 letters but meta lists 6 SNPs"):
        load_cohort(dataset, tmp_path / "short.csv.gz")


def test_cohort_refuses_gene_missing_from_meta(tiny_files, tmp_path):
    dataset, meta_path, _, _ = tiny_files
    meta = read_meta(meta_path)
    write_meta(tmp_path / "one.csv.gz", meta[meta.GENE_ID == "ENSG01.1"])
    with pytest.raises(InputError, match="not in the meta table"):
        load_cohort(dataset, tmp_path / "one.csv.gz")
