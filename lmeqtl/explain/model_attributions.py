"""IG and ISM of the book's expression models over a cohort's genes (RQ5), on the same people.

- :func:`ridge_attributions`: the pretrained MLM's embedding + a ridge fitted on these people, IG and ISM;
- :func:`contextual_attributions`: RQ2's contextual method (step 03's first-fold model), IG and ISM;
- :func:`finetuned_attributions`: step 04's fine-tuned models, IG and ISM;
- :func:`finetuned_full_attributions`: the same with IG run to a small convergence delta and ISM
  over every SNP, plus the select head's gates, and per gene the IG steps, delta and ISM speed;

Each returns ``gene -> {method: score (L,)}`` (:data:`lmeqtl.explain.scoring.Scores`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from lmeqtl.config import EmbedConfig, ExplainConfig
from lmeqtl.explain.predictors import EmbeddingRidge, fit_embedding_ridge
from lmeqtl.explain.scoring import Scores, attribution_scores, full_attribution
from lmeqtl.mlm.masking import N_TOKENS

if TYPE_CHECKING:
    from lmeqtl.data.cohort import Cohort


def ridge_attributions(model: torch.nn.Module, gene_map: Mapping[str, int], people: Cohort,
                       expression: pd.DataFrame, embeddings: Mapping[str, np.ndarray], config: ExplainConfig,
                       embed_config: EmbedConfig, tss: Mapping[str, int] | None = None,
                       device: torch.device | str = "cpu") -> tuple[Scores, pd.DataFrame]:
    """IG and ISM of the embedding + ridge pipeline of each gene, and the fits (``alpha``, ``in_sample_r``).

    Per gene: ridge on the summed haplotype embeddings ``(n, 2, H)`` (rows = ``people``), fitted once
    on all of them (penalty by CV seeded with ``config.seed``), then attributed through the MLM
    (``model`` in eval mode; ``gene_map``: its gene -> index map; ``embed_config`` in single mode,
    the one the embeddings were made with; ``tss`` only for ``tss_window`` pooling).
    """
    from lmeqtl.mlm.embed import tss_window_index

    scores: Scores = {}
    fits = []
    for gene in people.genes:
        observed = expression[gene].to_numpy()  # (n,)
        fit = fit_embedding_ridge(embeddings[gene], observed, combine="sum", seed=config.seed)
        fits.append({"gene": gene, "alpha": fit.alpha,
                     "in_sample_r": np.corrcoef(fit.predict(embeddings[gene]), observed)[0, 1]})
        window = None
        if embed_config.pooling == "tss_window":
            window = tss_window_index(people.gene_meta(gene)["pos"].to_numpy(), embed_config.tss_window,
                                      (tss or {}).get(gene))
        predictor = EmbeddingRidge(model, gene_map[gene], fit, embed_config, window).predictor()
        found = attribution_scores(predictor, people.haplotypes[gene], config=config, n_tokens=N_TOKENS,
                                   device=device)
        scores[gene] = {"ridge_ig": found["integrated_gradients"], "ridge_ism": found["ism"]}
    return scores, pd.DataFrame(fits, columns=["gene", "alpha", "in_sample_r"]).set_index("gene")


def contextual_attributions(model: torch.nn.Module, gene_map: Mapping[str, int], people: Cohort,
                            heads: Mapping[str, Mapping[str, np.ndarray]], config: ExplainConfig, layer: int = -1,
                            device: torch.device | str = "cpu") -> Scores:
    """IG and ISM of RQ2's contextual method through the MLM (``heads``: gene -> its first outer fold's
    linear head, step 03), as ``contextual_ig`` and ``contextual_ism``; genes without a head are absent."""
    from lmeqtl.explain.predictors import ContextualPredictor

    scores: Scores = {}
    for gene in people.genes:
        if gene not in heads or gene not in gene_map:
            continue
        predictor = ContextualPredictor(model, gene_map[gene], dict(heads[gene]), layer).predictor()
        found = attribution_scores(predictor, people.haplotypes[gene], config=config, n_tokens=N_TOKENS,
                                   device=device)
        scores[gene] = {"contextual_ig": found["integrated_gradients"], "contextual_ism": found["ism"]}
    return scores


def finetuned_attributions(finetuned: Mapping[str, str | os.PathLike[str]], pretrained: str | os.PathLike[str],
                           people: Cohort, config: ExplainConfig, device: torch.device | str = "cpu") -> Scores:
    """IG and ISM of each gene's fine-tuned model (``finetuned``: gene -> checkpoint directory).

    ``pretrained`` is the checkpoint they were fine-tuned from (checked by sha256 on loading);
    genes without a fine-tuned model are absent from the result.
    """
    from lmeqtl.finetune import load_finetuned

    scores: Scores = {}
    for gene, path in finetuned.items():
        model, _ = load_finetuned(path, pretrained=pretrained, device=device)
        found = attribution_scores(model.predictor(gene), people.haplotypes[gene], config=config,
                                   n_tokens=N_TOKENS, device=device)
        scores[gene] = {"finetuned_ig": found["integrated_gradients"], "finetuned_ism": found["ism"]}
    return scores


def finetuned_full_attributions(finetuned: Mapping[str, str | os.PathLike[str]], pretrained: str | os.PathLike[str],
                                people: Cohort, config: ExplainConfig, device: torch.device | str = "cpu"
                                ) -> tuple[Scores, pd.DataFrame]:
    """:func:`full_attribution` of each gene's fine-tuned model, and its diagnostics (one row per gene).

    Methods ``finetuned_ig``, ``finetuned_ism`` (every SNP) and, for a SNP-selecting head,
    ``finetuned_gate`` (|gate|; 0 outside the model's window). ISM uses the model's
    per-haplotype predictor (the heads are sums over the two haplotypes).
    """
    from lmeqtl.finetune import load_finetuned

    scores: Scores = {}
    rows = []
    for gene, path in finetuned.items():
        model, _ = load_finetuned(path, pretrained=pretrained, device=device)
        found, diagnostics = full_attribution(model.predictor(gene), people.haplotypes[gene],
                                              haplotype_predictor=model.haplotype_predictor(gene), config=config,
                                              n_tokens=N_TOKENS, device=device)
        scores[gene] = {"finetuned_ig": found["integrated_gradients"], "finetuned_ism": found["ism"]}
        if model.config.pooling == "select":
            slot = model.genes.index(gene)
            gate = np.zeros(people.haplotypes[gene].shape[2])
            gate[slice(*model.windows[slot])] = model.head.snp_weights(slot).cpu().numpy()
            scores[gene]["finetuned_gate"] = gate
        rows.append({"gene": gene, **diagnostics})
    return scores, pd.DataFrame(rows)
