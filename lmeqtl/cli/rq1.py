"""``lmeqtl rq1``: genotype reconstruction, MLM vs Beagle 5 vs most frequent genotype, by MAF bin."""

from __future__ import annotations

import pandas as pd

from lmeqtl.cli.common import add_model_arguments, load_model_and_cohort, require_split
from lmeqtl.cli.options import add_out_argument, checked
from lmeqtl.config import GenotypeEvalConfig
from lmeqtl.config.validate import COUNT, POSITIVE_INT, RATE
from lmeqtl.genotypes.comparison import run_rq1


def add_arguments(parser) -> None:  # noqa: ANN001 - argparse.ArgumentParser
    parser.description = ("RQ1: mask genotypes of the test split (the same SNPs on both haplotypes), reconstruct "
                          "them with the MLM (P(dosage) from the two haplotypes' allele probabilities), with "
                          "Beagle 5 (reference panel: the train split; skipped when not installed) and with the "
                          "most frequent genotype; report genotype accuracy, per-SNP IQS and dosage r² by MAF bin.")
    add_model_arguments(parser)
    add_out_argument(parser, "output directory (rq1_table.csv, rq1_per_snp.parquet, rq1.json)",
                     aliases=("--output-dir", "--output_dir"))
    parser.add_argument("--max-samples", dest="max_samples", type=checked(POSITIVE_INT),
                        help="a seeded subset of the test split (default: all)")
    parser.add_argument("--mask-rate", dest="mask_rate", type=checked(RATE), default=0.2,
                        help="share of each gene's SNPs masked in every person, in (0, 1)")
    parser.add_argument("--masking", default="uniform", choices=["uniform", "maf_stratified", "maf_balanced"],
                        help="which SNPs are masked (lmeqtl.mlm.masking)")
    parser.add_argument("--edge-frame", dest="edge_frame", type=checked(COUNT), default=30,
                        help="SNPs at each end that are never masked")
    parser.add_argument("--batch-size", dest="batch_size", type=checked(POSITIVE_INT), default=8,
                        help="people per forward pass")
    parser.add_argument("--no-beagle", dest="beagle", action="store_false",
                        help="do not run Beagle 5 (default: run it when installed)")
    parser.add_argument("--beagle-threads", dest="beagle_threads", type=checked(POSITIVE_INT), default=2,
                        help="threads of Beagle 5")
    parser.add_argument("--seed", type=checked(COUNT), default=1, help="seed of the masks and of the people subset")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")


def run(args) -> int:  # noqa: ANN001 - argparse.Namespace
    from lmeqtl.data.io import ensure_output_dir

    ensure_output_dir(args.out, create=False)
    model, info, cohort = load_model_and_cohort(args)
    require_split(cohort, "test", args.dataset)
    config = GenotypeEvalConfig(mask_rate=args.mask_rate, mask_strategy=args.masking,
                                edge_frame=args.edge_frame, max_samples=args.max_samples, batch_size=args.batch_size,
                                run_beagle=args.beagle, beagle_threads=args.beagle_threads, seed=args.seed)
    result = run_rq1(model, cohort, config, gene_map=info.get("genes") or None, out_dir=args.out, device=args.device)
    shown = ["n_snps", "n_genotypes", "genotype_accuracy", "iqs", "dosage_r2", "allele_accuracy", "allele_iqs"]
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(result.table[shown].round(4).to_string())
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in result.seconds.items()))
    return 0
