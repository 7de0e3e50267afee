"""Readers and writers of the project's file formats, with validation and atomic writes.

Every writer goes through :func:`atomic_path`: the file appears under its final name
only once it is complete, so a crash never leaves half a file behind. Every reader
checks columns and values and raises :class:`~lmeqtl.errors.InputError` naming the
file, the row or column, and what was expected.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lmeqtl.errors import InputError

SPLITS = ("train", "test")
META_COLUMNS = ("chrom", "pos", "id", "ref", "alt", "AF", "initial_counts", "GENE_ID", "seq_idx")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success.

    The temporary name keeps the final suffixes (``x.tmp123.vcf.gz``) so that tools
    which infer the format from the name (pysam, pandas) behave the same.
    """
    path = Path(path)
    ensure_output_dir(path.parent)
    suffix = "".join(path.suffixes)
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=f".tmp{suffix}", dir=path.parent)
    except OSError as err:  # the error would name the temporary file, which the user never asked for
        raise InputError(f"cannot write {path.name} here ({err.strerror})", path=path.parent,
                         expected="a writable output directory") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def as_json(value: Any) -> Any:
    """``value`` as it reads back from a JSON file (tuples become lists): compare settings with a record."""
    return json.loads(json.dumps(value))


def chrom_name(chrom: object) -> str:
    """``chr6``, ``Chr6``, ``CHR6``, `` 6 `` -> ``6``: the 1000 Genomes convention, one rule for every reader."""
    text = str(chrom).strip()
    return text[3:] if text[:3].lower() == "chr" else text


def ensure_output_dir(directory: str | os.PathLike[str], create: bool = True) -> Path:
    """Create the output directory ``directory`` (and its parents) or say why it cannot be one.

    Refuses a path that is a file (or has a file among its parents) and a directory that is
    not writable, naming the directory. ``create=False`` only checks (a command checks its
    output directory before any work, and creates it when it first writes).
    """
    directory = Path(directory)
    existing = next((p for p in [directory, *directory.parents] if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise InputError("is a file, not a directory", path=existing,
                         expected="an output directory (or a path where one can be created)")
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        message = ("the output directory is not writable" if existing == directory
                   else f"not writable, so the output directory {directory} cannot be created there")
        raise InputError(message, path=existing, expected="a directory the user may write to")
    if create:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise InputError(f"cannot create the output directory ({err.strerror})", path=directory,
                             expected="a path where the user may create a directory") from None
    return directory


# Characters an id may not hold when it names a file or directory (gene and sample ids do).
_UNSAFE_ID_CHARACTERS = ("/", "\\", "\0")


def unsafe_id(name: str) -> str | None:
    """Why ``name`` cannot be a path component (``..``, a slash, a NUL, empty), or None if it can."""
    if name in ("", ".", ".."):
        return f"{name!r} is not a file name"
    bad = next((c for c in _UNSAFE_ID_CHARACTERS if c in name), None)
    return None if bad is None else f"{name!r} holds {bad!r}"


def check_ids(names, what: str, path: str | os.PathLike[str] | None = None,  # noqa: ANN001 - iterable of str
              where: str | None = None) -> None:
    """Refuse ids that would write outside an output directory when used as a file name.

    Gene ids name ``units/<gene>/`` (fine-tuning) and ``<gene>.npz`` (embeddings); an id such as
    ``../../x`` must be refused where it is read, not discovered where it is written.
    """
    for name in dict.fromkeys(str(n) for n in names):
        reason = unsafe_id(name)
        if reason is not None:
            raise InputError(f"{what} {reason}", path=path, where=where,
                             expected=f"{what}s without '/', '\\', NUL, and not '.' or '..' (they name files)")


def _umask() -> int:
    """The process umask now (there is no getter: set one and put the old one straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file, with the file named in the error when it is not valid JSON."""
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON: {err.msg}", path=path, where=f"line {err.lineno}") from None
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None


def write_gzip_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` gzip-compressed, atomically and byte-reproducibly.

    The gzip header carries neither a timestamp nor a file name (``mtime=0``, empty
    name), so the same text always gives the same bytes — the data fingerprint in
    ``manifest.json`` depends on it.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            gz.write(text.encode())


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks (checkpoints, manifests, provenance)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------
# dataset.parquet: one row per (sample, gene); seq_name = "split:sample_id:gene_id"
# --------------------------------------------------------------------------------------


def _dataset_arrow(table: pd.DataFrame) -> pa.Table:
    missing = {"split", "sample_id", "gene_id", "seq"} - set(table.columns)
    if missing:
        raise ValueError(f"genotype table lacks columns {sorted(missing)}")
    seq_name = table["split"].astype(str) + ":" + table["sample_id"].astype(str) + ":" + table["gene_id"].astype(str)
    return pa.table({"seq_name": pa.array(seq_name.to_numpy(dtype=object), pa.string()),
                     "seq": pa.array(table["seq"].to_numpy(dtype=object), pa.string())})


def write_dataset(path: str | os.PathLike[str], table: pd.DataFrame) -> None:
    """Write a genotype table (columns ``split, sample_id, gene_id, seq``) as ``dataset.parquet``.

    The file has the original's two columns, ``seq_name`` and ``seq``.
    """
    with dataset_writer(path) as write:
        write(table)


@contextlib.contextmanager
def dataset_writer(path: str | os.PathLike[str]) -> Iterator[Any]:
    """Write ``dataset.parquet`` in parts, atomically: ``write(table)`` adds one row group.

    Lets ``prepare`` hold one gene's genotype strings at a time (top100: 100 genes).
    """
    schema = pa.schema([("seq_name", pa.string()), ("seq", pa.string())])
    with atomic_path(path) as tmp:
        writer = pq.ParquetWriter(tmp, schema, compression="zstd")
        try:
            yield lambda table: writer.write_table(_dataset_arrow(table))
        finally:
            writer.close()


def read_dataset(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ``dataset.parquet`` into columns ``split, sample_id, gene_id, seq``.

    Accepts ``seq_name`` as a column or as the stored pandas index (the original's layout).
    """
    try:
        frame = pq.read_table(path).to_pandas()
    except (pa.ArrowInvalid, OSError) as err:
        raise InputError(f"cannot read as parquet ({err})", path=path) from None
    if "seq_name" not in frame.columns:
        if frame.index.name == "seq_name" or (frame.index.dtype == object and "seq" in frame.columns):
            frame = frame.reset_index().rename(columns={frame.index.name or "index": "seq_name"})
    for column in ("seq_name", "seq"):
        if column not in frame.columns:
            raise InputError(f"missing column {column!r}", path=path, expected="columns seq_name and seq")
    names = frame["seq_name"].astype(str)
    parts = names.str.split(":", n=2, expand=True)
    if parts.shape[1] != 3 or parts.isna().any().any():
        bad = int(np.flatnonzero(names.str.count(":") != 2)[0])
        raise InputError(
            f"seq_name {names.iloc[bad]!r} is not split:sample_id:gene_id",
            path=path, where=f"row {bad}, column seq_name", expected="e.g. 'test:HG00096:ENSG00000176681.9'",
        )
    bad_split = ~parts[0].isin(SPLITS)
    if bad_split.any():
        bad = int(np.flatnonzero(bad_split)[0])
        raise InputError(
            f"unknown split {parts[0].iloc[bad]!r}", path=path, where=f"row {bad}, column seq_name",
            expected=" or ".join(SPLITS),
        )
    out = pd.DataFrame({"split": parts[0], "sample_id": parts[1], "gene_id": parts[2],
                        "seq": frame["seq"].astype(str)})
    check_ids(out["gene_id"].unique(), "gene id", path=path, where="column seq_name")
    check_ids(out["sample_id"].unique(), "sample id", path=path, where="column seq_name")
    duplicated = out.duplicated(["sample_id", "gene_id"])
    if duplicated.any():
        bad = int(np.flatnonzero(duplicated)[0])
        raise InputError(
            f"sample {out.sample_id.iloc[bad]!r} appears twice for gene {out.gene_id.iloc[bad]!r}",
            path=path, where=f"row {bad}", expected="one row per (sample, gene)",
        )
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------------------
# meta.csv.gz: one row per (gene, SNP); seq_idx = the SNP's index in the gene's string
# --------------------------------------------------------------------------------------


def write_meta(path: str | os.PathLike[str], meta: pd.DataFrame) -> None:
    """Write the SNP table in the original column order (gzip-compressed CSV)."""
    missing = set(META_COLUMNS) - set(meta.columns)
    if missing:
        raise ValueError(f"meta table lacks columns {sorted(missing)}")
    write_gzip_text(path, meta.loc[:, list(META_COLUMNS)].to_csv(index=False))


def read_meta(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and check ``meta.csv.gz``: columns present, ``seq_idx`` = 0..n-1 within each gene."""
    try:
        meta = pd.read_csv(path, dtype={"chrom": str, "id": str, "ref": str, "alt": str, "GENE_ID": str})
    except (OSError, pd.errors.ParserError, UnicodeDecodeError, EOFError) as err:
        raise InputError(f"cannot read as CSV ({err})", path=path) from None
    missing = [c for c in META_COLUMNS if c not in meta.columns]
    if missing:
        raise InputError(f"missing columns {missing}", path=path, expected=", ".join(META_COLUMNS))
    for column in ("pos", "seq_idx", "initial_counts"):
        if not pd.api.types.is_integer_dtype(meta[column]):
            values = pd.to_numeric(meta[column], errors="coerce")
            bad = int(np.flatnonzero(values.isna() | (values % 1 != 0))[0])
            raise InputError(f"{meta[column].iloc[bad]!r} is not an integer", path=path,
                             where=f"row {bad + 2}, column {column}", expected="integers")
    af = pd.to_numeric(meta["AF"], errors="coerce")
    if af.isna().any() or ((af < 0) | (af > 1)).any():
        bad = int(np.flatnonzero(af.isna() | (af < 0) | (af > 1))[0])
        raise InputError(f"AF {meta['AF'].iloc[bad]!r} is not a frequency", path=path,
                         where=f"row {bad + 2}, column AF", expected="a number in [0, 1]")
    expected_idx = meta.groupby("GENE_ID", sort=False).cumcount()
    if not np.array_equal(meta["seq_idx"].to_numpy(), expected_idx.to_numpy()):
        bad = int(np.flatnonzero(meta["seq_idx"].to_numpy() != expected_idx.to_numpy())[0])
        raise InputError(
            f"seq_idx is {meta['seq_idx'].iloc[bad]} but this is SNP number {expected_idx.iloc[bad]} "
            f"of gene {meta['GENE_ID'].iloc[bad]}",
            path=path, where=f"row {bad + 2}, column seq_idx",
            expected="seq_idx = 0, 1, 2, ... in file order within each gene",
        )
    meta["chrom"] = meta["chrom"].map(chrom_name)
    return meta
