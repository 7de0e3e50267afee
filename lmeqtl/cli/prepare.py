"""``lmeqtl prepare``: VCFs + panel + gene TSS list -> ``dataset.parquet`` + ``meta.csv.gz``."""

from __future__ import annotations

import argparse
from pathlib import Path

from lmeqtl.cli.options import add_out_argument, checked
from lmeqtl.config.validate import POSITIVE_INT, Rule
from lmeqtl.data.io import read_json
from lmeqtl.data.paths import DataPaths
from lmeqtl.data.prepare import prepare
from lmeqtl.errors import InputError

MIN_AF = Rule(float, lo=0, hi=0.5, hi_open=True)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Turn phased VCFs + a 1000 Genomes panel + a gene TSS list into dataset.parquet and "
        "meta.csv.gz (the model's input). Give --data-dir (a directory written by `lmeqtl simulate`), "
        "or --config (a JSON file with paths to real files; see the book's 'Using real data' page), "
        "or --vcf/--panel/--genes-tsv/--out.")
    source = parser.add_argument_group("inputs (one of)")
    source.add_argument("--data-dir", type=Path, help="a directory in the default layout (vcf/, panel, genes.tsv)")
    source.add_argument("--config", type=Path, help="JSON with keys vcf, panel, out_dir, genes or top_n_genes, ...")
    source.add_argument("--vcf", help="VCF path pattern with {chrom}, e.g. 'vcf/chr{chrom}.vcf.gz'")
    source.add_argument("--panel", type=Path, help="1000 Genomes panel (sample pop super_pop gender)")
    source.add_argument("--genes-tsv", dest="genes", type=Path, help="genes.tsv (gene_id chrom tss [symbol])")
    source.add_argument("--genes", dest="genes", type=Path, help=argparse.SUPPRESS)  # the old spelling
    add_out_argument(source, "output directory (with --vcf)", aliases=("--out-dir", "--output-dir", "--output_dir"),
                     required=False, type=Path)
    parser.add_argument("--window-bp", type=checked(POSITIVE_INT), help="SNPs within TSS +/- this many bp; if not "
                        "given: the simulation's (manifest.json), else 1000000")
    parser.add_argument("--max-snps", type=checked(POSITIVE_INT), help="SNPs kept per gene, centred on the TSS; "
                        "if not given: the simulation's, else 5000")
    parser.add_argument("--min-af", type=checked(MIN_AF), help="keep SNPs with min_af <= AF <= 1 - min_af; if not "
                        "given: the simulation's, else 0.03")
    parser.add_argument("--test-super-pops", nargs="+", default=["EUR"], help="super-populations of the test "
                        "split (they must be in the panel)")
    parser.add_argument("--unphased", choices=["error", "missing"], default="error",
                        help="what to do with an unphased heterozygous genotype")
    parser.add_argument("--af-source", choices=["genotypes", "info"], default="genotypes",
                        help="AF from the samples' genotypes or from INFO/AF")
    parser.add_argument("--force", action="store_true", help="overwrite an existing dataset.parquet")


def paths_from_args(args: argparse.Namespace) -> DataPaths:
    given = [name for name in ("data_dir", "config", "vcf") if getattr(args, name)]
    if len(given) != 1:
        raise InputError(f"{len(given)} of them given", where="options --data-dir, --config, --vcf",
                         expected="exactly one")
    if args.data_dir:
        return DataPaths.from_dir(args.data_dir)
    if args.config:
        return DataPaths.from_json(args.config)
    if not (args.panel and args.genes and args.out):
        raise InputError("--vcf needs --panel, --genes-tsv and --out", where="options")
    return DataPaths(out_dir=args.out, vcf=args.vcf, panel=args.panel, genes=args.genes)


def window_defaults(paths: DataPaths) -> dict:
    """window_bp, max_snps, min_af of the simulation that wrote ``paths`` (manifest.json), else the original's."""
    settings = {"window_bp": 1_000_000, "max_snps": 5000, "min_af": 0.03}
    if paths.manifest.exists():
        simulation = read_json(paths.manifest).get("simulation", {})
        settings.update({k: simulation[k] for k in settings if k in simulation})
    return settings


def run(args: argparse.Namespace) -> int:
    paths = paths_from_args(args)
    settings = window_defaults(paths)
    settings.update({k: getattr(args, k) for k in settings if getattr(args, k) is not None})
    record = prepare(paths, window_bp=settings["window_bp"], max_snps=settings["max_snps"],
                     min_af=settings["min_af"], max_af=round(1 - settings["min_af"], 12),
                     test_super_pops=tuple(args.test_super_pops),
                     unphased=args.unphased, af_source=args.af_source, force=args.force)
    print(f"wrote {paths.dataset} and {paths.meta}: {len(record['genes'])} genes, "
          f"{record['n_samples']} samples ({record['n_test']} test) in {record['seconds']} s")
    return 0
