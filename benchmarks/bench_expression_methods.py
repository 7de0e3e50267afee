"""Time each RQ2/RQ4 method on one gene of top10 size, to size the presets of chapters 03 and 05.

One gene, 373 people, 5000 window SNPs, embeddings of the top10 preset's width (d_model 64)
x 2 haplotypes, 5 x 5 nested CV; every embedding model x combination and every baseline
is timed alone on one worker. The chapter's estimate for G genes on W workers is the sum
over the chosen methods x G / W: an extrapolation (tasks are independent, one per gene and
method, so they parallelise well; other processes on the machine slow every number). The
embeddings here are a random map of the haplotypes: real MLM embeddings are more collinear,
and their lasso / elastic-net paths were ~3-10x slower on a real top10 gene (see config._top10).

    python -m benchmarks.bench_expression_methods [--width 64] [--quick]
"""

from __future__ import annotations

import argparse
import os
import time

import pandas as pd
from threadpoolctl import threadpool_limits

from benchmarks.bench_expression import synthetic_study
from lmeqtl.config import ExpressionConfig, get_preset
from lmeqtl.expression import (
    baseline_methods,
    embedding_methods,
    gene_results,
    outer_folds,
    run_comparison,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 SNPs, 3 x 3 CV")
    parser.add_argument("--width", type=int, default=get_preset("top10").model.d_model)
    parser.add_argument("--genes", type=int, default=10, help="genes of the extrapolation")
    parser.add_argument("--workers", type=int, default=2, help="workers of the extrapolation")
    args = parser.parse_args(argv)
    n_snps, config = 5000, ExpressionConfig()
    if args.quick:
        n_snps, config = 500, ExpressionConfig(outer_folds=3, inner_folds=3, n_bootstrap=100)
    with threadpool_limits(limits=1):
        expression, embeddings, dosages, lead, truth = synthetic_study(1, n_snps=n_snps, width=args.width)
    folds = outer_folds(expression.index, config.outer_folds, config.seed)
    load_before = os.getloadavg()[0]
    rows = []
    for method in embedding_methods(config) + baseline_methods():
        start = time.perf_counter()
        comparison = run_comparison(expression, folds, embeddings=embeddings, dosages=dosages, lead_dosage=lead,
                                    genetic_values=truth, config=config, methods=[method], progress=False)
        rows.append({"method": method.name, "seconds": time.perf_counter() - start})
    start = time.perf_counter()
    gene_results(comparison.predictions, n_bootstrap=config.n_bootstrap)
    bootstrap = time.perf_counter() - start
    table = pd.DataFrame(rows)
    print(f"### one gene, {len(expression)} people, {n_snps} SNPs, H={args.width} x 2, {config.outer_folds} x "
          f"{config.inner_folds} nested CV, one worker; load {load_before:.1f} before, {os.getloadavg()[0]:.1f} after\n")
    print("| method | s per gene |\n|---|---|")
    for row in table.itertuples():
        print(f"| {row.method} | {row.seconds:.2f} |")
    top10 = get_preset("top10").expression
    chosen = [m.name for m in embedding_methods(top10)] + [m.name for m in baseline_methods()]
    per_gene = table.set_index("method")["seconds"]
    print(f"\nscores of one method on one gene ({config.n_bootstrap} bootstrap resamples): {bootstrap:.2f} s\n")
    print(f"extrapolation (not measured): all {len(table)} methods, {args.genes} genes, {args.workers} workers: "
          f"{per_gene.sum() * args.genes / args.workers / 60:.1f} min; the top10 preset's {len(chosen)} methods "
          f"({', '.join(top10.models)} x {', '.join(top10.combine)} + baselines): "
          f"{per_gene.reindex(chosen).sum() * args.genes / args.workers / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
