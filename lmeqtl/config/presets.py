"""Presets: one typed configuration per way of running the book.

``smoke``      CI: a few hundred people, 3 genes, a tiny model; minutes on 2 CPU cores.
``top10``      the default of ``make book``: the simulated cohort on the real top10 gene
               windows, with a reduced model so the whole book builds in < 60 min on 2 cores.
``top10-gpu``  the same data with the original's full-size model (d_model 256, 16 layers).
``top100``     100 simulated gene windows (additive expression), full-size model, for a GPU.

Each step saves ``preset.to_dict()`` next to what it wrote, and each notebook prints it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from lmeqtl.config.sections import (
    EmbedConfig,
    ExplainConfig,
    ExpressionConfig,
    FinetuneConfig,
    GenotypeEvalConfig,
    ModelConfig,
    SimulationConfig,
    TrainConfig,
)


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    genotype_eval: GenotypeEvalConfig = field(default_factory=GenotypeEvalConfig)
    expression: ExpressionConfig = field(default_factory=ExpressionConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    explain: ExplainConfig = field(default_factory=ExplainConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def describe(self) -> str:
        """A short human-readable summary, printed at the top of every notebook."""
        lines = [f"preset {self.name!r}: {self.description}"]
        for section in dataclasses.fields(self):
            value = getattr(self, section.name)
            if dataclasses.is_dataclass(value):
                items = ", ".join(f"{k}={v}" for k, v in dataclasses.asdict(value).items())
                lines.append(f"  {section.name}: {items}")
        return "\n".join(lines)


def _smoke() -> Preset:
    return Preset(
        name="smoke",
        description="CI: 3 simulated genes, ~300 people, tiny model; minutes on 2 CPU cores",
        simulation=SimulationConfig(
            genes="synthetic", n_genes=3, max_snps=500, window_bp=150_000,
            super_population_sizes={"AFR": 60, "AMR": 30, "EAS": 40, "EUR": 130, "SAS": 40},
            n_expression_eur=100, n_expression_yri=20,
            # genes 1 and 3: 60 % of the genetic variance from a same-haplotype interaction, gene 2 additive, so
            # that CI runs both groups of the additive/interaction split (expression only: haplotypes unchanged)
            interaction_fractions=(0.6, 0.0),
        ),
        model=ModelConfig(d_model=32, n_layers=2, n_resnet_blocks=1, d_state=16, dropout=0.0,
                          snp_embedding=True),
        # CI: 3 short epochs (10 steps of 32 crops) so that chapter 01 has curves and stays under a minute
        train=TrainConfig(epochs=3, batch_size=32, learning_rate=3e-3, warmup_steps=10, crop_length=256,
                          epoch_size=320, val_max_haplotypes=120),
        embed=EmbedConfig(rolling_copies=5),
        genotype_eval=GenotypeEvalConfig(max_samples=40),
        # CI: 3 models x 2 combinations (a path CV, a grid search, both kinds of combination), ~20 s
        expression=ExpressionConfig(outer_folds=3, inner_folds=3, n_bootstrap=100,
                                    models=("ridge", "elasticnet", "svr_rbf"), combine=("sum", "product_absdiff")),
        # exercises the trainable-block path, the TSS window and the MLM regulariser in seconds
        finetune=FinetuneConfig(freeze="all_but_last_1", window_snps=200, epochs=3, patience=3, mlm_crop_length=128),
        explain=ExplainConfig(n_individuals=4, ig_steps=4, ism_max_snps=10, susie_effects=5, enet_folds=3,
                              enet_alphas=15, recall_ks=(1, 5, 10, 20), top_k=20, n_permutations=200),
    )


def _top10() -> Preset:
    return Preset(
        name="top10",
        description="simulated cohort on the real top10 gene windows; reduced model for 2 CPU cores",
        # every other gene (5 of 10) carries 60 % of its genetic variance in a same-haplotype interaction, the
        # rest are additive: the additive/interaction split of chapters 03 and 05 has power. Expression only:
        # the haplotypes (and the shipped weights' data fingerprint) do not change
        simulation=SimulationConfig(interaction_fractions=(0.6, 0.0)),
        model=ModelConfig(d_model=64, n_layers=4, n_resnet_blocks=1, d_state=32, dropout=0.0,
                          snp_embedding=True),
        # The recipe of the shipped weights (lmeqtl/weights/top10, `make weights`): 160 epochs of 4000 random
        # 1000-SNP crops, bf16 autocast (1.18x the fp32 speed at equal accuracy, benchmarks/bench_recipe.py),
        # validation on 300 fixed whole haplotypes every 5 epochs; ~1.8 h on 2 idle cores (80 epochs took
        # 0.89 h; 160 raised validation per-SNP IQS from 0.937 to 0.957, benchmarks/RESULTS-recipe.md). The
        # book uses the shipped weights; `--retrain` (or another cohort) trains this recipe from scratch.
        # chapter 01 scores 600 of the 10,060 test haplotypes (~15 haplotypes/s on whole 5000-SNP windows)
        train=TrainConfig(epochs=160, batch_size=32, learning_rate=6e-3, warmup_steps=50, crop_length=1000,
                          epoch_size=4000, amp="bf16", val_max_haplotypes=300, validate_every=5,
                          test_max_haplotypes=600),
        embed=EmbedConfig(rolling_copies=10),
        genotype_eval=GenotypeEvalConfig(max_samples=200),
        # one real top10 gene (373 people, 5000 SNPs, this preset's 64-d embeddings), all 6 models x 3 combinations
        # + baselines: 113 s wall on one worker on the shared machine (load ~9; CPU time ~0.47 of wall), i.e.
        # ~53 s CPU; PrediXcan 30 % of it, the elastic net on embeddings (3 l1 ratios) 33 %. Without that
        # elastic net (lasso and ridge are its two ends), measured on the same gene: 73 s wall on 2 workers at
        # load ~6 (94 s of task time, PrediXcan 36 s). 10 genes: ~12 min on that busy machine, ~4 min on 2 idle
        # cores if CPU time stays ~half of wall (extrapolations); the chapter's budget is ~8 min
        # the headline contextual method (pre-registered, chapters 03-06): the SNPs an elastic net keeps in each
        # training fold, each read as its ALT dosage and the PCs of its ALT-carrying haplotypes' states. Chosen on
        # tuning draws, not on the book's genes (benchmarks/RESULTS-context.md, run 2: +0.029 r on additive
        # truth, -0.005 on interaction truth, causal-SNP average precision of its weights 0.111 vs 0.051, against
        # the marginal top-20 SNPs' PCs that the book used before)
        # Fitted on top of each fold's PrediXcan net (chapter 03's own fits), by a rule written before the run
        # (RESULTS-context.md, run 9: +0.018 r additive, +0.011 interaction, mean AP of its weights 0.093 vs 0.082).
        # Its regression on top of the net has one l1 ratio, PrediXcan's 0.5 (context_model "predixcan"), by a rule
        # written before the run (RESULTS-context.md, run 10: +0.001 r additive, -0.004 interaction, the same mean AP;
        # 4.8 s per draw against 12.8 s): the three-ratio search cost chapter 03 ~140 CPU-seconds.
        # the states pass 4 haplotypes at a time: on 2 cores, 100 people's states took 2.6 s against 3.6 s in passes
        # of 16 (the states agree to the last bit); chapter 03's states cost 125 s of its 608 s at 16
        expression=ExpressionConfig(n_jobs=2, models=("ols", "ridge", "lasso", "svr_rbf", "svr_linear"),
                                    context_selection="enet", context_reduction="alt_pca", context_batch_size=4,
                                    context_model="predixcan", context_background="predixcan",
                                    headline_method="contextual:predixcan+predixcan"),
        # the trunk stays frozen (one trainable block costs ~0.05 s per haplotype and epoch at 5000 SNPs);
        # its states of the 1000 SNPs nearest each TSS are cached once, the head learns an attention pooling.
        # No time budget (it would make the kept epochs depend on the machine's load): at most 15 epochs,
        # patience 5; a 40-epoch / 5-minute run kept epoch 5 on median (max 13) over the 50 gene-folds.
        # Head learning rate 0.005: out-of-fold r +0.03 to +0.05 over 0.02 on 3 of the 3 genes tried
        finetune=FinetuneConfig(freeze="all", pooling="attention", window_snps=1000, epochs=15, patience=5,
                                batch_size=32, head_learning_rate=0.005),
        # step 06 must fit in ~6 min on 2 cores. Measured on a shared, overloaded 2-core machine (load ~8):
        # IG + ISM of the embedding+ridge predictor on one 5000-SNP gene took 215 s with 8 people x 8 steps
        # x ISM 10 SNPs, so 4 x 4 x 5 (~1/4 of the passes); the elastic net took 37 s per gene with 5 folds x
        # 30 penalties, so 3 x 15. Embeddings for the ridge fit come from step 02. GPU presets attribute more.
        explain=ExplainConfig(n_individuals=4, ig_steps=4, ism_max_snps=5, ism_batch_size=32, enet_folds=3,
                              enet_alphas=15),
    )


def _top10_gpu() -> Preset:
    return Preset(
        name="top10-gpu",
        description="simulated top10 cohort with the original's full-size model (GPU)",
    )


def _top100() -> Preset:
    return Preset(
        name="top100",
        description="100 simulated gene windows (SIMG ids, additive expression), full-size model (GPU)",
        simulation=SimulationConfig(genes="synthetic", n_genes=100, interaction_fraction=0.0),
    )


PRESETS: dict[str, Preset] = {p.name: p for p in (_smoke(), _top10(), _top10_gpu(), _top100())}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; the error lists the known ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None

