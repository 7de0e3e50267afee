"""The expression model of RQ3: the pretrained MLM trunk, partly frozen, and a per-gene head.

Stages of the trunk (:class:`~lmeqtl.mlm.model.HaplotypeMLM`): stage 0 is the input stage
(encoder, gene and SNP embeddings, ResNet), stage ``i`` the ``i``-th state-space block.
``freeze`` (see :func:`frozen_stages`) freezes the first ``f`` stages; their output,
``hidden_states(...)[f - 1]``, does not change while training, so it is computed once per
haplotype (:meth:`ExpressionModel.cache`) and every epoch runs only the trainable blocks
and the head (:meth:`ExpressionModel.forward_cached`). :meth:`ExpressionModel.forward` runs
the whole trunk from tokens: the reference that the cached path must match.

Head (:class:`ExpressionHead`), one per gene: pool each haplotype's last-block states over
SNPs (``mean``, RQ2's embedding, or ``attention``: softmax weights per SNP, zero logits =
the mean), standardise (training-fold statistics), sum the two haplotypes, then a linear
map; or (``select``) :class:`~lmeqtl.finetune.selection.SelectionHead`, gated per-SNP
scores over the whole window. Swapping the haplotypes cannot change a prediction. The head predicts standardised expression;
``target_mean``/``target_scale`` map it back to expression units.

BatchNorm layers stay in eval mode (running statistics of pretraining): fine-tuning
batches hold one gene, whose batch statistics would differ from pretraining's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from lmeqtl.config import FinetuneConfig
from lmeqtl.data.encoding import MISSING_ALLELE
from lmeqtl.finetune.selection import SelectionHead, principal_directions, projection_rows
from lmeqtl.mlm.masking import MASK
from lmeqtl.mlm.model import HaplotypeMLM, conv_decode

POOLINGS = ("mean", "attention", "select")
INPUT_MODULES = ("encoder", "gene_embedding", "snp_embedding", "resnet")


def frozen_stages(freeze: str, n_layers: int) -> int:
    """Number of frozen trunk stages for a ``freeze`` spec (stage 0 = input, 1..n = blocks).

    ``none`` -> 0, ``encoder`` -> 1, ``all_but_last_<k>`` -> ``n_layers + 1 - k``,
    ``all`` -> ``n_layers + 1`` (only the head trains).
    """
    if freeze == "none":
        return 0
    if freeze == "encoder":
        return 1
    if freeze == "all":
        return n_layers + 1
    match = re.fullmatch(r"all_but_last_(\d+)", freeze)
    if match is None:
        raise ValueError(f"unknown freeze spec {freeze!r}: expected none, encoder, all or all_but_last_<k>")
    k = int(match[1])
    if k > n_layers:
        raise ValueError(f"freeze {freeze!r} asks for {k} trainable blocks but the model has {n_layers}")
    return n_layers + 1 - k


def check_config(config: FinetuneConfig, n_layers: int) -> int:
    """Validate the head/training choices of ``config``; return the number of frozen stages."""
    frozen = frozen_stages(config.freeze, n_layers)
    if config.pooling not in POOLINGS:
        raise ValueError(f"unknown pooling {config.pooling!r}; choose one of {', '.join(POOLINGS)}")
    if config.pooling == "select" and (frozen == 0 or config.select_solver not in ("enet", "adam")
                                       or config.select_solver == "enet" and frozen <= n_layers):
        raise ValueError("pooling='select' needs freeze != 'none', select_solver 'enet' or 'adam', and "
                         f"freeze='all' with the enet solver; got {config.freeze!r}, {config.select_solver!r}")
    if config.mlm_weight < 0:
        raise ValueError(f"mlm_weight must be >= 0, got {config.mlm_weight}")
    if not 0 < config.val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {config.val_fraction}")
    return frozen


def allele_tokens(haplotypes: np.ndarray) -> torch.Tensor:
    """Alleles ``(..., L)`` uint8 (0, 1, missing) -> model tokens int64 (REF, ALT, MASK for missing)."""
    alleles = np.asarray(haplotypes)
    return torch.from_numpy(np.where(alleles == MISSING_ALLELE, MASK, alleles).astype(np.int64))


class ExpressionHead(nn.Module):
    """Per-gene regression on pooled haplotype states; order-invariant in the two haplotypes."""

    def __init__(self, d_model: int, lengths: Sequence[int], pooling: str = "mean") -> None:
        super().__init__()
        n_genes = len(lengths)
        self.pooling = pooling
        if pooling == "attention":
            self.position_logits = nn.ParameterList([nn.Parameter(torch.zeros(int(n))) for n in lengths])
        self.weight = nn.Parameter(torch.zeros(n_genes, d_model))
        self.bias = nn.Parameter(torch.zeros(n_genes))
        self.register_buffer("feature_mean", torch.zeros(n_genes, d_model))
        self.register_buffer("feature_scale", torch.ones(n_genes, d_model))
        self.register_buffer("target_mean", torch.zeros(n_genes))
        self.register_buffer("target_scale", torch.ones(n_genes))

    def pool(self, states: torch.Tensor, slot: int) -> torch.Tensor:
        """``(..., L, H) -> (..., H)``: mean or attention-weighted sum over SNPs."""
        if self.pooling == "mean":
            return states.mean(-2)
        weights = torch.softmax(self.position_logits[slot], dim=0).to(states.dtype)  # (L,)
        return torch.einsum("...lh,l->...h", states, weights)

    def snp_weights(self, slot: int) -> torch.Tensor:
        """The pooling weight of each SNP of the gene's window ``(L,)`` (uniform for mean pooling)."""
        if self.pooling == "mean":
            raise ValueError("mean pooling has no learned SNP weights")
        return torch.softmax(self.position_logits[slot].detach(), dim=0)

    def features(self, pooled: torch.Tensor, slot: int) -> torch.Tensor:
        """Pooled pairs ``(B, 2, H)`` -> standardised, symmetric features ``(B, H)``: their sum."""
        z = (pooled - self.feature_mean[slot]) / self.feature_scale[slot]  # (B, 2, H)
        return z[:, 0] + z[:, 1]  # (B, H)

    def forward(self, pooled: torch.Tensor, slot: int) -> torch.Tensor:
        """Pooled pairs ``(B, 2, H)`` -> standardised expression ``(B,)``."""
        return self.features(pooled, slot) @ self.weight[slot] + self.bias[slot]

    def haplotype_term(self, pooled: torch.Tensor, slot: int) -> torch.Tensor:
        """One haplotype's additive term ``(B,)`` from its pooled state ``(B, H)`` (forward = bias + two terms)."""
        return ((pooled - self.feature_mean[slot]) / self.feature_scale[slot]) @ self.weight[slot]

    def to_expression(self, standardised: torch.Tensor, slot: int) -> torch.Tensor:
        return self.target_mean[slot] + self.target_scale[slot] * standardised


class ExpressionModel(nn.Module):
    """A pretrained :class:`HaplotypeMLM`, frozen up to a stage, with a head per gene.

    ``genes`` are the genes this model predicts (head slots, in order), ``mlm_genes`` their
    indices in the MLM's gene map and ``windows`` the ``(start, stop)`` SNP range of each
    gene that the model reads.
    """

    def __init__(self, mlm: HaplotypeMLM, genes: Sequence[str], mlm_genes: Sequence[int],
                 windows: Sequence[tuple[int, int]], config: FinetuneConfig) -> None:
        super().__init__()
        if not len(genes) == len(mlm_genes) == len(windows):
            raise ValueError("genes, mlm_genes and windows must have one entry per gene")
        self.mlm, self.config = mlm, config
        self.genes, self.mlm_genes = list(genes), [int(g) for g in mlm_genes]
        self.windows = [(int(a), int(b)) for a, b in windows]
        self.n_layers = mlm.config.n_layers
        self.frozen = check_config(config, self.n_layers)
        self.head = self._new_head()
        for name, parameter in self.mlm.named_parameters():
            parameter.requires_grad_(self._trains(name))
        self._pretrained = {k: v.detach().clone() for k, v in self.trunk_state().items()}

    def _new_head(self) -> ExpressionHead | SelectionHead:
        lengths = [b - a for a, b in self.windows]
        if self.config.pooling == "select":
            return SelectionHead(self.mlm.config.d_model, lengths, self.config.select_dim)
        return ExpressionHead(self.mlm.config.d_model, lengths, self.config.pooling)

    def _trains(self, name: str) -> bool:
        """Whether the MLM parameter ``name`` is fine-tuned."""
        top = name.split(".")[0]
        if top in INPUT_MODULES or top == "decoder":
            return top != "decoder" and self.frozen == 0
        block = int(name.split(".")[1])  # layers.i / norms.i / dropouts.i
        return block + 1 >= self.frozen

    @property
    def trains_trunk(self) -> bool:
        return self.frozen <= self.n_layers

    @property
    def caches_pooled(self) -> bool:
        """Whether :meth:`cache` stores the head's pooled input (frozen trunk; mean or select pooling)."""
        return not self.trains_trunk and self.config.pooling in ("mean", "select")

    def trunk_state(self) -> dict[str, torch.Tensor]:
        """The trainable MLM parameters (names as in ``mlm.state_dict()``)."""
        return {name: p for name, p in self.mlm.named_parameters() if p.requires_grad}

    def finetuned_state(self) -> dict[str, torch.Tensor]:
        """What fine-tuning changed: the head and the trainable trunk parameters (detached copies)."""
        state = {f"mlm.{k}": v for k, v in self.trunk_state().items()}
        state.update({f"head.{k}": v for k, v in self.head.state_dict().items()})
        return {k: v.detach().cpu().clone() for k, v in state.items()}

    def load_finetuned_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load :meth:`finetuned_state` output; keys and shapes must be exactly this model's."""
        own = self.finetuned_state()
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        shapes = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
        if missing or unexpected or shapes:
            raise ValueError(f"fine-tuned weights do not fit this model: missing {missing[:5]}, "
                             f"unexpected {unexpected[:5]}, other shapes {shapes[:5]}")
        with torch.no_grad():
            parameters = dict(self.mlm.named_parameters())
            for key, value in state.items():
                if key.startswith("mlm."):
                    parameters[key[4:]].copy_(value)
        self.head.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("head.")})

    def reset(self) -> None:
        """Back to the pretrained trunk and a fresh head (zero weights, uniform pooling)."""
        with torch.no_grad():
            for name, p in self.trunk_state().items():
                p.copy_(self._pretrained[name])
        device = self.head.weight.device
        fresh = self._new_head().state_dict()
        if self.config.pooling == "select":  # the projection belongs to the cache, not to one fold's training
            fresh["projection"] = self.head.projection
        self.head.load_state_dict(fresh)
        self.head.to(device)

    def train(self, mode: bool = True) -> ExpressionModel:
        """Train mode for the trainable blocks and the head only: frozen stages and BatchNorm stay in eval."""
        super().train(mode)
        self.mlm.eval()
        if mode:
            for i in range(max(self.frozen - 1, 0), self.n_layers):
                for modules in (self.mlm.layers, self.mlm.norms, self.mlm.dropouts):
                    modules[i].train()
        return self

    # ---------------------------------------------------------------- trunk paths

    def _gene(self, slot: int, batch: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        gene = torch.full((batch,), self.mlm_genes[slot], dtype=torch.long, device=device)
        offset = torch.full((batch,), self.windows[slot][0], dtype=torch.long, device=device)
        return gene, offset

    def run_blocks(self, x: torch.Tensor, first: int) -> torch.Tensor:
        """Blocks ``first..n-1`` (0-based) on ``(B, L, H)``: the trunk after its frozen stages."""
        mlm = self.mlm
        for i in range(first, self.n_layers):
            x = mlm.norms[i](x + mlm.dropouts[i](mlm.layers[i](x)))  # (B, L, H) post-norm
        return x

    @torch.no_grad()
    def cache(self, haplotypes: np.ndarray, slot: int, batch_size: int = 16, device: str | torch.device = "cpu",
              progress: bool = False) -> torch.Tensor:
        """Output of the frozen stages for people's haplotypes ``(n, 2, L_gene)`` (uint8).

        Returns ``(n, 2, L_window, H)`` float32 on ``device`` (the input of the first
        trainable block, or the last block's output when only the head trains); with a
        frozen trunk, the head's pooled input: ``(n, 2, H)`` for mean pooling, the projected
        ``(n, 2, L_window, k)`` for select pooling. Needs ``frozen >= 1``.
        """
        return self.cache_with_mean(haplotypes, slot, batch_size, device, progress)[0]

    @torch.no_grad()
    def cache_with_mean(self, haplotypes: np.ndarray, slot: int, batch_size: int = 16,
                        device: str | torch.device = "cpu", progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`cache`, and the window mean ``(n, 2, H)`` of the cached stage's states (RQ2's embedding)."""
        if self.frozen == 0:
            raise ValueError("nothing is frozen (freeze='none'): train from tokens, there is nothing to cache")
        start, stop = self.windows[slot]
        tokens = allele_tokens(np.asarray(haplotypes)[..., start:stop]).flatten(0, 1)  # (2n, Lw)
        was_training = self.training
        self.eval()

        def stage(rows: torch.Tensor, index: int) -> torch.Tensor:  # (b, Lw) -> (b, Lw, H)
            return self.mlm.hidden_states(rows.to(device), *self._gene(slot, len(rows), device))[index].float()

        if self.config.pooling == "select":  # projection from the last block's states of a seeded subset
            subset = tokens[torch.as_tensor(projection_rows(len(tokens), self.config.seed))]
            states = torch.cat([stage(subset[i:i + batch_size], -1) for i in range(0, len(subset), batch_size)])
            self.head.projection[slot] = principal_directions(states, self.head.k).to(self.head.projection.device)
        parts, means = [], []
        for i in tqdm(range(0, len(tokens), batch_size), desc=f"cache {self.genes[slot]}", leave=False,
                      disable=not progress):
            states = stage(tokens[i:i + batch_size], self.frozen - 1)  # (b, Lw, H)
            means.append(states.mean(1))
            parts.append(self.head.pool(states, slot) if self.caches_pooled else states)
        self.train(was_training)
        cached, mean = torch.cat(parts), torch.cat(means)
        return cached.reshape(len(haplotypes), 2, *cached.shape[1:]), mean.reshape(len(haplotypes), 2, -1)

    def states_from_cache(self, cached: torch.Tensor) -> torch.Tensor:
        """Cached ``(B, 2, L, H)`` -> last-block states ``(B, 2, L, H)`` (runs the trainable blocks)."""
        if not self.trains_trunk:
            return cached
        x = self.run_blocks(cached.flatten(0, 1), self.frozen - 1)  # (2B, L, H)
        return x.reshape(cached.shape)

    def pooled_from_cache(self, cached: torch.Tensor, slot: int) -> torch.Tensor:
        """Cached inputs -> pooled pairs ``(B, 2, H)``."""
        if self.caches_pooled:  # already pooled (frozen trunk, mean or select pooling)
            return cached
        return self.head.pool(self.states_from_cache(cached), slot)

    def forward_cached(self, cached: torch.Tensor, slot: int) -> torch.Tensor:
        """Standardised expression ``(B,)`` from :meth:`cache` output."""
        return self.head(self.pooled_from_cache(cached, slot), slot)

    def forward(self, tokens: torch.Tensor, slot: int) -> torch.Tensor:
        """Standardised expression ``(B,)`` from window tokens ``(B, 2, L_window)``: the whole trunk."""
        gene, offset = self._gene(slot, tokens.shape[0] * 2, tokens.device)
        states = self.mlm.hidden_states(tokens.flatten(0, 1), gene, offset)[-1]  # (2B, Lw, H)
        pooled = self.head.pool(states, slot)  # (2B, H) or (2B, Lw, k)
        return self.head(pooled.reshape(tokens.shape[0], 2, *pooled.shape[1:]), slot)

    def mlm_loss(self, tokens: torch.Tensor, alleles: torch.Tensor, selected: torch.Tensor,
                 gene: torch.Tensor, start: torch.Tensor) -> torch.Tensor:
        """Masked-LM cross-entropy of a :class:`~lmeqtl.mlm.batches.Batch` through the fine-tuned trunk."""
        if self.frozen == 0:
            logits = self.mlm(tokens, gene, start)  # (B, L, 2)
        else:
            with torch.no_grad():
                x = self.mlm.hidden_states(tokens, gene, start)[self.frozen - 1]  # (B, L, H)
            logits = conv_decode(self.run_blocks(x, self.frozen - 1), self.mlm.decoder)  # (B, L, 2)
        return F.cross_entropy(logits.float()[selected], alleles[selected])

    # ---------------------------------------------------------------- attribution

    def predictor(self, gene: str) -> Callable[[torch.Tensor], torch.Tensor]:
        """``onehot (B, 2, V, L_gene) -> expression (B,)`` of ``gene``, for :mod:`lmeqtl.explain`.

        Takes the gene's whole SNP window (V = the MLM's token channels) and reads its
        model window, so attributions line up with the gene's SNP indices (0 outside).
        """
        slot = self.genes.index(gene)
        start, stop = self.windows[slot]

        def predict(onehot: torch.Tensor) -> torch.Tensor:
            batch = onehot.shape[0]
            window = onehot[..., start:stop].flatten(0, 1)  # (2B, V, Lw)
            g, offset = self._gene(slot, 2 * batch, onehot.device)
            states, _ = self.mlm._trunk(window, g, False, offset)  # (2B, Lw, H); no public one-hot -> states call
            pooled = self.head.pool(states, slot)  # (2B, H) or (2B, Lw, k)
            return self.head.to_expression(self.head(pooled.reshape(batch, 2, *pooled.shape[1:]), slot), slot)

        return predict

    def haplotype_predictor(self, gene: str) -> Callable[[torch.Tensor], torch.Tensor]:
        """``onehot (B, V, L_gene)`` of ONE haplotype -> its additive term of ``gene``'s expression ``(B,)``.

        :meth:`predictor` of a person = ``target_mean + target_scale * bias`` + the terms of
        the two haplotypes, so a SNP flip on one haplotype changes the prediction by exactly
        the change of that haplotype's term: in-silico mutagenesis needs half the passes.
        """
        slot = self.genes.index(gene)
        start, stop = self.windows[slot]

        def predict(onehot: torch.Tensor) -> torch.Tensor:
            g, offset = self._gene(slot, onehot.shape[0], onehot.device)
            states, _ = self.mlm._trunk(onehot[..., start:stop], g, False, offset)  # (B, Lw, H)
            return self.head.target_scale[slot] * self.head.haplotype_term(self.head.pool(states, slot), slot)

        return predict
