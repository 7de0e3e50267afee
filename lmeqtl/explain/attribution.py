"""Per-SNP attribution of an expression predictor: Integrated Gradients, in-silico
mutagenesis, and linear coefficients mapped back to SNPs.

A *predictor* is any differentiable torch callable ``f(onehot, *extra) -> (B,)``. Its input
is the float one-hot of a person's haplotypes, ``(B, 2, V, L)`` (or ``(B, V, L)`` for a
predictor of one haplotype), with the reference allele on channel 0 and the alternative
allele on channel 1 (the MLM's token order, REF 0 / ALT 1; channels 2.. are mask/padding
tokens, always 0 here). The baseline "reference allele everywhere" is the same tensor with
channel 0 set to 1.

Every method returns *per-haplotype* values ``(n, 2, L)`` (signed, in expression units) that
:func:`aggregate` turns into one score per SNP; by default the mean of the absolute value
over individuals and haplotypes: how much the SNP moves this cohort's predictions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

REF_CHANNEL, ALT_CHANNEL = 0, 1
Predictor = Callable[..., torch.Tensor]


def haplotype_onehot(haplotypes: np.ndarray, n_tokens: int = 2, device: torch.device | str = "cpu") -> torch.Tensor:
    """Haplotypes ``(n, 2, L)`` of 0/1 alleles -> float one-hot ``(n, 2, V, L)``, V = ``n_tokens``.

    Put it on the predictor's ``device``; the attribution functions return numpy arrays.
    """
    alleles = torch.as_tensor(np.asarray(haplotypes), dtype=torch.long)  # (n, 2, L)
    if alleles.ndim != 3 or alleles.shape[1] != 2:
        raise ValueError(f"expected haplotypes (n, 2, L), got {tuple(alleles.shape)}")
    if n_tokens < 2 or alleles.min() < 0 or alleles.max() > 1:
        raise ValueError("haplotypes must hold 0 (ref) / 1 (alt) and n_tokens must be >= 2")
    onehot = torch.nn.functional.one_hot(alleles, n_tokens).float()  # (n, 2, L, V)
    return onehot.movedim(-1, -2).contiguous().to(device)  # (n, 2, V, L)


def reference_baseline(onehot: torch.Tensor) -> torch.Tensor:
    """The all-reference one-hot of the same shape as ``onehot`` (``(..., V, L)``)."""
    base = torch.zeros_like(onehot)
    base[..., REF_CHANNEL, :] = 1.0
    return base


def _as_haplotype_axis(values: torch.Tensor) -> torch.Tensor:
    """``(n, 2, L)`` stays; ``(n, L)`` (one-haplotype predictors) becomes ``(n, 1, L)``."""
    return values if values.ndim == 3 else values[:, None]


def integrated_gradients(
    predictor: Predictor,
    onehot: torch.Tensor,
    *extra: torch.Tensor,
    n_steps: int = 32,
    internal_batch_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Integrated Gradients (captum) from the all-reference baseline to ``onehot``.

    Returns the per-haplotype attribution ``(n, 2, L)`` (summed over the allele channels;
    non-zero only where a haplotype carries the alternative allele) and captum's
    convergence delta ``(n,)``: ``sum(attribution) - (f(x) - f(baseline))`` per person.
    ``extra`` are further predictor arguments with a leading batch axis (e.g. gene index).
    """
    from captum.attr import IntegratedGradients

    onehot = onehot.detach().float()
    attribution, delta = IntegratedGradients(predictor).attribute(
        onehot, baselines=reference_baseline(onehot),
        additional_forward_args=tuple(extra) if extra else None,
        n_steps=n_steps, internal_batch_size=internal_batch_size or len(onehot),
        return_convergence_delta=True,
    )
    per_snp = _as_haplotype_axis(attribution.sum(dim=-2))  # (n, 2, L)
    return per_snp.detach().cpu().numpy(), delta.detach().cpu().numpy()


def relative_delta(attribution: np.ndarray, delta: np.ndarray) -> float:
    """IG's convergence on a gene: mean |delta| / mean |f(x) - f(baseline)| over its people.

    ``f(x) - f(baseline) = sum(attribution) - delta`` (captum's definition of delta), so no
    further forward pass is needed. 0 = the path integral is exact; NaN when f never moves.
    """
    delta = np.asarray(delta, dtype=float)  # (n,)
    moved = np.abs(np.asarray(attribution, dtype=float).reshape(len(delta), -1).sum(1) - delta)  # |f(x) - f(b)|
    return float(np.abs(delta).mean() / moved.mean()) if moved.mean() > 0 else float("nan")


@dataclass
class ConvergedIG:
    """Integrated Gradients at the first step count whose convergence delta is small enough."""

    attribution: np.ndarray  # (n, 2, L)
    delta: np.ndarray  # (n,) captum's convergence delta per person
    steps: int  # the step count kept
    relative_delta: float  # relative_delta(attribution, delta) at ``steps``
    tried: dict[int, float]  # steps -> relative delta, every count tried


def converged_integrated_gradients(predictor: Predictor, onehot: torch.Tensor, *extra: torch.Tensor,
                                   n_steps: int = 32, max_steps: int = 256, tolerance: float = 0.05,
                                   internal_batch_size: int | None = None) -> ConvergedIG:
    """:func:`integrated_gradients` with ``n_steps``, doubled until the relative delta is <= ``tolerance``.

    Stops at ``max_steps`` even if the delta is still larger (``relative_delta`` says how far
    off it is); the chapter reports ``steps`` and ``relative_delta`` per gene.
    """
    tried: dict[int, float] = {}
    steps = max(1, int(n_steps))
    while True:
        attribution, delta = integrated_gradients(predictor, onehot, *extra, n_steps=steps,
                                                  internal_batch_size=internal_batch_size)
        tried[steps] = relative_delta(attribution, delta)
        if not tried[steps] > tolerance or steps >= max_steps:  # NaN (f never moves) counts as converged
            return ConvergedIG(attribution, delta, steps, tried[steps], tried)
        steps = min(2 * steps, max_steps)


def select_snps(prior_scores: np.ndarray, max_snps: int | None) -> np.ndarray:
    """Indices of the ``max_snps`` SNPs with the highest prior score (all if None), in position order.

    In-silico mutagenesis costs one forward pass per (person, haplotype, SNP); on CPU it is
    restricted to SNPs that a cheaper score (IG, marginal association) puts on top.
    """
    prior = np.nan_to_num(np.asarray(prior_scores, dtype=float), nan=-np.inf)
    if max_snps is None or max_snps >= len(prior):
        return np.arange(len(prior))
    top = np.argsort(-prior, kind="stable")[:max_snps]
    return np.sort(top)


@torch.no_grad()
def in_silico_mutagenesis(
    predictor: Predictor,
    onehot: torch.Tensor,
    *extra: torch.Tensor,
    snps: Sequence[int] | np.ndarray | None = None,
    batch_size: int = 64,
    progress: bool = False,
) -> np.ndarray:
    """Flip each allele on each haplotype and record the predicted change, many mutants per pass.

    Returns the effect of the *alternative* allele ``(n, 2, m)`` for the ``m`` SNPs in
    ``snps`` (default: all): ``f(x with alt) - f(x with ref)`` at that haplotype and SNP, the
    rest of the person's genotype unchanged. Flipping alt -> ref is recorded with its sign
    reversed, so the value does not depend on which allele the person carries.
    """
    x = onehot.detach().float()
    squeeze = x.ndim == 3
    x4 = x[:, None] if squeeze else x  # (n, S, V, L)
    n, n_haplotypes, _, length = x4.shape
    snps = np.arange(length) if snps is None else np.asarray(snps, dtype=np.int64)
    m = len(snps)
    reference = predictor(x, *extra).reshape(n)  # (n,)
    # one row per mutant: (person, haplotype, SNP), person-major
    person = torch.arange(n).repeat_interleave(n_haplotypes * m)
    haplotype = torch.arange(n_haplotypes).repeat_interleave(m).repeat(n)
    column = torch.as_tensor(snps).repeat(n * n_haplotypes)
    effect = torch.empty(len(person), device=x.device)
    swap = torch.arange(x4.shape[2])
    swap[[REF_CHANNEL, ALT_CHANNEL]] = swap[[ALT_CHANNEL, REF_CHANNEL]]
    for start in tqdm(range(0, len(person), batch_size), desc="in-silico mutagenesis",
                      disable=not progress, leave=False):
        rows = slice(start, start + batch_size)
        p, h, j = person[rows], haplotype[rows], column[rows]
        mutant = x4[p]  # (b, S, V, L), a copy (advanced indexing)
        b = torch.arange(len(p))
        was_alt = mutant[b, h, ALT_CHANNEL, j] > 0.5  # (b,)
        mutant[b, h, :, j] = mutant[b, h, :, j][:, swap]
        batch_extra = tuple(e[p] for e in extra)
        predicted = predictor(mutant[:, 0] if squeeze else mutant, *batch_extra).reshape(-1)
        change = predicted - reference[p]
        effect[rows] = torch.where(was_alt, -change, change)
    return effect.reshape(n, n_haplotypes, m).cpu().numpy()


def haplotype_ism(haplotype_predictor: Predictor, onehot: torch.Tensor, *, snps: Sequence[int] | np.ndarray | None = None,
                  batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """:func:`in_silico_mutagenesis` of a predictor that is a sum of one term per haplotype: ``(n, 2, m)``.

    ``haplotype_predictor`` maps ONE haplotype's one-hot ``(B, V, L)`` to its term ``(B,)``
    (e.g. :meth:`lmeqtl.finetune.ExpressionModel.haplotype_predictor`). A flip on one
    haplotype changes the person's prediction by exactly the change of that haplotype's
    term, so each flip costs one haplotype's forward pass instead of two; the values equal
    :func:`in_silico_mutagenesis` of the person-level predictor.
    """
    n = onehot.shape[0]
    effect = in_silico_mutagenesis(haplotype_predictor, onehot.flatten(0, 1), snps=snps, batch_size=batch_size,
                                   progress=progress)  # (2n, 1, m)
    return effect.reshape(n, 2, -1)


def aggregate(values: np.ndarray, how: str = "mean_abs", alt: np.ndarray | None = None) -> np.ndarray:
    """One score per SNP from per-haplotype values ``(n, 2, L)``.

    ``mean_abs``: mean |value| over individuals and haplotypes (the default: how much the
    SNP moves this cohort's predictions; for IG it is 0 on reference haplotypes, so common
    alternative alleles weigh more). ``carrier_mean_abs``: mean |value| over haplotypes that
    carry the alternative allele (``alt`` ``(n, 2, L)`` required; a per-allele effect size).
    ``mean``: signed mean (direction of the alternative allele's effect, for ISM).
    """
    values = np.asarray(values, dtype=float)
    if how == "mean_abs":
        return np.abs(values).mean(axis=(0, 1))
    if how == "mean":
        return values.mean(axis=(0, 1))
    if how == "carrier_mean_abs":
        if alt is None:
            raise ValueError("how='carrier_mean_abs' needs the alt-allele indicator (n, 2, L)")
        carriers = np.asarray(alt, dtype=bool)
        count = carriers.sum(axis=(0, 1))
        total = np.where(carriers, np.abs(values), 0.0).sum(axis=(0, 1))
        return np.divide(total, count, out=np.zeros_like(total), where=count > 0)
    raise ValueError(f"unknown aggregation {how!r}; use mean_abs, carrier_mean_abs or mean")


def scatter_scores(values: np.ndarray, snps: np.ndarray, n_snps: int) -> np.ndarray:
    """Scores of a subset of SNPs placed into a length-``n_snps`` vector; the rest NaN (unscored)."""
    out = np.full(n_snps, np.nan)
    out[np.asarray(snps, dtype=np.int64)] = values
    return out


def coefficient_scores(coef: np.ndarray, snps: np.ndarray | None = None, n_snps: int | None = None) -> np.ndarray:
    """|coefficient| of a linear SNP model per SNP; ``snps`` maps columns to SNP indices (others 0)."""
    coef = np.abs(np.asarray(coef, dtype=float).ravel())
    if snps is None:
        return coef
    out = np.zeros(n_snps if n_snps is not None else int(np.max(snps)) + 1)
    out[np.asarray(snps, dtype=np.int64)] = coef
    return out


def elastic_net_scores(dosage: np.ndarray, expression: np.ndarray, *, l1_ratio: float = 0.5,
                       n_alphas: int = 30, folds: int = 5, seed: int = 1) -> np.ndarray:
    """PrediXcan-style elastic net on all window SNPs -> |coefficient| per SNP (per-allele units).

    The penalty is chosen by ``folds``-fold CV (seeded fold assignment); monomorphic SNPs get 0.
    The path and tolerance are RQ4's PrediXcan settings (``PATH_OPTIONS``: lambda_max / 100,
    duality gap 1e-3); sklearn's defaults took minutes per 373 x 5000 gene on 2 cores.
    """
    from sklearn.linear_model import ElasticNetCV
    from sklearn.model_selection import KFold

    from lmeqtl.expression.models import PATH_OPTIONS

    dosage = np.asarray(dosage, dtype=float)
    model = ElasticNetCV(l1_ratio=l1_ratio, alphas=n_alphas, cv=KFold(folds, shuffle=True, random_state=seed),
                         **PATH_OPTIONS)
    model.fit(dosage, np.asarray(expression, dtype=float))
    return coefficient_scores(model.coef_)


def embedding_ridge_predictor(embedder: Callable[[torch.Tensor], torch.Tensor], weight: np.ndarray,
                              bias: float = 0.0, combine: str = "sum") -> Predictor:
    """The embedding + ridge pipeline as one differentiable predictor ``(B, 2, V, L) -> (B,)``.

    ``embedder`` maps one haplotype's one-hot ``(B, V, L)`` to an embedding ``(B, H)``; the
    two haplotypes are combined by ``sum`` or ``mean`` and ``weight`` ``(H,)``/``bias`` are
    the ridge coefficients on the original (unscaled) embedding scale.
    """
    if combine not in ("sum", "mean"):
        raise ValueError(f"combine must be 'sum' or 'mean' (linear, so attributions stay exact), not {combine!r}")
    w = torch.as_tensor(np.asarray(weight, dtype=np.float32))

    def predict(onehot: torch.Tensor) -> torch.Tensor:
        batch = onehot.shape[0]
        flat = onehot.reshape(batch * 2, *onehot.shape[2:])  # (2B, V, L)
        embedding = embedder(flat).reshape(batch, 2, -1)  # (B, 2, H)
        pooled = embedding.sum(1) if combine == "sum" else embedding.mean(1)  # (B, H)
        return pooled @ w + bias  # (B,)

    return predict
