"""Real data without truth: the smoke cohort in the real files' layout with ``truth/`` removed.

Chapters 03-07's helpers run on it as the notebooks call them (library level, small
settings), leave out only what needs the truth, and say so in their prose.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import replace

import pandas as pd
import pytest
import torch

from lmeqtl import explain as xp
from lmeqtl import expression as ex
from lmeqtl import finetune as ft
from lmeqtl.book import steps
from lmeqtl.book.chapters import NO_TRUTH, expression_text, summary, summary_tables
from lmeqtl.book.chapters import cohort as cohort_chapter
from lmeqtl.book.chapters import explain as explain_chapter
from lmeqtl.book.chapters import expression as expression_chapter
from lmeqtl.book.chapters import finetune as finetune_chapter
from lmeqtl.book.notebook import notebook_setup
from lmeqtl.book.run import make_run_data, trained_checkpoint_dir
from lmeqtl.config import get_preset
from lmeqtl.data.formats import read_eqtl_table, read_genes
from lmeqtl.data.peaks import read_narrowpeak
from lmeqtl.explain import model_attributions, scoring
from lmeqtl.mlm.batches import cohort_fingerprint
from lmeqtl.mlm.checkpoint import save_checkpoint
from lmeqtl.mlm.embed import embed_cohort, genes_in_model_order, load_model
from lmeqtl.mlm.embed_store import load_embeddings
from lmeqtl.mlm.model import HaplotypeMLM
from lmeqtl.simulate.cohort import simulate_cohort

# small settings: every helper runs, in seconds
OVERRIDES = {
    "expression.models": ["ridge"], "expression.combine": ["sum"], "expression.n_bootstrap": 20,
    "expression.n_lambdas": 8,
    "finetune.epochs": 1, "finetune.freeze": "all", "finetune.window_snps": 64, "finetune.patience": 1,
    "explain.n_individuals": 2, "explain.ig_steps": 2, "explain.ism_max_snps": 4, "explain.n_permutations": 20,
    "explain.enet_alphas": 5, "explain.susie_effects": 2, "explain.top_k": 10,
}


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """A run directory on a truth-less copy of the smoke cohort, with steps 00-02's outputs.

    Step 01's checkpoint is an untrained model (its numbers do not matter here, only that
    every chapter runs), step 02's outputs are its embeddings of the test split.
    """
    root = tmp_path_factory.mktemp("real")
    torch.set_num_threads(1)
    simulate_cohort(get_preset("smoke").simulation, root / "sim", preset="smoke", force=True, progress=False)
    shutil.copytree(root / "sim", root / "real", ignore=shutil.ignore_patterns("truth"))
    assert not (root / "real" / "truth").exists()

    def setup(step):
        return notebook_setup(step, "smoke", data_dir=root / "real", run_dir=root / "run", device="cpu",
                              overrides=OVERRIDES, quiet=True)

    run = setup(steps.DATA)
    paths = make_run_data(run, progress=False)
    assert paths.truth is None
    cohort = run.load_cohort(panel=False)
    torch.manual_seed(0)
    model = HaplotypeMLM(run.preset.model, len(cohort.genes), [cohort.haplotypes[g].shape[2] for g in cohort.genes])
    save_checkpoint(trained_checkpoint_dir(run.run_dir), model, genes=list(cohort.genes),
                    data_fingerprint=cohort_fingerprint(cohort))
    run = setup(steps.GENOTYPES)
    genes = read_genes(paths.genes)
    embed_cohort(model.eval(), cohort, split="test", config=run.preset.embed, out_dir=run.output("embeddings"),
                 tss=dict(zip(genes["gene_id"], genes["tss"].astype(int), strict=True)), device="cpu",
                 progress=False)
    return setup


def test_chapters_03_to_07_run_without_truth_and_say_what_they_leave_out(real_run):
    timings = {}

    # 03 RQ2: no oracle
    start = time.perf_counter()
    run = real_run(steps.EXPRESSION)
    cfg = run.preset.expression
    cohort = run.load_cohort()
    inputs = expression_chapter.expression_inputs(run, cohort, cfg, reuse_folds=False)
    assert inputs.truth is None and inputs.genetic_values is None
    ex.save_folds(run.out_dir / "folds.csv", inputs.folds)
    embeddings = expression_chapter.aligned_embeddings(load_embeddings(run.output("embeddings")), inputs)
    comparison = ex.run_comparison(inputs.expression, inputs.folds, embeddings=embeddings, dosages=inputs.dosages,
                                   lead_dosage=inputs.lead_dosage, genetic_values=inputs.genetic_values,
                                   covariates=inputs.covariates, config=cfg,
                                   methods=ex.embedding_methods(cfg) + ex.baseline_methods(), progress=False)
    comparison.save(run.out_dir)
    assert "oracle" not in set(comparison.predictions["method"])
    results = expression_chapter.score(comparison.predictions, cfg)
    rq2_summary = ex.summarise(results)
    embedding_names = [m.name for m in ex.embedding_methods(cfg)]
    assert NO_TRUTH in expression_text.ceiling_text(rq2_summary, embedding_names)
    results.to_csv(run.out_dir / "scores.csv", index=False)
    timings["03"] = time.perf_counter() - start

    # 04 RQ3: no causal SNPs for the attention weights
    start = time.perf_counter()
    run = real_run(steps.FINETUNE)
    paths = run.data_paths()
    checkpoint, source = finetune_chapter.pretrained_checkpoint(run)
    genes = read_genes(paths.genes)
    tss = dict(zip(genes["gene_id"], genes["tss"], strict=True))
    inputs = expression_chapter.expression_inputs(run, cohort, cfg)
    rq2_folds, rq2_predictions = finetune_chapter.rq2_outputs(run)
    assert rq2_predictions is not None
    setup_text = finetune_chapter.setup_text(checkpoint, source, run.preset.finetune, inputs.expression,
                                             inputs.folds, cohort, tss, None, rq2_folds is not None)
    assert "causal" not in setup_text
    result = ft.finetune_expression(checkpoint, cohort, inputs.expression, inputs.folds, run.preset.finetune,
                                    tss=tss, output_dir=run.out_dir / "finetune", device="cpu", progress=False)
    predictions = pd.concat([result.predictions, rq2_predictions], ignore_index=True)
    rq3 = ex.gene_results(predictions, n_bootstrap=cfg.n_bootstrap, level=cfg.ci_level, seed=cfg.seed)
    finetune_chapter.comparison_text(rq3, ex.summarise(rq3), True)
    assert NO_TRUTH in finetune_chapter.attention_text(
        replace(run.preset.finetune, pooling="attention"), None)
    rq3.to_csv(run.out_dir / "scores.csv", index=False)
    timings["04"] = time.perf_counter() - start

    # 05 RQ4: the baselines step 03 lacks are those that need no truth (no oracle to add)
    start = time.perf_counter()
    run = real_run(steps.BASELINES)
    inputs = expression_chapter.expression_inputs(run, cohort, cfg)
    predictions, computed_here = expression_chapter.with_baselines(rq2_predictions, inputs, cfg, progress=False)
    assert computed_here == [] and "oracle" not in set(predictions["method"])
    alone, computed = expression_chapter.with_baselines(None, inputs, cfg, progress=False)  # no step 03
    assert set(computed) == {"predixcan", "lead_snp", "lead_snp_cv"} == set(alone["method"])
    rq4 = expression_chapter.score(predictions, cfg, inputs)
    rq4_summary = ex.summarise(rq4)
    reference = expression_chapter.reference_method(cfg)
    assert NO_TRUTH in expression_text.rq4_text(rq4_summary, reference)
    setup_text = expression_text.rq4_setup_text(len(inputs.expression), len(inputs.expression.columns),
                                                inputs.folds_source, computed_here, False)
    rq4.to_csv(run.out_dir / "scores.csv", index=False)
    timings["05"] = time.perf_counter() - start

    # 06 RQ5: no ranking against causal SNPs, no planted enrichment
    start = time.perf_counter()
    run = real_run(steps.EXPLAIN)
    xcfg = run.preset.explain
    mlm, info = load_model(checkpoint, paths.dataset)
    cohort = run.load_cohort(genes=genes_in_model_order(info))
    inputs = expression_chapter.expression_inputs(run, cohort, cfg)
    people, table = inputs.people, inputs.expression
    is_causal = scoring.causal_masks(None, people)
    assert is_causal is None
    baselines = scoring.baseline_scores_by_gene(people, table, read_eqtl_table(paths.eqtl), xcfg)
    embed_cfg = replace(run.preset.embed, mode="single")
    embedded, _ = explain_chapter.cohort_embeddings(run, mlm.eval(), cohort, list(table.index), info["genes"],
                                                    embed_cfg, tss)
    ridge, ridge_fits = model_attributions.ridge_attributions(mlm, info["genes"], people, table, embedded, xcfg, embed_cfg, tss)
    finetuned = explain_chapter.finetuned_checkpoints(run, cohort.genes)
    assert NO_TRUTH in explain_chapter.setup_text(source, xcfg, len(table), len(cohort.genes), finetuned, "here",
                                                  ridge_fits, False, {"all": 1.0})
    tuned = model_attributions.finetuned_attributions(finetuned, checkpoint, people, xcfg)
    scores = scoring.merge_scores(baselines, ridge, tuned)
    methods = scoring.scored_methods(scores, cohort.genes)
    snps = scoring.snp_scores(people, scores, is_causal, tss)
    assert "is_causal" not in snps.columns
    assert explain_chapter.ranking_text(pd.DataFrame(), None).startswith(NO_TRUTH)
    pd.DataFrame().to_csv(run.out_dir / "ranking.csv", index=False)  # as the chapter saves it: nothing ranked
    peaks = {mark: read_narrowpeak(path) for mark, path in paths.peaks.items()}
    enrichment = xp.enrichment_by_method(snps, xp.annotate_snps(snps, peaks), methods, config=xcfg, planted=None)
    assert enrichment["planted_or"].isna().all()
    enrichment.to_csv(run.out_dir / "enrichment.csv", index=False)
    recovered = explain_chapter.enrichment_summary(enrichment, None)
    assert NO_TRUTH in explain_chapter.enrichment_text(recovered, None)
    timings["06"] = time.perf_counter() - start

    # 07 summary: the RQ5 answer says that the ranking needs the truth
    results = summary.load_results(run.run_dir, cfg.reference_method)
    answers = summary.answers(results)
    assert NO_TRUTH in answers["RQ5"] and "did not run" not in answers["RQ5"]
    assert "simulated" not in summary.limitations_text(results, simulated=False, full_size_model=False)
    assert cohort_chapter.truth_text(None).startswith(NO_TRUTH)  # chapter 00 announces it
    assert len(summary_tables.methods_table(results))  # the table builds without the truth
    print({k: round(v, 1) for k, v in timings.items()})

