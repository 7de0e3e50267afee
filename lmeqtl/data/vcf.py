"""Reading phased VCFs: the biallelic PASS SNPs of a region as haplotypes ``(m, n_samples, 2)``.

Lines come from a tabix query (pysam) or, for a small unindexed file, from the start; the
genotype text of a batch of rows is parsed by numpy (byte lookup tables), not per
character. The writer is :mod:`lmeqtl.data.vcf_writer`.

Reading rules (what ``prepare`` keeps), decided and documented here:

- kept: one ALT, REF and ALT single bases (A/C/G/T), FILTER ``PASS`` or ``.``;
- skipped: multi-allelic rows (several ALTs, or the 1000 Genomes ``MULTI_ALLELIC`` flag),
  and positions holding two or more SNP rows (a multi-allelic site split over rows);
  indels, structural variants and non-PASS rows;
- ``GT`` ``.|.`` (missing) -> missing alleles (``N`` in the genotype string); unphased
  heterozygous ``0/1`` -> an error by default (``unphased="error"``; the haplotype model
  needs phase) or missing with ``unphased="missing"``; unphased homozygous calls are
  exact and kept; a haploid or polyploid call is an error;
- no ``GT`` as the first FORMAT field -> an error naming the record (nothing to read);
- AF = alt alleles / called alleles over the chosen samples (``af_source="genotypes"``)
  or the ``INFO/AF`` value (``af_source="info"``);
- the file must be sorted by position: a record before the previous one is an error naming
  the file and both positions (``prepare`` then writes nothing).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lmeqtl.data.encoding import MISSING_ALLELE
from lmeqtl.data.io import chrom_name
from lmeqtl.errors import InputError

_BASES = {"A", "C", "G", "T"}
# ASCII of a GT character -> allele (0, 1, MISSING_ALLELE) or phase (1 "|", 0 "/"); 254 = invalid
_INVALID = np.uint8(254)
_ALLELE_OF_CHAR = np.full(256, _INVALID, dtype=np.uint8)
_ALLELE_OF_CHAR[[ord("0"), ord("1"), ord(".")]] = [0, 1, MISSING_ALLELE]
_PHASED_OF_CHAR = np.full(256, _INVALID, dtype=np.uint8)
_PHASED_OF_CHAR[[ord("|"), ord("/")]] = [1, 0]


# --------------------------------------------------------------------------------------
# reading
# --------------------------------------------------------------------------------------


@dataclass
class SnpBlock:
    """Biallelic PASS SNPs of one region that pass the AF filter, sorted by position.

    haplotypes: ``uint8 (m, n_samples, 2)``, 0/1 or MISSING_ALLELE.
    skipped: how many rows each rule removed (for the record in ``prepare.json``).
    """

    chrom: str
    samples: list[str]
    pos: np.ndarray
    ids: np.ndarray
    ref: np.ndarray
    alt: np.ndarray
    af: np.ndarray
    haplotypes: np.ndarray
    skipped: dict[str, int] = field(default_factory=dict)


def _indexed(path: Path) -> bool:
    return Path(str(path) + ".tbi").exists() or Path(str(path) + ".csi").exists()


def _open_text(path: Path):  # noqa: ANN202 - a text file handle
    import gzip

    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt") if gzipped else open(path)  # noqa: SIM115


def _read_header(path: Path) -> tuple[list[str], list[str] | None]:
    """Header lines and, for an indexed file, the contigs of the index."""
    if _indexed(path):
        import pysam

        tabix = pysam.TabixFile(str(path))
        return list(tabix.header), list(tabix.contigs)
    header = []
    with _open_text(path) as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            header.append(line.rstrip("\n"))
    return header, None


def _data_lines(path: Path, contig: str, start: int, end: int):  # noqa: ANN202 - iterator of str
    """Data lines of the region: a tabix query when indexed, else the whole file.

    A damaged file (truncated gzip, an index of another or older file) is an InputError
    naming the file and the way out, not pysam's or gzip's error code.
    """
    try:
        if _indexed(path):
            import pysam

            yield from pysam.TabixFile(str(path)).fetch(contig, max(start - 1, 0), end)
            return
        with _open_text(path) as handle:
            for line in handle:
                if not line.startswith("#"):
                    yield line.rstrip("\n")
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as err:
        if isinstance(err, InputError):
            raise
        index = " or its index (.tbi/.csi) is stale or belongs to another file" if _indexed(path) else ""
        raise InputError(f"cannot read the records of {contig}:{start}-{end} ({err}); the file is truncated, "
                         f"not bgzip-compressed{index}", path=path,
                         expected="a complete bgzip-compressed VCF indexed by `tabix -p vcf` (or a plain VCF "
                                  "without an index)") from None


def _resolve_contig(chrom: str, header: list[str], contigs, path) -> str:  # noqa: ANN001
    names = list(contigs) if contigs is not None else [
        h.split("ID=", 1)[1].split(",", 1)[0].rstrip(">") for h in header if h.startswith("##contig=<ID=")]
    for name in (chrom, f"chr{chrom}"):
        if name in names:
            return name
    if names:
        raise InputError(f"no contig {chrom!r} (or chr{chrom}) in the VCF", path=path,
                         expected=f"one of {names[:5]}")
    return chrom


def _parse_genotypes(texts: list[str], n: int, path, where: list[str]) -> np.ndarray:
    """GT text of rows -> ``uint8 (r, n, 3)``: first allele, second allele, phased (1) or not (0).

    Alleles are 0/1 or MISSING_ALLELE; a field like ``0|1:...`` keeps its GT part; a lone
    ``.`` is a missing diploid call.
    """
    rows = []
    for text, place in zip(texts, where, strict=True):
        if not text.isascii():
            bad = next(ch for ch in text if not ch.isascii())
            raise InputError(f"character {bad!r} in the genotype columns", path=path, where=place,
                             expected="GT like 0|1, 1|1, 0/0 or .|. (ASCII)")
        if len(text) != 4 * n - 1:  # not the plain "a|b" per sample layout: take GT subfields
            fields = [f.split(":", 1)[0] for f in text.split("\t")]
            if len(fields) != n:
                raise InputError(f"{len(fields)} genotype columns", path=path, where=place,
                                 expected=f"{n}, one per sample in the header")
            fields = [".|." if f == "." else f for f in fields]
            if any(len(f) != 3 for f in fields):
                bad = next(f for f in fields if len(f) != 3)
                raise InputError(f"genotype {bad!r} is not a diploid biallelic call", path=path,
                                 where=place, expected="GT like 0|1, 1|1, 0/0 or .|.")
            text = "\t".join(fields)
        rows.append(text + "\t")
    raw = np.frombuffer("".join(rows).encode("ascii"), dtype=np.uint8).reshape(len(texts), n, 4)
    out = np.empty((len(texts), n, 3), dtype=np.uint8)
    out[:, :, :2] = _ALLELE_OF_CHAR[raw[:, :, 0:3:2]]
    out[:, :, 2] = _PHASED_OF_CHAR[raw[:, :, 1]]
    if (out == _INVALID).any():
        r, c, _ = (int(i[0]) for i in np.nonzero(out == _INVALID))
        call = raw[r, c, :3].tobytes().decode("ascii", "replace")
        raise InputError(f"genotype {call!r} is not a diploid call of a biallelic SNP", path=path,
                         where=where[r], expected="GT like 0|1, 1|1, 0/0 or .|.")
    return out


def read_snps(path: str | os.PathLike[str], chrom: str, start: int, end: int, *,
              samples: list[str] | None = None, min_af: float = 0.03, max_af: float = 0.97,
              unphased: str = "error", af_source: str = "genotypes", batch_rows: int = 2048) -> SnpBlock:
    """Biallelic PASS SNPs at ``start <= POS <= end`` (1-based) with ``min_af <= AF <= max_af``.

    ``samples`` selects and orders the samples (default: the VCF's). An indexed file is
    queried by region (pysam); a file without index (small or hand-made) is read from the
    start. Genotype text is parsed by numpy in batches of rows. See the module docstring.
    """
    if unphased not in ("error", "missing"):
        raise ValueError("unphased must be 'error' or 'missing'")
    if af_source not in ("genotypes", "info"):
        raise ValueError("af_source must be 'genotypes' or 'info'")
    path = Path(path)
    if not path.exists():
        raise InputError("VCF not found", path=path)
    header, contigs = _checked_header(path)
    columns = header[-1].split("\t") if header and header[-1].startswith("#CHROM") else []
    if columns[:9] != ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]:
        raise InputError("no '#CHROM POS ID REF ALT QUAL FILTER INFO FORMAT ...' header line", path=path,
                         expected="a VCF with genotype columns")
    all_samples = _unique_samples(columns[9:], path)
    position = {s: i for i, s in enumerate(all_samples)}
    if samples is None:
        samples = all_samples
    absent = [s for s in samples if s not in position]
    if absent:
        raise InputError(f"samples {absent[:5]} are not in the VCF ({len(absent)} in all)", path=path,
                         expected="every panel sample to be a VCF column")
    columns_kept = np.array([position[s] for s in samples], dtype=np.int64)
    contig = _resolve_contig(chrom_name(chrom), header, contigs, path)
    lines = _data_lines(path, contig, start, end)

    skipped = {"multi_allelic": 0, "not_snp": 0, "filter": 0, "af": 0, "duplicate_position": 0}
    kept_rows: list[tuple[int, str, str, str, float]] = []
    kept_haplotypes: list[np.ndarray] = []
    batch: list[tuple[int, str, str, str, str, str]] = []
    last, last_snp, split_sites = -1, -1, set()

    identity = np.array_equal(columns_kept, np.arange(len(all_samples)))

    def flush() -> None:
        where = [f"record {contig}:{b[0]}" for b in batch]
        calls = _parse_genotypes([b[5] for b in batch], len(all_samples), path, where)
        if not identity:
            calls = calls[:, columns_kept]
        alleles, phased = calls[:, :, :2], calls[:, :, 2]  # (r, n, 2), (r, n)
        if not phased.all():
            het_unphased = (phased == 0) & (alleles[:, :, 0] != alleles[:, :, 1]) & \
                (alleles[:, :, 0] != MISSING_ALLELE) & (alleles[:, :, 1] != MISSING_ALLELE)
            if het_unphased.any():
                r, c = (int(i[0]) for i in np.nonzero(het_unphased))
                if unphased == "error":
                    raise InputError(f"unphased heterozygous genotype of sample {samples[c]}", path=path,
                                     where=where[r], expected="phased GT (0|1); or run with --unphased missing")
                alleles = np.where(het_unphased[:, :, None], MISSING_ALLELE, alleles)
        flat = alleles.reshape(len(batch), -1)  # (r, 2n)
        if af_source == "genotypes":
            missing = flat == MISSING_ALLELE
            if missing.any():
                n_called = flat.shape[1] - missing.sum(axis=1)
                alt_count = np.where(missing, 0, flat).sum(axis=1, dtype=np.int64)
            else:
                n_called = np.full(len(batch), flat.shape[1])
                alt_count = flat.sum(axis=1, dtype=np.int64)
            with np.errstate(invalid="ignore", divide="ignore"):
                af = alt_count / n_called
        else:
            af = np.array([_info_af(b[4], path, w) for b, w in zip(batch, where, strict=True)])
        passing = (af >= min_af) & (af <= max_af)
        skipped["af"] += int((~passing).sum())
        for i in np.flatnonzero(passing):
            kept_rows.append((*batch[i][:4], float(af[i])))
        kept_haplotypes.append(np.ascontiguousarray(alleles[passing]))
        batch.clear()

    for line in lines:
        fields = line.split("\t", 9)
        if len(fields) < 10:
            raise InputError(f"{len(fields)} columns", path=path, where="record " + ":".join(fields[:2]),
                             expected="at least 10 tab-separated VCF columns")
        if fields[0] != contig:
            continue
        try:
            pos = int(fields[1])
        except ValueError:
            raise InputError(f"POS {fields[1]!r} is not a position", path=path, where=f"record {fields[0]}:{fields[1]}",
                             expected="a positive integer in column 2") from None
        if not start <= pos <= end:
            continue
        if pos < last:
            raise InputError(f"position {pos} comes after {last}: the VCF is not sorted", path=path,
                             where=f"record {contig}:{pos}", expected="records sorted by position")
        last = pos
        ref, alt, info = fields[3], fields[4], fields[7]
        if "," in alt or "MULTI_ALLELIC" in info.split(";"):
            skipped["multi_allelic"] += 1
            continue
        if ref not in _BASES or alt not in _BASES:
            skipped["not_snp"] += 1
            continue
        if fields[6] not in ("PASS", "."):
            skipped["filter"] += 1
            continue
        if not fields[8].startswith("GT"):
            raise InputError(f"FORMAT {fields[8]!r}", path=path, where=f"record {contig}:{pos}",
                             expected="GT as the first FORMAT field")
        if pos == last_snp:  # a multi-allelic site split over several rows
            split_sites.add(pos)
        last_snp = pos
        batch.append((pos, fields[2], ref, alt, info, fields[9]))
        if len(batch) >= batch_rows:
            flush()
    if batch:
        flush()

    n = len(samples)
    haplotypes = np.concatenate(kept_haplotypes) if kept_haplotypes else np.zeros((0, n, 2), np.uint8)
    keep = np.array([row[0] not in split_sites for row in kept_rows], dtype=bool)
    skipped["duplicate_position"] = len(split_sites)
    columns = list(zip(*kept_rows, strict=True)) if kept_rows else [[]] * 5
    return SnpBlock(
        chrom=chrom_name(chrom), samples=list(samples),
        pos=np.array(columns[0], dtype=np.int64)[keep], ids=np.array(columns[1], dtype=object)[keep],
        ref=np.array(columns[2], dtype=object)[keep], alt=np.array(columns[3], dtype=object)[keep],
        af=np.array(columns[4], dtype=np.float64)[keep], haplotypes=haplotypes[keep], skipped=skipped,
    )


def _checked_header(path: Path) -> tuple[list[str], list[str] | None]:
    """:func:`_read_header` with a damaged, foreign or stale-indexed file named as such."""
    for index in (Path(str(path) + ".tbi"), Path(str(path) + ".csi")):
        if index.exists() and index.stat().st_mtime < path.stat().st_mtime:  # htslib only warns
            raise InputError(f"its index {index.name} is older than the VCF (stale: the VCF changed after "
                             "indexing), so a region query could miss or misplace records", path=path,
                             expected="an index made from this file: tabix -f -p vcf FILE")
    try:
        return _read_header(path)
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as err:
        index = " (or its .tbi/.csi index is stale or foreign)" if _indexed(path) else ""
        raise InputError(f"cannot read as VCF: truncated, damaged or not a VCF{index} ({err})", path=path,
                         expected="a VCF, plain or bgzip-compressed (then indexed by `tabix -p vcf`)") from None


def _unique_samples(samples: list[str], path) -> list[str]:  # noqa: ANN001
    """The header's sample names; one named twice would silently shadow the other's genotypes."""
    seen: set[str] = set()
    for sample in samples:
        if sample in seen:
            raise InputError(f"sample {sample!r} appears twice in the #CHROM header line", path=path,
                             expected="each sample column once")
        seen.add(sample)
    return samples


def _info_af(info: str, path, where: str) -> float:  # noqa: ANN001
    for item in info.split(";"):
        if item.startswith("AF="):
            try:
                return float(item[3:])
            except ValueError:
                break
    raise InputError("no single INFO/AF value", path=path, where=where,
                     expected="INFO AF=..., or --af-source genotypes")


def vcf_samples(path: str | os.PathLike[str]) -> list[str]:
    """Sample names of a VCF's ``#CHROM`` header line."""
    path = Path(path)
    if not path.exists():
        raise InputError("VCF not found", path=path)
    header, _ = _checked_header(path)
    if not header or not header[-1].startswith("#CHROM"):
        raise InputError("no #CHROM header line", path=path, expected="a VCF file")
    return _unique_samples(header[-1].split("\t")[9:], path)
