"""Shared fixtures: tiny cohorts written in the real file formats."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmeqtl.data.encoding import decode_haplotypes
from lmeqtl.data.io import write_dataset, write_meta


def make_meta(genes: dict[str, int], chrom: str = "6", seed: int = 0) -> pd.DataFrame:
    """A meta table with ``n`` SNPs per gene, positions increasing, AFs in [0.03, 0.97]."""
    rng = np.random.default_rng(seed)
    frames = []
    for gene, n in genes.items():
        pos = np.sort(rng.choice(np.arange(1_000_000, 1_200_000), size=n, replace=False))
        frames.append(pd.DataFrame({
            "chrom": chrom, "pos": pos, "id": [f"rs{gene[-1]}{i}" for i in range(n)],
            "ref": "A", "alt": "G", "AF": rng.uniform(0.03, 0.97, n).round(4),
            "initial_counts": n * 3, "GENE_ID": gene, "seq_idx": np.arange(n),
        }))
    return pd.concat(frames, ignore_index=True)


@pytest.fixture
def one_torch_thread():
    """Run a test on one torch thread (tiny models: reproducible timings, no oversubscription)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny_files(tmp_path):
    """dataset.parquet + meta.csv.gz for 6 samples x 2 genes, with the haplotypes used."""
    rng = np.random.default_rng(1)
    genes = {"ENSG01.1": 7, "ENSG02.1": 4}
    samples = [f"HG{i:05d}" for i in range(6)]
    splits = ["train"] * 4 + ["test"] * 2
    meta = make_meta(genes)
    haplotypes = {g: rng.integers(0, 2, size=(len(samples), 2, n), dtype=np.uint8) for g, n in genes.items()}
    rows = []
    for gene, h in haplotypes.items():
        for sample, split, seq in zip(samples, splits, decode_haplotypes(h), strict=True):
            rows.append({"split": split, "sample_id": sample, "gene_id": gene, "seq": seq})
    write_dataset(tmp_path / "dataset.parquet", pd.DataFrame(rows))
    write_meta(tmp_path / "meta.csv.gz", meta)
    return tmp_path / "dataset.parquet", tmp_path / "meta.csv.gz", haplotypes, samples


def _kernel_spec(root) -> str:
    """Write a kernel spec 'lmeqtl-test' (this Python) under ``root``/kernels; JUPYTER_PATH=root finds it."""
    import json
    import sys

    spec = root / "kernels" / "lmeqtl-test"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "lmeqtl test", "language": "python"}))
    return "lmeqtl-test"


@pytest.fixture
def jupyter_kernel(tmp_path_factory, monkeypatch) -> str:
    """A Jupyter kernel 'lmeqtl-test' that runs this Python, so notebook tests need no `make env`."""
    root = tmp_path_factory.mktemp("jupyter")
    monkeypatch.setenv("JUPYTER_PATH", str(root))
    return _kernel_spec(root)


@pytest.fixture(scope="session")
def smoke_book(tmp_path_factory):
    """`lmeqtl book --preset smoke`, built once per session: (exit code, book dir with _build/html).

    Shared by the build test (tests/test_book.py) and the reader's page audit (tests/test_book_pages.py).
    """
    from lmeqtl import cli

    root = tmp_path_factory.mktemp("smoke_book")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(root / "jupyter"))
        kernel = _kernel_spec(root / "jupyter")
        code = cli.main(["book", "--preset", "smoke", "--run-dir", str(root / "run"),
                         "--book-dir", str(root / "book"), "--kernel", kernel])
    return code, root / "book"
