"""``lmeqtl embed``: haplotype embeddings of a trained model (single, masked or rolling; resumable)."""

from __future__ import annotations

import argparse
from pathlib import Path

from lmeqtl.cli.common import add_model_arguments, load_model_and_cohort, require_split
from lmeqtl.cli.options import add_out_argument, checked
from lmeqtl.config import EmbedConfig
from lmeqtl.config.validate import COUNT, POSITIVE_INT, RATE
from lmeqtl.data.io import atomic_path
from lmeqtl.mlm.checkpoint import (
    load_model as load_model,  # notebooks call lmeqtl.mlm.embed.load_model
)
from lmeqtl.mlm.embed import MODES, POOLINGS, embed_cohort


def add_arguments(parser) -> None:  # noqa: ANN001 - argparse.ArgumentParser
    parser.description = ("Embed haplotypes with a trained MLM: per (sample, gene, haplotype) a block's hidden "
                          "state pooled over positions. Writes OUT/<gene>.npz (embeddings (n, 2, H), sample_id, "
                          "split); genes already embedded with the same model and settings are skipped.")
    add_model_arguments(parser)
    add_out_argument(parser, "output directory (one .npz per gene)", aliases=("--output-dir", "--output_dir"))
    parser.add_argument("--split", default="test", choices=["test", "train", "all"], help="whose haplotypes")
    parser.add_argument("--mode", default="single", choices=MODES,
                        help="single: one unmasked pass; masked: one pass, --mask-rate masked; "
                             "rolling: --rolling-copies copies, each position masked once")
    parser.add_argument("--layer", type=int, default=-1, help="hidden state index (0: input of block 1; -1: last block)")
    parser.add_argument("--pooling", default="mean", choices=POOLINGS,
                        help="mean over all SNPs, or over the --tss-window SNPs nearest the TSS (--genes-tsv; "
                             "without it, the window's centre)")
    parser.add_argument("--tss-window", dest="tss_window", type=checked(POSITIVE_INT), default=500,
                        help="SNPs around the TSS")
    parser.add_argument("--genes-tsv", dest="genes_tsv", help="genes.tsv with each gene's TSS (tss_window pooling)")
    parser.add_argument("--rolling-copies", dest="rolling_copies", type=checked(POSITIVE_INT), default=50,
                        help="copies per haplotype in rolling mode (position i masked in copy i mod copies)")
    parser.add_argument("--mask-rate", dest="mask_rate", type=checked(RATE), default=0.2,
                        help="share of positions masked in masked mode, in (0, 1)")
    parser.add_argument("--batch-size", dest="batch_size", type=checked(POSITIVE_INT), default=16,
                        help="sequences per forward pass")
    parser.add_argument("--batch_size", dest="batch_size", type=checked(POSITIVE_INT), help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=checked(COUNT), default=1, help="seed of the masks (masked mode)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--parquet", action="store_true", help="also write OUT/embeddings.parquet (long table)")


def run(args) -> int:  # noqa: ANN001 - argparse.Namespace
    from lmeqtl.data.io import ensure_output_dir

    ensure_output_dir(args.out, create=False)
    model, info, cohort = load_model_and_cohort(args)
    require_split(cohort, None if args.split == "all" else args.split, args.dataset)
    tss = None
    if args.genes_tsv:
        from lmeqtl.data.formats import read_genes

        table = read_genes(args.genes_tsv)
        tss = dict(zip(table["gene_id"], table["tss"].astype(int), strict=True))
    config = EmbedConfig(mode=args.mode, layer=args.layer, pooling=args.pooling, tss_window=args.tss_window,
                         rolling_copies=args.rolling_copies, mask_rate=args.mask_rate,
                         batch_size=args.batch_size, seed=args.seed)
    result = embed_cohort(model, cohort, split=None if args.split == "all" else args.split, config=config,
                          out_dir=args.out, gene_map=info.get("genes") or None, tss=tss, device=args.device)
    if args.parquet:
        with atomic_path(Path(args.out) / "embeddings.parquet") as tmp:
            result.to_frame().to_parquet(tmp, index=False)
    width = next(iter(result.by_gene.values())).shape[-1]
    print(f"embedded {len(result.sample_ids)} samples x {len(result.genes)} genes x 2 haplotypes "
          f"({width}-d, {args.mode}) into {args.out}")
    return 0
