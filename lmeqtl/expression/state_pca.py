"""Unsupervised per-SNP reductions of the MLM's hidden states (fitted on haplotypes, never on expression).

- :func:`per_snp_pca` / :func:`project`: each SNP's top PCs over every haplotype, the scores
  summed over a person's two haplotypes (the contextual method's ``reduction="pca"``).
- :func:`alt_pca` / :func:`project_alt`: each SNP's top PCs over the haplotypes that carry its
  ALT allele only, scored on those haplotypes only (``reduction="alt_pca"``). With the ALT
  dosage beside them, a person's features are how many ALT alleles they carry and in which
  haplotype contexts: a same-haplotype interaction ``a_s * a_t`` is linear in these features
  whenever the state at ``s`` carries the allele at ``t``, and no dosage sees the phase.

States are ``(m, 2, S, d)`` (people, haplotype, SNP, hidden size); PCs are ``(S, k, d)`` with
each PC's largest loading positive (a fixed sign, so refits agree).
"""

from __future__ import annotations

import numpy as np


def pca_by_snp(z: np.ndarray, components: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per SNP, the mean ``(S, d)`` and top PCs ``(S, k, d)`` of ``z (S, N, d)``; each PC's largest loading > 0.

    ``rows (S, N)`` 0/1: per SNP, the rows that count (None: all); a SNP with fewer than 2 gets zeros.
    """
    if rows is None:
        mean = z.mean(axis=1)  # (S, d)
        zc = z - mean[:, None, :]
        covariance = zc.transpose(0, 2, 1) @ zc / zc.shape[1]  # (S, d, d)
    else:
        weight = np.asarray(rows, dtype=z.dtype)[..., None]  # (S, N, 1)
        count = np.maximum(weight.sum(axis=1), 1)  # (S, 1)
        mean = (z * weight).sum(axis=1) / count  # (S, d)
        zc = (z - mean[:, None, :]) * weight  # rows that do not count are zero
        covariance = zc.transpose(0, 2, 1) @ zc / count[..., None]  # (S, d, d)
    _, vectors = np.linalg.eigh(covariance)  # ascending eigenvalues; columns are eigenvectors
    top = vectors[:, :, ::-1][:, :, :min(components, z.shape[2])].transpose(0, 2, 1)  # (S, k, d)
    largest = np.take_along_axis(top, np.abs(top).argmax(axis=2)[..., None], axis=2)  # (S, k, 1)
    top = top * np.where(largest < 0, -1.0, 1.0).astype(top.dtype)
    if rows is not None:
        too_few = np.asarray(rows).sum(axis=1) < 2
        mean[too_few], top[too_few] = 0.0, 0.0
    return mean, top


def _by_snp(states: np.ndarray) -> np.ndarray:
    """States ``(m, 2, S, d)`` as ``(S, 2m, d)``: every haplotype one row, per SNP (float64)."""
    m, _, n_snps, d = states.shape
    return np.asarray(states, dtype=np.float64).reshape(2 * m, n_snps, d).transpose(1, 0, 2)


def per_snp_pca(states: np.ndarray, components: int) -> tuple[np.ndarray, np.ndarray]:
    """Per SNP, the mean ``(S, d)`` and top ``components`` PCs ``(S, k, d)`` of its states ``(m, 2, S, d)``.

    Every haplotype counts once; each PC's largest loading is made positive (a fixed sign).
    """
    return pca_by_snp(_by_snp(states), components)


def project(states: np.ndarray, mean: np.ndarray, pcs: np.ndarray) -> np.ndarray:
    """States ``(m, 2, S, d)`` on their SNP's PCs ``(S, k, d)``, summed over the two haplotypes: ``(m, S * k)``."""
    centred = np.asarray(states, dtype=np.float64) - mean  # (m, 2, S, d)
    scores = np.einsum("mhsd,skd->msk", centred, pcs, optimize=True)  # (m, S, k), summed over h
    return scores.reshape(len(states), -1)


def alt_pca(states: np.ndarray, alt: np.ndarray, components: int) -> tuple[np.ndarray, np.ndarray]:
    """Per SNP, the mean ``(S, d)`` and top PCs ``(S, k, d)`` of the states of the haplotypes that carry
    its ALT allele: ``states (m, 2, S, d)``, ``alt (m, 2, S)`` 0/1 alleles.

    A SNP with fewer than 2 ALT-carrying haplotypes gets a zero mean and zero PCs (no context to read).
    """
    m, _, n_snps, _ = states.shape
    return pca_by_snp(_by_snp(states), components, np.asarray(alt).reshape(2 * m, n_snps).T)  # rows: ALT haplotypes


def project_alt(states: np.ndarray, alt: np.ndarray, mean: np.ndarray, pcs: np.ndarray) -> np.ndarray:
    """ALT dosage and ALT-context scores per SNP: ``(m, S * (1 + k))``, each SNP's block ``[dosage, k scores]``.

    The scores are the states of the ALT-carrying haplotypes on their SNP's :func:`alt_pca` PCs,
    summed over those haplotypes (a REF haplotype adds nothing).
    """
    alt = np.asarray(alt, dtype=np.float64)  # (m, 2, S)
    centred = np.asarray(states, dtype=np.float64) - mean  # (m, 2, S, d)
    scores = np.einsum("mhsd,skd,mhs->msk", centred, pcs, alt, optimize=True)  # (m, S, k)
    return np.concatenate([alt.sum(axis=1)[..., None], scores], axis=2).reshape(len(alt), -1)
