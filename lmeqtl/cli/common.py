"""What the commands that run a trained MLM share: the model arguments and loading model + cohort."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lmeqtl.cli.options import add_threads_argument
from lmeqtl.errors import InputError
from lmeqtl.mlm.checkpoint import check_fits_data, checkpoint_genes, load_model
from lmeqtl.mlm.model import HaplotypeMLM


def add_model_arguments(parser) -> None:  # noqa: ANN001 - argparse.ArgumentParser
    """``--checkpoint`` (alias ``--model_weight``), ``--dataset``, ``--meta``, ``--threads``,
    ``--allow-other-data``: the arguments of every command that runs a trained MLM on a dataset
    (:func:`load_model_and_cohort` reads them)."""
    parser.add_argument("--checkpoint", "--model_weight", dest="checkpoint", required=True,
                        help="checkpoint directory written by 'lmeqtl train', or an original weights file")
    parser.add_argument("--dataset", required=True, help="dataset.parquet")
    parser.add_argument("--meta", help="meta.csv.gz (default: next to the dataset)")
    parser.add_argument("--allow-other-data", dest="allow_other_data", action="store_true",
                        help="run even when the dataset's genes or SNP counts differ from the checkpoint's "
                             "(with a warning); default: refuse")
    add_threads_argument(parser)


def meta_path(args) -> str:  # noqa: ANN001 - argparse.Namespace
    return str(args.meta or Path(args.dataset).parent / "meta.csv.gz")


def load_model_and_cohort(args) -> tuple[HaplotypeMLM, dict, Any]:  # noqa: ANN001 - argparse.Namespace
    """The model of ``args.checkpoint`` and the cohort of ``args.dataset``/``args.meta``, its genes
    in the model's embedding order (see :func:`add_model_arguments`).

    A checkpoint trained on other genes or other SNP windows is refused (or, with
    ``--allow-other-data``, used with a warning on stderr).
    """
    from lmeqtl.data.cohort import load_cohort
    from lmeqtl.data.io import read_meta

    model, info = load_model(args.checkpoint, args.dataset)
    meta = meta_path(args)
    problems = check_fits_data(info, read_meta(meta), args.checkpoint, meta, allow=args.allow_other_data)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    genes = checkpoint_genes(info) if info.get("genes") else None
    if genes is not None and problems:  # allowed: the genes both have, in the model's order
        from lmeqtl.data.io import read_dataset

        present = set(read_dataset(args.dataset)["gene_id"])
        genes = [g for g in genes if g in present]
    return model, info, load_cohort(args.dataset, meta, genes=genes)


def require_split(cohort, split: str | None, dataset: str) -> None:  # noqa: ANN001 - a Cohort
    """Refuse an empty split (a test split of 0 people would give a table of NaN)."""
    if split is None:
        return
    n = int(cohort.split_mask(split).sum())
    if n == 0:
        found = sorted(set(cohort.samples["split"]))
        raise InputError(f"the {split!r} split has no samples (splits present: {found})", path=dataset,
                         where="option --split", expected=f"a dataset with {split!r} samples (prepare "
                         "--test-super-pops), or another --split")
