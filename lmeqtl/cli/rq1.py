"""``lmeqtl rq1``: genotype reconstruction, MLM vs Beagle 5 vs most frequent genotype, by MAF bin."""

from __future__ import annotations

import pandas as pd

from lmeqtl.cli.common import add_model_arguments, load_model_and_cohort
from lmeqtl.config import GenotypeEvalConfig
from lmeqtl.genotypes.comparison import run_rq1


def add_arguments(parser) -> None:  # noqa: ANN001 - argparse.ArgumentParser
    parser.description = ("RQ1: mask genotypes of the test split (the same SNPs on both haplotypes), reconstruct "
                          "them with the MLM (P(dosage) from the two haplotypes' allele probabilities), with "
                          "Beagle 5 (reference panel: the train split; skipped when not installed) and with the "
                          "most frequent genotype; report genotype accuracy, per-SNP IQS and dosage r² by MAF bin.")
    add_model_arguments(parser)
    parser.add_argument("--out", required=True, help="output directory (rq1_table.csv, rq1_per_snp.parquet, rq1.json)")
    parser.add_argument("--max-samples", dest="max_samples", type=int, help="a seeded subset of the test split")
    parser.add_argument("--mask-rate", dest="mask_rate", type=float, default=0.2)
    parser.add_argument("--masking", default="uniform", choices=["uniform", "maf_stratified", "maf_balanced"])
    parser.add_argument("--edge-frame", dest="edge_frame", type=int, default=30)
    parser.add_argument("--batch-size", dest="batch_size", type=int, default=8, help="people per forward pass")
    parser.add_argument("--no-beagle", dest="beagle", action="store_false", help="do not run Beagle")
    parser.add_argument("--beagle-threads", dest="beagle_threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1, help="seed of the masks and of the people subset")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")


def run(args) -> int:  # noqa: ANN001 - argparse.Namespace
    model, info, cohort = load_model_and_cohort(args)
    config = GenotypeEvalConfig(mask_rate=args.mask_rate, mask_strategy=args.masking,
                                edge_frame=args.edge_frame, max_samples=args.max_samples, batch_size=args.batch_size,
                                run_beagle=args.beagle, beagle_threads=args.beagle_threads, seed=args.seed)
    result = run_rq1(model, cohort, config, gene_map=info.get("genes") or None, out_dir=args.out, device=args.device)
    shown = ["n_snps", "n_genotypes", "genotype_accuracy", "iqs", "dosage_r2", "allele_accuracy", "allele_iqs"]
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(result.table[shown].round(4).to_string())
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in result.seconds.items()))
    return 0
