"""Where the files of one cohort live (:class:`DataPaths`), and its data fingerprint (``manifest.json``).

The default layout is what ``lmeqtl simulate`` writes (see :meth:`DataPaths.from_dir`);
real data are described by a JSON file of explicit paths (:meth:`DataPaths.from_json`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmeqtl.config.validate import POSITIVE_INT, check_value
from lmeqtl.data.io import read_json, sha256_file, write_json
from lmeqtl.data.peaks import PEAK_MARKS
from lmeqtl.errors import InputError

PANEL_NAME = "integrated_call_samples_v3.20130502.ALL.panel"
EXPRESSION_NAME = "GD660.GeneQuantRPKM.txt.gz"
EQTL_NAME = "EUR373.gene.cis.FDR5.all.rs137.txt.gz"


@dataclass(frozen=True)
class DataPaths:
    """Where the files of one cohort live (simulated or real).

    ``vcf`` is a pattern with ``{chrom}`` (chromosome without ``chr``), e.g.
    ``vcf/chr{chrom}.vcf.gz`` or the 1000 Genomes name
    ``ALL.chr{chrom}.phase3_shapeit2_mvncall_integrated_v5a.20130502.genotypes.vcf.gz``.
    ``genes`` may be ``None`` for real data: ``prepare`` then ranks genes by their
    GEUVADIS eQTLs (``top_n_genes``) and takes the TSS from the expression table.
    Outputs of ``prepare`` (``dataset``, ``meta``) go to ``out_dir``.
    """

    out_dir: Path
    vcf: str
    panel: Path
    genes: Path | None = None
    expression: Path | None = None
    eqtl: Path | None = None
    peaks: dict[str, Path] = field(default_factory=dict)
    truth: Path | None = None
    top_n_genes: int | None = None

    @property
    def dataset(self) -> Path:
        return self.out_dir / "dataset.parquet"

    @property
    def meta(self) -> Path:
        return self.out_dir / "meta.csv.gz"

    @property
    def manifest(self) -> Path:
        return self.out_dir / "manifest.json"

    def vcf_for(self, chrom: str | int) -> Path:
        """The VCF holding chromosome ``chrom`` (given with or without ``chr``)."""
        return Path(self.vcf.format(chrom=str(chrom).removeprefix("chr")))

    @classmethod
    def from_dir(cls, directory: str | os.PathLike[str]) -> DataPaths:
        """The default layout written by ``lmeqtl simulate`` (see the README)."""
        root = Path(directory)
        peaks = {}
        for mark in PEAK_MARKS:
            found = sorted((root / "peaks").glob(f"*{mark}*")) if (root / "peaks").is_dir() else []
            found = [p for p in found if not p.name.endswith((".tbi", ".csi"))]
            if found:
                peaks[mark] = found[0]
        return cls(
            out_dir=root, vcf=str(root / "vcf" / "chr{chrom}.vcf.gz"), panel=root / PANEL_NAME,
            genes=root / "genes.tsv", expression=root / EXPRESSION_NAME, eqtl=root / EQTL_NAME,
            peaks=peaks, truth=root / "truth" if (root / "truth").is_dir() else None,
        )

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> DataPaths:
        """Explicit paths (e.g. to the real files); relative paths are relative to the JSON file.

        Keys: ``vcf`` (pattern with ``{chrom}``), ``panel``, ``out_dir`` (required);
        ``genes``, ``expression``, ``eqtl``, ``peaks`` (mark -> file), ``truth``,
        ``top_n_genes`` (optional).
        """
        path = Path(path)
        spec = read_json(path)
        if not isinstance(spec, dict):
            raise InputError("expected a JSON object", path=path)
        missing = [k for k in ("vcf", "panel", "out_dir") if k not in spec]
        if missing:
            raise InputError(f"missing keys {missing}", path=path,
                             expected="keys vcf, panel, out_dir (+ genes, expression, eqtl, peaks)")
        known = {"vcf", "panel", "out_dir", "genes", "expression", "eqtl", "peaks", "truth", "top_n_genes"}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise InputError(f"unknown keys {unknown}", path=path, expected=", ".join(sorted(known)))
        top_n_genes = spec.get("top_n_genes")
        if top_n_genes is not None:  # "3" or 2.5 or -1 would select a wrong number of genes
            check_value(top_n_genes, POSITIVE_INT, "key top_n_genes", path=str(path))
        for key in ("vcf", "panel", "out_dir", "genes", "expression", "eqtl", "truth"):
            if spec.get(key) is not None and not isinstance(spec[key], str):
                raise InputError(f"{spec[key]!r} is not a path", path=path, where=f"key {key}",
                                 expected="a string (a path, relative to this file)")
        if not isinstance(spec.get("peaks") or {}, dict):
            raise InputError(f"{spec['peaks']!r} is not an object", path=path, where="key peaks",
                             expected="an object: mark -> file")
        if "{chrom}" not in spec["vcf"]:
            raise InputError(f"vcf pattern {spec['vcf']!r} has no {{chrom}}", path=path, where="key vcf",
                             expected="e.g. 'ALL.chr{chrom}.phase3_....vcf.gz'")
        base = path.parent

        def resolve(value: str | None) -> Path | None:
            return None if value is None else (base / Path(value).expanduser())

        peaks = spec.get("peaks") or {}
        bad_marks = sorted(set(peaks) - set(PEAK_MARKS))
        if bad_marks:
            raise InputError(f"unknown marks {bad_marks}", path=path, where="key peaks",
                             expected=", ".join(PEAK_MARKS))
        return cls(
            out_dir=resolve(spec["out_dir"]), vcf=str(resolve(spec["vcf"])), panel=resolve(spec["panel"]),
            genes=resolve(spec.get("genes")), expression=resolve(spec.get("expression")),
            eqtl=resolve(spec.get("eqtl")), peaks={m: resolve(p) for m, p in peaks.items()},
            truth=resolve(spec.get("truth")), top_n_genes=top_n_genes,
        )


def write_manifest(directory: str | os.PathLike[str], **fields: Any) -> dict[str, Any]:
    """(Re)write ``manifest.json``: the given fields, kept ones, and the SHA-256 of every file.

    The file hashes are the data fingerprint: two directories with equal hashes hold
    the same data.
    """
    root = Path(directory)
    path = root / "manifest.json"
    manifest = read_json(path) if path.exists() else {}
    manifest.update(fields)
    manifest["files"] = {
        str(p.relative_to(root)): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "manifest.json" and not p.name.startswith(".")
    }
    write_json(path, manifest)
    return manifest
