"""SuSiE fine-mapping (Wang, Sarkar, Carbonetto & Stephens 2020), individual-level IBSS.

    y = X b + e,  b = sum_l b_l,  b_l = gamma_l * beta_l,  gamma_l ~ Mult(1, 1/p),
    beta_l ~ N(0, V_l),  e ~ N(0, sigma² I)

Iterative Bayesian stepwise selection fits one "single effect" at a time to the residual
of the others; the prior variances V_l (by maximising each single-effect marginal
likelihood, V_l = 0 when no effect is supported) and sigma² (from the expected residual sum
of squares) are estimated. The posterior inclusion probability of SNP j is
``PIP_j = 1 - prod_l (1 - alpha_lj)``. X is centred (intercept) and scaled to unit
variance, as susieR does by default.

We implement it here (a maintained Python package was not available: ``pysusie`` 0.1.0 is
a single beta release), in numpy: L x (one X^T r product) per iteration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp, xlogy


@dataclass
class SusieFit:
    """alpha/mu/mu2 ``(L, p)``: per-effect inclusion probabilities and posterior moments of
    the (standardised-scale) effect; V ``(L,)`` prior variances; sigma2; ELBO per iteration."""

    alpha: np.ndarray
    mu: np.ndarray
    mu2: np.ndarray
    V: np.ndarray  # noqa: N815 - the paper's name
    sigma2: float
    elbo: list[float]
    converged: bool

    @property
    def pip(self) -> np.ndarray:
        """Posterior inclusion probability per SNP ``(p,)``."""
        return 1.0 - np.prod(1.0 - self.alpha, axis=0)

    def credible_sets(self, x: np.ndarray, coverage: float = 0.95, min_purity: float = 0.5) -> list[np.ndarray]:
        """SNP indices of each effect's ``coverage`` credible set whose purity (min |r| within
        the set, on ``x``) is >= ``min_purity`` and whose prior variance is non-zero."""
        sets = []
        for alpha_l, v_l in zip(self.alpha, self.V, strict=True):
            if v_l <= 0:
                continue
            order = np.argsort(-alpha_l, kind="stable")
            size = int(np.searchsorted(np.cumsum(alpha_l[order]), coverage) + 1)
            members = np.sort(order[:size])
            if size > 1:
                r = np.corrcoef(np.asarray(x, dtype=float)[:, members], rowvar=False)
                if np.nanmin(np.abs(r)) < min_purity:
                    continue
            sets.append(members)
        return sets


def _log_bf(v: float, betahat: np.ndarray, shat2: np.ndarray) -> np.ndarray:
    """log Bayes factor of each SNP being the single effect, prior N(0, v)."""
    return 0.5 * np.log(shat2 / (v + shat2)) + 0.5 * betahat**2 / shat2 * (v / (v + shat2))


def _single_effect(residual: np.ndarray, x: np.ndarray, d: np.ndarray, sigma2: float, v_start: float,
                   estimate_v: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Bayesian single-effect regression of ``residual`` on ``x``: alpha, mu, mu2 ``(p,)`` and V."""
    p = x.shape[1]
    xtr = x.T @ residual  # (p,)
    betahat, shat2 = xtr / d, sigma2 / d
    log_prior = -np.log(p)

    def neg_log_bf(log_v: float) -> float:
        return -logsumexp(_log_bf(np.exp(log_v), betahat, shat2) + log_prior)

    v = v_start
    if estimate_v:
        centre = np.log(max(v_start, 1e-12))
        best = minimize_scalar(neg_log_bf, bounds=(centre - 30.0, centre + 15.0), method="bounded")
        log_v, value = (best.x, best.fun) if best.fun < neg_log_bf(centre) else (centre, neg_log_bf(centre))
        v = float(np.exp(log_v)) if -value > 0 else 0.0  # no support -> null effect (log BF 0)
    if v <= 0:
        alpha = np.full(p, 1.0 / p)
        return alpha, np.zeros(p), np.zeros(p), 0.0
    log_weight = _log_bf(v, betahat, shat2) + log_prior
    alpha = np.exp(log_weight - logsumexp(log_weight))
    post_var = 1.0 / (1.0 / v + d / sigma2)
    mu = post_var * xtr / sigma2
    return alpha, mu, post_var + mu**2, v


def susie(x: np.ndarray, y: np.ndarray, n_effects: int = 10, *, scaled_prior_variance: float = 0.2,
          estimate_prior_variance: bool = True, estimate_residual_variance: bool = True,
          max_iter: int = 100, tol: float = 1e-3) -> SusieFit:
    """Fit SuSiE by IBSS to dosages ``x`` ``(n, p)`` and expression ``y`` ``(n,)``.

    Converges when the ELBO rises by less than ``tol``. Monomorphic SNPs get PIP 0.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    scale = x.std(axis=0)
    polymorphic = scale > 0
    fit = _ibss((x[:, polymorphic] - x[:, polymorphic].mean(axis=0)) / scale[polymorphic], y - y.mean(),
                n_effects, scaled_prior_variance, estimate_prior_variance, estimate_residual_variance,
                max_iter, tol)
    for name in ("alpha", "mu", "mu2"):  # monomorphic SNPs: no evidence, PIP 0
        full = np.zeros((n_effects, x.shape[1]))
        full[:, polymorphic] = getattr(fit, name)
        setattr(fit, name, full)
    return fit


def _ibss(x: np.ndarray, y: np.ndarray, n_effects: int, scaled_prior_variance: float, estimate_v: bool,
          estimate_sigma2: bool, max_iter: int, tol: float) -> SusieFit:
    """IBSS on standardised ``x`` ``(n, p)`` and centred ``y``."""
    n, p = x.shape
    d = (x**2).sum(axis=0)  # (p,)
    var_y = float(y.var())
    sigma2 = var_y
    alpha = np.full((n_effects, p), 1.0 / p)
    mu = np.zeros((n_effects, p))
    mu2 = np.zeros((n_effects, p))
    v = np.full(n_effects, scaled_prior_variance * var_y)
    fitted = np.zeros(n)  # X @ sum_l alpha_l * mu_l
    elbo: list[float] = []
    converged = False
    for _ in range(max_iter):
        for effect in range(n_effects):
            own = x @ (alpha[effect] * mu[effect])
            residual = y - fitted + own
            alpha[effect], mu[effect], mu2[effect], v[effect] = _single_effect(
                residual, x, d, sigma2, v[effect] if v[effect] > 0 else scaled_prior_variance * var_y,
                estimate_v)
            fitted = fitted - own + x @ (alpha[effect] * mu[effect])
        expected_rss = float(np.sum((y - fitted) ** 2) + np.sum(d * alpha * mu2)
                             - np.sum((x @ (alpha * mu).T) ** 2))
        elbo.append(_elbo(expected_rss, n, sigma2, alpha, mu, mu2, v))
        if estimate_sigma2:
            sigma2 = max(expected_rss / n, 1e-10 * var_y)
        if len(elbo) > 1 and elbo[-1] - elbo[-2] < tol:
            converged = True
            break
    return SusieFit(alpha=alpha, mu=mu, mu2=mu2, V=v, sigma2=sigma2, elbo=elbo, converged=converged)


def _elbo(expected_rss: float, n: int, sigma2: float, alpha: np.ndarray, mu: np.ndarray, mu2: np.ndarray,
          v: np.ndarray) -> float:
    """Evidence lower bound: E_q[log p(y | b)] - sum_l KL(q_l || prior_l), KL in closed form."""
    expected_loglik = -0.5 * n * np.log(2 * np.pi * sigma2) - 0.5 * expected_rss / sigma2
    p = alpha.shape[1]
    kl = 0.0
    for effect in np.flatnonzero(v > 0):
        a, post_var = alpha[effect], mu2[effect] - mu[effect] ** 2
        normal_kl = 0.5 * (np.log(v[effect] / post_var) + mu2[effect] / v[effect] - 1.0)
        kl += float(np.sum(xlogy(a, a * p) + a * normal_kl))
    return float(expected_loglik - kl)
