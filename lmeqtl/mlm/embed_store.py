"""Embeddings on disk: one ``<gene>.npz`` per gene, written atomically, with a resume key.

Each file holds ``embeddings (n, 2, H) float32``, ``sample_id (n,)``, ``split (n,)``,
``gene_id`` and ``key``: a sha256 of the model weights, the embedding configuration, the
gene and its model index, the sample ids and their haplotypes. :func:`lmeqtl.mlm.embed.embed_cohort`
skips a gene whose file has the key it would write. ``embed.json`` records the run.
Everything is numpy/JSON (``np.load(allow_pickle=False)``): no pickle.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from lmeqtl.config import EmbedConfig
from lmeqtl.data.io import atomic_path
from lmeqtl.errors import InputError

FORMAT = "lmeqtl-embeddings-v1"
MANIFEST = "embed.json"


@dataclass
class Embeddings:
    """Embeddings of ``n`` samples: per gene an array ``(n, 2, H)`` (haplotype 0 = first/"father")."""

    sample_ids: np.ndarray  # (n,) str
    splits: np.ndarray  # (n,) str
    by_gene: dict[str, np.ndarray]  # gene -> (n, 2, H) float32
    config: dict

    @property
    def genes(self) -> list[str]:
        return list(self.by_gene)

    def __getitem__(self, gene: str) -> np.ndarray:
        """``(n, 2, H)`` of one gene, rows in :attr:`sample_ids` order (what ``lmeqtl.expression`` takes)."""
        return self.by_gene[gene]

    def to_frame(self) -> pd.DataFrame:
        """Long table: one row per (sample, gene, haplotype) with columns ``e0 .. e{H-1}``."""
        frames = []
        for gene, values in self.by_gene.items():
            n, _, width = values.shape
            frame = pd.DataFrame(values.reshape(n * 2, width), columns=[f"e{i}" for i in range(width)])
            frame.insert(0, "split", np.repeat(self.splits, 2))
            frame.insert(0, "haplotype", np.tile([0, 1], n))
            frame.insert(0, "gene_id", gene)
            frame.insert(0, "sample_id", np.repeat(self.sample_ids, 2))
            frames.append(frame)
        return pd.concat(frames, ignore_index=True)


def model_fingerprint(model: torch.nn.Module) -> str:
    """sha256 of the weights (names, shapes, bytes): what the resume key says about the model."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def gene_file(out_dir: str | os.PathLike[str], gene: str) -> Path:
    return Path(out_dir) / f"{str(gene).replace('/', '_')}.npz"


def resume_key(weights: str, config: EmbedConfig, gene: str, gene_index: int, sample_ids: np.ndarray,
         haplotypes: np.ndarray, window: np.ndarray | None) -> str:
    digest = hashlib.sha256()
    parts = [FORMAT, weights, json.dumps(dataclasses.asdict(config), sort_keys=True), gene, str(gene_index),
             "\n".join(map(str, sample_ids))]
    digest.update("\n".join(parts).encode())
    digest.update(np.ascontiguousarray(haplotypes).tobytes())
    if window is not None and config.pooling == "tss_window":
        digest.update(np.asarray(window, dtype=np.int64).tobytes())
    return digest.hexdigest()


def read_gene_file(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def write_gene_file(path: Path, embeddings: np.ndarray, sample_ids: np.ndarray, splits: np.ndarray, gene: str,
                    key: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, embeddings=embeddings, sample_id=np.asarray(sample_ids).astype(str),
                 split=np.asarray(splits).astype(str), gene_id=np.array(gene), key=np.array(key))


def load_embeddings(out_dir: str | os.PathLike[str], genes: list[str] | None = None) -> Embeddings:
    """Read the ``<gene>.npz`` files of a directory written by :func:`embed_cohort` (same samples in each)."""
    paths = [gene_file(out_dir, g) for g in genes] if genes else sorted(Path(out_dir).glob("*.npz"))
    if not paths:
        raise InputError("no embeddings found", path=out_dir, expected="<gene>.npz files written by lmeqtl embed")
    by_gene, ids, splits = {}, None, None
    for path in paths:
        if not path.exists():
            raise InputError("embeddings of this gene are missing", path=path, expected="written by lmeqtl embed")
        data = read_gene_file(path)
        if ids is None:
            ids, splits = data["sample_id"], data["split"]
        elif not np.array_equal(ids, data["sample_id"]):
            raise InputError("samples differ from the other genes' files", path=path,
                             expected="every gene embedded for the same samples")
        by_gene[str(data["gene_id"])] = data["embeddings"]
    config_path = Path(out_dir) / MANIFEST
    config = json.loads(config_path.read_text()).get("config", {}) if config_path.exists() else {}
    return Embeddings(ids, splits, by_gene, config)
