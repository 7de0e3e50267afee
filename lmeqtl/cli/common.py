"""What the commands that run a trained MLM share: the model arguments and loading model + cohort."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmeqtl.mlm.checkpoint import checkpoint_genes, load_model
from lmeqtl.mlm.model import HaplotypeMLM


def add_model_arguments(parser) -> None:  # noqa: ANN001 - argparse.ArgumentParser
    """``--checkpoint`` (alias ``--model_weight``), ``--dataset``, ``--meta``: the arguments of every
    command that runs a trained MLM on a dataset (:func:`load_model_and_cohort` reads them)."""
    parser.add_argument("--checkpoint", "--model_weight", dest="checkpoint", required=True,
                        help="checkpoint directory written by 'lmeqtl train', or an original weights file")
    parser.add_argument("--dataset", required=True, help="dataset.parquet")
    parser.add_argument("--meta", help="meta.csv.gz (default: next to the dataset)")


def load_model_and_cohort(args) -> tuple[HaplotypeMLM, dict, Any]:  # noqa: ANN001 - argparse.Namespace
    """The model of ``args.checkpoint`` and the cohort of ``args.dataset``/``args.meta``, its genes
    in the model's embedding order (see :func:`add_model_arguments`)."""
    from lmeqtl.data.cohort import load_cohort

    model, info = load_model(args.checkpoint, args.dataset)
    meta = args.meta or str(Path(args.dataset).parent / "meta.csv.gz")
    return model, info, load_cohort(args.dataset, meta, genes=checkpoint_genes(info) if info.get("genes") else None)
