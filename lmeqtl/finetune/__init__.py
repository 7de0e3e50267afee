"""RQ3: fine-tune the pretrained haplotype MLM to predict gene expression, on RQ2's folds.

=================  ===========================================================================
module             concept
=================  ===========================================================================
``model``          freeze specs, the per-gene head (order-invariant), cached frozen stages
``selection``      the SNP-selecting head (``pooling="select"``): gated per-SNP scores over the whole window
``training``       one outer fold: inner validation split, epochs, early stopping, MLM loss
``cv``             every gene and fold: ``finetune_expression`` -> RQ2-format predictions
``checkpoints``    fine-tuned checkpoints (head + trainable layers) and loading them back
``chapter``        the book chapter's helpers: which checkpoint, RQ2's saved outputs
``plots``          training curves, SNP weights of attention pooling
=================  ===========================================================================

A notebook's flow (``cfg`` = ``preset.finetune``; expression and folds as in RQ2)::

    from lmeqtl import expression as ex
    from lmeqtl import finetune as ft
    table = ex.prepare_expression(raw, cohort.genes, ids, preset.expression.transform)
    folds = ex.outer_folds(ids, preset.expression.outer_folds, preset.expression.seed)
    result = ft.finetune_expression(checkpoint, cohort, table, folds, cfg, output_dir=out)
    scores = ex.gene_results(result.predictions)            # next to RQ2/RQ4's rows
    units = ft.finetuned_checkpoints(out)                   # gene, fold, unit, path, best_epoch
    model, info = ft.load_finetuned(out / "units" / gene / "fold_0")   # for lmeqtl.explain
    predictor = model.predictor(gene)                       # (B, 2, V, L) one-hot -> (B,)
"""

from lmeqtl.finetune.checkpoints import finetuned_checkpoints, load_finetuned, save_finetuned
from lmeqtl.finetune.cv import FinetuneResult, finetune_expression, tss_windows
from lmeqtl.finetune.model import ExpressionHead, ExpressionModel, allele_tokens, frozen_stages
from lmeqtl.finetune.training import fit_fold, inner_split

__all__ = [
    "ExpressionHead", "ExpressionModel", "FinetuneResult", "allele_tokens", "finetune_expression", "finetuned_checkpoints", "fit_fold",
    "frozen_stages", "inner_split", "load_finetuned", "save_finetuned", "tss_windows",
]

