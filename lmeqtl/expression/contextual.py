"""RQ2, contextual: the MLM's per-SNP hidden states at SNPs chosen inside each training fold.

A mean over 5000 positions washes out the few SNPs that matter. Here, per gene and outer
fold, everything is chosen on the training rows only:

1. **SNPs** (:mod:`lmeqtl.expression.snp_selection`): the ``top_k`` window SNPs whose ALT
   dosage correlates most (|Pearson r|) with expression, wherever they are in the window (no
   TSS prior), plus ``neighbours`` SNPs either side of each; ties go to the lower index. Or
   (``selection="state"``) the SNPs whose state PCs explain most of the expression, the PCs
   fitted on genotypes only; or (``selection="enet"``) the SNPs an elastic net on the dosages keeps.
2. **States** (:func:`~lmeqtl.expression.gene_states.snp_states`): the MLM's hidden state at each chosen SNP, from one
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
   (``benchmarks/RESULTS-context.md``, run 3: it ties on r and blurs the attribution). With a
   ``background`` (:mod:`lmeqtl.expression.background`: the fold's elastic net on all window dosages),
   the regression fits what the background leaves unexplained, and the two predictions add.

:class:`ContextualRegressor` does 1-4 in ``fit`` (``features="context"``); its twin
``features="dosage"`` does 1 and 4 on the chosen SNPs' dosages (the difference is what the
context adds); ``"dosage+context"`` uses both. Its ``X`` is a column of row numbers into the
gene's data (:class:`~lmeqtl.expression.gene_states.GeneData`), so that it runs inside :func:`~lmeqtl.expression.prediction.nested_cv`.
:mod:`lmeqtl.expression.contextual_run` runs them on the same outer folds. A fitted model
explains itself two ways: :meth:`ContextualRegressor.snp_weights` (how much each chosen SNP
moves the predictions) and :meth:`ContextualRegressor.linear_head` (the whole model as one
linear map of the states, which RQ5 attributes through the MLM).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin

from lmeqtl.expression.background import LinearBackground, offset
from lmeqtl.expression.gene_states import GeneData
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

FEATURE_SETS = ("context", "dosage", "dosage+context")
SELECTIONS = ("dosage", "state", "enet")  # what chooses the SNPs: dosage |r|, state R², an elastic net's support
REDUCTIONS = ("pca", "alt_pca", "ridge", "gated")  # a SNP's state -> PCs (all / ALT haplotypes) or a ridge score

def add_alleles(head: dict[str, np.ndarray], snps: np.ndarray, effects: np.ndarray) -> dict[str, np.ndarray]:
    """A :meth:`ContextualRegressor.linear_head` with the effects ``(K,)`` of carrying the ALT allele of window SNPs
    ``snps (K,)`` added: to the SNP's ``allele`` where the head reads it already, else as a SNP without state."""
    head, snps = dict(head), np.asarray(snps, dtype=np.int64)
    allele = np.array(head.get("allele", np.zeros(len(head["snps"]))), dtype=np.float64)  # (S,)
    known = np.isin(snps, head["snps"])
    order = np.argsort(head["snps"], kind="stable")
    np.add.at(allele, order[np.searchsorted(head["snps"], snps[known], sorter=order)], effects[known])
    zeros = np.zeros((int((~known).sum()), head["weight"].shape[1]))
    head.update({key: np.vstack([head[key], zeros]) for key in ("mean", "weight", "gate") if key in head})
    head.update(allele=np.concatenate([allele, effects[~known]]), snps=np.concatenate([head["snps"], snps[~known]]))
    return head


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
    inner CV's folds of an elastic net / lasso (the same fit on any number, to rounding: the book's r agreed to 1e-15);
    ``background``: a fitted model of all window dosages (:class:`~lmeqtl.expression.background.LinearBackground`,
    the fold's elastic net) whose training residual the regression fits and whose prediction it adds to (None: none).
    """

    def __init__(self, data: GeneData, features: str = "context", top_k: int = 20, neighbours: int = 2,
                 components: int = 4, model: str = "ridge", cv=5, n_lambdas: int = 30, l1_ratio: float = 0.5,
                 selection: str = "dosage", reduction: str = "pca", screen: int = 0,
                 n_jobs: int = 1, pair_snps: int = 0, background: LinearBackground | None = None):
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
        self.background = background

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
                                   n_jobs=self.n_jobs, background=self.background)  # not clone: it would copy the data
        twin.fit(rows[:, None], y)
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
        left = y - offset(self.background, self.data.dosage[rows])  # (m,) what the regression fits: y less the background
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
            self.snp_ridge_, held_out = fit_snp_ridge(self._ridge_features(rows), left)  # features (m, S, d or 2d)
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
        self.regressor_.fit((x - self.centre_) / self.scale_, left)
        # read by chosen_hyperparameters (nested_cv's record of each outer fold)
        self.best_params_ = {**chosen_hyperparameters(self.regressor_), "n_snps": float(len(self.snps_))}
        return self

    def predict(self, X):  # noqa: N803
        rows = _rows(X, len(self.data.dosage))
        return (self.regressor_.predict((self._design(rows) - self.centre_) / self.scale_)
                + offset(self.background, self.data.dosage[rows]))

    def linear_head(self) -> dict[str, np.ndarray]:
        """The fitted ``features="context"`` model as one linear map of the hidden states, for attribution.

        ``prediction = bias + sum over haplotypes h and chosen SNPs s of (state[h, s] - mean[s]) . weight[s]``,
        with ``snps (S,)``, ``mean (S, d)``, ``weight (S, d)`` (the PCs, the scaling and the
        coefficients folded together) and ``bias ()``; ``gated`` and ``alt_pca`` add ``gate (S, d)``,
        weights of ``state[h, s]`` on the haplotypes that carry the ALT allele at ``s``, and
        ``alt_pca`` ``allele (S,)``, the effect of carrying it: what
        :class:`lmeqtl.explain.predictors.ContextualPredictor` runs through the MLM. With ``screen``, the
        screened SNPs follow the chosen ones in ``snps``, each with its dosage's effect in ``allele``; with a
        ``background``, its SNPs' effects add to ``allele`` (:func:`add_alleles`) and its intercept to ``bias``.
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
            head = add_alleles(head, self.extra_, screened)
        if self.background is not None:  # every SNP of the background adds its allele's effect
            head = add_alleles(head, self.background.snps(), self.background.coef[self.background.snps()])
            bias += self.background.intercept
        return {**head, "bias": np.array(bias)}

    def snp_weights(self, X) -> tuple[np.ndarray, np.ndarray]:  # noqa: N803
        """The SNPs the model reads ``(S',)`` and how much each moves the prediction over the rows ``X``: ``(S',)``.

        A SNP's share of a person's prediction is the sum of coefficient x feature over its
        features (its dosage and/or its block of PC scores, and its dosage x coefficient in the
        background); its weight is the standard deviation of that share over the rows (expression
        units). This is the fitted model's own attribution, like the |coefficient| of an elastic net
        on standardised dosages.
        """
        rows = _rows(X, len(self.data.dosage))
        share = (self._design(rows) - self.centre_) / self.scale_ * np.ravel(self.regressor_[-1].coef_)  # (m, p)
        window = np.concatenate([self.snps_, self.extra_])[self._feature_snps()]  # (p,) each feature's SNP
        if self.background is not None:  # the background's SNPs, each its dosage x coefficient
            own, parts = self.background.shares(self.data.dosage[rows])  # (K,), (m, K)
            share, window = np.hstack([share, parts]), np.concatenate([window, own])
        snps, column = np.unique(window, return_inverse=True)  # a SNP's features together
        per_snp = share @ np.eye(len(snps))[column]  # (m, S')
        return snps, per_snp.std(axis=0)
