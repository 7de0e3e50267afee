"""``lmeqtl finetune``: fine-tune a pretrained checkpoint on expression, on RQ2's outer folds.

Reads the prepared cohort (``dataset.parquet`` + ``meta.csv.gz``) and a GEUVADIS-layout
expression table, builds the expression table as RQ2 does (replicates averaged, the
preset's transform, people of one split), and writes :func:`finetune_expression`'s outputs
plus ``scores.csv`` (per-gene r and R², :func:`lmeqtl.expression.gene_results`).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from lmeqtl.config import FinetuneConfig

# FinetuneConfig field -> (flag, type)
_FLAGS = {
    "freeze": ("--freeze", str), "pooling": ("--pooling", str), "window_snps": ("--window-snps", int),
    "epochs": ("--epochs", int),
    "batch_size": ("--batch-size", int), "learning_rate": ("--learning-rate", float),
    "head_learning_rate": ("--head-learning-rate", float), "weight_decay": ("--weight-decay", float),
    "val_fraction": ("--val-fraction", float), "patience": ("--patience", int),
    "mlm_weight": ("--mlm-weight", float), "max_minutes": ("--max-minutes", float), "seed": ("--seed", int),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Fine-tune a pretrained haplotype MLM to predict expression (RQ3): freeze some layers "
        "(--freeze none | encoder | all_but_last_K | all), add a per-gene head on pooled states of both "
        "haplotypes (order-invariant), train per gene with early stopping on an inner validation split, "
        "on the same outer folds as RQ2 (--folds, or drawn as RQ2 draws them from the preset). "
        "Settings come from --preset, explicit flags override them. Resumes finished folds in OUTPUT_DIR.")
    parser.add_argument("--checkpoint", required=True, help="pretrained checkpoint directory (lmeqtl train)")
    parser.add_argument("--dataset", required=True, help="dataset.parquet")
    parser.add_argument("--meta", help="meta.csv.gz (default: next to the dataset)")
    parser.add_argument("--expression", required=True, help="GEUVADIS-layout RPKM table (GD660.GeneQuantRPKM.txt.gz)")
    parser.add_argument("--genes-tsv", help="genes.tsv with each gene's TSS (default: next to the dataset, "
                                            "else the expression table's Coord)")
    parser.add_argument("--folds", help="RQ2's folds.csv (sample_id,fold); default: drawn like RQ2's")
    parser.add_argument("--output-dir", required=True, help="predictions, history, checkpoints and scores go here")
    parser.add_argument("--preset", default="top10", help="settings from this preset (lmeqtl presets)")
    parser.add_argument("--genes", nargs="+", help="fine-tune these genes only (default: all)")
    parser.add_argument("--split", default="test", help="people of this split with expression (default: test = EUR)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--no-resume", dest="resume", action="store_false", help="train every fold again")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    for field, (flag, kind) in _FLAGS.items():
        parser.add_argument(flag, dest=field, type=kind, default=None, help=f"{field} (default: from the preset)")


def config_from_args(args: argparse.Namespace) -> FinetuneConfig:
    """The preset's :class:`FinetuneConfig` with the explicitly given flags on top."""
    from lmeqtl.config import get_preset

    given = {field: getattr(args, field) for field in _FLAGS if getattr(args, field) is not None}
    return dataclasses.replace(get_preset(args.preset).finetune, **given)


def run(args: argparse.Namespace) -> int:
    from lmeqtl import expression as ex
    from lmeqtl.config import get_preset
    from lmeqtl.data.cohort import load_cohort
    from lmeqtl.data.formats import read_genes, read_geuvadis_expression
    from lmeqtl.data.io import atomic_path
    from lmeqtl.expression.processing import select_genes
    from lmeqtl.finetune.cv import finetune_expression
    from lmeqtl.mlm.distributed import resolve_device

    preset = get_preset(args.preset)
    config = config_from_args(args)
    dataset = Path(args.dataset)
    cohort = load_cohort(dataset, args.meta or dataset.parent / "meta.csv.gz")
    genes = list(args.genes or cohort.genes)
    raw = read_geuvadis_expression(args.expression)
    ids = ex.samples_with_expression(ex.average_replicates(raw, args.expression), cohort.samples, args.split,
                                     args.expression)
    table = ex.prepare_expression(raw, genes, ids, preset.expression.transform, args.expression)
    genes_tsv = Path(args.genes_tsv) if args.genes_tsv else dataset.parent / "genes.tsv"
    if genes_tsv.is_file():
        listed = read_genes(genes_tsv)
        tss = dict(zip(listed["gene_id"], listed["tss"], strict=True))
    else:
        tss = select_genes(raw[["Coord"]], genes, args.expression)["Coord"].to_dict()
    out = Path(args.output_dir)
    if args.folds:
        folds = ex.load_folds(args.folds)
    else:
        folds = ex.outer_folds(ids, preset.expression.outer_folds, preset.expression.seed)
        ex.save_folds(out / "outer_folds.csv", folds)
    result = finetune_expression(args.checkpoint, cohort, table, folds, config, genes=genes, tss=tss,
                                 output_dir=out, device=resolve_device(args.device), resume=args.resume,
                                 progress=not args.quiet)
    scores = ex.gene_results(result.predictions, n_bootstrap=preset.expression.n_bootstrap,
                             level=preset.expression.ci_level, seed=preset.expression.seed)
    with atomic_path(out / "scores.csv") as tmp:
        scores.to_csv(tmp, index=False)
    print(scores[["gene", "n", "r", "r_low", "r_high", "r2"]].round(3).to_string(index=False))
    print(f"outputs: {out}")
    return 0
