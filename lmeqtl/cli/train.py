"""``lmeqtl train``: train the haplotype masked language model (resumable; DDP via torchrun)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from lmeqtl.cli.options import (
    DEFAULT_PRESET,
    add_out_argument,
    add_preset_argument,
    add_threads_argument,
)
from lmeqtl.config import ModelConfig, TrainConfig
from lmeqtl.mlm.train import train_mlm

_TRAIN_FLAGS = {
    "epochs": ("--epochs", "--tot_epochs", int), "batch_size": ("--batch-size", "--batch_size", int),
    "learning_rate": ("--learning-rate", "--learning_rate", float),
    "weight_decay": ("--weight-decay", "--weight_decay", float),
    "n_folds": ("--n-folds", "--Nfolds", int), "fold": ("--fold", None, int), "seed": ("--seed", None, int),
    "crop_length": ("--crop-length", None, int), "epoch_size": ("--epoch-size", None, int),
    "mask_rate": ("--mask-rate", "--mask_rate", float), "edge_frame": ("--edge-frame", None, int),
    "max_minutes": ("--max-minutes", None, float), "validate_every": ("--validate-every", "--validate_every", int),
    "val_max_haplotypes": ("--val-max-haplotypes", None, int), "lr_schedule": ("--lr-schedule", None, str),
    "grad_clip": ("--grad-clip", None, float), "amp": ("--amp", None, str),
}
_MODEL_FLAGS = {
    "d_model": ("--d-model", "--d_model", int), "n_layers": ("--n-layers", "--n_layers", int),
    "d_state": ("--d-state", None, int), "n_resnet_blocks": ("--n-resnet-blocks", None, int),
    "dropout": ("--dropout", None, float), "dss_kernel": ("--dss-kernel", None, str),
}
_MASKING_ALIASES = {"none": "uniform", "stratified_maf": "maf_stratified"}


_HELP = {
    "epochs": "passes over the training haplotypes (>= 1)", "batch_size": "haplotypes per optimiser step (>= 1)",
    "learning_rate": "Adam learning rate (> 0)", "weight_decay": "Adam weight decay (>= 0)",
    "n_folds": "folds of the train split; one of them validates", "fold": "the validation fold (0-based)",
    "seed": "seed of folds, crops, masks and initialisation", "crop_length": "train on random crops of this "
    "many SNPs", "epoch_size": "haplotypes per epoch (a seeded subset)", "mask_rate": "share of positions "
    "masked, in (0, 1)", "edge_frame": "positions at each end never masked", "max_minutes": "stop after this "
    "much wall time (resume later)", "validate_every": "validate every this many epochs",
    "val_max_haplotypes": "score a seeded subset of the validation haplotypes", "lr_schedule": "constant or "
    "cosine, after a linear warmup", "grad_clip": "max gradient norm", "amp": "auto, off or bf16 autocast",
    "d_model": "model width", "n_layers": "state-space blocks", "d_state": "state size of each block",
    "n_resnet_blocks": "ResNet blocks of the input stage", "dropout": "dropout rate, in [0, 1)",
    "dss_kernel": "exp or softmax (the original's) state-space kernel",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Train the haplotype masked language model. Settings come from --preset "
                          f"(default: {DEFAULT_PRESET}), explicit flags override them. "
                          "Resumes from OUT when it holds an unfinished run. DDP: "
                          "torchrun --nproc_per_node=K -m lmeqtl.cli train ...")
    parser.add_argument("--dataset", required=True, help="dataset.parquet")
    parser.add_argument("--meta", help="meta.csv.gz (default: next to the dataset)")
    add_out_argument(parser, "checkpoint, train state and history go here",
                     aliases=("--output-dir", "--output_dir", "--out-dir"))
    add_preset_argument(parser, "take model/train settings from this preset")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    add_threads_argument(parser)
    parser.add_argument("--masking", choices=["uniform", "maf_stratified", "maf_balanced", *_MASKING_ALIASES],
                        help="which positions are masked (default: the preset's; the original's names none and "
                             "stratified_maf mean uniform and maf_stratified)")
    parser.add_argument("--model-weight", "--model_weight", dest="model_weight",
                        help="initialise from a checkpoint directory or an original *_weights_model.pt")
    parser.add_argument("--no-resume", dest="resume", action="store_false",
                        help="start over in OUT even when it holds an unfinished run")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    for field, (flag, alias, kind) in {**_TRAIN_FLAGS, **_MODEL_FLAGS}.items():
        parser.add_argument(flag, dest=field, type=kind, default=None,
                            help=f"{_HELP[field]} (default: the preset's)")
        if alias:
            parser.add_argument(alias, dest=field, type=kind, default=None, help=argparse.SUPPRESS)


def configs_from_args(args: argparse.Namespace) -> tuple[ModelConfig, TrainConfig]:
    """Preset (or defaults) with the explicitly given flags on top."""
    from lmeqtl.config import get_preset

    model_cfg, train_cfg = ModelConfig(), TrainConfig()
    if args.preset:
        preset = get_preset(args.preset)
        model_cfg, train_cfg = preset.model, preset.train
    train_over = {f: getattr(args, f) for f in _TRAIN_FLAGS if getattr(args, f) is not None}
    if args.masking:
        train_over["mask_strategy"] = _MASKING_ALIASES.get(args.masking, args.masking)
    model_over = {f: getattr(args, f) for f in _MODEL_FLAGS if getattr(args, f) is not None}
    return dataclasses.replace(model_cfg, **model_over), dataclasses.replace(train_cfg, **train_over)


def run(args: argparse.Namespace) -> int:
    from lmeqtl.data.cohort import load_cohort
    from lmeqtl.data.io import ensure_output_dir

    model_cfg, train_cfg = configs_from_args(args)  # a bad value is refused here, before any work
    ensure_output_dir(args.out, create=False)
    meta = args.meta or str(Path(args.dataset).parent / "meta.csv.gz")
    genes = None
    if args.model_weight and Path(args.model_weight).is_file():  # original weights: the original's gene order
        from lmeqtl.mlm.checkpoint import original_gene_order

        genes = original_gene_order(args.dataset)
    cohort = load_cohort(args.dataset, meta, genes=genes)
    result = train_mlm(cohort, model_cfg, train_cfg, args.out, args.device, resume=args.resume,
                       init_from=args.model_weight, progress=not args.quiet)
    last = result.history.iloc[-1].to_dict() if len(result.history) else {}
    shown = {k: round(v, 4) for k, v in last.items() if k.startswith("val_") and isinstance(v, float)}
    print(f"checkpoint: {result.checkpoint}  {shown}")
    return 0
