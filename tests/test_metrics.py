import numpy as np
import pytest

from lmeqtl.mlm import metrics


def test_confusion_counts_rows_are_truth_and_groups_split_snps():
    true = np.array([0, 0, 1, 1, 1, 0])
    pred = np.array([0, 1, 1, 1, 0, 0])
    snp = np.array([0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(metrics.confusion_matrices(true, pred, 2), [[2, 1], [1, 2]])
    per_snp = metrics.confusion_matrices(true, pred, 2, group=snp, n_groups=3)
    np.testing.assert_array_equal(per_snp[0], [[1, 1], [0, 1]])
    np.testing.assert_array_equal(per_snp[1], [[1, 0], [1, 1]])
    assert per_snp[2].sum() == 0


def test_iqs_of_a_hand_computed_two_by_two_table():
    # N = 100; P_o = (40 + 30) / 100 = 0.70; row sums 50, 50; column sums 60, 40
    # P_c = (50 * 60 + 50 * 40) / 100^2 = 0.50; IQS = (0.70 - 0.50) / (1 - 0.50) = 0.40
    assert metrics.iqs(np.array([[40, 10], [20, 30]])) == pytest.approx(0.4)


def test_iqs_for_three_genotype_dosages():
    cm = np.array([[50, 5, 0], [5, 30, 5], [0, 0, 5]])
    # N = 100, P_o = 0.85; rows 55, 40, 5; columns 55, 35, 10
    # P_c = (55*55 + 40*35 + 5*10) / 100^2 = 0.4475; IQS = (0.85 - 0.4475) / 0.5525
    assert metrics.iqs(cm) == pytest.approx((0.85 - 0.4475) / 0.5525)


def test_iqs_is_one_for_perfect_calls_zero_for_chance_nan_when_undefined():
    assert metrics.iqs(np.array([[7, 0], [0, 3]])) == pytest.approx(1.0)
    assert metrics.iqs(np.array([[25, 25], [25, 25]])) == pytest.approx(0.0)
    assert np.isnan(metrics.iqs(np.array([[9, 0], [0, 0]])))  # a single class: P_c = 1
    assert np.isnan(metrics.iqs(np.zeros((2, 2))))


def test_per_snp_mean_differs_from_the_pooled_kappa():
    per_snp = np.array([[[90, 0], [10, 0]],  # rare SNP, alt never called: IQS 0
                        [[40, 10], [10, 40]]])  # common SNP: IQS 0.6
    assert metrics.mean_iqs(per_snp) == pytest.approx(0.3)
    pooled = metrics.iqs(per_snp.sum(axis=0))  # [[130, 10], [20, 40]]
    assert metrics.pooled_iqs(per_snp) == pytest.approx(pooled)
    assert pooled == pytest.approx((170 / 200 - (140 * 150 + 60 * 50) / 200**2) / (1 - (140 * 150 + 60 * 50) / 200**2))


def test_accuracy_recall_and_summary():
    cm = np.array([[[8, 2], [1, 4]], [[5, 0], [0, 5]]])
    assert metrics.accuracy(cm) == pytest.approx(22 / 25)
    np.testing.assert_allclose(metrics.recall(cm), [13 / 15, 9 / 10])
    out = metrics.summary(cm)
    assert out["recall_alt"] == pytest.approx(0.9) and out["n_masked"] == 25 and out["n_snps_iqs"] == 2


def test_by_maf_bin_groups_snps_and_adds_a_total_row():
    cm = np.array([[[10, 0], [0, 0]], [[5, 5], [5, 5]], [[9, 1], [0, 10]]])
    table = metrics.by_maf_bin(cm, maf=np.array([0.02, 0.3, 0.45]))
    assert list(table["maf_bin"])[-1] == "all"
    first = table.iloc[0]
    assert first["n_snps"] == 1 and first["masked_accuracy"] == 1.0 and np.isnan(first["iqs_snp_mean"])
    assert table.iloc[-1]["n_masked"] == 50
