"""RQ2, contextual: the MLM's per-SNP hidden states at SNPs chosen inside each training fold.

A mean over 5000 positions washes out the few SNPs that matter. Here, per gene and outer
fold, everything is chosen on the training rows only:

1. **SNPs** (:mod:`lmeqtl.expression.snp_selection`): the ``top_k`` window SNPs whose ALT
   dosage correlates most (|Pearson r|) with expression, wherever they are in the window (no
   TSS prior), plus ``neighbours`` SNPs either side of each; ties go to the lower index. Or
   (``selection="state"``) the SNPs whose state PCs explain most of the expression, the PCs
   fitted on genotypes only; or (``selection="enet"``) the SNPs an elastic net on the dosages keeps.
2. **States** (:func:`snp_states`): the MLM's hidden state at each chosen SNP, from one
   unmasked pass over each haplotype, ``(n, 2, S, d)``. A haplotype model's state at a SNP
   can carry the alleles beside it on the same chromosome, which no dosage sees.
3. **Projection** (:func:`per_snp_pca`): per SNP, the top ``components`` PCs of its states over
   the training haplotypes, summed over a person's two haplotypes: ``(n, S * components)``.
   Or (``reduction="alt_pca"``, :func:`~lmeqtl.expression.state_pca.alt_pca`) the SNP's ALT dosage and the
   PCs of its states over the ALT-carrying haplotypes, scored on those only: which allele a person
   carries and in which haplotype context. Or a supervised reduction (``reduction="ridge"``/``"gated"``,
   :mod:`lmeqtl.expression.snp_ridge`).
4. **Regression**: each dosage, and each SNP's block of PC scores as a whole, scaled to unit
   variance (a SNP's PCs keep their relative sizes), then ridge / elastic net / lasso with an
   inner CV (the pipelines of :mod:`lmeqtl.expression.models`, their own scaling off). With
   ``screen``, the dosages of that many SNPs of strongest marginal |r| join the features
   (``benchmarks/RESULTS-context.md``, run 3: it ties on r and blurs the attribution).

:class:`ContextualRegressor` does 1-4 in ``fit`` (``features="context"``); its twin
``features="dosage"`` does 1 and 4 on the chosen SNPs' dosages (the difference is what the
context adds); ``"dosage+context"`` uses both. Its ``X`` is a column of row numbers into the
gene's data (:class:`GeneData`), so that it runs inside :func:`~lmeqtl.expression.prediction.nested_cv`.
:mod:`lmeqtl.expression.contextual_run` runs them on the same outer folds. A fitted model
explains itself two ways: :meth:`ContextualRegressor.snp_weights` (how much each chosen SNP
moves the predictions) and :meth:`ContextualRegressor.linear_head` (the whole model as one
linear map of the states, which RQ5 attributes through the MLM).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin

from lmeqtl.expression.models import chosen_hyperparameters, prescaled_model
from lmeqtl.expression.snp_ridge import fit_snp_ridge
from lmeqtl.expression.snp_selection import (
    MIN_CARRIERS,
    select_by_state,
    select_from_dosage,
    select_snps,
    strongest_pairs,
)
from lmeqtl.expression.state_pca import alt_pca, per_snp_pca, project, project_alt
from lmeqtl.mlm.embed import hidden_batch, unmasked_tokens

FEATURE_SETS = ("context", "dosage", "dosage+context")
SELECTIONS = ("dosage", "state", "enet")  # what chooses the SNPs: dosage |r|, state R², an elastic net's support
REDUCTIONS = ("pca", "alt_pca", "ridge", "gated")  # a SNP's state -> PCs (all / ALT haplotypes) or a ridge score

# snps (S,) window indices -> states (n, 2, S, d) of the analysed people (rows in analysis order)
StateSource = Callable[[np.ndarray], np.ndarray]


@torch.no_grad()
def snp_states(model: torch.nn.Module, haplotypes: np.ndarray, gene: int, positions: np.ndarray | None = None, *,
               layer: int = -1, batch_size: int = 16, dtype: type = np.float32,
               device: str | torch.device = "cpu") -> np.ndarray:
    """Hidden states ``(n, 2, S, d)`` at ``layer`` of haplotypes ``(n, 2, L)`` of gene index ``gene``.

    One unmasked pass per haplotype, ``batch_size`` haplotypes per pass; only the states at
    ``positions`` (window indices, ``S`` of them; None: all ``L``) are kept, as ``dtype``
    (float16 halves the memory). ``model`` must be in eval mode.
    """
    haplotypes = np.asarray(haplotypes)
    n, _, length = haplotypes.shape
    tokens = unmasked_tokens(haplotypes.reshape(2 * n, length))  # (2n, L)
    device = torch.device(device)
    keep = None if positions is None else torch.as_tensor(np.asarray(positions, dtype=np.int64), device=device)
    out = None
    for lo in range(0, len(tokens), batch_size):
        hidden = hidden_batch(model, tokens[lo:lo + batch_size], gene, layer, device)  # (b, L, d)
        hidden = hidden if keep is None else hidden[:, keep]  # (b, S, d)
        if out is None:
            out = np.empty((len(tokens), *hidden.shape[1:]), dtype=dtype)  # (2n, S, d)
        out[lo:lo + len(hidden)] = hidden.cpu().numpy()
    return out.reshape(n, 2, *out.shape[1:])


def mlm_state_source(model: torch.nn.Module, haplotypes: np.ndarray, gene: int, *, layer: int = -1,
                     batch_size: int = 16, dtype: type = np.float32,
                     device: str | torch.device = "cpu") -> StateSource:
    """``snps -> (n, 2, S, d)``: :func:`snp_states` of these haplotypes ``(n, 2, L)`` at the SNPs asked for."""
    def source(snps: np.ndarray) -> np.ndarray:
        return snp_states(model, haplotypes, gene, snps, layer=layer, batch_size=batch_size, dtype=dtype,
                          device=device)
    return source


@dataclass
class GeneData:
    """What the estimators read of one gene; rows are the people in analysis order.

    ``dosage (n, L)`` ALT dosages of every window SNP; ``states (n, 2, S, d)`` the hidden
    states at the window SNPs ``state_snps (S,)`` (sorted; None: all ``L``). States are
    needed only by the context feature sets; ``scan (n, L, k)`` (:func:`scan_scores`) only
    by ``selection="state"``; ``haplotypes (n, 2, L)`` only by ``reduction="alt_pca"`` and ``"gated"``.
    """

    dosage: np.ndarray
    states: np.ndarray | None = None
    state_snps: np.ndarray | None = None
    scan: np.ndarray | None = None
    haplotypes: np.ndarray | None = None

    def states_at(self, rows: np.ndarray, snps: np.ndarray) -> np.ndarray:
        """States ``(m, 2, S, d)`` of ``rows`` at window SNPs ``snps``."""
        if self.states is None:
            raise ValueError("no states given: the context features need GeneData.states")
        if self.state_snps is None:
            return self.states[:, :, snps][rows]  # the SNPs first: (n, 2, S, d) is small, (n, 2, L, d) is not
        columns = np.searchsorted(self.state_snps, snps).clip(0, len(self.state_snps) - 1)
        missing = snps[self.state_snps[columns] != snps]
        if len(missing):
            raise ValueError(f"no states at SNPs {missing[:10].tolist()}: extract the states at every SNP a fold "
                             "selects (contextual_run.fold_selections)")
        return self.states[:, :, columns][rows]


def _rows(X, n: int) -> np.ndarray:  # noqa: N803 - sklearn names
    rows = np.asarray(X).reshape(len(X), -1)[:, 0]
    index = rows.astype(np.int64)
    if not np.array_equal(index, rows) or index.min(initial=0) < 0 or index.max(initial=0) >= n:
        raise ValueError(f"X must be a column of row numbers 0..{n - 1} into the gene's data")
    return index


class ContextualRegressor(RegressorMixin, BaseEstimator):
    """SNP selection, per-SNP PCA of states, haplotype sum and a penalised regression, all fitted in ``fit``.

    ``X``: a column of row numbers into ``data`` (so ``fit`` sees only the training rows'
    dosages and states); ``features``: one of :data:`FEATURE_SETS`; ``model``: ridge,
    elasticnet, lasso or predixcan (:func:`lmeqtl.expression.models.build_model`), its
    penalty chosen by the inner CV ``cv``; ``selection``: ``dosage`` or ``enet``
    (:func:`~lmeqtl.expression.snp_selection.select_from_dosage`) or ``state`` (:func:`select_by_state`,
    needs ``data.scan``);
    ``reduction``: ``pca`` (per-SNP PCs, step 3) or ``alt_pca`` (the ALT dosage and the PCs of the ALT-carrying haplotypes' states)
    or ``ridge`` (each SNP's whole state, summed over the haplotypes, reduced to one score by a
    ridge on the training rows' expression: :func:`lmeqtl.expression.snp_ridge.fit_snp_ridge`)
    or ``gated`` (the same ridge on the state and on the state of the haplotypes that carry the
    SNP's ALT allele: a context that changes what the allele does, a same-haplotype interaction);
    ``screen``: also the dosages of the ``screen`` SNPs of strongest marginal |r| in the training fold, each
    its own feature (0: none): a wide dosage background beside the chosen SNPs' context, so that the
    regression is an elastic net on the dosages wherever the context adds nothing; ``pair_snps``: also read the
    SNPs of the ``pair_snps`` phased pairs that best explain what the dosage twin leaves unexplained in the
    training fold (:func:`~lmeqtl.expression.snp_selection.strongest_pairs`, needs ``data.haplotypes``): where a
    same-haplotype interaction sits, wherever it is in the window; ``n_jobs``: threads for the
    inner CV's folds of an elastic net / lasso (the same fit on any number, to rounding: the book's r agreed to 1e-15).
    """

    def __init__(self, data: GeneData, features: str = "context", top_k: int = 20, neighbours: int = 2,
                 components: int = 4, model: str = "ridge", cv=5, n_lambdas: int = 30, l1_ratio: float = 0.5,
                 selection: str = "dosage", reduction: str = "pca", screen: int = 0,
                 n_jobs: int = 1, pair_snps: int = 0):
        self.data = data
        self.features = features
        self.top_k = top_k
        self.neighbours = neighbours
        self.components = components
        self.model = model
        self.cv = cv
        self.n_lambdas = n_lambdas
        self.l1_ratio = l1_ratio
        self.selection = selection
        self.reduction = reduction
        self.screen = screen
        self.n_jobs = n_jobs
        self.pair_snps = pair_snps

    def _design(self, rows: np.ndarray, held_out: np.ndarray | None = None) -> np.ndarray:
        """Unscaled features ``(m, p)``: dosages ``(m, S)`` and/or per-SNP PC scores ``(m, S * k)`` or ridge
        scores ``(m, S)`` (``held_out``: the training rows' out-of-fold ridge scores, used as given)."""
        parts = []
        if "dosage" in self.features:
            parts.append(np.asarray(self.data.dosage[rows][:, self.snps_], dtype=np.float64))  # (m, S)
        if "context" in self.features and held_out is not None:
            parts.append(held_out)
        elif "context" in self.features and self.reduction == "alt_pca":
            parts.append(project_alt(self.data.states_at(rows, self.snps_), self._alt(rows), self.mean_,
                                     self.pcs_))  # (m, S * (1 + k))
        elif "context" in self.features and self.reduction != "pca":
            parts.append(self.snp_ridge_.scores(self._ridge_features(rows)))  # (m, S)
        elif "context" in self.features:
            parts.append(project(self.data.states_at(rows, self.snps_), self.mean_, self.pcs_))  # (m, S * k)
        parts.append(np.asarray(self.data.dosage[rows][:, self.extra_], dtype=np.float64))  # (m, E) screened
        return np.hstack(parts)

    def _groups(self) -> np.ndarray:
        """Scaling group of each feature: one per dosage column, one per SNP's block of PC scores."""
        groups = []
        if "dosage" in self.features:
            groups.append(np.arange(len(self.snps_)))
        n_snps = len(self.snps_)
        if "context" in self.features and self.reduction == "alt_pca":  # per SNP: [dosage, k ALT-context scores]
            snp = np.arange(n_snps)[:, None]
            groups.append(np.hstack([n_snps + snp, 2 * n_snps + np.repeat(snp, self.pcs_.shape[1], axis=1)]).ravel())
        elif "context" in self.features:
            per_snp = self.pcs_.shape[1] if self.reduction == "pca" else 1
            groups.append(n_snps + np.repeat(np.arange(n_snps), per_snp))
        groups.append(3 * n_snps + np.arange(len(self.extra_)))  # each screened dosage its own group
        return np.concatenate(groups)

    def _feature_snps(self) -> np.ndarray:
        """Each feature's SNP, as an index into ``concatenate([snps_, extra_])``."""
        groups, n_snps = self._groups(), len(self.snps_)
        return np.where(groups < 3 * n_snps, groups % n_snps, groups - 2 * n_snps)

    def _screened(self, dosage: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Sorted ``screen`` SNPs of strongest marginal |r|, less the chosen SNPs whose dosage is a feature already."""
        if not self.screen:
            return np.empty(0, dtype=np.int64)
        screened = select_snps(dosage, y, self.screen)
        if "dosage" in self.features or ("context" in self.features and self.reduction == "alt_pca"):
            screened = np.setdiff1d(screened, self.snps_)
        return screened.astype(np.int64)

    def twin_pairs(self, rows: np.ndarray, y: np.ndarray, n_pairs: int,
                   min_carriers: int = MIN_CARRIERS) -> tuple[np.ndarray, np.ndarray]:
        """This method's dosage twin fitted on ``rows``: its SNPs ``(S,)`` and the ``n_pairs`` phased pairs
        ``(P, 2)`` that best explain its training residual (:func:`strongest_pairs`)."""
        if self.data.haplotypes is None:
            raise ValueError("pair_snps needs GeneData.haplotypes (the phased alleles)")
        twin = ContextualRegressor(self.data, "dosage", self.top_k, self.neighbours, model=self.model, cv=self.cv,
                                   n_lambdas=self.n_lambdas, l1_ratio=self.l1_ratio, selection=self.selection,
                                   n_jobs=self.n_jobs).fit(rows[:, None], y)  # not clone: it would copy the data
        residual = y - twin.predict(rows[:, None])
        return twin.snps_, strongest_pairs(self.data.haplotypes[rows], residual, n_pairs, min_carriers=min_carriers)

    def _alt(self, rows: np.ndarray) -> np.ndarray:
        """The rows' alleles ``(m, 2, S)`` at the chosen SNPs (1: ALT)."""
        if self.data.haplotypes is None:
            raise ValueError(f"reduction={self.reduction!r} needs GeneData.haplotypes")
        return self.data.haplotypes[rows][:, :, self.snps_]

    def _ridge_features(self, rows: np.ndarray) -> np.ndarray:
        """Per chosen SNP, the state summed over the two haplotypes ``(m, S, d)``; with ``gated``, next to it
        the sum over the haplotypes that carry the ALT allele there ``(m, S, 2d)``."""
        states = self.data.states_at(rows, self.snps_)  # (m, 2, S, d)
        if self.reduction != "gated":
            return states.sum(axis=1)
        alt = self._alt(rows)[..., None]  # (m, 2, S, 1)
        return np.concatenate([states.sum(axis=1), (states * alt).sum(axis=1)], axis=2)

    def fit(self, X, y):  # noqa: N803 - sklearn names
        if self.features not in FEATURE_SETS:
            raise ValueError(f"unknown features {self.features!r}; choose one of {FEATURE_SETS}")
        if self.selection not in SELECTIONS or (self.selection == "state" and self.data.scan is None):
            raise ValueError(f"selection must be one of {SELECTIONS} ('state' needs GeneData.scan), "
                             f"got {self.selection!r}")
        if self.reduction not in REDUCTIONS:
            raise ValueError(f"reduction must be one of {REDUCTIONS}, got {self.reduction!r}")
        rows, y = _rows(X, len(self.data.dosage)), np.asarray(y, dtype=np.float64)
        if self.selection == "state":
            self.snps_ = select_by_state(self.data.scan[rows], y, self.top_k, self.neighbours)  # (S,)
        else:
            self.snps_ = select_from_dosage(self.selection, self.data.dosage[rows], y, self.top_k,
                                            self.neighbours)  # (S,)
        if self.pair_snps:  # the scanned pairs' SNPs join the chosen ones (sorted, once each)
            self.pairs_ = self.twin_pairs(rows, y, self.pair_snps)[1]  # (P, 2)
            self.snps_ = np.union1d(self.snps_, self.pairs_.ravel())
        self.extra_ = self._screened(self.data.dosage[rows], y)  # (E,) screened dosages beside the chosen SNPs
        held_out = None
        if "context" in self.features and self.reduction == "alt_pca":
            self.mean_, self.pcs_ = alt_pca(self.data.states_at(rows, self.snps_), self._alt(rows), self.components)
        elif "context" in self.features and self.reduction != "pca":  # training rows get out-of-fold scores
            self.snp_ridge_, held_out = fit_snp_ridge(self._ridge_features(rows), y)  # features (m, S, d or 2d)
        elif "context" in self.features:
            self.mean_, self.pcs_ = per_snp_pca(self.data.states_at(rows, self.snps_), self.components)
        x = self._design(rows, held_out)  # (m, p)
        # each dosage, and each SNP's PC block as a whole, to unit variance: the PCs of a SNP keep their
        # relative sizes, so that minor (mostly noise) PCs do not weigh as much as the main ones
        groups = self._groups()
        variance = np.bincount(groups, weights=x.var(axis=0))[groups]  # (p,) total variance of the group
        self.centre_, self.scale_ = x.mean(axis=0), np.sqrt(np.maximum(variance, 1e-12))
        self.regressor_ = prescaled_model(self.model, self.cv, n_lambdas=self.n_lambdas, l1_ratio=self.l1_ratio,
                                          n_jobs=self.n_jobs)
        self.regressor_.fit((x - self.centre_) / self.scale_, y)
        # read by chosen_hyperparameters (nested_cv's record of each outer fold)
        self.best_params_ = {**chosen_hyperparameters(self.regressor_), "n_snps": float(len(self.snps_))}
        return self

    def predict(self, X):  # noqa: N803
        x = self._design(_rows(X, len(self.data.dosage)))
        return self.regressor_.predict((x - self.centre_) / self.scale_)

    def linear_head(self) -> dict[str, np.ndarray]:
        """The fitted ``features="context"`` model as one linear map of the hidden states, for attribution.

        ``prediction = bias + sum over haplotypes h and chosen SNPs s of (state[h, s] - mean[s]) . weight[s]``,
        with ``snps (S,)``, ``mean (S, d)``, ``weight (S, d)`` (the PCs, the scaling and the
        coefficients folded together) and ``bias ()``; ``gated`` and ``alt_pca`` add ``gate (S, d)``,
        weights of ``state[h, s]`` on the haplotypes that carry the ALT allele at ``s``, and
        ``alt_pca`` ``allele (S,)``, the effect of carrying it: what
        :class:`lmeqtl.explain.predictors.ContextualPredictor` runs through the MLM. With ``screen``, the
        screened SNPs follow the chosen ones in ``snps``, each with its dosage's effect in ``allele``.
        """
        if self.features != "context":
            raise ValueError(f"only features='context' is a linear map of the states alone, not {self.features!r}")
        coef = np.asarray(self.regressor_[-1].coef_, dtype=np.float64).ravel()
        beta = coef / self.scale_  # (S * k + E,) per unscaled PC score, or (S + E,) per ridge score
        bias = float(self.regressor_[-1].intercept_) - float(beta @ self.centre_)
        beta, screened = beta[:len(beta) - len(self.extra_)], beta[len(beta) - len(self.extra_):]  # (E,) per dosage
        head = {"snps": self.snps_.astype(np.int64)}
        if self.reduction == "alt_pca":  # per haplotype: alt[s] * (allele[s] + (state[s] - mean[s]) . gate[s])
            block = beta.reshape(len(self.snps_), -1)  # (S, 1 + k)
            gate = np.einsum("sk,skd->sd", block[:, 1:], self.pcs_)  # (S, d)
            allele = block[:, 0] - np.einsum("sd,sd->s", self.mean_, gate)  # the mean's part moves to the allele
            head.update(mean=np.zeros_like(gate), weight=np.zeros_like(gate), gate=gate, allele=allele)
        elif self.reduction != "pca":  # score[s] = sum over h of state[h, s] . (w[s] + alt[h, s] g[s]) + c[s]
            w, c = self.snp_ridge_.raw_coefficients()  # (S, d) or (S, 2d) with the gated half, (S,)
            d, bias = self.data.states.shape[-1], bias + float(beta @ c)
            head.update(mean=np.zeros((len(w), d)), weight=beta[:, None] * w[:, :d])
            if self.reduction == "gated":
                head["gate"] = beta[:, None] * w[:, d:]
        else:
            pcs = self.pcs_
            head.update(mean=self.mean_, weight=np.einsum("sk,skd->sd", beta.reshape(pcs.shape[:2]), pcs))  # (S, d)
        if len(self.extra_):  # a screened SNP adds only its allele's effect: no state, no gate
            zeros = np.zeros((len(self.extra_), head["weight"].shape[1]))
            head.update({key: np.vstack([head[key], zeros]) for key in ("mean", "weight", "gate") if key in head})
            head["allele"] = np.concatenate([head.get("allele", np.zeros(len(self.snps_))), screened])
            head["snps"] = np.concatenate([head["snps"], self.extra_])
        return {**head, "bias": np.array(bias)}

    def snp_weights(self, X) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
        """The chosen SNPs ``(S,)`` and how much each moves the prediction over the rows ``X``: ``(S,)``.

        A SNP's share of a person's prediction is the sum of coefficient x feature over its
        features (its dosage and/or its block of PC scores); its weight is the standard
        deviation of that share over the rows (expression units). This is the fitted model's
        own attribution, like the |coefficient| of an elastic net on standardised dosages.
        """
        x = (self._design(_rows(X, len(self.data.dosage))) - self.centre_) / self.scale_  # (m, p)
        share = x * np.asarray(self.regressor_[-1].coef_, dtype=np.float64).ravel()  # (m, p)
        window = np.concatenate([self.snps_, self.extra_])[self._feature_snps()]  # (p,) each feature's SNP
        snps, column = np.unique(window, return_inverse=True)  # a SNP's PCs and its screened dosage together
        per_snp = share @ np.eye(len(snps))[column]  # (m, S')
        return snps, per_snp.std(axis=0)
