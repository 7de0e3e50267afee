"""Baselines for masked-allele prediction: the numbers an MLM must beat to mean something.

Both baselines are fitted on reference haplotypes (by default the train split, the people
the MLM learned from) and scored on exactly the masked haplotypes that
:func:`lmeqtl.mlm.evaluate.evaluate_mlm` scores for the same arguments (same people, subset and
masks, :func:`lmeqtl.mlm.evaluate.masked_batches`), into the same
:class:`~lmeqtl.mlm.evaluate.MLMEvaluation` tables:

``major allele``
    call the allele that is more frequent in the reference at every masked SNP. Its masked
    accuracy is the mean major-allele frequency of the masked SNPs (high: most SNPs are not
    common), its per-allele recall is 1 for the major and 0 for the minor allele, and its
    IQS is 0 by construction — a constant call agrees with the truth only by chance. This
    is why IQS, not accuracy, says how much a model reconstructs.
``LD tag SNP``
    call from one neighbour. For each SNP, the SNPs within ``window`` positions are ranked
    by their r² with it in the reference; a masked allele is called from the best-ranked
    neighbour that the haplotype shows (its token is not MASK, as the model sees it), as
    the SNP's more frequent allele given that neighbour's allele (the major allele when no
    neighbour is shown). What pairwise LD alone gives: an MLM that combines many
    neighbours should beat it, most of all at rare SNPs without a good single tag.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from lmeqtl.data.cohort import Cohort
from lmeqtl.mlm.evaluate import MLMEvaluation, masked_batches, tables
from lmeqtl.mlm.masking import ALT, N_ALLELES

BASELINES = ("major allele", "LD tag SNP")


@dataclass(frozen=True)
class TagModel:
    """One gene's LD tag-SNP caller (``L`` SNPs, ``K`` candidate neighbours each)."""

    major: np.ndarray  # (L,) uint8 major allele in the reference
    neighbour: np.ndarray  # (L, K) int64 neighbour SNP, best r² first; -1: none
    r2: np.ndarray  # (L, K) r² with that neighbour in the reference
    call: np.ndarray  # (L, K, 2) uint8 allele called when the neighbour shows allele 0 / 1


def major_alleles(haplotypes: np.ndarray) -> np.ndarray:
    """The more frequent allele ``(L,)`` of reference haplotypes ``(n, L)`` (missing ignored; ties: REF)."""
    haplotypes = np.asarray(haplotypes)
    alt = (haplotypes == ALT).sum(axis=0)
    ref = (haplotypes == 0).sum(axis=0)
    return (alt > ref).astype(np.uint8)


def fit_tag_model(haplotypes: np.ndarray, window: int = 20) -> TagModel:
    """Rank each SNP's neighbours within ``window`` by r² and tabulate the calls, from ``(n, L)`` haplotypes.

    Missing reference alleles count as the SNP's major allele. A loop over offsets
    (``window`` of them), not over SNPs.
    """
    haplotypes = np.asarray(haplotypes)
    major = major_alleles(haplotypes)
    x = np.where(haplotypes > ALT, major[None, :], haplotypes).astype(np.float32)  # (n, L)
    n_snps = x.shape[1]
    p = x.mean(axis=0, dtype=np.float64)  # (L,) alt allele frequency
    variance = p * (1 - p)
    offsets = [d for d in range(-window, window + 1) if d != 0]
    neighbour = np.full((n_snps, len(offsets)), -1, dtype=np.int64)
    r2 = np.full((n_snps, len(offsets)), -1.0)
    call = np.repeat(np.repeat(major[:, None, None], len(offsets), axis=1), N_ALLELES, axis=2)  # (L, K, 2)
    snp = np.arange(n_snps)
    for d in range(1, min(window, n_snps - 1) + 1):
        p11 = (x[:, :-d] * x[:, d:]).mean(axis=0, dtype=np.float64)  # (L - d,) pairs (i, i + d)
        for first, second, column in ((snp[:-d], snp[d:], offsets.index(d)), (snp[d:], snp[:-d], offsets.index(-d))):
            # SNP `first` gets neighbour `second`; p11 is indexed by the left SNP of the pair
            pi, pj = p[first], p[second]
            with np.errstate(divide="ignore", invalid="ignore"):
                value = (p11 - pi * pj) ** 2 / (variance[first] * variance[second])
            neighbour[first, column] = second
            r2[first, column] = np.where(np.isfinite(value), value, 0.0)
            # joint frequencies of (SNP allele, neighbour allele)
            both_alt, alt_ref = p11, pi - p11
            ref_alt, both_ref = pj - p11, 1 - pi - pj + p11
            for shown, alt_share, ref_share in ((1, both_alt, ref_alt), (0, alt_ref, both_ref)):
                call[first, column, shown] = np.where(alt_share > ref_share, 1,
                                                      np.where(alt_share < ref_share, 0, major[first]))
    order = np.argsort(-r2, axis=1, kind="stable")  # (L, K) best first; absent (-1) last
    return TagModel(major, np.take_along_axis(neighbour, order, axis=1), np.take_along_axis(r2, order, axis=1),
                    np.take_along_axis(call, order[..., None], axis=1))


def tag_calls(model: TagModel, tokens: np.ndarray) -> np.ndarray:
    """Alleles ``(B, L)`` called for input tokens ``(B, L)`` (REF/ALT/MASK) of one gene."""
    tokens = np.asarray(tokens)
    n_snps = tokens.shape[1]
    neighbour = np.maximum(model.neighbour, 0)  # (L, K)
    shown = (tokens[:, neighbour] <= ALT) & (model.neighbour >= 0)[None]  # (B, L, K)
    best = shown.argmax(axis=2)  # (B, L) first shown neighbour
    snp = np.arange(n_snps)[None, :]
    tag = neighbour[snp, best]  # (B, L)
    tag_allele = np.take_along_axis(tokens, tag, axis=1).clip(0, ALT)  # (B, L)
    called = model.call[snp, best, tag_allele]
    return np.where(shown.any(axis=2), called, model.major[None, :]).astype(np.int64)


def evaluate_baselines(cohort: Cohort, samples: Iterable[str] | None = None, split: str = "test", *,
                       reference_split: str = "train", window: int = 20, progress: bool = True,
                       **masks: Any) -> dict[str, MLMEvaluation]:
    """Score the :data:`BASELINES` on the masks that ``evaluate_mlm`` uses for the same arguments.

    ``masks``: the keyword arguments of :func:`~lmeqtl.mlm.evaluate.masked_batches`. Returns
    ``{name: MLMEvaluation}`` (``summary["loss"]`` is NaN: the calls are hard).
    """
    batches = masked_batches(cohort, samples, split, **masks)
    reference = cohort.split_mask(reference_split)
    models = [fit_tag_model(cohort.haplotypes[g][reference].reshape(-1, cohort.haplotypes[g].shape[2]), window)
              for g in tqdm(cohort.genes, desc="fit LD tags", disable=not progress, leave=False)]
    n_snps = len(cohort.meta)
    counts = np.zeros((len(BASELINES), n_snps * N_ALLELES * N_ALLELES))
    for batch in tqdm(batches.epoch(0), total=len(batches), desc="baselines", disable=not progress, leave=False):
        gene = int(batch.gene[0])  # evaluation batches hold one gene
        tokens, selected = batch.tokens.numpy(), batch.selected.numpy()
        truth = batch.alleles.numpy()[selected]
        snp = batch.snp[selected]
        calls = (models[gene].major[None, :].repeat(len(tokens), axis=0), tag_calls(models[gene], tokens))
        for b, called in enumerate(calls):
            flat = (snp * N_ALLELES + truth) * N_ALLELES + called[selected]
            counts[b] += np.bincount(flat, minlength=counts.shape[1])
    return {name: tables(counts[b].reshape(n_snps, N_ALLELES, N_ALLELES), math.nan, cohort)
            for b, name in enumerate(BASELINES)}
