"""The embedding + ridge pipeline of RQ2 as one differentiable expression predictor, for RQ5.

RQ2 predicts a gene's expression from fixed haplotype embeddings: the pretrained MLM's
pooled hidden state of each haplotype (:mod:`lmeqtl.mlm.embed`), the two haplotypes combined,
then a ridge regression. To ask *which SNPs* that pipeline uses, IG and ISM need it as a
function of the genotype one-hot::

    onehot (B, 2, V, L) -> MLM trunk per haplotype -> pool -> (B, 2, H) -> sum/mean -> (B, H)
                        -> standardise -> ridge -> expression (B,)

:func:`mlm_embedder` is the first half (it computes exactly what ``embed_haplotypes``
computes in ``single`` mode, with gradients), :func:`fit_embedding_ridge` fits the second
half once (penalty by K-fold CV, as RQ2's ``ridge``) on the people given, and
:class:`EmbeddingRidge` joins them. Only linear combinations (``sum``, ``mean``) keep the
predictor a plain composition; RQ2's other combinations are not attributed here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.model_selection import KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from lmeqtl.config import EmbedConfig
from lmeqtl.explain.attribution import Predictor, embedding_ridge_predictor
from lmeqtl.expression.features import combine_haplotypes
from lmeqtl.expression.models import RIDGE_ALPHAS, RidgePathCV
from lmeqtl.mlm.masking import ALT

Embedder = Callable[[torch.Tensor], torch.Tensor]
LINEAR_COMBINATIONS = ("sum", "mean")


def onehot_states(model: torch.nn.Module, onehot: torch.Tensor, gene: int, layer: int) -> torch.Tensor:
    """The MLM's hidden states ``(B, L, H)`` at ``layer`` of one-hot haplotypes ``(B, V, L)`` of gene index ``gene``,
    differentiable (the same states as :func:`lmeqtl.mlm.embed.hidden_batch` computes from tokens)."""
    genes = torch.full((onehot.shape[0],), int(gene), dtype=torch.long, device=onehot.device)
    return model._trunk(onehot, genes, True)[1][layer].float()  # no public one-hot -> states call


def mlm_embedder(model: torch.nn.Module, gene: int, config: EmbedConfig | None = None,
                 window: np.ndarray | None = None) -> Embedder:
    """One haplotype's one-hot ``(B, V, L)`` -> pooled embedding ``(B, H)``, differentiable.

    The same hidden state (``config.layer``) and pooling as :func:`lmeqtl.mlm.embed.embed_haplotypes`
    in ``single`` mode (one unmasked pass); ``gene`` is the gene's index in the model's gene
    map and ``window`` the SNP indices of ``tss_window`` pooling. ``model`` should be in eval mode.
    """
    from lmeqtl.mlm.embed import pool

    config = config or EmbedConfig()
    if config.mode != "single":
        raise ValueError(f"only mode='single' is a plain function of the one-hot; got {config.mode!r}")
    if config.pooling == "tss_window" and window is None:
        raise ValueError("tss_window pooling needs the window's SNP indices")
    window_t = None if window is None else torch.as_tensor(np.asarray(window, dtype=np.int64))

    def embed(onehot: torch.Tensor) -> torch.Tensor:
        hidden = onehot_states(model, onehot, gene, config.layer)  # (B, L, H)
        return pool(hidden, config.pooling, None if window_t is None else window_t.to(onehot.device))  # (B, H)

    return embed


@dataclass
class RidgeFit:
    """A ridge fit on combined embeddings, mapped back to the unscaled embedding scale.

    ``weight`` ``(H,)`` and ``bias`` act on the combined embedding ``(n, H)``; ``alpha`` is
    the penalty that K-fold CV chose; ``pipeline`` is the fitted sklearn pipeline (scale + ridge).
    """

    weight: np.ndarray
    bias: float
    alpha: float
    combine: str
    pipeline: Pipeline

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """Expression ``(n,)`` from haplotype pairs ``(n, 2, H)`` (the sklearn pipeline's own prediction)."""
        return self.pipeline.predict(combine_haplotypes(embeddings, self.combine))


def fit_embedding_ridge(embeddings: np.ndarray, expression: np.ndarray, *, combine: str = "sum",
                        folds: int = 5, seed: int = 1, alphas: np.ndarray = RIDGE_ALPHAS) -> RidgeFit:
    """Standardise the combined embeddings and fit ridge, penalty by ``folds``-fold CV (seeded).

    One fit on all the people given (no held-out set: RQ5 explains a fitted predictor; its
    accuracy is RQ2's question). ``embeddings``: ``(n, 2, H)``; ``expression``: ``(n,)``.
    """
    if combine not in LINEAR_COMBINATIONS:
        raise ValueError(f"combine must be one of {LINEAR_COMBINATIONS} (linear in each haplotype), not {combine!r}")
    features = combine_haplotypes(embeddings, combine)  # (n, H)
    pipeline = Pipeline([("scale", StandardScaler()),
                         ("ridge", RidgePathCV(alphas, cv=KFold(folds, shuffle=True, random_state=seed)))])
    pipeline.fit(features, np.asarray(expression, dtype=np.float64))
    scaler, ridge = pipeline.named_steps["scale"], pipeline.named_steps["ridge"]
    weight = ridge.coef_ / scaler.scale_  # (H,)  on the unscaled features
    bias = float(ridge.intercept_ - weight @ scaler.mean_)
    return RidgeFit(weight, bias, ridge.alpha_, combine, pipeline)


class EmbeddingRidge:
    """MLM embedding + fitted ridge of one gene: ``predictor()`` is ``(B, 2, V, L) -> (B,)``."""

    def __init__(self, model: torch.nn.Module, gene: int, fit: RidgeFit, config: EmbedConfig | None = None,
                 window: np.ndarray | None = None) -> None:
        self.model, self.gene, self.fit = model, int(gene), fit
        self.embedder = mlm_embedder(model, gene, config, window)

    def predictor(self) -> Predictor:
        """The differentiable predictor for :func:`lmeqtl.explain.attribution_scores`."""
        return embedding_ridge_predictor(self.embedder, self.fit.weight, self.fit.bias, self.fit.combine)

    def __call__(self, onehot: torch.Tensor) -> torch.Tensor:
        return self.predictor()(onehot)


class ContextualPredictor:
    """RQ2's contextual method (one fitted outer-fold model) as a differentiable predictor of the one-hot.

    ``head``: :meth:`lmeqtl.expression.contextual.ContextualRegressor.linear_head` (``snps``,
    ``mean``, ``weight``, ``bias``; ``gate`` and ``allele`` where the head has them); the MLM's
    hidden states at ``layer`` (the layer the method read) at the chosen SNPs, minus their means,
    dotted with the weights (plus the input's ALT channel there times the state dotted with the
    gate, and times the allele's own weight), summed over SNPs and the two haplotypes. IG and ISM
    then see through the states to every SNP of the window, not only the chosen ones.
    """

    def __init__(self, model: torch.nn.Module, gene: int, head: dict[str, np.ndarray], layer: int = -1) -> None:
        self.model, self.gene, self.layer = model, int(gene), int(layer)
        self.snps = torch.as_tensor(np.asarray(head["snps"], dtype=np.int64))
        self.mean = torch.as_tensor(np.asarray(head["mean"], dtype=np.float32))  # (S, H)
        self.weight = torch.as_tensor(np.asarray(head["weight"], dtype=np.float32))  # (S, H)
        self.bias = float(head["bias"])
        gate = head.get("gate")  # (S, H): extra weights where the haplotype carries the ALT allele (gated heads)
        self.gate = None if gate is None else torch.as_tensor(np.asarray(gate, dtype=np.float32))
        allele = head.get("allele")  # (S,): the effect of an ALT allele at a chosen SNP, whatever its state
        self.allele = None if allele is None else torch.as_tensor(np.asarray(allele, dtype=np.float32))

    def haplotype_term(self, onehot: torch.Tensor) -> torch.Tensor:
        """One haplotype's one-hot ``(B, V, L)`` -> its term of the prediction ``(B,)``."""
        hidden = onehot_states(self.model, onehot, self.gene, self.layer)  # (B, L, H)
        snps = self.snps.to(onehot.device)
        states = hidden[:, snps]  # (B, S, H)
        term = ((states - self.mean.to(onehot.device)) * self.weight.to(onehot.device)).sum(dim=(1, 2))  # (B,)
        alt = onehot[:, ALT][:, snps]  # (B, S): the input's ALT channel (differentiable in IG)
        if self.gate is not None:  # the ALT channel gates the state
            term = term + (alt[..., None] * states * self.gate.to(onehot.device)).sum(dim=(1, 2))
        if self.allele is not None:
            term = term + (alt * self.allele.to(onehot.device)).sum(dim=1)
        return term

    def predictor(self) -> Predictor:
        """``(B, 2, V, L) -> (B,)`` for :func:`lmeqtl.explain.attribution_scores`."""
        def predict(onehot: torch.Tensor) -> torch.Tensor:
            terms = self.haplotype_term(onehot.flatten(0, 1)).reshape(onehot.shape[0], 2)  # (B, 2)
            return terms.sum(dim=1) + self.bias
        return predict

    def haplotype_predictor(self) -> Predictor:
        """``(B, V, L)`` of one haplotype -> its term plus half the bias (a flip changes only this)."""
        return lambda onehot: self.haplotype_term(onehot) + self.bias / 2
