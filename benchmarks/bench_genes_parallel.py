"""Per-gene work of the expression chapters, one gene at a time against ``n_jobs`` genes at once.

On a top10 book run's cohort, side by side in one run:

- chapter 03's MLM states: every haplotype through the model (one pass per person's pair, as before)
  against each distinct haplotype once (``progress_state_source``), at the same SNPs;
- chapter 03's contextual methods (``run_contextual_methods``, states included) with ``n_jobs`` 1 and 2, on
  top of the genes' PrediXcan fits (fitted once, not timed);
- chapter 06's genotype-only baselines (``baseline_scores_by_gene``: marginal eQTL, elastic net, SuSiE)
  with ``n_jobs`` 1 and 2.

Each row says whether the two ways give the same numbers (the largest difference). Needs the cohort
and checkpoint of a book run, so it runs apart (``python -m benchmarks`` leaves it out):

    python -m benchmarks.bench_genes_parallel --data-dir runs/top10/00_data/cohort \
        --checkpoint lmeqtl/weights/top10 --genes 4 --out benchmarks/RESULTS-genes-parallel.md
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import warnings

import numpy as np
import pandas as pd

from benchmarks.common import emit, git_commit, machine


def _timed(call):
    start = time.perf_counter()
    out = call()
    return time.perf_counter() - start, out


def run(data_dir: str, checkpoint: str, n_genes: int, n_jobs: int) -> pd.DataFrame:
    from lmeqtl.book.chapters import expression_context as context
    from lmeqtl.book.chapters.expression import expression_inputs
    from lmeqtl.config import get_preset
    from lmeqtl.data.cohort import load_cohort
    from lmeqtl.data.formats import read_eqtl_table
    from lmeqtl.data.paths import DataPaths
    from lmeqtl.explain.scoring import baseline_scores_by_gene
    from lmeqtl.expression.background import fold_backgrounds
    from lmeqtl.expression.gene_states import snp_states
    from lmeqtl.expression.prediction import fold_labels
    from lmeqtl.mlm.embed import load_model

    warnings.filterwarnings("ignore")
    paths = DataPaths.from_dir(data_dir)
    cohort = load_cohort(paths.dataset, paths.meta)
    preset = get_preset("top10")
    config = preset.expression
    inputs = expression_inputs(paths, cohort, config, reuse_folds=False)
    genes = list(inputs.expression.columns[:n_genes])
    inputs = dataclasses.replace(inputs, expression=inputs.expression[genes])
    model, info = load_model(checkpoint, paths.dataset)
    model.eval()
    rows = []

    snps = np.arange(0, inputs.dosages[genes[0]].shape[1], 17)  # ~300 SNPs, as many as a gene's folds choose
    for gene in genes[:2]:
        haplotypes, index = inputs.people.haplotypes[gene], info["genes"][gene]
        every, before = _timed(lambda h=haplotypes, i=index: np.concatenate(
            [snp_states(model, h[lo:lo + config.context_batch_size], i, snps, batch_size=config.context_batch_size)
             for lo in range(0, len(h), config.context_batch_size)]))
        distinct, after = _timed(lambda h=haplotypes, i=index: context.progress_state_source(
            model, h, i, config, progress=False)(snps))
        flat = haplotypes.reshape(-1, haplotypes.shape[-1])
        rows.append({"work": f"states of {gene} ({len(np.unique(flat, axis=0))} distinct of {len(flat)} haplotypes)",
                     "before (s)": every, "after (s)": distinct, "largest difference": np.abs(before - after).max()})

    fold = fold_labels(inputs.folds, inputs.expression.index.to_numpy())
    backgrounds = {}
    for gene in genes:
        designs = inputs.covariates.without(gene).for_folds(fold) if inputs.covariates is not None else None
        backgrounds[gene] = fold_backgrounds(inputs.dosages[gene], inputs.expression[gene].to_numpy(np.float64), fold,
                                             config, covariates=designs)[1]
    runs = {jobs: _timed(lambda j=jobs: context.run_contextual_methods(
        model, info["genes"], inputs, dataclasses.replace(config, n_jobs=j), backgrounds=backgrounds, progress=False))
        for jobs in (1, n_jobs)}
    one, many = (runs[j][1].comparison.predictions["predicted"].to_numpy() for j in (1, n_jobs))
    rows.append({"work": f"contextual methods, {len(genes)} genes (n_jobs 1 / {n_jobs})", "before (s)": runs[1][0],
                 "after (s)": runs[n_jobs][0], "largest difference": np.abs(one - many).max()})

    people = dataclasses.replace(inputs.people, genes=genes)  # the baselines score people.genes
    eqtl = read_eqtl_table(paths.eqtl)
    expression = inputs.expression
    scored = {jobs: _timed(lambda j=jobs: baseline_scores_by_gene(people, expression, eqtl, preset.explain, n_jobs=j))
              for jobs in (1, n_jobs)}
    difference = max(np.nan_to_num(np.abs(scored[1][1][g][m] - scored[n_jobs][1][g][m])).max()  # eqtl_table: NaN
                     for g in scored[1][1] for m in scored[1][1][g])
    rows.append({"work": f"RQ5 baselines, {len(people.genes)} genes (n_jobs 1 / {n_jobs})", "before (s)": scored[1][0],
                 "after (s)": scored[n_jobs][0], "largest difference": difference})
    table = pd.DataFrame(rows)
    table["speed-up"] = table["before (s)"] / table["after (s)"]
    return table


def report(table: pd.DataFrame, command: str, commit: str) -> str:
    hardware = machine()
    return (f"# Per-gene work in parallel\n\n`{command}`\n\ncommit {commit}, {hardware['cpu']}, {hardware['cores']} "
            f"cores\n\n{table.to_markdown(index=False, floatfmt='.3g')}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="a book run's cohort (dataset.parquet, expression, ...)")
    parser.add_argument("--checkpoint", default="lmeqtl/weights/top10")
    parser.add_argument("--genes", type=int, default=4, help="the first this many genes")
    parser.add_argument("--n-jobs", type=int, default=2, help="genes at once in the parallel rows")
    parser.add_argument("--out", help="also write the report here")
    args = parser.parse_args(argv)
    command = "python -m benchmarks.bench_genes_parallel " + " ".join(argv if argv is not None else sys.argv[1:])
    commit = git_commit()
    return emit(report(run(args.data_dir, args.checkpoint, args.genes, args.n_jobs), command, commit), args.out)


if __name__ == "__main__":
    raise SystemExit(main())
