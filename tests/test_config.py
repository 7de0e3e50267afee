import json

import pytest

from lmeqtl.config import PRESETS, get_preset


def test_presets_serialise_and_describe():
    for preset in PRESETS.values():
        data = json.loads(preset.to_json())
        assert data["name"] == preset.name
        assert preset.name in preset.describe()


def test_unknown_preset_lists_known_ones():
    with pytest.raises(ValueError, match="smoke"):
        get_preset("huge")


def test_smoke_is_small_and_top10_gpu_is_full_size():
    smoke, gpu = get_preset("smoke"), get_preset("top10-gpu")
    assert smoke.model.d_model < gpu.model.d_model == 256
    assert gpu.model.n_layers == 16
    assert sum(smoke.simulation.super_population_sizes.values()) < 1000
    assert sum(get_preset("top10").simulation.super_population_sizes.values()) == 2504
