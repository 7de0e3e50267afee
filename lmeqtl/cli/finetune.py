"""``lmeqtl finetune``: fine-tune a pretrained checkpoint on expression, on RQ2's outer folds.

Reads the prepared cohort (``dataset.parquet`` + ``meta.csv.gz``) and a GEUVADIS-layout
expression table, builds the expression table as RQ2 does (replicates averaged, the
preset's transform, people of one split), and writes :func:`finetune_expression`'s outputs
plus ``scores.csv`` (per-gene r and R², :func:`lmeqtl.expression.gene_results`).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from lmeqtl.cli.common import require_split
from lmeqtl.cli.options import add_out_argument, add_preset_argument, add_threads_argument
from lmeqtl.config import FinetuneConfig
from lmeqtl.errors import InputError

# FinetuneConfig field -> (flag, type, help); FinetuneConfig checks the values
_FLAGS = {
    "freeze": ("--freeze", str, "none | encoder | all_but_last_K | all: what stays frozen"),
    "pooling": ("--pooling", str, "mean | attention: how the head pools the SNPs' states"),
    "window_snps": ("--window-snps", int, "the model reads this many SNPs nearest the TSS"),
    "epochs": ("--epochs", int, "most epochs per (gene, fold), >= 1"),
    "batch_size": ("--batch-size", int, "people per optimiser step, >= 1"),
    "learning_rate": ("--learning-rate", float, "learning rate of the trainable trunk blocks"),
    "head_learning_rate": ("--head-learning-rate", float, "learning rate of the head, > 0"),
    "weight_decay": ("--weight-decay", float, "AdamW weight decay"),
    "val_fraction": ("--val-fraction", float, "inner validation share of each training fold, in (0, 1)"),
    "patience": ("--patience", int, "epochs without improvement before stopping"),
    "mlm_weight": ("--mlm-weight", float, "weight of the masked-LM loss (0: off)"),
    "max_minutes": ("--max-minutes", float, "training budget shared by all (gene, fold) units"),
    "seed": ("--seed", int, "seed of heads, inner splits and batches"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Fine-tune a pretrained haplotype MLM to predict expression (RQ3): freeze some layers "
        "(--freeze none | encoder | all_but_last_K | all), add a per-gene head on pooled states of both "
        "haplotypes (order-invariant), train per gene with early stopping on an inner validation split, "
        "on the same outer folds as RQ2 (--folds, or drawn as RQ2 draws them from the preset). "
        "Settings come from --preset, explicit flags override them. Resumes finished folds in OUT.")
    parser.add_argument("--checkpoint", required=True, help="pretrained checkpoint directory (lmeqtl train)")
    parser.add_argument("--dataset", required=True, help="dataset.parquet")
    parser.add_argument("--meta", help="meta.csv.gz (default: next to the dataset)")
    parser.add_argument("--expression", required=True, help="GEUVADIS-layout RPKM table (GD660.GeneQuantRPKM.txt.gz)")
    parser.add_argument("--genes-tsv", help="genes.tsv with each gene's TSS (default: next to the dataset, "
                                            "else the expression table's Coord)")
    parser.add_argument("--folds", help="RQ2's folds.csv (sample_id,fold); default: drawn like RQ2's")
    add_out_argument(parser, "predictions, history, checkpoints and scores go here",
                     aliases=("--output-dir", "--output_dir", "--out-dir"))
    add_preset_argument(parser, "settings from this preset")
    parser.add_argument("--genes", nargs="+", metavar="GENE_ID", help="fine-tune these genes only (default: all)")
    parser.add_argument("--split", default="test", choices=["test", "train"],
                        help="people of this split with expression (test = EUR)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    add_threads_argument(parser)
    parser.add_argument("--allow-other-data", dest="allow_other_data", action="store_true",
                        help="run even when the dataset's genes or SNP counts differ from the checkpoint's")
    parser.add_argument("--no-resume", dest="resume", action="store_false",
                        help="train every fold again (default: keep the finished folds in OUT)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    for field, (flag, kind, text) in _FLAGS.items():
        parser.add_argument(flag, dest=field, type=kind, default=None, help=f"{text} (default: the preset's)")


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
    from lmeqtl.data.io import atomic_path, check_ids, ensure_output_dir
    from lmeqtl.expression.processing import select_genes
    from lmeqtl.finetune.cv import finetune_expression
    from lmeqtl.mlm.checkpoint import check_fits_data, read_checkpoint_info
    from lmeqtl.mlm.distributed import resolve_device

    preset = get_preset(args.preset)
    config = config_from_args(args)  # a bad value is refused here, before any work
    out = ensure_output_dir(args.out, create=False)
    if args.genes:
        check_ids(args.genes, "gene id", where="option --genes")
    dataset = Path(args.dataset)
    meta = args.meta or dataset.parent / "meta.csv.gz"
    cohort = load_cohort(dataset, meta)
    for problem in check_fits_data(read_checkpoint_info(args.checkpoint), cohort.meta, args.checkpoint, meta,
                                   allow=args.allow_other_data):
        print(f"warning: {problem}", file=sys.stderr)
    require_split(cohort, args.split, args.dataset)
    genes = list(args.genes or cohort.genes)
    unknown = [g for g in genes if g not in cohort.genes]
    if unknown:
        raise InputError(f"genes {unknown[:5]} are not in the dataset", path=dataset, where="option --genes",
                         expected=f"some of {cohort.genes[:5]}")
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
