"""The one place that turns the book's method codes into words a reader can use.

Code names (``ridge:sum``, ``lead_snp_cv``, ``finetuned_ig``) key the saved tables and the
code; the pages show :func:`method_label` (short, for tables and legends) or
:func:`describe_method` (a phrase, for prose). Every chapter and the summary use these
maps, so a method has one name throughout the book.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

MODEL_NAMES = {"ols": "OLS", "ridge": "ridge", "lasso": "lasso", "elasticnet": "elastic net",
               "predixcan": "elastic net with PrediXcan's l1 ratio 0.5",
               "svr_rbf": "SVR (RBF kernel)", "svr_linear": "SVR (linear kernel)"}
COMBINE_NAMES = {"sum": "sum", "mean": "mean", "concat_sorted": "concatenation in a canonical order",
                 "product_absdiff": "elementwise product and absolute difference"}
MODEL_SHORT = {"ols": "OLS", "ridge": "ridge", "lasso": "lasso", "elasticnet": "elastic net",
               "predixcan": "elastic net, l1 0.5", "svr_rbf": "SVR-RBF",
               "svr_linear": "linear SVR"}
COMBINE_SHORT = {"sum": "sum", "mean": "mean", "concat_sorted": "concatenated",
                 "product_absdiff": "product & |difference|", "window_mean": "mean over RQ3's window"}
WINDOW_MEAN = "ridge:window_mean"  # RQ3's reference: ridge on the mean of the same frozen states

# expression baselines and RQ3: a phrase for the prose ...
BASELINE_NAMES = {"predixcan": "PrediXcan-style elastic net on all window SNPs",
                  "lead_snp_cv": "the best single SNP chosen inside each training fold",
                  "lead_snp": "the eQTL table's lead SNP (chosen on all people: optimistic)",
                  "oracle": "the true genetic value (simulation only: the ceiling)",
                  "rvalue (in-sample)": "the table's own |rvalue| (in-sample: an upper bound, not a prediction)",
                  "finetune": "RQ3's fine-tuned model",
                  WINDOW_MEAN: "ridge on the mean frozen state over RQ3's TSS window (RQ3's same-input reference)"}
# ... and a short label for tables and legends
BASELINE_LABELS = {"predixcan": "PrediXcan elastic net", "lead_snp_cv": "lead SNP (in fold)",
                   "lead_snp": "lead SNP (eQTL table)", "oracle": "oracle (true genetic value)",
                   "rvalue (in-sample)": "eQTL table |r| (in-sample)", "finetune": "fine-tuned MLM",
                   WINDOW_MEAN: "ridge, window mean (RQ3)"}
# RQ2's contextual methods (lmeqtl.expression.contextual_run), by prefix; the regression follows the colon
CONTEXT_NAMES = {"contextual": "the MLM's per-SNP states at the SNPs chosen in each training fold",
                 "contextual_dosage": "the dosages of the same fold-chosen SNPs (the contextual method's twin)",
                 "contextual_both": "the MLM's states and the dosages at the fold-chosen SNPs",
                 "contextual_scan": "the MLM's per-SNP states at the SNPs whose states associate most with "
                                    "expression in each training fold",
                 "haplotype_pairs": "no MLM: the twin's dosages and the phased ALT-ALT counts of the SNP pairs a "
                                    "scan of the whole window finds in each training fold"}
CONTEXT_LABELS = {"contextual": "MLM states at chosen SNPs", "contextual_dosage": "dosages at chosen SNPs",
                  "contextual_both": "states + dosages at chosen SNPs",
                  "contextual_scan": "MLM states at state-scanned SNPs",
                  "haplotype_pairs": "dosages + phased SNP pairs (no MLM)"}
# RQ5's per-SNP scores
SCORE_NAMES = {
    "finetuned_ig": "fine-tuned model, IG", "finetuned_ism": "fine-tuned model, ISM",
    "ridge_ig": "embedding + ridge, IG", "ridge_ism": "embedding + ridge, ISM",
    "contextual_weight": "MLM states at chosen SNPs, SNP weights",
    "contextual_ig": "MLM states at chosen SNPs, IG", "contextual_ism": "MLM states at chosen SNPs, ISM",
    "contextual_dosage_weight": "dosages at chosen SNPs, SNP weights",
    "contextual_scan_weight": "MLM states at state-scanned SNPs, SNP weights",
    "haplotype_pairs_weight": "dosages + phased SNP pairs (no MLM), SNP weights",
    "marginal_eqtl": "marginal eQTL -log10 p", "elastic_net": "elastic net |coef|", "susie_pip": "SuSiE PIP",
    "eqtl_table": "EUR373 table -log10 p", "is_causal": "truth (causal SNPs)",
}
# the table columns the pages show, in words
COLUMN_NAMES = {
    "method": "method", "gene": "gene", "question": "question", "n_genes": "genes", "n": "people",
    "mean_r": "mean r", "median_r": "median r", "mean_r2": "mean R²", "n_significant": "genes p < 0.05",
    "ceiling_fraction": "share of oracle R²", "r": "r", "r_low": "r, CI low", "r_high": "r, CI high", "r2": "R²",
    "p_value": "p", "method_a": "method", "method_b": "against", "mean_difference": "mean r difference",
    "wins_a": "wins", "wins_b": "losses", "ties": "ties", "wilcoxon_p": "Wilcoxon p", "sign_test_p": "sign test p",
    "min_attainable_p": "smallest possible p", "effect_size": "effect size d", "power_wilcoxon": "power (Wilcoxon)",
    "power_sign": "power (sign test)", "alpha": "α", "group": "genes (truth)", "mean_r_a": "its mean r",
    "mean_r_b": "mean r of the other",
    # RQ1
    "maf_bin": "MAF bin", "n_snps": "SNPs", "n_genotypes": "genotypes", "genotype_accuracy": "genotype accuracy",
    "iqs": "per-SNP IQS", "iqs_pooled": "pooled IQS", "dosage_r2": "dosage r²", "allele_accuracy": "allele accuracy",
    "allele_iqs": "allele IQS", "cosine_mean": "mean cosine", "pearson_per_dim_mean": "mean r per dimension",
    # RQ3
    "best_epoch": "kept epoch",
    # RQ5
    "average_precision": "average precision", "random_average_precision": "random ranking",
    "ap_over_random": "× random", "spearman": "Spearman",
}


def method_label(method: str) -> str:
    """Short readable name: ``ridge:sum`` -> ``ridge (sum)``; ``lead_snp_cv`` -> ``lead SNP (in fold)``."""
    if method in BASELINE_LABELS:
        return BASELINE_LABELS[method]
    if method in SCORE_NAMES:
        return SCORE_NAMES[method]
    prefix, colon, model = method.partition(":")
    if colon and prefix in CONTEXT_LABELS:  # contextual:elasticnet -> MLM states at chosen SNPs (elastic net)
        model, plus, background = model.partition("+")  # contextual:elasticnet+predixcan: on top of that net
        return f"{CONTEXT_LABELS[prefix]} ({MODEL_SHORT.get(model, model)}{', on top of PrediXcan' if plus else ''})"
    model, colon, rest = method.partition(":")
    if not colon:
        return method
    combine, *extra = rest.split(":")
    words = [COMBINE_SHORT.get(combine, combine)] + [e.replace("pca", "PCA ") for e in extra]
    return f"{MODEL_SHORT.get(model, model)} ({', '.join(words)})"


def describe_method(method: str) -> str:
    """A phrase for the prose: ``ridge:sum`` -> ``ridge on the sum of the two haplotypes``."""
    if method in BASELINE_NAMES:
        return BASELINE_NAMES[method]
    if method in SCORE_NAMES:
        return SCORE_NAMES[method]
    prefix, colon, model = method.partition(":")
    if colon and prefix in CONTEXT_NAMES:
        model, plus, background = model.partition("+")
        on_top = f", fitted on top of the {BASELINE_NAMES.get(background, background)}" if plus else ""
        return f"{MODEL_NAMES.get(model, model)} on {CONTEXT_NAMES[prefix]}{on_top}"
    model, colon, combine = method.partition(":")
    if not colon:
        return method
    combine = combine.split(":")[0]
    return f"{MODEL_NAMES.get(model, model)} on the {COMBINE_NAMES.get(combine, combine)} of the two haplotypes"


def labelled(table: pd.DataFrame, columns: Iterable[str] = ("method", "method_a", "method_b")) -> pd.DataFrame:
    """``table`` with its method columns as :func:`method_label` (a copy; other columns unchanged)."""
    table = table.copy()
    for column in columns:
        if column in table:
            table[column] = table[column].map(method_label)
    return table


def counted(n: int, noun: str) -> str:
    """``1 gene``, ``2 genes``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def p_text(value: float) -> str:
    """A p-value in two significant digits, or "n/a" when there is none (NaN)."""
    return f"{value:.2g}" if np.isfinite(value) else "n/a"


def listing(names: Iterable[str]) -> str:
    """``A``, ``A and B``, ``A, B and C``."""
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] if names else ""


def ceiling_share(fraction: float) -> str:
    """The share of the oracle's R² in words: a percentage, or "below 0 %" when the R² is negative
    (predictions further from the truth than the mean; a percentage of that means nothing)."""
    if not np.isfinite(fraction):
        return "n/a"
    return "below 0 %" if fraction < 0 else f"{fraction:.0%}"
