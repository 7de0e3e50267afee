"""Readers and writers of the published file formats the pipeline takes.

============================================  ============================================
file                                          format
============================================  ============================================
``integrated_call_samples_v3.20130502.ALL.panel``  1000 Genomes panel: ``sample pop super_pop gender``
``genes.tsv``                                 our gene list: ``gene_id chrom tss [symbol]``
``GD660.GeneQuantRPKM.txt.gz``                GEUVADIS RPKM: ``TargetID Gene_Symbol Chr Coord`` + one column per library
``EUR373.gene.cis.FDR5.all.rs137.txt.gz``     GEUVADIS cis-eQTLs (12 columns, :data:`EQTL_COLUMNS`)
============================================  ============================================

Readers validate and raise :class:`~lmeqtl.errors.InputError` naming the file, the
1-based line (header = line 1) and column, and what was expected. Chromosome names are
returned without ``chr`` everywhere (the 1000 Genomes convention, as in ``meta.csv.gz``).
Gzip outputs are byte-reproducible (no timestamp in the header). ENCODE narrowPeak files are
read by :mod:`lmeqtl.data.peaks`, the simulation's ``truth/`` by :mod:`lmeqtl.data.truth`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from lmeqtl.data.io import atomic_path, check_ids, unsafe_id, write_gzip_text
from lmeqtl.errors import InputError

PANEL_COLUMNS = ("sample", "pop", "super_pop", "gender")
GENE_COLUMNS = ("gene_id", "chrom", "tss")
EXPRESSION_ID_COLUMNS = ("TargetID", "Gene_Symbol", "Chr", "Coord")
EQTL_COLUMNS = ("SNP_ID", "ID", "GENE_ID", "PROBE_ID", "CHR_SNP", "CHR_GENE", "SNPpos", "TSSpos",
                "distance", "rvalue", "pvalue", "log10pvalue")
# GEUVADIS library columns: sample, library number, run (e.g. HG00096.1.M_111124_6)
LIBRARY_PATTERN = re.compile(r"^(?P<sample>[A-Za-z0-9]+)\.(?P<library>\d+)\.(?P<run>\S+)$")


def _read_table(path: str | os.PathLike[str], **kwargs: Any) -> pd.DataFrame:
    """A tab-separated table as strings; a header naming a column twice is an error (pandas
    would silently rename the second ``X`` to ``X.1`` — a valid-looking GEUVADIS library name)."""
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, **kwargs)
        if kwargs.get("header", "infer") is not None:
            _no_duplicate_columns(frame, path)
        return frame
    except FileNotFoundError:
        raise InputError("file not found", path=path) from None
    except (OSError, pd.errors.ParserError, UnicodeDecodeError, EOFError) as err:
        raise InputError(f"cannot read as a tab-separated table ({err})", path=path) from None
    except pd.errors.EmptyDataError:
        raise InputError("file is empty", path=path) from None


def _no_duplicate_columns(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    import gzip

    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    with (gzip.open(path, "rt") if gzipped else open(path)) as handle:
        header = handle.readline().rstrip("\r\n").split("\t")
    seen: set[str] = set()
    for name in header:
        if name and name in seen:
            raise InputError(f"column {name!r} appears twice", path=path, where="line 1 (header)",
                             expected="each column name once")
        seen.add(name)


def _require(frame: pd.DataFrame, columns: tuple[str, ...], path: str | os.PathLike[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"missing columns {missing} (found {list(frame.columns)[:8]})", path=path,
                         where="line 1 (header)", expected="tab-separated columns " + ", ".join(columns))


def _numbers(frame: pd.DataFrame, column: str, path, *, integer: bool, first_line: int = 2,
             lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Column as numbers; the error names the first bad line (``first_line`` = line of row 0)."""
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if integer:
        bad |= ~np.isnan(values) & (values % 1 != 0)
    if lo is not None:
        bad |= values < lo
    if hi is not None:
        bad |= values > hi
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        kind = "an integer" if integer else "a number"
        bounds = "" if lo is None and hi is None else f" in [{lo}, {hi}]"
        raise InputError(f"{frame[column].iloc[row]!r} is not valid", path=path,
                         where=f"line {row + first_line}, column {column}", expected=f"{kind}{bounds}")
    return values.astype(np.int64) if integer else values


def _no_blanks(frame: pd.DataFrame, columns, path) -> None:
    for column in columns:
        blank = (frame[column].str.strip() == "").to_numpy()
        if blank.any():
            row = int(np.flatnonzero(blank)[0])
            raise InputError("empty value", path=path, where=f"line {row + 2}, column {column}",
                             expected="a non-empty value")


def normalise_chrom(values: pd.Series | np.ndarray | Sequence[str]) -> pd.Series:
    """``chr6``, ``Chr6``, `` chr6 `` and ``6`` -> ``6`` (the 1000 Genomes / GEUVADIS convention), as strings
    (a Series keeps its index); the same rule as :func:`lmeqtl.data.io.chrom_name`."""
    series = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    return series.astype(str).str.strip().str.replace(r"^[Cc][Hh][Rr]", "", regex=True)


# --------------------------------------------------------------------------------------
# 1000 Genomes sample panel
# --------------------------------------------------------------------------------------


def read_panel(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read the 1000 Genomes panel: columns ``sample, pop, super_pop, gender``, one row per sample.

    Empty trailing columns (the real file's header ends in two tabs) are dropped.
    """
    frame = _read_table(path)
    frame = frame.loc[:, [c for c in frame.columns if not c.startswith("Unnamed:") and c.strip()]]
    _require(frame, PANEL_COLUMNS, path)
    frame = frame.loc[:, list(PANEL_COLUMNS)].apply(lambda column: column.str.strip())  # 'EUR ' is EUR
    _no_blanks(frame, PANEL_COLUMNS, path)
    check_ids(frame["sample"], "sample id", path=path, where="column sample")
    duplicated = frame["sample"].duplicated().to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        raise InputError(f"sample {frame['sample'].iloc[row]!r} listed twice", path=path,
                         where=f"line {row + 2}, column sample", expected="one row per sample")
    return frame.reset_index(drop=True)


def write_panel(path: str | os.PathLike[str], panel: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        panel.loc[:, list(PANEL_COLUMNS)].to_csv(tmp, sep="\t", index=False)


# --------------------------------------------------------------------------------------
# genes.tsv: the input gene list of ``prepare``
# --------------------------------------------------------------------------------------


def read_genes(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read ``genes.tsv``: ``gene_id, chrom, tss`` (+ optional ``symbol``), in file order.

    ``tss`` is a 1-based position; ``chrom`` is returned without ``chr``.
    """
    frame = _read_table(path)
    _require(frame, GENE_COLUMNS, path)
    _no_blanks(frame, GENE_COLUMNS, path)
    out = pd.DataFrame({"gene_id": frame["gene_id"].str.strip(), "chrom": normalise_chrom(frame["chrom"]),
                        "tss": _numbers(frame, "tss", path, integer=True, lo=1)})
    for row, gene in enumerate(out["gene_id"]):
        if unsafe_id(gene) is not None:
            check_ids([gene], "gene id", path=path, where=f"line {row + 2}, column gene_id")
    out["symbol"] = frame["symbol"] if "symbol" in frame.columns else out["gene_id"]
    duplicated = out["gene_id"].duplicated().to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        raise InputError(f"gene {out['gene_id'].iloc[row]!r} listed twice", path=path,
                         where=f"line {row + 2}, column gene_id", expected="one row per gene")
    return out


def write_genes(path: str | os.PathLike[str], genes: pd.DataFrame) -> None:
    columns = [*GENE_COLUMNS, "symbol"] if "symbol" in genes.columns else list(GENE_COLUMNS)
    with atomic_path(path) as tmp:
        genes.loc[:, columns].to_csv(tmp, sep="\t", index=False)


# --------------------------------------------------------------------------------------
# GEUVADIS GD660.GeneQuantRPKM.txt.gz
# --------------------------------------------------------------------------------------


def library_samples(columns) -> list[str]:  # noqa: ANN001 - any iterable of column names
    """Sample id of each GEUVADIS library column (``HG00096.1.M_111124_6`` -> ``HG00096``)."""
    return [str(c).split(".", 1)[0] for c in columns]


def read_geuvadis_expression(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a GEUVADIS gene quantification table in its raw layout.

    Returns index ``TargetID``; columns ``Gene_Symbol, Chr`` (no ``chr``), ``Coord``
    (int, the TSS), then one float column per sequencing library, named like
    ``HG00096.1.M_111124_6`` (replicate libraries of a sample are separate columns;
    :func:`library_samples` maps them to samples). Values must be finite and >= 0.
    """
    frame = _read_table(path)
    _require(frame, EXPRESSION_ID_COLUMNS, path)
    libraries = [c for c in frame.columns if c not in EXPRESSION_ID_COLUMNS]
    if not libraries:
        raise InputError("no library columns", path=path, where="line 1 (header)",
                         expected="columns like HG00096.1.M_111124_6 after Coord")
    bad = [c for c in libraries if not LIBRARY_PATTERN.match(c)]
    if bad:
        raise InputError(f"column {bad[0]!r} is not a library name", path=path, where="line 1 (header)",
                         expected="sample.library.run, e.g. HG00096.1.M_111124_6")
    _no_blanks(frame, ("TargetID",), path)
    out = pd.DataFrame({"Gene_Symbol": frame["Gene_Symbol"].to_numpy(),
                        "Chr": normalise_chrom(frame["Chr"]).to_numpy(),
                        "Coord": _numbers(frame, "Coord", path, integer=True, lo=0)},
                       index=pd.Index(frame["TargetID"].to_numpy(), name="TargetID"))
    values = np.column_stack([_numbers(frame, c, path, integer=False, lo=0.0) for c in libraries])
    out = pd.concat([out, pd.DataFrame(values, index=out.index, columns=libraries)], axis=1)
    if out.index.duplicated().any():
        row = int(np.flatnonzero(out.index.duplicated())[0])
        raise InputError(f"TargetID {out.index[row]!r} listed twice", path=path,
                         where=f"line {row + 2}, column TargetID", expected="one row per gene")
    return out


def write_geuvadis_expression(path: str | os.PathLike[str], table: pd.DataFrame) -> None:
    """Write the layout :func:`read_geuvadis_expression` reads (index ``TargetID``)."""
    frame = table.copy()
    frame.index.name = "TargetID"
    write_gzip_text(path, frame.reset_index().to_csv(sep="\t", index=False, float_format="%.10g"))


# --------------------------------------------------------------------------------------
# GEUVADIS EUR373.gene.cis.FDR5.all.rs137.txt.gz
# --------------------------------------------------------------------------------------


def read_eqtl_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a GEUVADIS cis-eQTL table: the 12 columns of :data:`EQTL_COLUMNS`, typed.

    ``SNP_ID`` is an rs id or ``snp_<chr>_<pos>``; ``ID`` is ``-`` when absent;
    ``distance = |SNPpos - TSSpos|``; ``rvalue`` the Pearson r of dosage and
    expression; ``log10pvalue = -log10(pvalue)``; chromosomes without ``chr``.
    """
    frame = _read_table(path)
    _require(frame, EQTL_COLUMNS, path)
    frame = frame.loc[:, list(EQTL_COLUMNS)]
    _no_blanks(frame, ("SNP_ID", "GENE_ID"), path)
    out = frame.loc[:, ["SNP_ID", "ID", "GENE_ID", "PROBE_ID"]].copy()
    out["CHR_SNP"] = normalise_chrom(frame["CHR_SNP"])
    out["CHR_GENE"] = normalise_chrom(frame["CHR_GENE"])
    for column in ("SNPpos", "TSSpos", "distance"):
        out[column] = _numbers(frame, column, path, integer=True, lo=0)
    out["rvalue"] = _numbers(frame, "rvalue", path, integer=False, lo=-1.0, hi=1.0)
    out["pvalue"] = _numbers(frame, "pvalue", path, integer=False, lo=0.0, hi=1.0)
    out["log10pvalue"] = _numbers(frame, "log10pvalue", path, integer=False, lo=0.0)
    return out


def write_eqtl_table(path: str | os.PathLike[str], table: pd.DataFrame) -> None:
    """Write the 12 GEUVADIS columns, tab-separated, gzip-compressed."""
    missing = set(EQTL_COLUMNS) - set(table.columns)
    if missing:
        raise ValueError(f"eQTL table lacks columns {sorted(missing)}")
    write_gzip_text(path, table.loc[:, list(EQTL_COLUMNS)].to_csv(sep="\t", index=False,
                                                                    float_format="%.15g"))
