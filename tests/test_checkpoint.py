import dataclasses
import json
import pickle

import pandas as pd
import pytest
import torch

from lmeqtl.config import ModelConfig
from lmeqtl.data.io import write_dataset
from lmeqtl.errors import InputError
from lmeqtl.mlm.checkpoint import (
    INFO_FILE,
    WEIGHTS_FILE,
    checkpoint_genes,
    load_checkpoint,
    load_original_weights,
    load_state_dict_file,
    original_gene_order,
    save_checkpoint,
)
from lmeqtl.mlm.model import HaplotypeMLM

TINY = ModelConfig(d_model=16, n_layers=2, n_resnet_blocks=2, d_state=8, dropout=0.0)
GENES = ["ENSG0B.1", "ENSG0A.1"]


def tiny_model(config=TINY):
    torch.manual_seed(0)
    model = HaplotypeMLM(config, n_genes=2)
    with torch.no_grad():  # non-trivial BatchNorm statistics
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm1d):
                module.running_mean.uniform_(-1, 1)
                module.running_var.uniform_(0.5, 2)
    return model.eval()


def inputs():
    torch.manual_seed(1)
    return torch.randint(0, 3, (2, 50)), torch.tensor([1, 0])


def test_save_then_load_gives_identical_outputs_and_the_metadata(tmp_path):
    model = tiny_model()
    save_checkpoint(tmp_path / "ckpt", model, genes=GENES, data_fingerprint="abc123", epoch=7,
                    metrics={"val_masked_accuracy": 0.9})
    loaded, info = load_checkpoint(tmp_path / "ckpt")
    tokens, gene = inputs()
    with torch.no_grad():
        torch.testing.assert_close(loaded(tokens, gene), model(tokens, gene), rtol=0, atol=0)
    assert info["genes"] == {"ENSG0B.1": 0, "ENSG0A.1": 1}
    assert checkpoint_genes(info) == GENES  # index order, not the JSON's sorted key order
    assert info["tokens"] == ["ref", "alt", "mask"] and info["data_fingerprint"] == "abc123"
    assert info["epoch"] == 7 and info["model_config"]["d_model"] == 16 and "git_commit" in info
    assert not loaded.training


def test_truncated_weights_are_detected(tmp_path):
    save_checkpoint(tmp_path, tiny_model(), genes=GENES, data_fingerprint=None)
    weights = tmp_path / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:2000])
    with pytest.raises(InputError, match="truncated or replaced"):
        load_checkpoint(tmp_path)
    with pytest.raises(InputError, match="truncated or not a torch file"):
        load_state_dict_file(weights)


class Payload:  # a pickled Python object must never be loaded
    def __reduce__(self):
        return (print, ("executed!",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"encoder.weight": torch.zeros(1), "evil": Payload()}, path)
    with pytest.raises(InputError, match="pickled Python objects"):
        load_state_dict_file(path)
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps({"a": Payload()}))
    with pytest.raises(InputError, match="pickled|not a torch file"):
        load_original_weights(plain)


def test_a_checkpoint_from_another_configuration_is_refused_by_name(tmp_path):
    save_checkpoint(tmp_path, tiny_model(), genes=GENES, data_fingerprint=None)
    info = json.loads((tmp_path / INFO_FILE).read_text())
    info["model_config"]["d_model"] = 32
    (tmp_path / INFO_FILE).write_text(json.dumps(info))
    with pytest.raises(InputError, match=r"do not fit the model configuration.*shape mismatch"):
        load_checkpoint(tmp_path)
    info["model_config"]["d_modell"] = 3
    (tmp_path / INFO_FILE).write_text(json.dumps(info))
    with pytest.raises(InputError, match="unknown model settings"):
        load_checkpoint(tmp_path)
    with pytest.raises(InputError, match="not an lmeqtl checkpoint"):
        load_checkpoint(tmp_path / "nowhere")


def original_layout(model: HaplotypeMLM) -> dict:
    """Our weights written in the original DSSResNetEmb layout (3 channels R, A, N)."""
    ours = model.state_dict()
    torch.manual_seed(5)
    state = {
        "encoder.weight": torch.cat([ours["encoder.weight"][:, :2], torch.randn_like(ours["encoder.weight"][:, :1])], 1),
        "encoder.bias": ours["encoder.bias"],
        "species_encoder.species_embedder.weight": ours["gene_embedding.weight"],
        "decoder.weight": torch.cat([ours["decoder.weight"], torch.randn_like(ours["decoder.weight"][:1])]),
        "decoder.bias": torch.cat([ours["decoder.bias"], torch.randn(1)]),
    }
    for key, value in ours.items():
        if key.startswith("resnet."):
            r, rest = key.split(".", 2)[1:]
            state[f"resnet_layer.{r}.{rest}"] = value
            layer_index = {"conv1": 0, "bn1": 1, "conv2": 3, "bn2": 4}[rest.split(".")[0]]
            state[f"resnet_layer.{r}.layer.{layer_index}.{rest.split('.', 1)[1]}"] = value  # the original's aliases
        elif key.startswith("layers."):
            i, rest = key.split(".", 2)[1:]
            name = {"D": "D", "output_linear.weight": "output_linear.0.weight",
                    "output_linear.bias": "output_linear.0.bias"}.get(rest, rest)
            value = value.reshape(1, -1) if rest == "D" else value
            value = value.reshape(-1, 1) if rest == "output_linear.bias" else value
            state[f"s4_layers.{i}.{name}"] = value
        elif key.startswith("norms."):
            state[key] = value
    return state


def test_original_layout_loads_and_reproduces_the_model(tmp_path):
    config = dataclasses.replace(TINY, dss_kernel="softmax")
    model = tiny_model(config)
    with torch.no_grad():
        model.encoder.weight[:, 2] = 0.0  # the original's mask = all-zero input
    path = tmp_path / "epoch_100_weights_model.pt"
    torch.save(original_layout(model), path)
    loaded, info = load_original_weights(path, genes=GENES)
    assert loaded.config == dataclasses.replace(config, dropout=0.0)
    assert info["genes"] == {"ENSG0B.1": 0, "ENSG0A.1": 1}
    tokens, gene = inputs()
    with torch.no_grad():
        torch.testing.assert_close(loaded(tokens, gene), model(tokens, gene))
    with pytest.raises(InputError, match="3 genes given"):
        load_original_weights(path, genes=GENES + ["X"])
    torch.save({"encoder.weight": torch.zeros(4, 3, 15)}, tmp_path / "other.pt")
    with pytest.raises(InputError, match="not an original lm-eqtl"):
        load_original_weights(tmp_path / "other.pt")


def test_original_gene_order_is_the_order_of_first_appearance(tmp_path):
    rows = [("train", "S1", "ENSG0B.1", "RR"), ("train", "S1", "ENSG0A.1", "RF"), ("test", "S2", "ENSG0B.1", "RR"),
            ("test", "S2", "ENSG0A.1", "BB")]
    write_dataset(tmp_path / "dataset.parquet", pd.DataFrame(rows, columns=["split", "sample_id", "gene_id", "seq"]))
    assert original_gene_order(tmp_path / "dataset.parquet") == ["ENSG0B.1", "ENSG0A.1"]


def test_snp_embedding_models_round_trip(tmp_path):
    config = dataclasses.replace(TINY, snp_embedding=True)
    model = HaplotypeMLM(config, n_genes=2, gene_lengths=[60, 50]).eval()
    save_checkpoint(tmp_path, model, genes=GENES, data_fingerprint=None)
    loaded, info = load_checkpoint(tmp_path)
    assert info["gene_lengths"] == [60, 50] and loaded.snp_embedding.weight.shape == (110, 16)
    tokens, gene = inputs()
    with torch.no_grad():
        torch.testing.assert_close(loaded(tokens, gene), model(tokens, gene), rtol=0, atol=0)
