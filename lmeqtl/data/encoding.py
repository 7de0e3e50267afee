"""Genotype strings <-> haplotype allele arrays, vectorised with byte lookup tables.

A genotype string has one character per SNP of a gene window (the original
lm-eqtl format):

====  =======  ==========================================
char  phased   meaning
====  =======  ==========================================
R     0|0      reference on both haplotypes
F     1|0      alternative on the first ("father") haplotype
M     0|1      alternative on the second ("mother") haplotype
B     1|1      alternative on both haplotypes
N     .|.      missing (written by the original for no-calls)
====  =======  ==========================================

Haplotype arrays are ``uint8`` of shape ``(n, 2, L)`` holding 0 (reference),
1 (alternative) or :data:`MISSING_ALLELE`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lmeqtl.errors import InputError

GENOTYPE_ALPHABET = "RFMB"
MISSING_CHAR = "N"
MISSING_ALLELE = np.uint8(255)

# (first haplotype, second haplotype) allele for each genotype character.
_PHASED_ALLELES = {"R": (0, 0), "F": (1, 0), "M": (0, 1), "B": (1, 1), "N": (255, 255)}

_FIRST = np.full(256, 254, dtype=np.uint8)  # 254 marks "not a genotype character"
_SECOND = np.full(256, 254, dtype=np.uint8)
for _char, (_a, _b) in _PHASED_ALLELES.items():
    _FIRST[ord(_char)] = _a
    _SECOND[ord(_char)] = _b
_INVALID = np.uint8(254)

# index = first + 2 * second for known alleles -> genotype character
_CHAR_OF_PAIR = np.frombuffer(b"RFMB", dtype=np.uint8)


def _as_byte_matrix(seqs: Sequence[str] | np.ndarray, source: str | None) -> np.ndarray:
    """Stack equal-length ASCII strings into a ``(n, L)`` uint8 matrix without a Python loop per character."""
    seqs = list(seqs)
    if not seqs:
        return np.zeros((0, 0), dtype=np.uint8)
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    if np.any(lengths != lengths[0]):
        bad = int(np.flatnonzero(lengths != lengths[0])[0])
        raise InputError(
            f"genotype string has length {lengths[bad]}, but row 0 has length {lengths[0]}",
            path=source,
            where=f"row {bad}",
            expected="all genotype strings of one gene to have the same length",
        )
    try:
        joined = "".join(seqs).encode("ascii")
    except UnicodeEncodeError as err:
        row = err.start // max(int(lengths[0]), 1)
        raise InputError(
            "genotype string contains a non-ASCII character",
            path=source,
            where=f"row {row}",
            expected=f"only the letters {GENOTYPE_ALPHABET}{MISSING_CHAR}",
        ) from None
    return np.frombuffer(joined, dtype=np.uint8).reshape(len(seqs), int(lengths[0]))


def encode_genotypes(seqs: Sequence[str] | np.ndarray, source: str | None = None) -> np.ndarray:
    """Split genotype strings of one gene into haplotype alleles.

    Returns ``uint8`` of shape ``(n, 2, L)``; raises :class:`InputError` naming the
    row and column of the first letter outside ``RFMBN`` or of a ragged row.
    """
    codes = _as_byte_matrix(seqs, source)  # (n, L)
    first, second = _FIRST[codes], _SECOND[codes]  # (n, L) each
    if np.any(first == _INVALID):
        row, col = (int(i[0]) for i in np.nonzero(first == _INVALID))
        raise InputError(
            f"unknown genotype letter {chr(codes[row, col])!r}",
            path=source,
            where=f"row {row}, position {col}",
            expected=f"one of {GENOTYPE_ALPHABET}{MISSING_CHAR}",
        )
    return np.stack([first, second], axis=1)  # (n, 2, L)


def decode_haplotypes(haplotypes: np.ndarray) -> list[str]:
    """Join haplotype pairs ``(n, 2, L)`` back into genotype strings (missing -> ``N``)."""
    haplotypes = np.asarray(haplotypes, dtype=np.uint8)
    if haplotypes.ndim != 3 or haplotypes.shape[1] != 2:
        raise ValueError(f"expected haplotypes of shape (n, 2, L), got {haplotypes.shape}")
    first, second = haplotypes[:, 0], haplotypes[:, 1]  # (n, L)
    missing = (first == MISSING_ALLELE) | (second == MISSING_ALLELE)
    if np.any(((first > 1) | (second > 1)) & ~missing):
        raise ValueError("haplotype alleles must be 0, 1 or MISSING_ALLELE")
    pair = np.where(missing, 0, first + 2 * second)
    chars = np.where(missing, ord(MISSING_CHAR), _CHAR_OF_PAIR[pair]).astype(np.uint8)  # (n, L)
    length = chars.shape[1]
    raw = chars.tobytes().decode("ascii")
    return [raw[i * length : (i + 1) * length] for i in range(chars.shape[0])]


def dosage(haplotypes: np.ndarray) -> np.ndarray:
    """Alternative-allele count per SNP, ``(n, L)`` float32 with NaN where either allele is missing."""
    haplotypes = np.asarray(haplotypes)
    missing = np.any(haplotypes == MISSING_ALLELE, axis=1)
    counts = haplotypes.sum(axis=1, dtype=np.float32)
    counts[missing] = np.nan
    return counts
