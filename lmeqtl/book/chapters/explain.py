"""What the RQ5 chapter needs besides the attribution itself: earlier steps' outputs, summaries, prose.

- :func:`finetuned_checkpoints`: step 04's fine-tuned models, one per gene (the first outer fold's);
- :func:`cohort_embeddings`: the embeddings of step 02 (same model, ``lmeqtl.mlm.embed``) when they
  cover the people, else computed here;
- :func:`method_summary`, :func:`enrichment_summary`: the numbers the prose quotes;
- ``*_text``: the prose, written from those numbers (a method may fail: the text says so).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lmeqtl.book import steps
from lmeqtl.book.chapters import NO_TRUTH
from lmeqtl.book.chapters.names import SCORE_NAMES
from lmeqtl.config import EmbedConfig
from lmeqtl.data.io import as_json

if TYPE_CHECKING:
    import torch

    from lmeqtl.book.run import NotebookRun
    from lmeqtl.data.cohort import Cohort

METHOD_NAMES = SCORE_NAMES  # RQ5's score codes -> readable names (lmeqtl.book.chapters.names)
MATCHED_TEST = "the distance-matched permutation test"
FISHER_TEST = "Fisher's exact test"


def finetuned_checkpoints(run: NotebookRun, genes: Sequence[str]) -> dict[str, Path]:
    """Gene -> the fine-tuned checkpoint of its first outer fold, from step 04 (empty when it did not run)."""
    from lmeqtl.finetune import finetuned_checkpoints as listing

    table = listing(steps.output_path(run.run_dir, "finetuned"))
    first = table[table["gene"].isin(list(genes))].sort_values(["gene", "fold"]).drop_duplicates("gene")
    return {row.gene: Path(row.path) for row in first.itertuples()}


def cohort_embeddings(run: NotebookRun, model: torch.nn.Module, cohort: Cohort, sample_ids: Sequence[str],
                      gene_map: Mapping[str, int], config: EmbedConfig, tss: Mapping[str, int] | None = None
                      ) -> tuple[dict[str, np.ndarray], str]:
    """Embeddings ``(n, 2, H)`` per gene of ``sample_ids`` (rows in that order) and where they come from.

    Step 02's when they cover these people and were made by this model in ``config``'s
    single mode; else computed here (``lmeqtl.mlm.embed``, resumable in ``run.out_dir/embeddings``).
    """
    from lmeqtl.mlm.embed import embed_cohort, load_embeddings
    from lmeqtl.mlm.embed_store import MANIFEST, model_fingerprint

    ids = [str(s) for s in sample_ids]
    stored = steps.output_path(run.run_dir, "embeddings")
    if (stored / MANIFEST).is_file():
        from lmeqtl.data.io import read_json

        manifest = read_json(stored / MANIFEST)
        saved = load_embeddings(stored)
        same = (manifest.get("model_sha256") == model_fingerprint(model) and manifest.get("config", {}).get("mode")
                == "single" and manifest.get("config") == _as_json(config) and set(ids) <= set(saved.sample_ids)
                and set(cohort.genes) <= set(saved.by_gene))
        if same:
            row = {s: i for i, s in enumerate(saved.sample_ids)}
            take = np.array([row[s] for s in ids])
            return {g: saved[g][take] for g in cohort.genes}, f"those of step {steps.GENOTYPES}"
    computed = embed_cohort(model, cohort, samples=ids, config=config, out_dir=run.out_dir / "embeddings",
                            gene_map=dict(gene_map), tss=dict(tss) if tss else None, device=run.device)
    return {g: computed[g] for g in cohort.genes}, "computed in this chapter"


def _as_json(config: EmbedConfig) -> dict:
    import dataclasses

    return as_json(dataclasses.asdict(config))


def method_summary(ranking: pd.DataFrame, ks: Sequence[int]) -> pd.DataFrame:
    """Per method: genes, mean AP, mean random AP, AP / random, mean recall@k (and LD-proxy recall@k)."""
    columns = ["average_precision", "random_average_precision",
               *[c for k in ks for c in (f"recall_at_{k}", f"proxy_recall_at_{k}") if c in ranking]]
    summary = ranking.groupby("method", sort=False)[columns].mean()
    summary.insert(0, "n_genes", ranking.groupby("method", sort=False)["gene"].nunique())
    summary.insert(3, "ap_over_random", summary["average_precision"] / summary["random_average_precision"])
    return summary


def _enriched(table: pd.DataFrame, by: str, alpha: float) -> pd.Series:
    """Per mark: are top SNPs significantly *more* often in peaks, by the matched test or by Fisher's?"""
    if by == "matched":
        return (table["matched_fold"] > 1) & (table["permutation_p"] < alpha)
    return (table["odds_ratio"] > 1) & (table["fisher_p"] < alpha)


def enrichment_summary(enrichment: pd.DataFrame, planted: Mapping[str, float] | None,
                       alpha: float = 0.05) -> pd.DataFrame:
    """Per method: is the planted enrichment recovered?

    A mark counts as enriched when the top SNPs are in its peaks more often than expected and
    the test's p < ``alpha``. The deciding test is the distance-matched permutation test
    (``matched_fold``, ``permutation_p``): peaks cluster near TSSs, and a method whose top SNPs
    sit near the TSS (the fine-tuned model scores only the SNPs nearest to it) looks enriched by
    Fisher's test for that reason alone. ``recovered`` = every planted-enriched mark enriched and
    no other mark, by that test; ``recovered_fisher`` the same by Fisher's test, for contrast.
    Tables without the permutation columns fall back to Fisher's test (``test`` says which decided).
    """
    matched = {"matched_fold", "permutation_p"} <= set(enrichment.columns)
    rows = []
    for method, table in enrichment.groupby("method", sort=False):
        table = table.set_index("mark")
        enriched = [m for m in table.index if planted and planted.get(m, 1.0) > 1.0]
        neutral = [m for m in table.index if m not in enriched]
        decided = _enriched(table, "matched" if matched else "fisher", alpha)
        fisher = _enriched(table, "fisher", alpha)
        rows.append({"method": method, "planted_marks": len(enriched),
                     "planted_found": int(decided[enriched].sum()),
                     "neutral_marks": len(neutral), "neutral_enriched": int(decided[neutral].sum()),
                     "planted_found_fisher": int(fisher[enriched].sum()),
                     "neutral_enriched_fisher": int(fisher[neutral].sum()),
                     "enriched_marks": ", ".join(m for m in table.index if decided[m]),
                     "mean_log_or_planted": float(np.nanmean(np.log(table.loc[enriched, "odds_ratio"].replace(
                         0, np.nan)))) if enriched else np.nan})
    out = pd.DataFrame(rows).set_index("method")
    out["recovered"] = (out["planted_marks"] > 0) & (out["planted_found"] == out["planted_marks"]) \
        & (out["neutral_enriched"] == 0)
    out["recovered_fisher"] = (out["planted_marks"] > 0) & (out["planted_found_fisher"] == out["planted_marks"]) \
        & (out["neutral_enriched_fisher"] == 0)
    out["test"] = MATCHED_TEST if matched else FISHER_TEST
    return out


def recovery_table(summary: pd.DataFrame) -> pd.DataFrame:
    """:func:`enrichment_summary` for the page: readable method names and counts in words."""
    from lmeqtl.book.chapters.names import method_label

    return pd.DataFrame({
        "method": summary.index.map(method_label),
        "planted marks enriched": [f"{f} of {n}" for f, n in zip(summary["planted_found"], summary["planted_marks"],
                                                                   strict=True)],
        "other marks enriched": [f"{f} of {n}" for f, n in zip(summary["neutral_enriched"], summary["neutral_marks"],
                                                                 strict=True)],
        "recovered": summary["recovered"].map({True: "yes", False: "no"}).to_numpy(),
        "by Fisher's test alone": summary["recovered_fisher"].map({True: "yes", False: "no"}).to_numpy(),
    })


def enrichment_matrix(enrichment: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Methods (rows) x marks: ``"1.8× (p 0.004)"``, the top SNPs' matched fold (observed in peaks /
    expected from TSS-distance- and MAF-matched SNPs) and the permutation p; ``*`` = enriched."""
    from lmeqtl.book.chapters.names import method_label

    def cell(row) -> str:
        if not np.isfinite(row.matched_fold):
            return "n/a"
        star = "*" if row.matched_fold > 1 and row.permutation_p < alpha else ""
        return f"{row.matched_fold:.2f}× (p {row.permutation_p:.2g}){star}"

    table = enrichment.assign(cell=[cell(row) for row in enrichment.itertuples()],
                              method=enrichment["method"].map(method_label))
    marks = list(dict.fromkeys(enrichment["mark"]))
    methods = list(dict.fromkeys(table["method"]))
    return table.pivot(index="method", columns="mark", values="cell").reindex(index=methods, columns=marks)


def _names(methods: Sequence[str]) -> str:
    names = [METHOD_NAMES.get(m, m) for m in methods]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _listing(lead: str, methods: Sequence[str]) -> str:
    """``"<lead>A, B and C. "`` naming ``methods``, or nothing when there are none."""
    return f"{lead}{_names(methods)}. " if len(methods) else ""


def ranking_text(summary: pd.DataFrame, k: int) -> str:
    """Which methods rank causal SNPs above chance, by how much, and which do not (an empty ``summary``:
    real data, nothing to rank against)."""
    if summary.empty:
        return (f"{NO_TRUTH} the causal SNPs are unknown, so there is nothing to rank against; the rankings are "
                "compared with the eQTL table below.")
    ordered = summary.sort_values("average_precision", ascending=False)
    best, ratio = ordered.iloc[0], ordered["ap_over_random"]
    return (f"The best ranking of the causal SNPs comes from **{_names([best.name])}**: mean average precision "
            f"{best['average_precision']:.3f} against {best['random_average_precision']:.3f} for a random ranking "
            f"({best['ap_over_random']:.1f}x), and on average {best[f'recall_at_{k}']:.0%} of a gene's causal SNPs "
            f"in its top {k}. "
            + _listing("At least twice the random average precision: ", ordered.index[ratio >= 2])
            + _listing("Within a factor of two of chance, i.e. these rankings found little of the truth here: ",
                       ordered.index[ratio < 2]))


def enrichment_text(summary: pd.DataFrame, planted: Mapping[str, float] | None) -> str:
    """Whether each method recovers the planted enrichment, by the test that controls TSS distance.

    The text names the deciding test (:func:`enrichment_summary`'s ``test``) and the methods
    that Fisher's test alone would have called recovered.
    """
    test = summary["test"].iloc[0] if "test" in summary and len(summary) else MATCHED_TEST
    rule = (f"A mark counts as enriched when {test} gives p < 0.05 with more top SNPs in its peaks than expected"
            + (" (each top SNP compared with random SNPs of the same gene, MAF bin and TSS-distance decile)"
               if test == MATCHED_TEST else "") + ". ")
    if not planted:
        enriched = summary["enriched_marks"] if "enriched_marks" in summary else pd.Series(dtype=str)
        found = [f"{_names([m])} ({marks})" for m, marks in enriched.items() if marks]
        return (f"{NO_TRUTH} no enrichment was planted, so there is nothing to recover. " + rule
                + (f"Enriched marks: {'; '.join(found)}." if found else "No method's top SNPs are enriched in any mark."))
    marks = [m for m, v in planted.items() if v > 1]
    text = f"The simulation planted enrichment of causal SNPs in {', '.join(marks)} and none in the other marks. " + rule
    truth = summary.loc["is_causal"] if "is_causal" in summary.index else None
    if truth is not None:
        text += (f"The positive control, the causal SNPs themselves, shows {int(truth['planted_found'])} of "
                 f"{int(truth['planted_marks'])} planted marks enriched and {int(truth['neutral_enriched'])} of "
                 f"{int(truth['neutral_marks'])} unplanted marks enriched; ")
        text += ("so the test can see the planted signal. " if truth["planted_found"] > 0 else
                 "even the truth does not reach significance at this size, so no method can be expected to. ")
    others = summary.drop(index="is_causal", errors="ignore")
    found = others["planted_found"] > 0
    text += (_listing("Fully recovered (every planted mark, no other) by the top SNPs of ",
                      others.index[others["recovered"]])
             + _listing("Partly recovered by ", others.index[~others["recovered"] & found])
             + _listing("Not recovered (no planted mark enriched) by ", others.index[~found]))
    if test == MATCHED_TEST and "recovered_fisher" in others:
        flattered = others.index[others["recovered_fisher"] & ~others["recovered"]]
        text += _listing("Fisher's test alone, which ignores that peaks cluster near TSSs, would also have called "
                         "the enrichment recovered for ", flattered)
    return text


def setup_text(checkpoint_source: str, config, n_people: int, n_genes: int, finetuned: Mapping[str, Path],
               embeddings_source: str, ridge_fits: pd.DataFrame, simulated: bool,
               seconds: Mapping[str, float]) -> str:
    """What was attributed, on whom, with what settings, and how long it took."""
    text = (f"The pretrained model is {checkpoint_source}. The people are the {n_people} test-split people with "
            f"expression (as in RQ2-RQ4), {n_genes} genes. IG and ISM attribute a seeded draw of "
            f"{config.n_individuals} of them per gene ({config.ig_steps} IG steps; ISM on the "
            f"{config.ism_max_snps or 'all'} SNPs with the highest IG score); the baselines use all {n_people}. ")
    if finetuned:
        folds = sorted({p.name for p in finetuned.values()})
        text += (f"**(a) The fine-tuned models of step {steps.FINETUNE}**: for each gene the model of its first "
                 f"outer fold ({', '.join(folds)}), i.e. trained on the other folds' people. ")
    else:
        text += (f"**(a) The fine-tuned models are missing**: step {steps.FINETUNE} did not run in this book (or "
                 f"wrote no checkpoints), so this chapter attributes only the embedding pipeline and the baselines. ")
    text += (f"**(b) Embedding + ridge**: the pretrained model's pooled embedding of each haplotype ({embeddings_source}), "
             f"the two haplotypes summed, standardised, then ridge regression with the penalty chosen by 5-fold CV, "
             f"fitted once on all {n_people} people (no held-out set: this section explains the fitted pipeline; how "
             f"well it predicts new people is RQ2's question). Its in-sample r ranges "
             f"{ridge_fits['in_sample_r'].min():.2f}-{ridge_fits['in_sample_r'].max():.2f} over genes. ")
    if not simulated:
        text += (f"{NO_TRUTH} the causal SNPs are unknown, so the rankings are compared with the eQTL table only "
                 "and the enrichment with no planted marks. ")
    timing = ", ".join(f"{name} {value:.0f} s" for name, value in seconds.items())
    return text + f"Time: {timing}."


def agreement_text(agreement: pd.DataFrame, k: int) -> str:
    """How each method's ranking agrees with the published eQTL table's -log10 p."""
    ranked = agreement[agreement["spearman"].notna()]  # ISM scores only a few SNPs: no rank correlation
    best = agreement.loc[(ranked if len(ranked) else agreement)[f"top_{k}_overlap"].idxmax()]
    return (f"The EUR373-style table lists only the SNP-gene pairs significant at FDR 5 %; unlisted SNPs rank last. "
            f"Closest to the table in its top {k}: {_names([best.name])} (mean overlap "
            f"{best[f'top_{k}_overlap']:.0%}, Spearman {best['spearman']:.2f} over the SNPs both score). "
            + _listing("Nearly unrelated to the table (Spearman < 0.1): ",
                       agreement.index[agreement["spearman"] < 0.1])
            + "The marginal scan agrees by construction, being the same test on the same kind of data; "
            "agreement is not correctness where SNPs are in LD.")


def locus_text(genes: Sequence[str], simulated: bool) -> str:
    causal = " Red diamonds and dashed lines mark the causal SNPs." if simulated else ""
    return (f"The genes with the strongest marginal eQTL signal ({', '.join(genes)}): each method's score "
            f"(scaled to a maximum of 1), the eQTL table's -log10 p, and the peaks of each mark (green: active, "
            f"blue: repressive); the dotted line is the TSS.{causal}")
