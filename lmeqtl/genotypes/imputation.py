"""RQ1: genotype reconstruction with the haplotype MLM, without retraining.

A person's genotype at a masked SNP is unknown on BOTH haplotypes, so:

- :class:`GenotypeDataset` yields the two haplotypes of one person together, with one mask
  ``(L,)`` for the person; :func:`collate_genotypes` keeps the pair adjacent in the batch
  (rows ``2i`` and ``2i + 1`` are the haplotypes of person ``i``) and puts the MASK token
  at the masked SNPs of both rows;
- :func:`genotype_masks` draws the masks once per gene from the seed: the same SNPs in
  every person (untyped markers, as in imputation from a reference panel);
- the model predicts ``p1, p2`` = P(ALT) on each haplotype; assuming the haplotypes
  independent given the context, P(dosage 0, 1, 2) = ``((1-p1)(1-p2), p1(1-p2) + (1-p1)p2,
  p1 p2)`` (:func:`genotype_probabilities`); the call is its argmax and the expected
  dosage ``p1 + p2`` is what dosage r² uses.

Every method (the MLM, Beagle in :mod:`lmeqtl.genotypes.beagle`, the most-frequent-genotype
baseline) returns an :class:`Imputation` over the same (SNP, person) entries, and
:mod:`lmeqtl.genotypes.metrics` scores them all the same way.
"""

from __future__ import annotations

import time
import zlib
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from lmeqtl.config import GenotypeEvalConfig
from lmeqtl.data.cohort import Cohort
from lmeqtl.data.encoding import MISSING_ALLELE
from lmeqtl.mlm.distributed import resolve_device
from lmeqtl.mlm.masking import MASK, maf_bins, select_positions


@dataclass
class Imputation:
    """One method's reconstruction of the masked genotypes: ``M`` (SNP, person) entries."""

    method: str
    snp: np.ndarray  # (M,) row of cohort.meta
    person: np.ndarray  # (M,) row of RQ1Setup.sample_ids
    true_alleles: np.ndarray  # (M, 2) uint8, haplotype 0 and 1
    genotype_prob: np.ndarray  # (M, 3) P(dosage = 0, 1, 2)
    p_alt: np.ndarray | None = None  # (M, 2) P(ALT) per haplotype; None for unphased methods
    seconds: float = float("nan")

    @property
    def true_dosage(self) -> np.ndarray:
        return self.true_alleles.sum(axis=1).astype(np.int64)  # (M,)

    @property
    def expected_dosage(self) -> np.ndarray:
        return self.genotype_prob @ np.array([0.0, 1.0, 2.0])  # (M,)

    @property
    def called(self) -> np.ndarray:
        return self.genotype_prob.argmax(axis=1)  # (M,)


@dataclass
class RQ1Setup:
    """Who is imputed and what is masked: shared by every method."""

    sample_ids: np.ndarray  # (n,) test-split people, cohort order
    masks: dict[str, np.ndarray]  # gene -> (n, L) bool, the masked genotypes
    config: GenotypeEvalConfig


def genotype_probabilities(p_alt: np.ndarray) -> np.ndarray:
    """``(..., 2)`` P(ALT) of the two haplotypes -> ``(..., 3)`` P(dosage 0, 1, 2)."""
    p1, p2 = p_alt[..., 0], p_alt[..., 1]
    return np.stack([(1 - p1) * (1 - p2), p1 * (1 - p2) + (1 - p1) * p2, p1 * p2], axis=-1)


def genotype_masks(n_people: int, length: int, rng: np.random.Generator, *, rate: float = 0.2,
                   edge_frame: int = 30, strategy: str = "uniform", bins: np.ndarray | None = None) -> np.ndarray:
    """Masked genotypes ``(n_people, L)`` bool: the same SNPs in every person."""
    chosen = select_positions(1, length, rng, rate=rate, edge_frame=edge_frame, strategy=strategy, bins=bins)
    return np.broadcast_to(chosen, (n_people, length)).copy()


def make_setup(cohort: Cohort, config: GenotypeEvalConfig, split: str = "test") -> RQ1Setup:
    """The people (a seeded subset of ``split`` when ``max_samples``) and each gene's masks."""
    ids = cohort.sample_ids[cohort.split_mask(split)]
    if config.max_samples is not None and config.max_samples < len(ids):
        keep = np.random.default_rng([config.seed, 11]).choice(len(ids), config.max_samples, replace=False)
        ids = ids[np.sort(keep)]
    masks = {}
    for gene in cohort.genes:
        length = cohort.haplotypes[gene].shape[2]
        rng = np.random.default_rng([config.seed, zlib.crc32(gene.encode())])
        masks[gene] = genotype_masks(len(ids), length, rng, rate=config.mask_rate, edge_frame=config.edge_frame,
                                     strategy=config.mask_strategy, bins=maf_bins(cohort.gene_meta(gene)["AF"]))
    return RQ1Setup(ids, masks, config)


class GenotypeDataset(Dataset):
    """Person ``i`` of one gene: both haplotypes ``(2, L)`` and the person's genotype mask ``(L,)``."""

    def __init__(self, haplotypes: np.ndarray, masks: np.ndarray, gene_index: int) -> None:
        if haplotypes.ndim != 3 or haplotypes.shape[1] != 2 or masks.shape != (haplotypes.shape[0], haplotypes.shape[2]):
            raise ValueError(f"expected haplotypes (n, 2, L) and masks (n, L), got {haplotypes.shape}, {masks.shape}")
        self.haplotypes, self.masks, self.gene_index = haplotypes, masks, gene_index

    def __len__(self) -> int:
        return len(self.haplotypes)

    def __getitem__(self, i: int) -> dict:
        return {"alleles": self.haplotypes[i], "masked": self.masks[i], "person": i, "gene": self.gene_index}


@dataclass
class GenotypeBatch:
    """People in a batch, haplotypes paired: rows ``2i, 2i+1`` of ``tokens``/``alleles`` are person ``i``."""

    tokens: torch.Tensor  # (2B, L) int64: MASK at the masked SNPs of both haplotypes (and missing alleles)
    alleles: torch.Tensor  # (2B, L) uint8 true alleles (MISSING_ALLELE where missing)
    masked: torch.Tensor  # (B, L) bool: genotypes to reconstruct
    gene: torch.Tensor  # (2B,) int64
    person: torch.Tensor  # (B,) int64


def collate_genotypes(items: list[dict]) -> GenotypeBatch:
    """Stack people so that each person's two haplotypes stay adjacent and share the mask."""
    alleles = np.stack([item["alleles"] for item in items])  # (B, 2, L)
    masked = np.stack([item["masked"] for item in items])  # (B, L)
    tokens = alleles.astype(np.int64)
    tokens[np.broadcast_to(masked[:, None, :], tokens.shape) | (alleles == MISSING_ALLELE)] = MASK
    batch, _, length = alleles.shape
    return GenotypeBatch(torch.from_numpy(tokens.reshape(2 * batch, length)),
                         torch.from_numpy(np.ascontiguousarray(alleles.reshape(2 * batch, length))),
                         torch.from_numpy(masked), torch.tensor([item["gene"] for item in items]).repeat_interleave(2),
                         torch.tensor([item["person"] for item in items]))


@torch.no_grad()
def predict_masked(model: torch.nn.Module, dataset: GenotypeDataset, batch_size: int = 8,
                   device: str | torch.device = "cpu", progress: bool = False) -> tuple[np.ndarray, ...]:
    """P(ALT) of both haplotypes at every scored masked genotype of one gene.

    Returns ``(person (M,), position (M,), true_alleles (M, 2), p_alt (M, 2))``; genotypes
    with a missing allele are not scored.
    """
    device = torch.device(device)
    loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collate_genotypes)
    parts = []
    for batch in tqdm(loader, disable=not progress, leave=False, desc="people"):
        logits = model(batch.tokens.to(device), batch.gene.to(device)).float()  # (2B, L, 2)
        p_alt = logits.softmax(-1)[..., 1].cpu().view(-1, 2, logits.shape[1])  # (B, 2, L)
        alleles = batch.alleles.view(-1, 2, logits.shape[1])  # (B, 2, L)
        scored = batch.masked & (alleles != MISSING_ALLELE).all(1)  # (B, L)
        row, position = torch.nonzero(scored, as_tuple=True)
        parts.append((batch.person[row].numpy(), position.numpy(),
                      alleles[row, :, position].numpy(), p_alt[row, :, position].numpy().astype(np.float64)))
    return tuple(np.concatenate(columns) for columns in zip(*parts, strict=True))


def impute_mlm(model: torch.nn.Module, cohort: Cohort, setup: RQ1Setup, *, gene_map: dict[str, int] | None = None,
               device: str | torch.device = "auto", progress: bool = True, method: str = "MLM") -> Imputation:
    """The MLM's reconstruction of every masked genotype of ``setup``, gene by gene."""
    gene_map = gene_map or cohort.gene_index()
    resolved = resolve_device(device)
    model = model.to(resolved).eval()
    people = cohort.subset(setup.sample_ids)
    start, offset, parts = time.perf_counter(), 0, []
    for gene in tqdm(cohort.genes, disable=not progress, desc=f"{method}: genes"):
        dataset = GenotypeDataset(people.haplotypes[gene], setup.masks[gene], gene_map[gene])
        person, position, truth, p_alt = predict_masked(model, dataset, setup.config.batch_size, resolved)
        parts.append((offset + position, person, truth, p_alt))  # snp = row of cohort.meta
        offset += people.haplotypes[gene].shape[2]
    snp, person, truth, p_alt = (np.concatenate(c) for c in zip(*parts, strict=True))
    return Imputation(method, snp, person, truth, genotype_probabilities(p_alt), p_alt, time.perf_counter() - start)


def masked_entries(cohort: Cohort, setup: RQ1Setup) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(snp (M,), person (M,), true_alleles (M, 2))`` of every scored masked genotype, in MLM order."""
    people = cohort.subset(setup.sample_ids)
    offset, parts = 0, []
    for gene in cohort.genes:
        haplotypes = people.haplotypes[gene]  # (n, 2, L)
        scored = setup.masks[gene] & (haplotypes != MISSING_ALLELE).all(axis=1)  # (n, L)
        person, position = np.nonzero(scored)
        parts.append((offset + position, person, haplotypes[person, :, position]))
        offset += haplotypes.shape[2]
    return tuple(np.concatenate(c) for c in zip(*parts, strict=True))


def impute_most_frequent(cohort: Cohort, setup: RQ1Setup, reference_split: str = "train") -> Imputation:
    """The trivial baseline: each SNP's most frequent genotype in the reference split (ties: lower dosage)."""
    start = time.perf_counter()
    reference = cohort.split_mask(reference_split)
    counts = []
    for gene in cohort.genes:
        dosage = cohort.dosage(gene)[reference]  # (n_ref, L), NaN where missing
        counts.append(np.stack([(dosage == d).sum(axis=0) for d in range(3)], axis=1))  # (L, 3)
    most_frequent = np.concatenate(counts).argmax(axis=1)  # (n_snps,)
    snp, person, truth = masked_entries(cohort, setup)
    prob = np.eye(3)[most_frequent[snp]]  # (M, 3)
    return Imputation("most frequent genotype", snp, person, truth, prob, None, time.perf_counter() - start)
