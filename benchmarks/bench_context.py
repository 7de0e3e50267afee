"""How the contextual method reduces each chosen SNP's state, compared on tuning draws (issue 19).

The book's genes are the test set of the expression chapters, so choices about the method
are made here instead, on expression simulated afresh on the same people's haplotypes: per
gene and draw, 2-5 causal SNPs anywhere in the window (MAF >= 0.05 among these people, no
TSS prior), additive truth or 60 % of the genetic variance in a same-haplotype interaction of
the first two (:func:`lmeqtl.simulate.expression.genetic_value`), h2 uniform in [0.1, 0.5].
Every method is :class:`lmeqtl.expression.contextual.ContextualRegressor` with the book's
settings (20 SNPs chosen by |r| in the training fold, 2 neighbours each side, second-level
elastic net), on the same 5 outer folds; only the reduction of a SNP's state and, for
``*_enet``, the selection change:

- ``pca``: its top 4 PCs (the book's contextual method); ``dosage``: no state (the twin);
- ``alt_pca``: its ALT dosage and the top 4 PCs of the ALT-carrying haplotypes' states;
- ``ridge``: one score per SNP from a ridge of expression on its whole state;
- ``gated``: the same ridge on the state and on the state of the ALT-carrying haplotypes;
- ``<name>_enet``: the same with the SNPs an elastic net keeps (``selection="enet"``) instead of
  the 20 of strongest marginal association, paired against ``<name>``;
- ``<name>_wide``: ``<name>_enet`` beside the dosages of the 500 SNPs of strongest marginal
  association (``screen=500``), one elastic net (PrediXcan's l1 ratio) over all: ``dosage_wide``
  (about RQ4's elastic net, on the screened SNPs) is paired against ``dosage_enet``, ``alt_pca_wide``
  against ``dosage_wide`` (what the context adds to a wide dosage model);
- ``<name>_enet40`` (``dosage``, ``alt_pca``): ``<name>_enet`` reading the 40 SNPs the elastic net ranks first instead
  of 20 (and their neighbours): more of the net's support, paired against ``<name>_enet``;
- ``<name>_bg`` (``dosage``, ``alt_pca``): ``<name>_enet`` on top of a background, the outer fold's PrediXcan-style
  elastic net on all window SNPs (:mod:`lmeqtl.expression.background`): its regression fits what the net leaves
  unexplained in the training rows, and the predictions add; ``alt_pca_bg`` is paired against ``alt_pca_enet``,
  ``dosage_bg`` against ``dosage_enet`` (both run the net, so the elastic net's r is reported too);
- ``<name>_bg05`` (``dosage``, ``alt_pca``): ``<name>_bg`` whose second-level elastic net has one l1 ratio, PrediXcan's
  0.5 (``model="predixcan"``), instead of choosing among 0.1, 0.5 and 0.9 by CV; paired against ``<name>_bg``;
- ``alt_pca8_enet``: ``alt_pca_enet`` with 8 ALT-context PCs per SNP instead of 4 (a partner's allele
  may sit in a minor direction of the state), paired against ``alt_pca_enet``;
- ``pairs_enet`` (no MLM, a diagnostic): the 20 SNPs the elastic net keeps, their dosages and, for
  every pair of them, how many of a person's haplotypes carry both ALT alleles (the phased products
  the simulation's interaction is made of), in one elastic net; paired against ``dosage_enet``. What a
  haplotype-aware model with this selection could reach if it read the partner allele perfectly.
- ``hap_pairs`` (no MLM): ``dosage_enet`` plus the one pair of window SNPs, anywhere in the window, whose
  phased ALT-ALT count best explains what ``dosage_enet`` leaves unexplained in the training fold
  (:class:`lmeqtl.expression.haplotype_pairs.HaplotypePairsRegressor`, the book's ``haplotype_pairs``
  method); paired against ``dosage_enet``.
- ``alt_pca_pairs`` / ``dosage_pairs``: ``alt_pca_enet`` / ``dosage_enet`` that also read the SNPs of that one
  pair (``pair_snps=1``): the MLM's context where the scan says an interaction sits, against the same SNPs' dosages;
  paired against ``alt_pca_enet`` / ``dosage_enet``.

With ``--elastic-net-r``, RQ4's PrediXcan-style elastic net on all window SNPs runs on the same
outer folds too (nested CV, the book's settings; ~1 min per draw): the reference the issue's targets
are measured against (the headline's mean r as a share of it, per truth).

Besides r, each method's own attribution (its SNP weights, the mean over the 5 outer
folds' fits, 0 at SNPs no fold chose) is ranked against the draw's causal SNPs by average
precision, next to RQ5's elastic net on all window SNPs (``elastic_net_scores``, all people).

    python -m benchmarks.bench_context --data-dir runs/top10/00_data/cohort \
        --checkpoint lmeqtl/weights/top10 [--draws 2] [--seed 12] [--methods pca dosage alt_pca] \
        [--elastic-net-r] [--genes 4] [--out benchmarks/RESULTS-context.md]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

from benchmarks.common import emit, git_commit, machine, markdown

BASE = {"pca": ("context", "pca"), "dosage": ("dosage", "pca"), "alt_pca": ("context", "alt_pca"),
        "ridge": ("context", "ridge"), "gated": ("context", "gated")}
WIDE = {"screen": 500, "model": "predixcan"}
# name -> (features, reduction, selection, other ContextualRegressor options)
METHODS = {**{name: (*spec, "dosage", {}) for name, spec in BASE.items()},
           **{f"{name}_enet": (*BASE[name], "enet", {}) for name in ("pca", "dosage", "alt_pca")},
           **{f"{name}_wide": (*BASE[name], "enet", WIDE) for name in ("dosage", "alt_pca")},
           **{f"{name}_enet40": (*BASE[name], "enet", {"top_k": 40}) for name in ("dosage", "alt_pca")},
           **{f"{name}_bg": (*BASE[name], "enet", {"background": True}) for name in ("dosage", "alt_pca")},
           **{f"{name}_bg05": (*BASE[name], "enet", {"background": True, "model": "predixcan"})
              for name in ("dosage", "alt_pca")},
           "alt_pca8_enet": ("context", "alt_pca", "enet", {"components": 8}),
           "pairs_enet": ("pairs_enet", "", "enet", {}),
           "hap_pairs": ("hap_pairs", "", "enet", {"pairs": 1}),
           "alt_pca_pairs": ("context", "alt_pca", "enet", {"pair_snps": 1}),
           "dosage_pairs": ("dosage", "pca", "enet", {"pair_snps": 1})}
PAIRS = {"dosage_enet40": "dosage_enet", "alt_pca_enet40": "alt_pca_enet", "dosage_bg": "dosage_enet",
         "alt_pca_bg": "alt_pca_enet", "dosage_bg05": "dosage_bg", "alt_pca_bg05": "alt_pca_bg", "dosage_wide": "dosage_enet",
         "alt_pca_wide": "dosage_wide", "alt_pca8_enet": "alt_pca_enet",
         "pairs_enet": "dosage_enet", "hap_pairs": "dosage_enet", "alt_pca_pairs": "alt_pca_enet",
         "dosage_pairs": "dosage_enet"}
PAIR_PRODUCTS, HAPLOTYPE_PAIRS = "pairs_enet", "hap_pairs"
PHIS = (0.0, 0.6)


def paired_with(name: str) -> str:
    """What a method is paired against: :data:`PAIRS`, else ``<name>_enet`` against ``<name>``, the others
    against ``pca``."""
    if name in PAIRS:
        return PAIRS[name]
    return name.removesuffix("_enet") if name.endswith("_enet") else "pca"


def draw_expression(haplotypes: np.ndarray, phi: float,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``y (n,)``, the true genetic value ``G (n,)`` and the causal SNPs of one tuning draw on ``haplotypes (n, 2, L)``."""
    from lmeqtl.simulate.expression import genetic_value

    n = len(haplotypes)
    frequency = haplotypes.mean(axis=(0, 1))
    candidates = np.flatnonzero(np.minimum(frequency, 1 - frequency) >= 0.05)
    causal = rng.choice(candidates, int(rng.integers(2, 6)), replace=False)
    g = genetic_value(haplotypes, causal, rng.standard_normal(len(causal)), phi, np.ones(n, bool))["G"]
    h2 = rng.uniform(0.1, 0.5)
    return np.sqrt(h2) * g + np.sqrt(1 - h2) * rng.standard_normal(n), g, causal


class PairProducts:
    """``pairs_enet``: the elastic net's 20 SNPs, their dosages and same-haplotype ALT-ALT counts of each pair."""

    def __init__(self, data, top_k: int = 20):
        self.data, self.top_k = data, top_k

    def _design(self, rows: np.ndarray) -> np.ndarray:
        alt = self.data.haplotypes[rows][:, :, self.snps_].astype(np.float64)  # (m, 2, S)
        i, j = np.triu_indices(len(self.snps_), 1)
        return np.hstack([alt.sum(axis=1), (alt[:, :, i] * alt[:, :, j]).sum(axis=1)])  # (m, S + S(S-1)/2)

    def fit(self, X, y):  # noqa: N803
        from sklearn.linear_model import ElasticNetCV
        from sklearn.model_selection import KFold

        from lmeqtl.expression.models import PATH_OPTIONS
        from lmeqtl.expression.snp_selection import select_by_enet

        rows = np.asarray(X)[:, 0]
        self.snps_ = select_by_enet(self.data.dosage[rows], y, self.top_k)
        x = self._design(rows)
        self.centre_, self.scale_ = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-12)
        self.net_ = ElasticNetCV(l1_ratio=0.5, alphas=30, cv=KFold(5, shuffle=True, random_state=0), **PATH_OPTIONS)
        self.net_.fit((x - self.centre_) / self.scale_, y)
        return self

    def predict(self, X):  # noqa: N803
        return self.net_.predict((self._design(np.asarray(X)[:, 0]) - self.centre_) / self.scale_)

    def snp_weights(self, X):  # noqa: N803, ARG002
        """Per chosen SNP, the |coefficients| of its dosage and of every pair it is in (standardised features)."""
        i, j = np.triu_indices(len(self.snps_), 1)
        owner = np.r_[np.arange(len(self.snps_)), i]
        coef = np.abs(self.net_.coef_)
        weight = np.bincount(owner, coef, len(self.snps_)) + np.bincount(j, coef[len(self.snps_):], len(self.snps_))
        return self.snps_, weight


def out_of_fold(data, y: np.ndarray, folds: np.ndarray, features: str, reduction: str, selection: str,
                options: dict, backgrounds: list | None = None) -> tuple[float, np.ndarray]:
    """Out-of-fold r, and the SNP weights ``(L,)`` averaged over the outer folds' fits (0 where unchosen);
    ``backgrounds``: each outer fold's elastic net, for the methods with ``background`` in their options."""
    from sklearn.model_selection import KFold

    from lmeqtl.expression.contextual import ContextualRegressor
    from lmeqtl.expression.haplotype_pairs import HaplotypePairsRegressor

    rows, predicted = np.arange(len(y))[:, None], np.empty(len(y))
    weights = np.zeros(data.dosage.shape[1])
    settings = {"model": "elasticnet", "components": 4, "top_k": 20, "neighbours": 2, **options}
    cv = KFold(5, shuffle=True, random_state=0)
    for i, k in enumerate(np.unique(folds)):
        if options.get("background"):
            settings["background"] = backgrounds[i]
        if features == PAIR_PRODUCTS:
            estimator = PairProducts(data)
        elif features == HAPLOTYPE_PAIRS:
            estimator = HaplotypePairsRegressor(data, 20, 2, options["pairs"], "elasticnet", cv, selection=selection)
        else:
            estimator = ContextualRegressor(data, features, cv=cv, selection=selection, reduction=reduction, **settings)
        fitted = estimator.fit(rows[folds != k], y[folds != k])
        predicted[folds == k] = fitted.predict(rows[folds == k])
        snps, weight = fitted.snp_weights(rows[folds != k])
        weights[snps] += weight / len(np.unique(folds))
    return float(np.corrcoef(predicted, y)[0, 1]), weights


def elastic_net_fit(dosage: np.ndarray, y: np.ndarray, folds: np.ndarray) -> tuple[float, list]:
    """Out-of-fold r of RQ4's PrediXcan-style elastic net on all window SNPs (the book's settings), and each
    outer fold's fitted net (:func:`lmeqtl.expression.background.fold_backgrounds`)."""
    from lmeqtl.expression.background import fold_backgrounds

    result, backgrounds = fold_backgrounds(dosage, y, folds)
    return float(np.corrcoef(result.predictions["predicted"], result.predictions["observed"])[0, 1]), backgrounds


def run(data_dir: str, checkpoint: str, draws: int, seed: int, methods: list[str],
        with_elastic_net: bool = False, n_genes: int | None = None) -> pd.DataFrame:
    import torch
    from sklearn.metrics import average_precision_score
    from tqdm.auto import tqdm

    from lmeqtl.book.chapters.expression import expression_inputs
    from lmeqtl.config import get_preset
    from lmeqtl.data.cohort import load_cohort
    from lmeqtl.data.paths import DataPaths
    from lmeqtl.explain.attribution import elastic_net_scores
    from lmeqtl.expression.gene_states import GeneData, snp_states
    from lmeqtl.mlm.embed import load_model

    paths = DataPaths.from_dir(data_dir)
    cohort = load_cohort(paths.dataset, paths.meta)
    people = expression_inputs(paths, cohort, get_preset("top10").expression, reuse_folds=False).people
    model, info = load_model(checkpoint, paths.dataset)
    model.eval()
    rng, rows = np.random.default_rng(seed), []
    for gene in tqdm(cohort.genes[:n_genes], desc="genes"):  # the first genes' draws are those of a full run
        haplotypes = people.haplotypes[gene]  # (n, 2, L)
        with torch.no_grad():
            states = snp_states(model, haplotypes, info["genes"][gene], dtype=np.float16)  # (n, 2, L, d)
        data = GeneData(haplotypes.sum(axis=1).astype(np.float64), states, haplotypes=haplotypes)
        for draw in range(draws):
            folds = np.random.default_rng(seed + draw).permutation(np.arange(len(haplotypes)) % 5)
            for phi in PHIS:
                y, g, causal = draw_expression(haplotypes, phi, rng)
                is_causal = np.isin(np.arange(haplotypes.shape[2]), causal)
                row = {"gene": gene, "draw": draw, "truth": "interaction" if phi else "additive",
                       "oracle": float(np.corrcoef(g, y)[0, 1]),
                       "elastic_net_ap": average_precision_score(is_causal, elastic_net_scores(data.dosage, y))}
                backgrounds = None
                if with_elastic_net or any(METHODS[name][3].get("background") for name in methods):
                    row["elastic net"], backgrounds = elastic_net_fit(data.dosage, y, folds)
                for name in methods:
                    start = time.perf_counter()
                    row[name], weights = out_of_fold(data, y, folds, *METHODS[name], backgrounds)
                    row[f"{name}_ap"] = average_precision_score(is_causal, weights)
                    row[f"{name}_s"] = time.perf_counter() - start
                rows.append(row)
    return pd.DataFrame(rows)


def _paired(group: pd.DataFrame, name: str, other: str) -> str:
    from scipy import stats

    diff = group[name] - group[other]
    return f"{diff.mean():+.3f} ({stats.wilcoxon(diff).pvalue:.2g})" if diff.any() else "+0.000"


def report(results: pd.DataFrame, command: str, commit: str) -> str:
    methods = [name for name in METHODS if name in results]
    r_table, ap_table = [], []
    for truth, group in results.groupby("truth"):
        row = {"truth": truth, "draws": len(group), "oracle": f"{group['oracle'].mean():.3f}"}
        if "elastic net" in group:
            row["elastic net"] = f"{group['elastic net'].mean():.3f}"
        row.update({name: f"{group[name].mean():.3f}" for name in methods})
        row.update({f"{name} - {paired_with(name)} (p)": _paired(group, name, paired_with(name))
                    for name in methods if name != "pca" and paired_with(name) in methods})
        if "elastic net" in group:
            row.update({f"{name} / elastic net": f"{group[name].mean() / group['elastic net'].mean():.0%}"
                        for name in methods})
            row.update({f"{name} - elastic net (p)": _paired(group.assign(en=group["elastic net"]), name, "en")
                        for name in methods})
        r_table.append(row)
        row = {"truth": truth, "draws": len(group), "elastic net": f"{group['elastic_net_ap'].mean():.3f}"}
        row.update({name: f"{group[f'{name}_ap'].mean():.3f}" for name in methods})
        row.update({f"{name} - elastic net (p)": _paired(group.assign(en=group["elastic_net_ap"]), f"{name}_ap", "en")
                    for name in methods})
        ap_table.append(row)
    seconds = {name: f"{results[f'{name}_s'].mean():.1f}" for name in methods}
    about = machine()
    return (f"# Contextual reductions on tuning draws\n\n`{command}`\n\ncommit {commit}, {about['cpu']}\n\n"
            f"Mean out-of-fold r over gene x draw (5 outer folds; p: Wilcoxon signed-rank, paired by draw)\n\n"
            f"{markdown(r_table)}\n\nMean average precision of the causal SNPs (random: ~0.001), each method's SNP "
            f"weights against the elastic net's |coefficients|\n\n{markdown(ap_table)}\n\n"
            f"seconds per draw and method (5 folds): {seconds}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", required=True, help="a simulated cohort (dataset.parquet, expression, ...)")
    parser.add_argument("--checkpoint", default="lmeqtl/weights/top10")
    parser.add_argument("--draws", type=int, default=2, help="draws per gene and truth")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS),
                        help="methods to compare (each paired against its partner, when run: see the module docstring)")
    parser.add_argument("--elastic-net-r", action="store_true",
                        help="also RQ4's elastic net on all window SNPs, the targets' reference (~1 min per draw)")
    parser.add_argument("--genes", type=int, help="only the first this many genes (their draws as in a full run)")
    parser.add_argument("--out", help="also write the report here")
    args = parser.parse_args(argv)
    command = "python -m benchmarks.bench_context " + " ".join(argv if argv is not None else sys.argv[1:])
    commit = git_commit()  # the code that runs, not the HEAD at the end of a long run
    results = run(args.data_dir, args.checkpoint, args.draws, args.seed, args.methods, args.elastic_net_r,
                  args.genes)
    return emit(report(results, command, commit), args.out)


if __name__ == "__main__":
    raise SystemExit(main())
