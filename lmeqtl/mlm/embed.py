"""Haplotype embeddings: one block's hidden state pooled over positions, per (sample, gene, haplotype).

Modes (``EmbedConfig.mode``), all on whole sequences in eval mode:

``single``
    one unmasked pass per haplotype (the fast default);
``masked``
    one pass with ``mask_rate`` of the positions (outside the 30-SNP edge frame that
    training never masks) replaced by the MASK token; the mask of a haplotype is seeded by
    ``(seed, gene, sample, haplotype)``, so it does not depend on batching or sample order;
``rolling``
    the original lm-eqtl's rolling mask: ``k`` copies of the haplotype, position ``i``
    masked in copy ``i % k`` (every position masked exactly once); position ``i``'s state
    is taken from the copy that masks it, then pooled. The ``k`` copies of several
    haplotypes go through the model together, ``batch_size`` sequences per pass.

Pooling (``EmbedConfig.pooling``): ``mean`` over all positions, or
``tss_window``: the mean over the ``tss_window`` SNPs nearest the gene's TSS (given, or
the middle of the window in bp, which for the nearest-N-SNP windows of ``prepare`` is
close to it).

Storage (resumable, :mod:`lmeqtl.mlm.embed_store`): :func:`embed_cohort` with ``out_dir``
writes one ``<gene>.npz`` per gene (``embeddings (n, 2, H) float32``, ``sample_id``,
``split``), atomically; a gene whose file has the same key (model weights, configuration,
samples, their haplotypes) is read back instead of recomputed. :func:`load_embeddings`
reads a directory into :class:`Embeddings` (``E[gene]`` is ``(n, 2, H)``, rows
``E.sample_ids``); :meth:`Embeddings.to_frame` is the long table ``sample_id, gene_id,
haplotype, split, e0..`` (parquet). :func:`mode_agreement` compares modes.
"""

from __future__ import annotations

import dataclasses
import os
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from lmeqtl.config import EmbedConfig
from lmeqtl.data.cohort import Cohort
from lmeqtl.data.encoding import MISSING_ALLELE
from lmeqtl.data.io import write_json
from lmeqtl.mlm.checkpoint import checkpoint_genes
from lmeqtl.mlm.checkpoint import (
    load_model as load_model,  # notebooks call lmeqtl.mlm.embed.load_model
)
from lmeqtl.mlm.distributed import resolve_device
from lmeqtl.mlm.embed_store import (
    FORMAT,
    MANIFEST,
    Embeddings,
    gene_file,
    load_embeddings,
    model_fingerprint,
    read_gene_file,
    resume_key,
    write_gene_file,
)
from lmeqtl.mlm.masking import MASK, select_positions

__all__ = ["MODES", "POOLINGS", "Embeddings", "describe", "embed_cohort", "embed_haplotypes", "gene_file", "hidden_batch",
           "load_embeddings", "mode_agreement", "pool", "tss_window_index", "unmasked_tokens"]

MODES = ("single", "masked", "rolling")
POOLINGS = ("mean", "tss_window")


def describe(config: EmbedConfig, n_layers: int) -> str:
    """The embedding in words, e.g. "the mean over the SNPs of the output of block 4 of 4, in single mode"."""
    layer = config.layer if config.layer >= 0 else n_layers + 1 + config.layer
    where = "the input of block 1" if layer == 0 else f"the output of block {layer} of {n_layers}"
    pooled = {"mean": "the mean over the SNPs",
              "tss_window": f"the mean over the {config.tss_window} SNPs nearest the TSS"}[config.pooling]
    mode = {"single": "one unmasked pass", "masked": f"one pass with {config.mask_rate:.0%} of the SNPs masked",
            "rolling": f"a rolling mask over {config.rolling_copies} copies"}[config.mode]
    return f"{pooled} of {where}, from {mode}"


def check_config(config: EmbedConfig) -> None:
    if config.mode not in MODES:
        raise ValueError(f"unknown embedding mode {config.mode!r}; choose one of {MODES}")
    if config.pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {config.pooling!r}; choose one of {POOLINGS}")
    if config.mode == "rolling" and config.rolling_copies < 1:
        raise ValueError(f"rolling_copies must be >= 1, got {config.rolling_copies}")


def tss_window_index(positions: np.ndarray, size: int, tss: int | None = None) -> np.ndarray:
    """Indices (sorted) of the ``size`` SNPs nearest ``tss`` (default: the middle of the window in bp)."""
    positions = np.asarray(positions, dtype=np.int64)
    centre = (positions.min() + positions.max()) / 2 if tss is None else tss
    nearest = np.argsort(np.abs(positions - centre), kind="stable")[:size]
    return np.sort(nearest)


def pool(hidden: torch.Tensor, pooling: str, window: torch.Tensor | None = None) -> torch.Tensor:
    """``(B, L, H) -> (B, H)``: the mean over all positions, or over the positions in ``window``."""
    if pooling == "mean":
        return hidden.mean(1)
    return hidden[:, window].mean(1)


def masked_tokens(alleles: np.ndarray, keys: list[tuple[int, ...]], rate: float, seed: int) -> np.ndarray:
    """Tokens ``(n, L)``: ``rate`` of each haplotype's positions masked, seeded by ``(seed, *key)`` per row."""
    tokens = alleles.astype(np.int64)
    tokens[alleles == MISSING_ALLELE] = MASK
    for row, key in enumerate(keys):  # one draw per haplotype, not per SNP
        chosen = select_positions(1, alleles.shape[1], np.random.default_rng([seed, *key]), rate=rate)[0]
        tokens[row, chosen] = MASK
    return tokens


def rolling_rows(n_haplotypes: int, copies: int) -> tuple[np.ndarray, np.ndarray]:
    """(haplotype, copy) of each rolling row, haplotype-major: ``(n * k,)`` each."""
    return np.repeat(np.arange(n_haplotypes), copies), np.tile(np.arange(copies), n_haplotypes)


def unmasked_tokens(alleles: np.ndarray) -> np.ndarray:
    """Model input ``(..., L)`` int64 of haplotypes ``alleles (..., L)``: the alleles, MASK where missing."""
    return np.where(alleles == MISSING_ALLELE, MASK, alleles).astype(np.int64)


def hidden_batch(model: torch.nn.Module, tokens: np.ndarray, gene: int, layer: int,
                 device: torch.device) -> torch.Tensor:
    """Hidden state ``(B, L, H)`` float32 at ``layer`` (an index into ``model.hidden_states``) of tokens ``(B, L)``."""
    tokens_t = torch.from_numpy(tokens).to(device)  # (B, L)
    genes = torch.full((len(tokens),), gene, dtype=torch.long, device=device)
    return model.hidden_states(tokens_t, genes)[layer].float()  # (B, L, H)


@torch.no_grad()
def embed_haplotypes(model: torch.nn.Module, alleles: np.ndarray, gene: int, config: EmbedConfig | None = None,
                     *, keys: list[tuple[int, ...]] | None = None, window: np.ndarray | None = None,
                     device: str | torch.device = "cpu", progress: bool = False) -> np.ndarray:
    """Pooled embeddings ``(n, H)`` float32 of haplotypes ``alleles (n, L)`` of gene index ``gene``.

    ``keys``: one tuple of ints per haplotype that seeds its mask (``masked`` mode);
    ``window``: SNP indices for ``tss_window`` pooling. ``model`` must be in eval mode.
    """
    config = config or EmbedConfig()
    check_config(config)
    device = torch.device(device)
    alleles = np.asarray(alleles, dtype=np.uint8)
    n, length = alleles.shape
    window_t = None if window is None else torch.as_tensor(window, device=device)
    if config.pooling == "tss_window" and window_t is None:
        raise ValueError("tss_window pooling needs the window's SNP indices")
    out = []
    if config.mode in ("single", "masked"):
        if config.mode == "single":
            tokens = unmasked_tokens(alleles)
        else:
            tokens = masked_tokens(alleles, keys or [(i,) for i in range(n)], config.mask_rate, config.seed)
        for lo in tqdm(range(0, n, config.batch_size), disable=not progress, leave=False, desc="batches"):
            hidden = hidden_batch(model, tokens[lo:lo + config.batch_size], gene, config.layer, device)
            out.append(pool(hidden, config.pooling, window_t).cpu())
        return torch.cat(out).numpy().astype(np.float32)
    copies = min(config.rolling_copies, length)
    base = unmasked_tokens(alleles)
    per_group = max(1, -(-config.batch_size // copies))  # haplotypes whose copies share passes
    position = np.arange(length)
    for start in tqdm(range(0, n, per_group), disable=not progress, leave=False, desc="haplotypes"):
        group = base[start:start + per_group]  # (g, L)
        states = None  # (g, L, H): each position's state from the copy that masks it
        hap, copy = rolling_rows(len(group), copies)
        for lo in range(0, len(hap), config.batch_size):
            h, c = hap[lo:lo + config.batch_size], copy[lo:lo + config.batch_size]
            masked = position[None, :] % copies == c[:, None]  # (b, L)
            tokens = np.where(masked, MASK, group[h])
            hidden = hidden_batch(model, tokens, gene, config.layer, device)  # (b, L, H)
            if states is None:
                states = hidden.new_empty(len(group), length, hidden.shape[-1])
            rows, cols = np.nonzero(masked)
            states[torch.as_tensor(h[rows], device=device), torch.as_tensor(cols, device=device)] = \
                hidden[torch.as_tensor(rows, device=device), torch.as_tensor(cols, device=device)]
        out.append(pool(states, config.pooling, window_t).cpu())
    return torch.cat(out).numpy().astype(np.float32)


def mode_agreement(embeddings: dict[str, np.ndarray]) -> pd.DataFrame:
    """How alike the embeddings of different modes are, for the same haplotypes ``(n, H)`` each.

    Per pair of modes: the mean and minimum cosine similarity of a haplotype's two
    embeddings, and the Pearson r of each dimension across haplotypes, averaged over the
    dimensions that vary in both.
    """
    names, rows = list(embeddings), []
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            x, y = np.asarray(embeddings[a], dtype=np.float64), np.asarray(embeddings[b], dtype=np.float64)
            cosine = (x * y).sum(1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))
            xc, yc = x - x.mean(0), y - y.mean(0)
            with np.errstate(invalid="ignore", divide="ignore"):
                r = (xc * yc).sum(0) / np.sqrt((xc * xc).sum(0) * (yc * yc).sum(0))  # (H,)
            rows.append({"modes": f"{a} vs {b}", "cosine_mean": cosine.mean(), "cosine_min": cosine.min(),
                         "pearson_per_dim_mean": float(np.nanmean(r)) if np.isfinite(r).any() else np.nan})
    return pd.DataFrame(rows)


def _crc(text: str) -> int:
    return zlib.crc32(str(text).encode())


def embed_cohort(model: torch.nn.Module, cohort: Cohort, samples: list[str] | np.ndarray | None = None,
                 split: str | None = "test", *, config: EmbedConfig | None = None,
                 out_dir: str | os.PathLike[str] | None = None, gene_map: dict[str, int] | None = None,
                 tss: dict[str, int] | None = None, genes: list[str] | None = None,
                 device: str | torch.device = "auto", progress: bool = True) -> Embeddings:
    """Embed both haplotypes of ``samples`` (default: every sample of ``split``; None: all) for each gene.

    ``gene_map``: the model's gene -> index map (a checkpoint's ``info["genes"]``; default
    the cohort's order). ``tss``: gene -> TSS position for ``tss_window`` pooling. With
    ``out_dir``, genes are written one file each and finished genes are skipped.
    """
    config = config or EmbedConfig()
    check_config(config)
    gene_map = gene_map or cohort.gene_index()
    genes = list(genes or cohort.genes)
    if samples is None:
        ids = cohort.sample_ids if split is None else cohort.sample_ids[cohort.split_mask(split)]
    else:
        ids = np.asarray(list(samples))
    people = cohort.subset(ids)
    splits = people.samples["split"].to_numpy().astype(str)
    resolved = resolve_device(device)
    model = model.to(resolved).eval()
    weights = model_fingerprint(model) if out_dir is not None else ""
    by_gene = {}
    for gene in tqdm(genes, disable=not progress, desc=f"embed ({config.mode})"):
        haplotypes = people.haplotypes[gene]  # (n, 2, L)
        positions = cohort.gene_meta(gene)["pos"].to_numpy()
        window = tss_window_index(positions, config.tss_window, (tss or {}).get(gene)) \
            if config.pooling == "tss_window" else None
        key = resume_key(weights, config, gene, gene_map[gene], ids, haplotypes, window) if out_dir is not None else ""
        path = gene_file(out_dir, gene) if out_dir is not None else None
        if path is not None and path.exists():
            stored = read_gene_file(path)
            if str(stored.get("key")) == key:
                by_gene[gene] = stored["embeddings"]
                continue
        keys = [(_crc(gene), _crc(sample), hap) for sample in ids for hap in (0, 1)]
        flat = embed_haplotypes(model, haplotypes.reshape(-1, haplotypes.shape[2]), gene_map[gene], config,
                                keys=keys, window=window, device=resolved)
        by_gene[gene] = flat.reshape(len(ids), 2, -1)  # (n, 2, H)
        if path is not None:
            write_gene_file(path, by_gene[gene], ids, splits, gene, key)
    if out_dir is not None:
        write_json(Path(out_dir) / MANIFEST, {"format": FORMAT, "config": dataclasses.asdict(config),
                                                 "model_sha256": weights, "genes": genes, "n_samples": len(ids)})
    return Embeddings(ids.astype(str), splits, by_gene, dataclasses.asdict(config))


# --------------------------------------------------------------------------------------
# lmeqtl embed
# --------------------------------------------------------------------------------------


def genes_in_model_order(info: dict) -> list[str] | None:
    """The genes of a checkpoint's map by embedding index (None when it has no map)."""
    return checkpoint_genes(info) if info.get("genes") else None

