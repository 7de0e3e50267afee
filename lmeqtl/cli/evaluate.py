"""``lmeqtl evaluate``: masked accuracy, recall and IQS of a trained model, by MAF bin."""

from __future__ import annotations

import argparse

import pandas as pd

from lmeqtl.cli.common import add_model_arguments
from lmeqtl.cli.options import add_out_argument, checked
from lmeqtl.config.validate import COUNT, POSITIVE_INT, RATE
from lmeqtl.mlm.batches import cohort_fingerprint, kfold_samples
from lmeqtl.mlm.evaluate import evaluate_mlm


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Score a trained MLM (a checkpoint directory, or an original lm-eqtl "
                          "*_weights_model.pt) on masked haplotypes: masked accuracy, per-allele "
                          "recall, IQS per SNP and pooled, by MAF bin.")
    add_model_arguments(parser)
    parser.add_argument("--split", default="test", choices=["test", "train", "validation"],
                        help="whose haplotypes; 'validation' = the checkpoint's validation fold of the train split")
    parser.add_argument("--mask-rate", dest="mask_rate", type=checked(RATE), default=0.2,
                        help="share of positions masked, in (0, 1)")
    parser.add_argument("--mask_rate", dest="mask_rate", type=checked(RATE), help=argparse.SUPPRESS)
    parser.add_argument("--masking", default="uniform", choices=["uniform", "maf_stratified", "maf_balanced"],
                        help="which positions are masked (lmeqtl.mlm.masking)")
    parser.add_argument("--edge-frame", dest="edge_frame", type=checked(COUNT), default=30,
                        help="positions at each end that are never masked")
    parser.add_argument("--seed", type=checked(COUNT), default=1, help="seed of the (fixed) masks")
    parser.add_argument("--batch-size", dest="batch_size", type=checked(POSITIVE_INT), default=16,
                        help="haplotypes per forward pass")
    parser.add_argument("--batch_size", dest="batch_size", type=checked(POSITIVE_INT), help=argparse.SUPPRESS)
    parser.add_argument("--max-haplotypes", dest="max_haplotypes", type=checked(POSITIVE_INT),
                        help="score a seeded subset of this many haplotypes (default: all)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    add_out_argument(parser, "write evaluate_by_maf.csv and evaluate_per_snp.csv into this directory",
                     required=False)
    parser.add_argument("--output", help="also write the MAF-bin table to this CSV file")
    parser.add_argument("--per-snp", dest="per_snp", help="also write the per-SNP table to this CSV file")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lmeqtl.cli.common import load_model_and_cohort, require_split
    from lmeqtl.data.io import atomic_path, ensure_output_dir

    outputs = [(args.output, "by_maf"), (args.per_snp, "per_snp")]
    if args.out:
        outputs += [(Path(args.out) / "evaluate_by_maf.csv", "by_maf"), (Path(args.out) / "evaluate_per_snp.csv",
                                                                         "per_snp")]
    for path, _ in outputs:
        if path:
            ensure_output_dir(Path(path).parent, create=False)
    model, info, cohort = load_model_and_cohort(args)
    if info.get("data_fingerprint") not in (None, cohort_fingerprint(cohort)):
        print("note: this dataset differs from the one the model was trained on")
    samples = None
    split = args.split
    require_split(cohort, "train" if split == "validation" else split, args.dataset)
    if split == "validation":
        train_cfg = info.get("train_config") or {}
        _, samples = kfold_samples(cohort.sample_ids[cohort.split_mask("train")],
                                   train_cfg.get("n_folds", 5), train_cfg.get("fold", 0), train_cfg.get("seed", 1))
    result = evaluate_mlm(model, cohort, samples, split if split != "validation" else "train",
                          mask_rate=args.mask_rate, mask_strategy=args.masking, edge_frame=args.edge_frame,
                          seed=args.seed, batch_size=args.batch_size, max_haplotypes=args.max_haplotypes,
                          device=args.device)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(result.by_maf.round(4).to_string(index=False))
    for path, name in outputs:
        if path:
            with atomic_path(path) as tmp:
                getattr(result, name).to_csv(tmp, index=False)
    return 0
