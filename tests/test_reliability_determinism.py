"""Same seed, same numbers on CPU: prepare (bytes) and the expression comparison (nested CV).

Covered next to their modules: simulate (test_simulate: same seed, same bytes), training
(test_train: identical histories and weights). Embeddings: here, every mode, written and read back.
"""

import numpy as np
import pandas as pd
import pytest
import torch

from lmeqtl.config import EmbedConfig, ExpressionConfig, ModelConfig
from lmeqtl.data.paths import DataPaths
from lmeqtl.data.prepare import prepare
from lmeqtl.expression import outer_folds, run_comparison
from lmeqtl.mlm.embed import embed_cohort, load_embeddings
from lmeqtl.mlm.model import HaplotypeMLM
from tests.mlm_fixtures import founder_cohort

VCF = """##fileformat=VCFv4.1
##contig=<ID=6,length=100000>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tHG1\tNA2\tHG3\tNA4
6\t100\trs1\tA\tG\t100\tPASS\t.\tGT\t0|1\t0|0\t1|0\t0|0
6\t200\t.\tG\tA\t100\tPASS\t.\tGT\t1|1\t1|0\t0|1\t0|0
6\t300\trs4\tT\tC\t100\tPASS\t.\tGT\t0|0\t0|1\t1|1\t.|.
6\t500\trs6\tC\tA\t100\tPASS\t.\tGT\t1|0\t0|0\t0|0\t0|1
"""
PANEL = "sample\tpop\tsuper_pop\tgender\nHG1\tGBR\tEUR\tmale\nNA2\tYRI\tAFR\tfemale\nHG3\tCEU\tEUR\tfemale\n" \
        "NA4\tCHB\tEAS\tmale\n"


def test_prepare_twice_gives_the_same_bytes(tmp_path):
    (tmp_path / "vcf").mkdir()
    (tmp_path / "vcf" / "chr6.vcf").write_text(VCF)
    (tmp_path / "panel").write_text(PANEL)
    (tmp_path / "genes.tsv").write_text("gene_id\tchrom\ttss\nGENE_B.1\t6\t420\nGENE_A.1\t6\t210\n")
    outputs = []
    for run in ("a", "b"):
        paths = DataPaths(out_dir=tmp_path / run, vcf=str(tmp_path / "vcf" / "chr{chrom}.vcf"),
                          panel=tmp_path / "panel", genes=tmp_path / "genes.tsv")
        prepare(paths, window_bp=300, max_snps=3, min_af=0.1, max_af=0.9, progress=False)
        outputs.append({name: (tmp_path / run / name).read_bytes()
                        for name in ("dataset.parquet", "meta.csv.gz", "prepare.json")})
    assert outputs[0] == outputs[1]


@pytest.fixture(scope="module")
def study():
    rng = np.random.default_rng(3)
    n, n_snps, width = 48, 30, 5
    ids = pd.Index([f"HG{i:05d}" for i in range(n)], name="sample_id")
    expression, embeddings, dosages = {}, {}, {}
    for gene in ("ENSG1.1", "ENSG2.1"):
        haplotypes = (rng.random((n, 2, n_snps)) < 0.3).astype(float)  # (n, 2, L)
        embeddings[gene] = np.tanh(haplotypes @ rng.normal(size=(n_snps, width)))  # (n, 2, H)
        dosages[gene] = haplotypes.sum(axis=1)
        expression[gene] = dosages[gene][:, 2] + rng.normal(size=n)
    return pd.DataFrame(expression, index=ids), embeddings, dosages


def _comparison(study, seed: int, n_jobs: int = 1) -> pd.DataFrame:
    expression, embeddings, dosages = study
    config = ExpressionConfig(outer_folds=3, inner_folds=3, models=("ridge", "lasso"), combine=("sum",),
                              n_lambdas=8, n_jobs=n_jobs, seed=seed)
    folds = outer_folds(expression.index, config.outer_folds, config.seed)
    result = run_comparison(expression, folds, embeddings=embeddings, dosages=dosages, config=config,
                            progress=False)
    return result.predictions, result.hyperparameters


def test_expression_cv_is_bit_identical_for_a_seed_serial_or_parallel(study):
    first, again, parallel = _comparison(study, 1), _comparison(study, 1), _comparison(study, 1, n_jobs=2)
    for other in (again, parallel):
        pd.testing.assert_frame_equal(first[0], other[0], check_exact=True)
        pd.testing.assert_frame_equal(first[1], other[1], check_exact=True)
    other_seed = _comparison(study, 2)[0]
    assert not other_seed["fold"].equals(first[0]["fold"])


@pytest.mark.parametrize("mode", ["single", "masked", "rolling"])
def test_embeddings_are_bit_identical_for_a_seed(tmp_path, mode):
    """Two runs into two directories (masks seeded by ``(seed, gene, sample, haplotype)``) give the same bits."""
    cohort = founder_cohort(n_samples=6, genes={"ENSG01.1": 40, "ENSG02.1": 24}, test_fraction=0.5)
    config = EmbedConfig(mode=mode, mask_rate=0.3, rolling_copies=4, batch_size=5, seed=7)
    runs = []
    for run in ("a", "b"):
        torch.manual_seed(0)
        model = HaplotypeMLM(ModelConfig(d_model=8, n_layers=2, n_resnet_blocks=1, d_state=4, dropout=0.0), 2).eval()
        embed_cohort(model, cohort, split="test", config=config, out_dir=tmp_path / run, device="cpu", progress=False)
        runs.append(load_embeddings(tmp_path / run))
    for gene in ("ENSG01.1", "ENSG02.1"):
        assert runs[0][gene].shape == (3, 2, 8)  # (people, haplotypes, H)
        np.testing.assert_array_equal(runs[0][gene], runs[1][gene])
    if mode == "masked":  # the seed matters
        torch.manual_seed(0)
        model = HaplotypeMLM(ModelConfig(d_model=8, n_layers=2, n_resnet_blocks=1, d_state=4, dropout=0.0), 2).eval()
        other = embed_cohort(model, cohort, split="test", config=EmbedConfig(**{**config.__dict__, "seed": 8}),
                             device="cpu", progress=False)
        assert not np.array_equal(other["ENSG01.1"], runs[0]["ENSG01.1"])
