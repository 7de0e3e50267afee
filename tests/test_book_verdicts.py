"""The book's verdicts follow the right test, and its pages show readable names.

- RQ2's shuffled-expression control says "leakage" only for positive r beyond chance (one-sided);
- RQ5 says "recovered" only when the distance-matched permutation test agrees, not on Fisher's p alone;
- the summary's sentences flip when those numbers flip;
- method codes become readable names; tables lose pandas' row numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmeqtl.book.chapters import explain, explain_headline, names, summary
from lmeqtl.book.chapters.expression import control_verdict
from lmeqtl.book.chapters.expression_text import leakage_text
from lmeqtl.book.display import display_table

N_GENES = 10


def _control(r: list[float], p: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"gene": [f"G{i}" for i in range(len(r))], "r": r, "p_value": p, "r2": [-0.01] * len(r)})


NULL_R = [-0.02, -0.05, 0.01, -0.03, 0.02, -0.04, 0.0, -0.01, -0.06, 0.03]
NULL_P = [0.8, 0.5, 0.9, 0.7, 0.8, 0.6, 1.0, 0.9, 0.4, 0.7]
CONTROLS = {
    # the case: mean r < 0, and the two genes with p < 0.05 have *negative* r -> the usual CV bias
    "negative r significant": (_control([*NULL_R[:8], -0.102, -0.106], [*NULL_P[:8], 0.03, 0.02]), False),
    "null": (_control(NULL_R, NULL_P), False),
    "one positive gene (chance)": (_control([*NULL_R[:9], 0.15], [*NULL_P[:9], 0.03]), False),
    "many positive genes": (_control([0.2, 0.25, 0.3, *NULL_R[3:]], [0.004, 0.001, 0.0005, *NULL_P[3:]]), True),
    "every gene a little positive": (_control([0.08, 0.1, 0.09, 0.11, 0.07, 0.1, 0.12, 0.09, 0.08, 0.1],
                                              [0.2] * N_GENES), True),
}


@pytest.mark.parametrize("case", list(CONTROLS))
def test_leakage_is_one_sided(case):
    control, leaks = CONTROLS[case]
    verdict = control_verdict(control)
    assert verdict["leakage"] is leaks
    text = leakage_text(control, "ridge:sum")
    assert ("points at information from the test people" in text) is leaks
    assert ("the pipeline finds none" in text) is (not leaks)
    assert "ridge:sum" not in text and "ridge on the sum of the two haplotypes" in text


def test_negative_significant_genes_are_named_as_not_a_leak():
    control, _ = CONTROLS["negative r significant"]
    verdict = control_verdict(control)
    assert verdict["n_positive_significant"] == 0 and verdict["n_negative_significant"] == 2
    assert "2 genes reach p < 0.05 with a *negative* r" in leakage_text(control, "ridge:sum")


def _enrichment(method: str, fisher_p: float, permutation_p: float, matched_fold: float = 1.5) -> pd.DataFrame:
    """Two marks: H3K27ac (planted) enriched as given; H3K27me3 (not planted) null."""
    return pd.DataFrame({
        "method": method, "mark": ["H3K27ac", "H3K27me3"], "odds_ratio": [3.0, 1.0], "ci_low": [1.5, 0.5],
        "ci_high": [6.0, 2.0], "fisher_p": [fisher_p, 0.9], "matched_fold": [matched_fold, 1.0],
        "permutation_p": [permutation_p, 0.8], "planted_or": [4.0, 1.0], "kind": ["active", "repressive"]})


PLANTED = {"H3K27ac": 4.0, "H3K27me3": 1.0}


def test_recovered_follows_the_distance_matched_test_not_fisher():
    table = pd.concat([_enrichment("finetuned_ig", 0.001, 0.23),  # Fisher yes, matched no (the case)
                       _enrichment("elastic_net", 0.001, 0.004),  # both
                       _enrichment("susie_pip", 0.3, 0.01, matched_fold=0.5)])  # depleted: not enriched
    result = explain.enrichment_summary(table, PLANTED)
    assert list(result["recovered"]) == [False, True, False]
    assert list(result["recovered_fisher"]) == [True, True, False]
    assert set(result["test"]) == {explain.MATCHED_TEST}
    text = explain.enrichment_text(result, PLANTED)
    assert "the distance-matched permutation test" in text
    assert "Fully recovered (every planted mark, no other) by the top SNPs of elastic net |coef|." in text
    assert "would also have called the enrichment recovered for fine-tuned model, IG." in text
    shown = explain.recovery_table(result)
    assert list(shown["method"]) == ["fine-tuned model, IG", "elastic net |coef|", "SuSiE PIP"]
    assert explain.enrichment_matrix(table).loc["elastic net |coef|", "H3K27ac"] == "1.50× (p 0.004)*"


def test_without_permutation_columns_fisher_decides_and_the_text_says_so():
    table = _enrichment("elastic_net", 0.001, 0.5).drop(columns=["matched_fold", "permutation_p"])
    result = explain.enrichment_summary(table, PLANTED)
    assert bool(result.loc["elastic_net", "recovered"]) and result["test"].iloc[0] == explain.FISHER_TEST
    assert "Fisher's exact test gives p < 0.05" in explain.enrichment_text(result, PLANTED)


def _results(control: pd.DataFrame | None = None, enrichment: pd.DataFrame | None = None,
             ranking: pd.DataFrame | None = None) -> summary.BookResults:
    genes = [f"G{i}" for i in range(6)]
    r = np.array([0.3, 0.25, 0.4, 0.1, 0.5, 0.35])
    expression = pd.DataFrame({"method": "ridge:sum", "features": "embedding", "gene": genes, "n": 100, "r": r,
                               "p_value": 0.01, "r2": r**2, "evaluation": "nested CV"})
    if ranking is None:
        ranking = pd.DataFrame({"gene": ["G0", "G0"], "method": ["finetuned_ig", "elastic_net"],
                                "average_precision": [0.3, 0.2], "random_average_precision": [0.01, 0.01]})
    return summary.BookResults(run_dir=".", expression=summary.add_ceiling(expression), control=control,
                               ranking=ranking, enrichment=enrichment, reference_method="ridge:sum")


def test_summary_says_leakage_only_for_positive_r():
    quiet = summary.rq2_answer(_results(CONTROLS["negative r significant"][0]))
    loud = summary.rq2_answer(_results(CONTROLS["many positive genes"][0]))
    assert "no sign of leakage" in quiet and "suspect" not in quiet
    assert "points at leakage" in loud and "no sign of leakage" not in loud
    assert "leakage" not in summary.rq2_answer(_results(None))  # no control, no verdict


def test_summary_credits_enrichment_only_when_the_matched_test_agrees():
    fisher_only = summary.rq5_answer(_results(enrichment=_enrichment("finetuned_ig", 0.001, 0.23)))
    both = summary.rq5_answer(_results(enrichment=_enrichment("finetuned_ig", 0.001, 0.004)))
    assert "is fully recovered by no method" in fisher_only
    assert "Fisher's test alone would also have credited fine-tuned model, IG" in fisher_only
    assert "is fully recovered by fine-tuned model, IG" in both and "Fisher's test alone" not in both
    assert "finetuned_ig" not in fisher_only + both


@pytest.mark.parametrize(("code", "label"), [
    ("ridge:sum", "ridge (sum)"), ("svr_rbf:concat_sorted", "SVR-RBF (concatenated)"),
    ("ridge:sum:pca50", "ridge (sum, PCA 50)"), ("lead_snp_cv", "lead SNP (in fold)"),
    ("ridge:window_mean", "ridge, window mean (RQ3)"), ("finetuned_ig", "fine-tuned model, IG"),
    ("Beagle 5", "Beagle 5"),
])
def test_method_labels_are_readable(code, label):
    assert names.method_label(code) == label


def test_display_table_hides_row_numbers_but_keeps_a_meaningful_index():
    frame = pd.DataFrame({"method": ["a", "b"], "mean_r": [0.12345, np.nan]}).sort_values("mean_r")
    html = display_table(frame, columns=names.COLUMN_NAMES).to_html()
    assert "mean r" in html and "0.123" in html and "n/a" in html and "lmeqtl-table" in html
    assert 'class="row_heading' not in html  # no 0..n index column
    pivot = pd.DataFrame({"G": [0.5]}, index=pd.Index(["HLA-DRB1"], name="gene"))
    assert "HLA-DRB1" in display_table(pivot).to_html()


def test_limitations_are_a_markdown_list():
    text = summary.limitations_text(_results(), simulated=True, full_size_model=False)
    lines = [line for line in text.splitlines() if line]
    assert len(lines) >= 3 and all(line.startswith("- ") for line in lines)


def test_forest_plot_names_odds_ratios_of_zero_and_infinity():
    import matplotlib

    matplotlib.use("Agg")
    from lmeqtl.explain.plots import plot_enrichment_forest

    edge = _enrichment("elastic_net", 0.5, 0.5).assign(odds_ratio=[0.0, np.inf], ci_low=[0.0, 0.5],
                                                       ci_high=[5.0, np.inf])
    fig = plot_enrichment_forest(pd.concat([_enrichment("susie_pip", 0.001, 0.004), edge]))
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("no top SNP in the peaks" in t for t in texts) and any("every top SNP" in t for t in texts)
    assert fig.get_size_inches()[0] <= 7.5
    plain = plot_enrichment_forest(_enrichment("susie_pip", 0.001, 0.004))
    assert not any("top SNP in the peaks" in t.get_text() for t in plain.axes[0].get_legend().get_texts())


def test_the_set_up_cell_is_hidden_on_every_page():
    """The notebook_setup(...) boilerplate shows no code on the pages (01 is the lead's; it follows)."""
    from pathlib import Path

    import nbformat

    from lmeqtl.book.template import SETUP_TAGS, STEP_NAME, notebook_template

    root = Path(__file__).resolve().parents[1] / "notebooks"
    paths = [p for p in sorted(root.glob("*.ipynb"))
             if (STEP_NAME.match(p.stem) or p.stem == "TEMPLATE") and not p.name.startswith("01_")]
    assert len(paths) >= 8
    for path in paths:
        setup = [c for c in nbformat.read(path, as_version=4).cells if "notebook_setup(" in c.source]
        assert setup and set(SETUP_TAGS) <= set(setup[0].metadata.get("tags", [])), path.name
    new = [c for c in notebook_template("99_new", "New").cells if "notebook_setup(" in c.source]
    assert "remove-input" in new[0].metadata["tags"]


def _ap_ranking(headline: list[float], reference: list[float]) -> pd.DataFrame:
    genes = [f"G{i}" for i in range(len(headline))]
    return pd.DataFrame({"gene": genes * 3,
                         "method": ["contextual_weight"] * len(genes) + ["elastic_net"] * len(genes)
                         + ["contextual_dosage_weight"] * len(genes),
                         "average_precision": headline + reference + [0.1] * len(genes),
                         "random_average_precision": 0.001})


@pytest.mark.parametrize(("headline", "reference", "verdict"), [
    ([0.3] * 8, [0.1] * 8, "finds the causal SNPs significantly better than"),
    ([0.1] * 8, [0.3] * 8, "finds the causal SNPs significantly worse than"),
    ([0.3, 0.1] * 4, [0.1, 0.3] * 4, "does not differ significantly from"),
    ([0.31, 0.2, 0.4], [0.3, 0.2, 0.1], "does not differ significantly from"),  # 2 of 3: cannot reach p < 0.05
])
def test_headline_attribution_verdict_follows_the_paired_test(headline, reference, verdict):
    text = explain_headline.headline_attribution_text(_ap_ranking(headline, reference))
    assert verdict in text, text
    assert f"{np.mean(headline):.3f} against {np.mean(reference):.3f}" in text
    assert "Its dosage twin's weights, on the same SNPs without the context, reach 0.100" in text
    answer = summary.rq5_answer(_results(ranking=_ap_ranking(headline, reference)))
    assert verdict in answer and "**" not in answer and "  " not in answer


def test_headline_attribution_through_the_mlm_gets_its_own_verdict():
    ranking = _ap_ranking([0.3] * 8, [0.1] * 8)
    ig = ranking[ranking["method"] == "contextual_weight"].assign(method="contextual_ig", average_precision=0.05)
    text = explain_headline.headline_attribution_text(pd.concat([ranking, ig]))
    assert "Integrated Gradients finds the causal SNPs significantly worse than it (mean average precision 0.050" in text
    assert "ISM" not in text  # not run: not mentioned


def test_headline_attribution_says_why_it_is_missing():
    ranking = _ap_ranking([0.3], [0.1])
    without = ranking[ranking["method"] != "contextual_weight"]
    assert "left no SNP weights" in explain_headline.headline_attribution_text(without)
    assert "compared with the eQTL table" in explain_headline.headline_attribution_text(pd.DataFrame())
    assert "contextual" not in summary.rq5_answer(_results(ranking=without))


def test_scan_text_says_the_variant_is_off_or_tests_it_against_the_twin():
    from lmeqtl.book.chapters.contextual_text import scan_text
    from lmeqtl.book.chapters.expression_context import paired_by_group

    scan, twin = "contextual_scan:elasticnet", "contextual_dosage:elasticnet"
    off = scan_text(pd.DataFrame(), scan, twin, 4)
    assert "off in this preset (`expression.context_scan`" in off and "4 state PCs" in off
    genes = [f"G{i}" for i in range(6)]
    results = pd.DataFrame({"gene": genes * 2, "method": [scan] * 6 + [twin] * 6,
                            "r": [0.3, 0.2, 0.4, 0.1, 0.5, 0.3] + [0.2, 0.25, 0.3, 0.1, 0.4, 0.2]})
    on = scan_text(paired_by_group(results, scan, twin, None), scan, twin, 4)
    assert "Not fixed in advance" in on and "beats the dosage twin on 4 of 6 genes" in on, on


def test_ap_by_group_splits_by_the_planted_truth():
    ranking = _ap_ranking([0.3, 0.1, 0.2], [0.1, 0.1, 0.4])
    groups = pd.Series({"G0": "additive", "G1": "interaction", "G2": "interaction"})
    table = explain_headline.ap_by_group(ranking, groups)
    assert list(table.columns) == ["all genes (3)", "additive (1)", "interaction (2)"]
    assert table.loc["MLM states at chosen SNPs, SNP weights"].round(3).tolist() == [0.2, 0.3, 0.15]
    assert table.loc["elastic net |coef|", "interaction (2)"] == pytest.approx(0.25)
    assert explain_headline.ap_by_group(ranking, None) is None


def test_every_table_in_a_notebook_reaches_the_page():
    """display_table returns a Styler: only a cell's last top-level expression is shown by itself, so any
    other call (inside an if, a loop, or before more code) must be wrapped in display(...)."""
    import ast
    from pathlib import Path

    import nbformat

    root = Path(__file__).resolve().parents[1] / "notebooks"
    lost = []
    for path in sorted(root.glob("*.ipynb")):
        for number, cell in enumerate(nbformat.read(path, as_version=4).cells):
            if cell.cell_type != "code" or "display_table(" not in cell.source:
                continue
            tree = ast.parse("\n".join(line for line in cell.source.splitlines() if not line.startswith(("%", "!"))))
            shown_alone = tree.body[-1].value if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            wrapped = {id(a) for node in ast.walk(tree) if isinstance(node, ast.Call)
                       and getattr(node.func, "id", None) == "display" for a in node.args}
            for node in ast.walk(tree):
                if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "display_table"
                        and node is not shown_alone and id(node) not in wrapped):
                    lost.append(f"{path.name} cell {number} line {node.lineno}")
    assert not lost, lost


def test_headline_attribution_says_when_its_weights_include_the_net():
    """On top of the fold's elastic net, the headline's SNP weights are partly the net's: the chapter and the
    summary say so; without a background they do not."""
    from dataclasses import replace

    from lmeqtl.expression.contextual_run import background_of

    ranking = _ap_ranking([0.3] * 8, [0.1] * 8)
    assert "weights are the net's" in explain_headline.headline_attribution_text(ranking, background="predixcan")
    assert "weights are the net's" not in explain_headline.headline_attribution_text(ranking)
    assert background_of("contextual:elasticnet+predixcan") == "predixcan"
    assert background_of("contextual:elasticnet") == "none"
    on_net = replace(_results(ranking=ranking), headline_method="contextual:elasticnet+predixcan")
    assert "weights are the net's" in summary.rq5_answer(on_net)
    assert "weights are the net's" not in summary.rq5_answer(replace(on_net, headline_method="contextual:elasticnet"))
