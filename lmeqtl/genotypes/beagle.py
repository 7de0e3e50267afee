"""Beagle 5, the classical imputer, on the same masked genotypes as the MLM (RQ1's peer).

Per gene window: the reference panel is the train split's phased haplotypes (a VCF, as
the MLM was trained on them); the target is the imputed people with their masked
genotypes removed and every other genotype given **phased** (``a|b``), because the MLM
sees phased haplotypes too, and Beagle keeps the phase of ``|`` genotypes. The masked SNPs
are left out of the target VCF, so Beagle imputes them as untyped markers from the
reference panel alone — the same information the MLM has — and reports DS, GP and
per-haplotype AP1/AP2.

Install: ``apt-get install beagle`` (Debian/Ubuntu; Beagle 5.4 + OpenJDK), or set
``LMEQTL_BEAGLE`` to a command such as ``java -Xmx4g -jar /path/beagle.jar``. Without
Beagle, :func:`beagle_command` returns None and the RQ1 table has no Beagle rows.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from lmeqtl.data.cohort import Cohort
from lmeqtl.data.encoding import MISSING_ALLELE
from lmeqtl.data.vcf_writer import VcfRecords, write_vcf
from lmeqtl.errors import InputError
from lmeqtl.genotypes.imputation import Imputation, RQ1Setup

NOT_FOUND = ("Beagle is not installed: skipped (install the Debian package 'beagle', "
             "or set LMEQTL_BEAGLE='java -jar /path/beagle.jar')")
_FIELD_WIDTH = {"GT": 2, "DS": 1, "AP1": 1, "AP2": 1, "GP": 3}  # numbers per sample (biallelic)


def beagle_command() -> list[str] | None:
    """The command that runs Beagle (``LMEQTL_BEAGLE`` or ``beagle`` on the PATH), or None."""
    configured = os.environ.get("LMEQTL_BEAGLE")
    if configured:
        return shlex.split(configured)
    found = shutil.which("beagle")
    return [found] if found else None


def gene_records(meta: pd.DataFrame, haplotypes: np.ndarray, keep: np.ndarray | None = None) -> VcfRecords:
    """VCF rows of one gene window: ``haplotypes (n, 2, L)`` at the SNPs in ``keep`` (default all)."""
    keep = np.ones(len(meta), dtype=bool) if keep is None else keep
    rows = meta[keep]
    return VcfRecords(str(rows["chrom"].iloc[0]), rows["pos"].to_numpy(), rows["id"].astype(str).to_numpy(),
                      rows["ref"].to_numpy(), rows["alt"].to_numpy(),
                      np.ascontiguousarray(haplotypes[:, :, keep].transpose(2, 0, 1)))  # (m, n, 2)


def run_beagle(ref: Path, target: Path, out_prefix: Path, *, threads: int = 2, seed: int = 1,
               command: list[str] | None = None) -> Path:
    """Run Beagle (``gp=true ap=true``); return ``out_prefix.vcf.gz``. Its log is ``out_prefix.log``."""
    command = command or beagle_command()
    if command is None:
        raise FileNotFoundError(NOT_FOUND)
    args = [*command, f"ref={ref}", f"gt={target}", f"out={out_prefix}", f"nthreads={threads}", f"seed={seed}",
            "gp=true", "ap=true"]
    done = subprocess.run(args, capture_output=True, text=True)
    output = Path(f"{out_prefix}.vcf.gz")
    if done.returncode != 0 or not output.exists():
        log = Path(f"{out_prefix}.log")
        detail = (log.read_text() if log.exists() else done.stdout + done.stderr)[-2000:]
        raise RuntimeError(f"Beagle failed (exit {done.returncode}): {' '.join(args)}\n{detail}")
    return output


def read_beagle_vcf(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray, dict[str, np.ndarray]]:
    """Parse Beagle's output: ``(samples, pos (m,), fields)``.

    ``fields``: ``GT (m, n, 2)`` alleles, and ``DS (m, n)``, ``AP1``, ``AP2``, ``GP (m, n, 3)``
    (NaN on rows that do not carry them, i.e. markers that were genotyped, not imputed).
    The numbers of all rows of one FORMAT are parsed in one call, not sample by sample.
    """
    import gzip

    samples: list[str] = []
    rows: list[list[str]] = []
    with gzip.open(path, "rt") as handle:
        for line in handle:
            if line.startswith("##"):
                continue
            if line.startswith("#CHROM"):
                samples = line.rstrip("\n").split("\t")[9:]
                continue
            rows.append(line.rstrip("\n").split("\t", 9))  # 9 fixed columns + the sample text
    if not samples or not rows:
        raise InputError("no samples or no records", path=path, expected="a VCF written by Beagle")
    n, m = len(samples), len(rows)
    pos = np.array([int(r[1]) for r in rows], dtype=np.int64)
    fields = {"GT": np.zeros((m, n, 2))}
    for name in ("DS", "AP1", "AP2"):
        fields[name] = np.full((m, n), np.nan)
    fields["GP"] = np.full((m, n, 3), np.nan)
    formats = np.array([r[8] for r in rows])
    for layout in np.unique(formats):
        names = layout.split(":")
        if any(name not in _FIELD_WIDTH for name in names):
            raise InputError(f"unexpected FORMAT {layout!r}", path=path, expected="GT[:DS[:AP1:AP2][:GP]]")
        picked = np.flatnonzero(formats == layout)
        text = "\t".join(rows[i][9] for i in picked)
        for separator in (":", "|", "/", ","):
            text = text.replace(separator, "\t")
        width = [_FIELD_WIDTH[name] for name in names]
        try:
            values = np.array(text.split("\t"), dtype=np.float64).reshape(len(picked), n, sum(width))
        except ValueError:
            raise InputError(f"records with FORMAT {layout} are not numeric/complete", path=path,
                             expected=f"{n} samples with {layout} values each") from None
        start = 0
        for name, k in zip(names, width, strict=True):
            fields[name][picked] = values[:, :, start:start + k].squeeze(-1) if k == 1 else values[:, :, start:start + k]
            start += k
    return samples, pos, fields


def _gene_imputation(fields: dict[str, np.ndarray], rows: np.ndarray, people: np.ndarray) -> tuple[np.ndarray, ...]:
    """``(p_alt (M, 2), genotype_prob (M, 3))`` at output rows ``rows`` and sample columns ``people``."""
    gt = fields["GT"][rows, people]  # (M, 2)
    ap = np.stack([fields["AP1"][rows, people], fields["AP2"][rows, people]], axis=1)  # (M, 2)
    p_alt = np.where(np.isnan(ap), gt, ap)  # genotyped rows: the hard call
    gp = fields["GP"][rows, people]  # (M, 3)
    hard = np.eye(3)[gt.sum(axis=1).astype(np.int64)]
    return p_alt, np.where(np.isnan(gp).any(axis=1, keepdims=True), hard, gp)


def impute_beagle(cohort: Cohort, setup: RQ1Setup, *, reference_split: str = "train", threads: int = 2,
                  work_dir: str | os.PathLike[str] | None = None, progress: bool = True) -> Imputation:
    """Beagle's reconstruction of every masked genotype of ``setup`` (see the module docstring).

    ``work_dir`` keeps the VCFs and Beagle's logs (default: a temporary directory).
    Raises ``FileNotFoundError`` when Beagle is not installed.
    """
    command = beagle_command()
    if command is None:
        raise FileNotFoundError(NOT_FOUND)
    reference = cohort.split_mask(reference_split)
    ref_ids = list(cohort.sample_ids[reference])
    people = cohort.subset(setup.sample_ids)
    start, offset, parts = time.perf_counter(), 0, []
    with tempfile.TemporaryDirectory(prefix="lmeqtl-beagle-") as scratch:
        folder = Path(work_dir or scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for gene in tqdm(cohort.genes, disable=not progress, desc="Beagle: genes"):
            meta, haplotypes = cohort.gene_meta(gene), people.haplotypes[gene]  # (n, 2, L)
            stem = folder / gene.replace("/", "_")
            write_vcf(f"{stem}.ref.vcf.gz", gene_records(meta, cohort.haplotypes[gene][reference]), ref_ids)
            unmasked = ~setup.masks[gene][0]  # (L,): the masks are the same SNPs in every person
            write_vcf(f"{stem}.target.vcf.gz", gene_records(meta, haplotypes, unmasked), list(setup.sample_ids))
            output = run_beagle(Path(f"{stem}.ref.vcf.gz"), Path(f"{stem}.target.vcf.gz"), Path(f"{stem}.imputed"),
                                threads=threads, seed=setup.config.seed, command=command)
            samples, pos, fields = read_beagle_vcf(output)
            column = pd.Series(np.arange(len(samples)), index=samples).loc[list(setup.sample_ids)].to_numpy()
            row_of = pd.Series(np.arange(len(pos)), index=pos)
            if not meta["pos"].isin(row_of.index).all():
                raise InputError(f"Beagle's output lacks SNPs of gene {gene}", path=output,
                                 expected="every reference marker")
            scored = setup.masks[gene] & (haplotypes != MISSING_ALLELE).all(axis=1)  # (n, L)
            person, position = np.nonzero(scored)
            rows = row_of.loc[meta["pos"].to_numpy()[position]].to_numpy()
            p_alt, prob = _gene_imputation(fields, rows, column[person])
            parts.append((offset + position, person, haplotypes[person, :, position], prob, p_alt))
            offset += haplotypes.shape[2]
    snp, person, truth, prob, p_alt = (np.concatenate(c) for c in zip(*parts, strict=True))
    return Imputation("Beagle 5", snp, person, truth, prob, p_alt, time.perf_counter() - start)
