import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lmeqtl.explain.ranking import (
    average_precision,
    eqtl_table_scores,
    evaluate_methods,
    ld_r2,
    marginal_association,
    proxy_recall_at_k,
    ranking_agreement,
    recall_at_k,
    top_k,
)


def test_average_precision_and_recall_on_hand_made_rankings():
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    causal = np.array([True, False, True, False, False])
    assert average_precision(scores, causal) == pytest.approx((1 / 1 + 2 / 3) / 2)
    assert recall_at_k(scores, causal, 1) == 0.5
    assert recall_at_k(scores, causal, 2) == 0.5
    assert recall_at_k(scores, causal, 3) == 1.0
    assert average_precision(-scores, causal) == pytest.approx((1 / 3 + 2 / 5) / 2)
    assert np.isnan(average_precision(scores, np.zeros(5, dtype=bool)))


def test_ties_count_at_random_and_nan_ranks_last():
    causal = np.array([False, True, False, False])
    assert recall_at_k(np.ones(4), causal, 1) == pytest.approx(0.25)  # expected over tie orders
    assert recall_at_k(np.ones(4), causal, 2) == pytest.approx(0.5)
    with_nan = np.array([0.1, np.nan, 0.3, 0.2])
    assert recall_at_k(with_nan, causal, 3) == 0.0 and recall_at_k(with_nan, causal, 4) == 1.0
    assert average_precision(with_nan, causal) == pytest.approx(0.25)
    assert list(top_k(np.array([1.0, 3.0, 3.0, np.nan]), 3)) == [1, 2, 0]


def test_proxy_recall_counts_a_perfect_ld_proxy():
    rng = np.random.default_rng(0)
    dosage = rng.integers(0, 3, size=(50, 4)).astype(float)
    dosage[:, 3] = dosage[:, 1]  # SNP 3 is a perfect proxy of the causal SNP 1
    causal = np.array([False, True, False, False])
    scores = np.array([0.0, 1.0, 0.0, 2.0])
    assert recall_at_k(scores, causal, 1) == 0.0
    assert proxy_recall_at_k(scores, causal, dosage, 1) == 1.0
    assert ld_r2(dosage, [1], [3])[0, 0] == pytest.approx(1.0)
    table = evaluate_methods({"proxy_first": scores, "random": rng.random(4)}, causal, ks=(1, 2), dosage=dosage)
    assert list(table["method"]) == ["proxy_first", "random"]
    assert table.loc[0, "proxy_recall_at_1"] == 1.0 and table.loc[0, "recall_at_2"] == 1.0
    assert table.loc[0, "random_average_precision"] == 0.25


def test_marginal_association_matches_scipy():
    rng = np.random.default_rng(1)
    dosage = rng.integers(0, 3, size=(80, 5)).astype(float)
    dosage[:, 4] = 1.0  # monomorphic
    expression = dosage[:, 0] + rng.normal(size=80)
    table = marginal_association(dosage, expression)
    for j in range(4):
        reference = stats.pearsonr(dosage[:, j], expression)
        assert table.r[j] == pytest.approx(reference.statistic)
        assert table.pvalue[j] == pytest.approx(reference.pvalue, rel=1e-6)
    assert table.r[4] == 0.0 and table.pvalue[4] == pytest.approx(1.0)
    strong = marginal_association(dosage[:, :1], 10 * dosage[:, 0] + rng.normal(size=80) * 0.01)
    assert strong.minus_log10_p[0] > 100  # log-scale p does not underflow to inf


def test_eqtl_table_scores_match_by_id_then_position():
    meta = pd.DataFrame({"id": ["rs1", "rs2", "rs3", "rs4"], "pos": [100, 200, 300, 400]})
    eqtl = pd.DataFrame({"SNP_ID": ["rs1", "snp_6_300", "rs9"], "GENE_ID": ["G1", "G1", "G2"],
                         "SNPpos": [100, 300, 200], "pvalue": [1e-10, 1e-3, 1e-50]})
    scores = eqtl_table_scores(meta, eqtl, "G1")
    np.testing.assert_allclose(scores[[0, 2]], [10.0, 3.0])
    assert np.isnan(scores[1]) and np.isnan(scores[3])  # not in the table for G1


def test_ranking_agreement_with_a_reference():
    reference = np.array([4.0, 3.0, 2.0, 1.0, np.nan])
    table = ranking_agreement({"same": np.array([40.0, 30.0, 20.0, 10.0, 0.0]),
                               "reversed": np.array([1.0, 2.0, 3.0, 4.0, 5.0])}, reference, k=2)
    assert table.spearman.tolist() == pytest.approx([1.0, -1.0])
    assert table.top_2_overlap.tolist() == [1.0, 0.0]
    assert table.n_scored.tolist() == [4, 4]
