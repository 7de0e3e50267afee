"""Expression processing against a small table in the real GD660.GeneQuantRPKM layout."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtri

from lmeqtl.errors import InputError
from lmeqtl.expression.processing import (
    average_replicates,
    inverse_normal,
    match_samples,
    prepare_expression,
    replicate_counts,
    samples_with_expression,
    select_genes,
    transform_expression,
)

LIBRARIES = ["HG00096.1.M_111124_6", "HG00097.7.M_120219_2", "HG00096.2.M_111124_7",
             "NA12878.1.M_111124_1", "HG00099.5.M_120131_3"]


@pytest.fixture
def gd660(tmp_path):
    """A GD660-layout file (3 genes, 5 libraries, HG00096 sequenced twice), read back as pandas does."""
    rpkm = np.array([[1.0, 3.0, 5.0, 0.0, 7.0],
                     [10.0, 0.5, 20.0, 2.0, 1.0],
                     [0.0, 0.0, 0.0, 4.0, 8.0]])
    table = pd.DataFrame(rpkm, columns=LIBRARIES)
    table.insert(0, "Coord", [32_400_000, 32_600_000, 44_000_000])
    table.insert(0, "Chr", ["6", "6", "17"])
    table.insert(0, "Gene_Symbol", ["ENSG00000196126.6", "ENSG00000179344.11", "ENSG00000120071.8"])
    table.insert(0, "TargetID", ["ENSG00000196126.6", "ENSG00000179344.11", "ENSG00000120071.8"])
    path = tmp_path / "GD660.GeneQuantRPKM.txt.gz"
    table.to_csv(path, sep="\t", index=False)
    return pd.read_csv(path, sep="\t", index_col="TargetID"), path


def test_replicate_libraries_are_averaged_per_person(gd660):
    raw, _ = gd660
    averaged = average_replicates(raw)
    assert list(averaged.columns) == ["HG00096", "HG00097", "NA12878", "HG00099"]
    assert averaged.loc["ENSG00000196126.6", "HG00096"] == pytest.approx(3.0)  # (1 + 5) / 2
    assert averaged.loc["ENSG00000179344.11", "HG00096"] == pytest.approx(15.0)
    assert averaged.loc["ENSG00000120071.8", "HG00099"] == pytest.approx(8.0)
    assert replicate_counts(raw).to_dict() == {"HG00096": 2, "HG00097": 1, "NA12878": 1, "HG00099": 1}


def test_genes_match_across_ensembl_versions_and_keep_the_dataset_ids(gd660):
    averaged = average_replicates(gd660[0])
    selected = select_genes(averaged, ["ENSG00000120071.9", "ENSG00000196126.6"])
    assert list(selected.index) == ["ENSG00000120071.9", "ENSG00000196126.6"]
    assert selected.loc["ENSG00000120071.9", "HG00099"] == 8.0


def test_absent_genes_are_all_listed(gd660):
    averaged = average_replicates(gd660[0])
    with pytest.raises(InputError, match=r"2 genes absent: ENSG1\.1, ENSG2") as err:
        select_genes(averaged, ["ENSG1.1", "ENSG00000196126.6", "ENSG2"], path=gd660[1])
    assert "GD660.GeneQuantRPKM.txt.gz" in str(err.value)


def test_missing_samples_are_listed_with_naming_hints(gd660):
    averaged = average_replicates(gd660[0])
    assert list(match_samples(averaged, ["NA12878", "HG00096"]).columns) == ["NA12878", "HG00096"]
    with pytest.raises(InputError, match=r"2 of 3 samples have no expression: HG00100, na12878") as err:
        match_samples(averaged, ["HG00096", "HG00100", "na12878"])
    assert "named differently? na12878~NA12878" in str(err.value)


def test_samples_with_expression_keeps_cohort_order_and_split(gd660):
    averaged = average_replicates(gd660[0])
    samples = pd.DataFrame({"split": ["test", "train", "test", "test"]},
                           index=pd.Index(["HG00099", "NA12878", "HG00200", "HG00096"], name="sample_id"))
    assert samples_with_expression(averaged, samples) == ["HG00099", "HG00096"]
    assert samples_with_expression(averaged, samples, split=None) == ["HG00099", "NA12878", "HG00096"]
    with pytest.raises(InputError, match="no test sample has expression"):
        samples_with_expression(averaged, samples.rename(index=str.lower))


@pytest.mark.parametrize(("value", "message"), [(-1.0, "-1"), (np.nan, "nan")])
def test_bad_rpkm_names_the_library(gd660, value, message):
    raw = gd660[0].copy()
    raw.iloc[1, 4] = value  # gene 2, library HG00097.7
    with pytest.raises(InputError, match=rf"gene ENSG00000179344.11, column HG00097.7.M_120219_2: RPKM {message}"):
        average_replicates(raw)


def test_inverse_normal_uses_blom_ranks_and_shares_ties():
    z = inverse_normal(np.array([[5.0, 1.0, 3.0, 3.0]]), axis=1)[0]
    n = 4
    assert z[1] == pytest.approx(ndtri((1 - 0.375) / (n + 0.25)))
    assert z[0] == pytest.approx(-z[1])
    assert z[2] == z[3] == pytest.approx(0.0)


def test_transforms(gd660):
    averaged = average_replicates(gd660[0])
    logged = transform_expression(averaged, "log2")
    assert logged.loc["ENSG00000179344.11", "HG00096"] == pytest.approx(4.0)  # log2(15 + 1)
    normal = transform_expression(averaged, "inverse_normal")
    assert np.allclose(normal.iloc[:2].mean(axis=1), 0.0)  # genes without ties: symmetric scores
    assert (normal.rank(axis=1) == averaged.rank(axis=1)).all().all()  # monotone per gene
    with pytest.raises(ValueError, match="unknown transform"):
        transform_expression(averaged, "rank")


def test_prepare_expression_is_people_by_genes_transformed_over_the_chosen_people(gd660):
    raw, path = gd660
    table = prepare_expression(raw, ["ENSG00000179344", "ENSG00000196126.6"], ["HG00099", "HG00096", "HG00097"],
                               path=path)
    assert table.shape == (3, 2)
    assert list(table.index) == ["HG00099", "HG00096", "HG00097"]
    # gene 2 RPKM over these people: 1, 15, 0.5 -> ranks 2, 3, 1
    assert np.argsort(table["ENSG00000179344"].to_numpy()).tolist() == [2, 0, 1]
    assert table.loc["HG00096", "ENSG00000179344"] == pytest.approx(ndtri((3 - 0.375) / 3.25))
