"""The typed settings of each stage: one frozen dataclass per section of a preset.

``SimulationConfig`` (``lmeqtl simulate``), ``ModelConfig`` and ``TrainConfig`` (the MLM),
``EmbedConfig``, ``GenotypeEvalConfig`` (RQ1), ``ExpressionConfig`` (RQ2/RQ4),
``FinetuneConfig`` (RQ3), ``ExplainConfig`` (RQ5). The defaults are the ``top10-gpu`` preset;
:mod:`lmeqtl.config.presets` names the combinations the book runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lmeqtl.config.validate import (
    COUNT,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    RATE,
    Rule,
    check_fields,
)
from lmeqtl.errors import InputError

# 1000 Genomes Phase 3 super-population sizes (2504 people in all).
__all__ = ["PHASE3_SUPER_POPULATIONS", "EmbedConfig", "ExplainConfig", "ExpressionConfig", "FinetuneConfig",
           "GenotypeEvalConfig", "ModelConfig", "SimulationConfig", "TrainConfig"]

# ContextualRegressor's reductions (lmeqtl.expression.contextual.REDUCTIONS; a test keeps the two equal)
CONTEXT_REDUCTIONS = ("pca", "alt_pca", "ridge", "gated")
CONTEXT_SELECTIONS = ("dosage", "enet")  # the state scan is its own method (contextual_scan), not a setting
CONTEXT_BACKGROUNDS = ("none", "predixcan")  # lmeqtl.expression.background.BACKGROUNDS (a test keeps them equal)
PHASE3_SUPER_POPULATIONS = {"AFR": 661, "AMR": 347, "EAS": 504, "EUR": 503, "SAS": 489}


@dataclass(frozen=True)
class SimulationConfig:
    """How the embedded default cohort is simulated (``lmeqtl simulate``; see ``lmeqtl.simulate.cohort``).

    Genotypes: ``genes`` is "top10" (the real top10 windows, SNP for SNP) or "synthetic"
    (``n_genes`` made-up windows). ``oversampling``: simulated common variants per target
    SNP from which AF-matching ones are chosen (top10). ``decoy_ratio``: rare-SNP VCF rows
    per kept SNP (plus ~1 % indels, ~0.5 % multi-allelic rows) that ``prepare`` must drop.
    Errors (small, on by default): ``genotype_error_rate`` per genotype and
    ``switch_errors_per_mb`` phasing switches per person and Mb, in the VCF only.
    Expression (``lmeqtl.simulate.expression``): per gene a cis-heritability in
    ``h2_range`` (share of the person-level log-expression variance in the EUR expression
    sample), ``n_causal_range`` causal SNPs (MAF >= ``causal_min_maf`` in EUR; drawn near
    the TSS on a ``tss_scale_bp`` scale, ``active_mark_enrichment``-fold more often in
    active-mark peaks, a share ``causal_ld_fraction`` picked in LD with an earlier one),
    ``interaction_fraction`` of the genetic variance from a cis (same-haplotype)
    interaction of two causal SNPs (0 = additive only; ``interaction_fractions`` sets it per
    gene, the haplotypes unchanged), replicate libraries for a share
    ``replicate_fraction`` of people with technical noise ``technical_sd`` (log scale).
    """

    genes: str = "top10"
    n_genes: int = 10
    super_population_sizes: dict[str, int] = field(
        default_factory=lambda: dict(PHASE3_SUPER_POPULATIONS)
    )
    max_snps: int = 5000  # SNPs kept per gene window, centred on the TSS
    window_bp: int = 1_000_000  # TSS +/- window_bp
    min_af: float = 0.03
    demography: str = "AmericanAdmixture_4B18"
    oversampling: float = 8.0
    decoy_ratio: float = 0.1
    genotype_error_rate: float = 5e-4
    switch_errors_per_mb: float = 0.5
    n_expression_eur: int = 373  # GEUVADIS: 373 EUR + 89 YRI with expression
    n_expression_yri: int = 89
    replicate_fraction: float = 0.3
    technical_sd: float = 0.15
    h2_range: tuple[float, float] = (0.05, 0.6)  # cis-heritability per gene
    n_causal_range: tuple[int, int] = (1, 5)
    causal_min_maf: float = 0.05
    causal_ld_fraction: float = 0.3
    tss_scale_bp: int = 20_000
    interaction_fraction: float = 0.2  # share of genetic variance that is non-additive
    active_mark_enrichment: float = 5.0  # fold enrichment of causal SNPs in active peaks
    eqtl_fdr: float = 0.05
    eqtl_min_maf: float = 0.05
    seed: int = 1
    # per-gene interaction fractions in gene order, repeated over the genes (e.g. (0.6, 0.0): every other
    # gene 0.6, the rest additive); a gene given > 0 gets at least 2 causal SNPs. Empty: every gene
    # interaction_fraction. Expression only: the haplotypes do not change.
    interaction_fractions: tuple[float, ...] = ()


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the haplotype MLM (defaults = the original's full size)."""

    d_model: int = 256
    n_layers: int = 16  # state-space blocks
    n_resnet_blocks: int = 3
    d_state: int = 64
    encoder_kernel: int = 15
    resnet_kernel: int = 7
    decoder_kernel: int = 15
    dropout: float = 0.0  # the original's default and its published top10 run
    dss_kernel: str = "exp"  # "exp": length-independent kernels; "softmax": the original's
    snp_embedding: bool = False  # a learned vector per (gene, SNP) added to the input (not in the original)

    def __post_init__(self) -> None:
        check_fields(self, "model", {"d_model": POSITIVE_INT, "n_layers": COUNT, "n_resnet_blocks": COUNT, "d_state": POSITIVE_INT,
                                      "dropout": Rule(float, lo=0, hi=1, hi_open=True)})


@dataclass(frozen=True)
class TrainConfig:
    """Masked-LM training (see ``lmeqtl.mlm.train``; original: Adam 1e-3, batch 32, no schedule)."""

    epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: str = "cosine"  # "constant" or "cosine" (to min_lr_ratio), after a linear warmup
    warmup_steps: int = 200
    min_lr_ratio: float = 0.05
    grad_clip: float | None = 1.0  # max gradient norm (None: no clipping)
    amp: str = "auto"  # "auto": bf16/fp16 autocast on CUDA, off on CPU; "off"; "bf16" (any device)
    crop_length: int | None = None  # train on random crops of this many SNPs (None: whole)
    epoch_size: int | None = None  # haplotypes per epoch, a seeded subset (None: all)
    mask_rate: float = 0.2
    mask_strategy: str = "maf_stratified"  # or "uniform", "maf_balanced" (lmeqtl.mlm.masking)
    edge_frame: int = 30  # positions at each end that are never masked
    n_folds: int = 5  # validation = fold `fold` of the train split's samples
    fold: int = 0
    val_max_haplotypes: int | None = None  # score a seeded subset of validation haplotypes
    test_max_haplotypes: int | None = None  # chapter 01 scores a seeded subset of the test haplotypes
    val_batch_size: int = 16
    validate_every: int = 1  # epochs
    max_minutes: float | None = None  # stop after this wall time: a user option, never a preset default
    seed: int = 1

    def __post_init__(self) -> None:
        check_fields(self, "train", {
            "epochs": POSITIVE_INT, "batch_size": POSITIVE_INT, "learning_rate": POSITIVE,
            "weight_decay": NON_NEGATIVE, "warmup_steps": COUNT, "min_lr_ratio": Rule(float, lo=0, hi=1),
            "grad_clip": Rule(float, lo=0, lo_open=True, optional=True),
            "crop_length": Rule(int, lo=1, optional=True), "epoch_size": Rule(int, lo=1, optional=True),
            "mask_rate": RATE, "edge_frame": COUNT, "n_folds": POSITIVE_INT, "fold": COUNT,
            "val_max_haplotypes": Rule(int, lo=1, optional=True), "test_max_haplotypes": Rule(int, lo=1, optional=True),
            "val_batch_size": POSITIVE_INT, "validate_every": POSITIVE_INT,
            "max_minutes": Rule(float, lo=0, lo_open=True, optional=True), "seed": COUNT})


@dataclass(frozen=True)
class EmbedConfig:
    """Haplotype embeddings (``lmeqtl.mlm.embed``): a block's hidden state pooled over positions.

    ``mode``: ``single`` (one unmasked pass), ``masked`` (one pass with ``mask_rate`` of the
    positions masked, seeded), ``rolling`` (``rolling_copies`` copies, position i masked in
    copy ``i % rolling_copies``; each position's state comes from the copy that masks it).
    ``layer``: index into ``HaplotypeMLM.hidden_states`` (-1: the last block's output).
    ``pooling``: ``mean``, or ``tss_window`` (mean over the ``tss_window`` SNPs nearest the
    TSS). ``batch_size``: sequences per forward pass (rolling copies included).
    """

    mode: str = "single"  # single | masked | rolling
    layer: int = -1
    pooling: str = "mean"  # mean | tss_window
    tss_window: int = 500  # SNPs nearest the TSS (pooling="tss_window")
    rolling_copies: int = 50
    mask_rate: float = 0.2  # mode="masked"
    batch_size: int = 16
    seed: int = 1

    def __post_init__(self) -> None:
        check_fields(self, "embed", {"tss_window": POSITIVE_INT, "rolling_copies": POSITIVE_INT, "mask_rate": RATE,
                                      "batch_size": POSITIVE_INT, "seed": COUNT})


@dataclass(frozen=True)
class GenotypeEvalConfig:
    """RQ1: genotype reconstruction of test-split people (``lmeqtl.genotypes.imputation``, ``lmeqtl.genotypes.comparison``).

    The same ``mask_rate`` of each gene's SNPs is masked in every person (both haplotypes; for
    Beagle these are untyped markers, imputed from the reference panel only). Masked
    genotypes are always the MASK token (no 80/10/10).
    ``max_samples``: a seeded subset of the test split (None: all). Beagle
    (``run_beagle``) uses the train split as reference panel.
    """

    mask_rate: float = 0.2
    mask_strategy: str = "uniform"  # lmeqtl.mlm.masking strategies
    edge_frame: int = 30
    max_samples: int | None = None
    batch_size: int = 8  # people per forward pass (2 haplotypes each)
    run_beagle: bool = True
    beagle_threads: int = 2
    seed: int = 1

    def __post_init__(self) -> None:
        check_fields(self, "rq1", {"mask_rate": RATE, "edge_frame": COUNT, "max_samples": Rule(int, lo=1, optional=True),
                                    "batch_size": POSITIVE_INT, "beagle_threads": POSITIVE_INT, "seed": COUNT})


@dataclass(frozen=True)
class ExpressionConfig:
    """RQ2/RQ4: expression from embeddings and from SNPs, nested cross-validation.

    See ``lmeqtl.expression``: ``models`` are fitted on every haplotype ``combine`` method;
    the baselines (lead SNP, PrediXcan-style elastic net, oracle) share the same folds.
    """

    outer_folds: int = 5
    inner_folds: int = 5
    transform: str = "inverse_normal"  # inverse_normal | log2 | none (of replicate-mean RPKM)
    models: tuple[str, ...] = ("ols", "ridge", "lasso", "elasticnet", "svr_rbf", "svr_linear")
    combine: tuple[str, ...] = ("sum", "concat_sorted", "product_absdiff")
    # the embedding method RQ4 tests against the baselines, fixed before the run (choosing the best
    # of many on the same genes would be optimistic); falls back to models[0]:combine[0] if not run
    reference_method: str = "ridge:sum"
    pca_components: int | None = None  # PCA of the combined embeddings inside each fold
    covariates: tuple[str, ...] = ()  # any of sex, population, genotype_pcs, expression_pcs
    n_genotype_pcs: int = 3
    n_expression_pcs: int = 5
    predixcan_l1_ratio: float = 0.5  # the elastic-net mixing of PrediXcan (glmnet alpha)
    n_lambdas: int = 30  # length of the inner-CV regularisation path of lasso / elastic net
    n_bootstrap: int = 1000
    ci_level: float = 0.95
    n_jobs: int = 1
    seed: int = 1
    # contextual SNP representations (lmeqtl.expression.contextual), all chosen inside each outer training
    # fold: the context_top_k SNPs most associated with expression and context_neighbours SNPs either side;
    # the MLM's states (block context_layer, one unmasked pass) at each, projected on context_components
    # PCs per SNP, summed over the two haplotypes, then context_model (inner CV). Sized for 373 people.
    context_top_k: int = 20
    context_neighbours: int = 2
    context_components: int = 4
    context_layer: int = -1
    context_model: str = "elasticnet"  # elasticnet | ridge | lasso (lmeqtl.expression.models)
    # how a chosen SNP's state becomes features (ContextualRegressor.reduction): "pca" its top PCs over all
    # haplotypes; "alt_pca" its ALT dosage and the top PCs of the ALT-carrying haplotypes' states (the
    # allele and its haplotype context); "ridge" / "gated" supervised scores (benchmarks/RESULTS-context.md)
    context_reduction: str = "pca"
    # which SNPs a fold reads: "dosage" the context_top_k of strongest marginal |r|; "enet" the top_k an elastic
    # net on the fold's dosages keeps (lmeqtl.expression.snp_selection.select_by_enet), then the marginal order
    context_selection: str = "dosage"
    # also the dosages of the context_screen SNPs of strongest marginal |r| in the fold, beside the chosen SNPs'
    # features, in the contextual method and its dosage twin alike (0: none; ContextualRegressor.screen)
    context_screen: int = 0
    # chapter 03's haplotype-aware reference without the MLM (haplotype_pairs): the dosage twin plus the phased
    # ALT-ALT counts of this many SNP pairs, found by a scan of every pair of the window in each training fold
    # (lmeqtl.expression.haplotype_pairs; 0: not run; ~0.5 s per gene and fold on 2 cores)
    context_pairs: int = 1
    # the contextual method (and its twin) also read the SNPs of the context_pair_snps phased pairs that best explain
    # the twin's residual (ContextualRegressor.pair_snps; 0: none; then every SNP's state is extracted, ~1 GB per gene)
    context_pair_snps: int = 0
    # "predixcan": the contextual method, its twin and haplotype_pairs fit what each outer fold's PrediXcan-style
    # elastic net on all window SNPs (chapter 03's own fits) leaves unexplained, and add its prediction; "none"
    context_background: str = "none"
    context_batch_size: int = 16  # haplotypes per forward pass when extracting states
    # chapter 03 also runs contextual_scan (SNPs chosen by their states, not their dosages): it needs every
    # SNP's state in memory (~1 GB per gene at 373 people x 5000 SNPs x 64) and ~2 min more on the top10
    # book, where it did not beat the dosage-chosen method (r 0.317 vs 0.348, shipped 80-epoch weights)
    context_scan: bool = False
    # the LM method the chapters test against the baselines, fixed before the run (as reference_method)
    headline_method: str = "contextual:elasticnet"

    def __post_init__(self) -> None:
        for name, allowed in (("context_reduction", CONTEXT_REDUCTIONS), ("context_selection", CONTEXT_SELECTIONS),
                              ("context_background", CONTEXT_BACKGROUNDS)):
            if getattr(self, name) not in allowed:
                raise InputError(f"{getattr(self, name)!r} is not valid", where=f"expression.{name}",
                                 expected=f"one of {', '.join(allowed)}")
        check_fields(self, "expression", {"context_screen": COUNT, "context_pairs": COUNT, "context_pair_snps": COUNT})


@dataclass(frozen=True)
class FinetuneConfig:
    """RQ3: fine-tune the pretrained MLM on expression, on RQ2's outer folds (``lmeqtl.finetune``).

    What trains (``freeze``; the trunk's stages are the input stage = encoder, gene/SNP
    embeddings and ResNet, then the state-space blocks): ``none`` (everything), ``encoder``
    (all blocks, input stage frozen), ``all_but_last_<k>`` (the last k blocks), ``all`` (the
    head only; = ``all_but_last_0``). The MLM decoder is never trained. Frozen stages run
    once per haplotype and their output is cached; each epoch runs only what trains.
    Head, one per gene: ``pooling`` over SNPs, ``mean`` (RQ2's embedding) or ``attention``
    (a learned weight per SNP, starting from the mean), then the sum of the two haplotypes
    (order-invariant), then linear; or ``select``: a score per SNP (its state projected on
    ``select_dim`` principal directions, then one learned direction), summed over the two
    haplotypes, times a per-SNP gate with an L1 penalty, so that few SNPs of the window carry
    the prediction (``lmeqtl.finetune.selection``): ``select_solver`` ``enet`` fits the gates
    by an elastic-net path (``select_l1_ratio``; penalty by the inner validation people;
    frozen trunk), ``adam`` trains them by epochs with a proximal L1 step ``select_l1``. One model per gene.
    ``window_snps``: the model reads the SNPs nearest the TSS (None: the whole window).
    Training: AdamW (``learning_rate`` for the trunk, ``head_learning_rate`` for the head),
    ``batch_size`` people; the inner validation split (``val_fraction`` of each outer
    training fold) picks the best epoch and stops after ``patience`` epochs without
    improvement. ``mlm_weight`` > 0 adds the masked-LM loss on crops of train-split
    haplotypes (the MLM's own data) as a regulariser (ignored when only the head trains). ``max_minutes``: training budget
    shared equally by the (gene, fold) units; where it stops a run, the result depends on the machine's speed
    and load (not reproducible bit for bit), so only the smoke preset uses it. The defaults are
    the GPU presets' (``top10-gpu``, ``top100``); ``top10`` trains the head only (see its preset).
    """

    freeze: str = "all_but_last_2"  # none | encoder | all_but_last_<k> | all
    pooling: str = "mean"  # mean | attention | select
    window_snps: int | None = None  # SNPs nearest the TSS read by the model (None: all)
    epochs: int = 20
    batch_size: int = 16
    learning_rate: float = 1e-4  # trainable trunk blocks
    head_learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    val_fraction: float = 0.2
    patience: int = 5  # epochs without a better inner-validation loss before stopping
    mlm_weight: float = 0.1  # masked-LM loss weight (0: off; only with trainable trunk layers)
    mlm_batch_size: int = 8
    mlm_crop_length: int = 500
    cache_batch_size: int = 16  # haplotypes per forward pass when caching frozen stages
    amp: str = "auto"  # as TrainConfig.amp: bf16/fp16 autocast on CUDA, off on CPU
    max_minutes: float | None = None
    seed: int = 1
    select_dim: int = 8  # pooling="select": principal directions of the per-SNP states kept (cache: k/H of the states)
    select_l1: float = 0.5  # select, solver "adam": L1 on the gates (proximal step head_learning_rate x this, < 1)
    select_solver: str = "enet"  # select: "enet" (gates by an elastic-net path; freeze="all") | "adam" (epochs, prox L1)
    select_alphas: int = 30  # select, solver "enet": penalties on the path, chosen by the inner validation people
    select_l1_ratio: float = 0.5  # select, solver "enet": elastic-net mixing of the path (1: lasso)

    def __post_init__(self) -> None:
        check_fields(self, "finetune", {
            "window_snps": Rule(int, lo=1, optional=True), "epochs": POSITIVE_INT, "batch_size": POSITIVE_INT,
            "learning_rate": NON_NEGATIVE, "head_learning_rate": POSITIVE, "weight_decay": NON_NEGATIVE,
            "val_fraction": RATE, "patience": POSITIVE_INT, "mlm_weight": NON_NEGATIVE,
            "mlm_batch_size": POSITIVE_INT, "mlm_crop_length": POSITIVE_INT, "cache_batch_size": POSITIVE_INT,
            "max_minutes": Rule(float, lo=0, lo_open=True, optional=True), "seed": COUNT})


@dataclass(frozen=True)
class ExplainConfig:
    """RQ5: attribution of SNPs, ranking evaluation and chromatin enrichment (``lmeqtl.explain``)."""

    n_individuals: int = 32  # people attributed per gene (seeded draw)
    ig_steps: int = 32  # Integrated Gradients path steps
    ig_batch_size: int = 64  # forward passes per captum batch
    ism_max_snps: int | None = None  # in-silico mutagenesis on the top SNPs by IG (None: every SNP)
    ism_batch_size: int = 64  # mutants per forward pass
    aggregate: str = "mean_abs"  # per-SNP score: mean_abs | carrier_mean_abs (see attribution.aggregate)
    susie_effects: int = 10  # L single effects
    enet_folds: int = 5  # elastic-net baseline: CV folds choosing its penalty
    enet_alphas: int = 30  # ... and the length of its penalty path
    recall_ks: tuple[int, ...] = (1, 5, 10, 20, 50)
    ld_proxy_r2: float = 0.8  # a causal SNP is "found" by a top SNP in LD r2 >= this
    top_k: int = 50  # top SNPs per gene tested for chromatin enrichment
    n_permutations: int = 1000  # matched-background permutations
    seed: int = 1
    ig_max_steps: int = 256  # IG steps double from ig_steps up to this until the convergence delta is small
    ig_tolerance: float = 0.05  # ... small: mean |delta| <= this x mean |f(x) - f(baseline)| of the gene's people
