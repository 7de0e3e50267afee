"""``truth/`` of a simulated cohort: what the simulation planted, as parquet tables and ``truth.json``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lmeqtl.data.io import atomic_path, read_json, write_json
from lmeqtl.errors import InputError


@dataclass
class Truth:
    """What the simulation planted (see :mod:`lmeqtl.simulate.expression` for definitions).

    genes: one row per gene (h2, realised h2, n_causal, interaction, TSS, expression scale).
    causal_snps: one row per causal SNP (gene_id, id, pos, seq_idx, effect, peaks, ...).
    enrichment: per histone mark, causal-SNP vs all-SNP share in peaks (realised fold).
    summary: the rest (configuration, counts), as JSON.
    """

    genes: pd.DataFrame
    causal_snps: pd.DataFrame
    enrichment: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)


_TRUTH_TABLES = {"genes": "genes.parquet", "causal_snps": "causal_snps.parquet",
                 "enrichment": "chromatin_enrichment.parquet"}


def write_truth(directory: str | os.PathLike[str], truth: Truth) -> None:
    root = Path(directory)
    for attribute, name in _TRUTH_TABLES.items():
        with atomic_path(root / name) as tmp:
            getattr(truth, attribute).to_parquet(tmp, index=False)
    write_json(root / "truth.json", truth.summary)


def read_truth(directory: str | os.PathLike[str]) -> Truth:
    """Read ``truth/``: the three parquet tables and ``truth.json``."""
    root = Path(directory)
    tables = {}
    for attribute, name in _TRUTH_TABLES.items():
        if not (root / name).exists():
            raise InputError("file not found", path=root / name, expected="the truth/ of `lmeqtl simulate`")
        tables[attribute] = pd.read_parquet(root / name)
    return Truth(**tables, summary=read_json(root / "truth.json"))
