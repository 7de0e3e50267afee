"""Which window SNPs the contextual method reads, chosen on a training fold's rows only.

- :func:`select_snps`: the ``top_k`` SNPs whose ALT dosage correlates most (|Pearson r|) with
  expression, wherever they are in the window (no TSS prior), and their neighbours.
- :func:`select_by_state`: the SNPs whose state PCs (:func:`scan_scores`, fitted on genotypes
  only) explain most of the expression: a state can carry alleles far along the haplotype.
- :func:`select_by_enet`: the SNPs an elastic net on the dosages keeps (a causal SNP whose
  marginal association is crowded out by another's many tag SNPs is still chosen), then the
  marginal order; the net reads the ``prefilter`` SNPs of strongest marginal association.
- :func:`strongest_pairs`: the SNP pairs whose phased same-haplotype ALT-ALT count explains most
  of a residual: every pair of the window at once, wherever the two SNPs are.

Ties go to the lower window index, so every choice is deterministic.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

from lmeqtl.expression.state_pca import pca_by_snp


def marginal_r(dosage: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r ``(L,)`` of every SNP's dosage ``(n, L)`` with ``y (n,)``; 0 for a SNP that does not vary."""
    x = np.asarray(dosage, dtype=np.float64)
    yc = np.asarray(y, dtype=np.float64) - np.mean(y)
    xc = x - x.mean(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc.T @ yc) / (np.sqrt((xc * xc).sum(axis=0)) * np.sqrt(yc @ yc))
    return np.nan_to_num(r)


def strongest(strength: np.ndarray, top_k: int, neighbours: int = 0) -> np.ndarray:
    """Sorted window indices: the ``top_k`` largest of ``strength (L,)`` and ``neighbours`` SNPs either side.

    Ties go to the lower index (a stable sort), so the choice is deterministic.
    """
    if top_k < 1 or neighbours < 0:
        raise ValueError(f"top_k must be >= 1 and neighbours >= 0, got {top_k} and {neighbours}")
    top = np.argsort(-np.asarray(strength), kind="stable")[:top_k]  # (k,)
    around = top[:, None] + np.arange(-neighbours, neighbours + 1)[None, :]  # (k, 2w + 1)
    return np.unique(np.clip(around, 0, len(strength) - 1))


def select_snps(dosage: np.ndarray, y: np.ndarray, top_k: int, neighbours: int = 0) -> np.ndarray:
    """Sorted window indices: the ``top_k`` SNPs by |r| of their dosage with ``y``, and their neighbours."""
    return strongest(np.abs(marginal_r(dosage, y)), top_k, neighbours)


ENET_PREFILTER = 500  # SNPs of strongest marginal association that the selecting elastic net reads
_ENET_CACHE: OrderedDict[str, np.ndarray] = OrderedDict()  # the same fold's net, asked for by several methods
_ENET_CACHE_SIZE = 64


def enet_strength(dosage: np.ndarray, y: np.ndarray, prefilter: int = ENET_PREFILTER, n_jobs: int = 1) -> np.ndarray:
    """A selection score ``(L,)``: the SNPs an elastic net keeps, by |coefficient| x SD, above the rest of
    the ``prefilter`` strongest marginal SNPs, by |r|; 0 elsewhere.

    The net is RQ4's PrediXcan model (l1_ratio 0.5, 30 penalties by a seeded 5-fold CV, its path
    options) on the raw dosages of the prefiltered SNPs; ``n_jobs`` threads share its CV folds
    (the same result). Results are kept for the last few ``(dosage, y)`` pairs, so the methods of
    one fold fit the net once.
    """
    from sklearn.linear_model import ElasticNetCV
    from sklearn.model_selection import KFold

    from lmeqtl.expression.models import PATH_OPTIONS

    x = np.ascontiguousarray(dosage)
    y = np.ascontiguousarray(y, dtype=np.float64)
    key = hashlib.sha1(x.tobytes() + str(x.shape).encode() + y.tobytes() + str(prefilter).encode()).hexdigest()
    if key not in _ENET_CACHE:
        r = np.abs(marginal_r(x, y))  # (L,)
        candidates = np.argsort(-r, kind="stable")[:prefilter]  # (M,)
        xm = x[:, candidates].astype(np.float64)
        net = ElasticNetCV(l1_ratio=0.5, alphas=30, cv=KFold(5, shuffle=True, random_state=0), n_jobs=n_jobs,
                           **PATH_OPTIONS)
        net.fit(xm, y)
        kept = np.abs(net.coef_) * xm.std(axis=0)  # (M,) effect of one SD of dosage
        order = np.lexsort((-r[candidates], -kept))  # by the net's strength, then by |r|
        score = np.zeros(len(r))
        score[candidates[order]] = np.arange(len(candidates), 0, -1)
        _ENET_CACHE[key] = score
        while len(_ENET_CACHE) > _ENET_CACHE_SIZE:
            _ENET_CACHE.popitem(last=False)
    return _ENET_CACHE[key].copy()


def select_by_enet(dosage: np.ndarray, y: np.ndarray, top_k: int, neighbours: int = 0,
                   prefilter: int = ENET_PREFILTER, n_jobs: int = 1) -> np.ndarray:
    """Sorted window indices: the ``top_k`` SNPs by :func:`enet_strength`, and their neighbours."""
    return strongest(enet_strength(dosage, y, prefilter, n_jobs), top_k, neighbours)


DOSAGE_SELECTIONS = ("dosage", "enet")  # the selections that read the dosages alone


def select_from_dosage(selection: str, dosage: np.ndarray, y: np.ndarray, top_k: int, neighbours: int = 0,
                       n_jobs: int = 1) -> np.ndarray:
    """Sorted window indices chosen by ``selection``: ``dosage`` (:func:`select_snps`) or ``enet``
    (:func:`select_by_enet`, its CV on ``n_jobs`` threads)."""
    if selection == "enet":
        return select_by_enet(dosage, y, top_k, neighbours, n_jobs=n_jobs)
    if selection == "dosage":
        return select_snps(dosage, y, top_k, neighbours)
    raise ValueError(f"selection must be one of {DOSAGE_SELECTIONS}, got {selection!r}")


def scan_scores(states: np.ndarray, components: int, *, basis_haplotypes: int = 256, seed: int = 1) -> np.ndarray:
    """Per-SNP PC scores of every window SNP, summed over a person's haplotypes: ``(n, L, k)``.

    ``states (n, 2, L, d)``. The PCs of each SNP come from a seeded draw of
    ``basis_haplotypes`` haplotypes of all ``n`` people: genotypes only, no expression, so
    the basis can be shared by every fold without leaking the outcome. The scan of
    :func:`select_by_state` reads these scores.
    """
    n, _, length, d = states.shape
    rows = np.sort(np.random.default_rng(seed).permutation(2 * n)[:basis_haplotypes])
    basis = states.reshape(2 * n, length, d)[rows].astype(np.float32).transpose(1, 0, 2)  # (L, b, d)
    mean, pcs = pca_by_snp(basis, components)  # (L, d), (L, k, d), float32
    centred = states.astype(np.float32, copy=False) - mean  # (n, 2, L, d)
    return np.einsum("nhld,lkd->nlk", centred, pcs, optimize=True)  # (n, L, k), summed over h


def state_r2(scores: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per SNP, the R² ``(L,)`` of ``y (m,)`` regressed on that SNP's ``k`` scores ``(m, L, k)`` (with intercept)."""
    x = np.asarray(scores, dtype=np.float64)
    x = x - x.mean(axis=0)  # (m, L, k)
    yc = np.asarray(y, dtype=np.float64) - np.mean(y)
    gram = np.einsum("mlk,mlj->lkj", x, x) + 1e-9 * np.eye(x.shape[2])  # (L, k, k)
    xy = np.einsum("mlk,m->lk", x, yc)  # (L, k)
    beta = np.linalg.solve(gram, xy[..., None])[..., 0]  # (L, k)
    return np.einsum("lk,lk->l", beta, xy) / max(float(yc @ yc), 1e-12)


def select_by_state(scores: np.ndarray, y: np.ndarray, top_k: int, neighbours: int = 0) -> np.ndarray:
    """Sorted window indices: the ``top_k`` SNPs whose state scores ``(m, L, k)`` explain most of ``y``, and
    their neighbours. A state can carry alleles far along the haplotype, so this can choose SNPs that
    no dosage scan ranks high."""
    return strongest(state_r2(scores, y), top_k, neighbours)


MIN_CARRIERS = 10  # a pair must sit together on at least this many training haplotypes to be scanned


def strongest_pairs(haplotypes: np.ndarray, residual: np.ndarray, n_pairs: int, *, min_carriers: int = MIN_CARRIERS,
                    block: int = 512) -> np.ndarray:
    """The ``n_pairs`` SNP pairs ``(P, 2)`` (``a < b``, window indices) whose same-haplotype ALT-ALT count
    correlates most (|Pearson r|) with ``residual (m,)``, strongest first (equal scores by ``(a, b)``).

    ``haplotypes (m, 2, L)`` 0/1 alleles. A person's count is ``P_ab = sum_h x[h, a] x[h, b]`` (0, 1 or
    2); over all pairs its covariance with the residual is ``H^T diag(r) H`` and its moments
    ``H^T H`` and ``(x_0 x_1)^T (x_0 x_1)`` (``H``: both haplotypes stacked), computed ``block``
    rows of ``a`` at a time. Pairs carried together by fewer than ``min_carriers`` haplotypes, or
    whose count does not vary, are left out.
    """
    x = np.asarray(haplotypes).astype(np.uint8, copy=False)
    m, _, length = x.shape
    if n_pairs < 1:
        return np.empty((0, 2), dtype=np.int64)
    stacked = x.transpose(1, 0, 2).reshape(2 * m, length).astype(np.float32)  # (2m, L): haplotype 0 rows, then 1
    r = np.asarray(residual, dtype=np.float64)
    r = (r - r.mean()).astype(np.float32)
    weighted = stacked * np.tile(r, 2)[:, None]  # (2m, L)
    both = (x[:, 0] & x[:, 1]).astype(np.float32)  # (m, L) ALT on both haplotypes
    r_sd = float(r.std()) or 1.0
    best_score, best_a, best_b = [], [], []
    for lo in range(0, length, block):
        hi = min(lo + block, length)
        columns = slice(lo, length)  # b >= lo: the lower triangle is never computed
        together = stacked[:, lo:hi].T @ stacked[:, columns]  # (B, L') haplotypes carrying both ALTs
        covariance = (stacked[:, lo:hi].T @ weighted[:, columns]) / m  # (B, L')
        square = (together + 2 * (both[:, lo:hi].T @ both[:, columns])) / m  # E[P^2]
        variance = square - (together / m) ** 2
        width = length - lo
        a = np.arange(lo, hi)[:, None]  # (B, 1)
        b = np.arange(lo, length)[None, :]  # (1, L')
        usable = (b > a) & (together >= min_carriers) & (variance > 1e-6)
        score = np.where(usable, np.abs(covariance) / (np.sqrt(np.maximum(variance, 1e-12)) * r_sd), -1.0).ravel()
        keep = np.argpartition(-score, min(n_pairs, score.size) - 1)[:n_pairs]  # this block's strongest
        best_score.append(score[keep])
        best_a.append(lo + keep // width)
        best_b.append(lo + keep % width)
    score, a, b = np.concatenate(best_score), np.concatenate(best_a), np.concatenate(best_b)
    order = np.lexsort((b, a, -score))[:n_pairs]
    order = order[score[order] >= 0]  # only usable pairs
    return np.stack([a[order], b[order]], axis=1).astype(np.int64)
