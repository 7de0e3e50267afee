"""Writing phased VCFs in the 1000 Genomes Phase 3 layout (bgzip + tabix), vectorised.

``chr``-less contig names, ``GT`` only, ``INFO`` with ``AC AF AN NS``, per-super-population
``*_AF``, ``VT`` and the ``MULTI_ALLELIC`` flag. The genotype text of a block of rows is
built as one ``uint8`` array (``a|b<TAB>`` per sample), not character by character. The
output is byte-reproducible: no dates in the header, BGZF blocks carry no timestamps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lmeqtl.data.encoding import MISSING_ALLELE
from lmeqtl.data.io import atomic_path

# allele index -> ASCII digit; MISSING_ALLELE -> "."
_ALLELE_CHAR = np.full(256, ord("."), dtype=np.uint8)
_ALLELE_CHAR[:10] = np.frombuffer(b"0123456789", dtype=np.uint8)


@dataclass
class VcfRecords:
    """Rows of one chromosome for :func:`write_vcf`, sorted by position.

    ``alleles`` is ``uint8 (m, n_samples, 2)``: allele index on the first and second
    haplotype (0 = REF, 1.. = ALT), :data:`~lmeqtl.data.encoding.MISSING_ALLELE` for missing.
    ``alt`` may list several alleles (``"A,T"``) for a multi-allelic row.
    """

    chrom: str
    pos: np.ndarray
    ids: np.ndarray
    ref: np.ndarray
    alt: np.ndarray
    alleles: np.ndarray


def _info_column(alleles: np.ndarray, alt: np.ndarray, ref: np.ndarray,
                 super_pops: np.ndarray | None) -> list[str]:
    """1000 Genomes-style INFO (AC, AF, AN, NS, *_AF, VT, MULTI_ALLELIC), vectorised per allele."""
    n_alt = np.array([a.count(",") + 1 for a in alt])
    max_alt = int(n_alt.max()) if len(n_alt) else 1
    # per-person counts (m, n) as float32, so that sums per population are one matrix product
    called = (alleles[:, :, 0] != MISSING_ALLELE).astype(np.float32) + (alleles[:, :, 1] != MISSING_ALLELE)
    counts = [(alleles[:, :, 0] == k).astype(np.float32) + (alleles[:, :, 1] == k) for k in range(1, max_alt + 1)]
    an = called.sum(axis=1).astype(np.int64)  # (m,)
    ns = (called == 2).sum(axis=1)
    ac = np.stack([c.sum(axis=1) for c in counts], axis=1).astype(np.int64)  # (m, k)
    af = ac / np.maximum(an, 1)[:, None]
    pop_af = {}
    if super_pops is not None:
        pops = sorted(set(super_pops))
        member = (np.asarray(super_pops)[:, None] == np.array(pops)[None, :]).astype(np.float32)  # (n, P)
        per_pop = (counts[0] @ member) / np.maximum(called @ member, 1)  # (m, P) first ALT allele
        pop_af = {pop: per_pop[:, j] for j, pop in enumerate(pops)}
    rows = []
    for i in range(len(alt)):
        k = n_alt[i]
        parts = [f"AC={','.join(str(int(c)) for c in ac[i, :k])}",
                 f"AF={','.join(f'{x:.6g}' for x in af[i, :k])}", f"AN={an[i]}", f"NS={ns[i]}"]
        parts += [f"{pop}_AF={values[i]:.4g}" for pop, values in pop_af.items()]
        is_snp = len(ref[i]) == 1 and all(len(a) == 1 for a in alt[i].split(","))
        parts.append("VT=SNP" if is_snp else "VT=INDEL")
        if k > 1:
            parts.append("MULTI_ALLELIC")
        rows.append(";".join(parts))
    return rows


def write_vcf(path: str | os.PathLike[str], records: VcfRecords, samples: list[str], *,
              super_pops: np.ndarray | None = None, contig_length: int | None = None,
              source: str = "lmeqtl", chunk_rows: int = 2000) -> None:
    """Write a phased, bgzip-compressed VCF and its tabix index (``path + '.tbi'``), atomically.

    Byte-reproducible: no dates in the header, BGZF blocks carry no timestamps.
    """
    import pysam

    if np.any(np.diff(records.pos) < 0):
        raise ValueError("VCF records must be sorted by position")
    n = len(samples)
    if records.alleles.shape[1:] != (n, 2):
        raise ValueError(f"alleles have shape {records.alleles.shape}, expected (m, {n}, 2)")
    length = contig_length or int(records.pos.max(initial=0)) + 1
    header = [
        "##fileformat=VCFv4.1",
        "##FILTER=<ID=PASS,Description=\"All filters passed\">",
        f"##source={source}",
        "##reference=GRCh37 coordinates (simulated genotypes)",
        f"##contig=<ID={records.chrom},assembly=b37,length={length}>",
        "##INFO=<ID=AC,Number=A,Type=Integer,Description=\"Alternate allele count\">",
        "##INFO=<ID=AF,Number=A,Type=Float,Description=\"Alternate allele frequency\">",
        "##INFO=<ID=AN,Number=1,Type=Integer,Description=\"Total number of alleles\">",
        "##INFO=<ID=NS,Number=1,Type=Integer,Description=\"Number of samples with data\">",
    ]
    pops = [] if super_pops is None else sorted(set(super_pops))
    header += [f"##INFO=<ID={p}_AF,Number=A,Type=Float,Description=\"Allele frequency in {p}\">" for p in pops]
    header += [
        "##INFO=<ID=VT,Number=.,Type=String,Description=\"Variant type\">",
        "##INFO=<ID=MULTI_ALLELIC,Number=0,Type=Flag,Description=\"Multi-allelic site\">",
        "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Phased genotype\">",
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]),
    ]
    path = Path(path)
    with atomic_path(path) as tmp:
        out = pysam.BGZFile(str(tmp), "wb")
        out.write(("\n".join(header) + "\n").encode())
        for lo in range(0, len(records.pos), chunk_rows):
            rows = slice(lo, lo + chunk_rows)
            alleles = records.alleles[rows]  # (r, n, 2)
            text = np.empty((alleles.shape[0], n, 4), dtype=np.uint8)
            text[:, :, 0] = _ALLELE_CHAR[alleles[:, :, 0]]
            text[:, :, 1] = ord("|")
            text[:, :, 2] = _ALLELE_CHAR[alleles[:, :, 1]]
            text[:, :, 3] = ord("\t")
            text[:, -1, 3] = ord("\n")
            info = _info_column(alleles, records.alt[rows], records.ref[rows], super_pops)
            fixed = zip(records.pos[rows], records.ids[rows], records.ref[rows], records.alt[rows], info,
                        strict=True)
            lines = [f"{records.chrom}\t{p}\t{i}\t{r}\t{a}\t100\tPASS\t{inf}\tGT\t".encode() + g.tobytes()
                     for (p, i, r, a, inf), g in zip(fixed, text, strict=True)]
            out.write(b"".join(lines))
        out.close()
    with atomic_path(Path(str(path) + ".tbi")) as tmp_index:
        pysam.tabix_index(str(path), preset="vcf", index=str(tmp_index), force=True)
