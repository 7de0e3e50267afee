"""How the contextual method reduces each chosen SNP's state, compared on tuning draws (issue 19).

The book's genes are the test set of the expression chapters, so choices about the method
are made here instead, on expression simulated afresh on the same people's haplotypes: per
gene and draw, 2-5 causal SNPs anywhere in the window (MAF >= 0.05 among these people, no
TSS prior), additive truth or 60 % of the genetic variance in a same-haplotype interaction of
the first two (:func:`lmeqtl.simulate.expression.genetic_value`), h2 uniform in [0.1, 0.5].
Every method is :class:`lmeqtl.expression.contextual.ContextualRegressor` with the book's
settings (20 SNPs chosen by |r| in the training fold, 2 neighbours each side, second-level
elastic net), on the same 5 outer folds; only the reduction of a SNP's state changes:

- ``pca``: its top 4 PCs (the book's contextual method); ``dosage``: no state (the twin);
- ``ridge``: one score per SNP from a ridge of expression on its whole state;
- ``gated``: the same ridge on the state and on the state of the ALT-carrying haplotypes.

    python -m benchmarks.bench_context --data-dir runs/top10/00_data/cohort \
        --checkpoint lmeqtl/weights/top10 [--draws 2] [--seed 12] [--out benchmarks/RESULTS-context.md]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from benchmarks.common import git_commit, machine, markdown

METHODS = {"pca": ("context", "pca"), "dosage": ("dosage", "pca"), "ridge": ("context", "ridge"),
           "gated": ("context", "gated")}
PHIS = (0.0, 0.6)


def draw_expression(haplotypes: np.ndarray, phi: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``y (n,)`` and the true genetic value ``G (n,)`` of one tuning draw on ``haplotypes (n, 2, L)``."""
    from lmeqtl.simulate.expression import genetic_value

    n = len(haplotypes)
    frequency = haplotypes.mean(axis=(0, 1))
    candidates = np.flatnonzero(np.minimum(frequency, 1 - frequency) >= 0.05)
    causal = rng.choice(candidates, int(rng.integers(2, 6)), replace=False)
    g = genetic_value(haplotypes, causal, rng.standard_normal(len(causal)), phi, np.ones(n, bool))["G"]
    h2 = rng.uniform(0.1, 0.5)
    return np.sqrt(h2) * g + np.sqrt(1 - h2) * rng.standard_normal(n), g


def out_of_fold_r(data, y: np.ndarray, folds: np.ndarray, features: str, reduction: str) -> float:
    from sklearn.model_selection import KFold

    from lmeqtl.expression.contextual import ContextualRegressor

    rows, predicted = np.arange(len(y))[:, None], np.empty(len(y))
    for k in np.unique(folds):
        fitted = ContextualRegressor(data, features, 20, 2, 4, "elasticnet", KFold(5, shuffle=True, random_state=0),
                                     reduction=reduction).fit(rows[folds != k], y[folds != k])
        predicted[folds == k] = fitted.predict(rows[folds == k])
    return float(np.corrcoef(predicted, y)[0, 1])


def run(data_dir: str, checkpoint: str, draws: int, seed: int) -> pd.DataFrame:
    import torch
    from tqdm.auto import tqdm

    from lmeqtl.book.chapters.expression import expression_inputs
    from lmeqtl.config import get_preset
    from lmeqtl.data.cohort import load_cohort
    from lmeqtl.data.paths import DataPaths
    from lmeqtl.expression.contextual import GeneData, snp_states
    from lmeqtl.mlm.embed import load_model

    paths = DataPaths.from_dir(data_dir)
    cohort = load_cohort(paths.dataset, paths.meta)
    people = expression_inputs(paths, cohort, get_preset("top10").expression, reuse_folds=False).people
    model, info = load_model(checkpoint, paths.dataset)
    model.eval()
    rng, rows = np.random.default_rng(seed), []
    for gene in tqdm(cohort.genes, desc="genes"):
        haplotypes = people.haplotypes[gene]  # (n, 2, L)
        with torch.no_grad():
            states = snp_states(model, haplotypes, info["genes"][gene], dtype=np.float16)  # (n, 2, L, d)
        data = GeneData(haplotypes.sum(axis=1).astype(np.float64), states, haplotypes=haplotypes)
        for draw in range(draws):
            folds = np.random.default_rng(seed + draw).permutation(np.arange(len(haplotypes)) % 5)
            for phi in PHIS:
                y, g = draw_expression(haplotypes, phi, rng)
                row = {"gene": gene, "draw": draw, "truth": "interaction" if phi else "additive",
                       "oracle": float(np.corrcoef(g, y)[0, 1])}
                for name, (features, reduction) in METHODS.items():
                    start = time.perf_counter()
                    row[name] = out_of_fold_r(data, y, folds, features, reduction)
                    row[f"{name}_s"] = time.perf_counter() - start
                rows.append(row)
    return pd.DataFrame(rows)


def report(results: pd.DataFrame, command: str, commit: str) -> str:
    from scipy import stats

    table = []
    for truth, group in results.groupby("truth"):
        row = {"truth": truth, "draws": len(group), "oracle": f"{group['oracle'].mean():.3f}"}
        for name in METHODS:
            row[name] = f"{group[name].mean():.3f}"
        for name in ("ridge", "gated"):
            diff = group[name] - group["pca"]
            row[f"{name} - pca (p)"] = f"{diff.mean():+.3f} ({stats.wilcoxon(diff).pvalue:.2g})"
        table.append(row)
    seconds = {name: f"{results[f'{name}_s'].mean():.1f}" for name in METHODS}
    about = machine()
    return (f"# Contextual reductions on tuning draws\n\n`{command}`\n\ncommit {commit}, {about['cpu']}\n\n"
            f"Mean out-of-fold r over gene x draw (5 outer folds; p: Wilcoxon signed-rank, paired by draw)\n\n"
            f"{markdown(table)}\n\nseconds per draw and method (5 folds): {seconds}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="a simulated cohort (dataset.parquet, expression, ...)")
    parser.add_argument("--checkpoint", default="lmeqtl/weights/top10")
    parser.add_argument("--draws", type=int, default=2, help="draws per gene and truth")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--out", help="also write the report here")
    args = parser.parse_args(argv)
    command = "python -m benchmarks.bench_context " + " ".join(argv if argv is not None else sys.argv[1:])
    commit = git_commit()  # the code that runs, not the HEAD at the end of a long run
    text = report(run(args.data_dir, args.checkpoint, args.draws, args.seed), command, commit)
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
