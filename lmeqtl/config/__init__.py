"""Settings: the typed configuration of every stage and the presets that combine them.

=================  ===========================================================================
module             concept
=================  ===========================================================================
``sections``       one frozen dataclass per stage (simulation, model, training, RQ1-RQ5)
``presets``        ``Preset`` (one section each), the named presets, ``get_preset``
=================  ===========================================================================

Everything is imported from here: ``from lmeqtl.config import FinetuneConfig, get_preset``.
"""

from lmeqtl.config.presets import PRESETS, Preset, get_preset
from lmeqtl.config.sections import (
    PHASE3_SUPER_POPULATIONS,
    EmbedConfig,
    ExplainConfig,
    ExpressionConfig,
    FinetuneConfig,
    GenotypeEvalConfig,
    ModelConfig,
    SimulationConfig,
    TrainConfig,
)

__all__ = [
    "PHASE3_SUPER_POPULATIONS", "PRESETS", "EmbedConfig", "ExplainConfig", "ExpressionConfig", "FinetuneConfig",
    "GenotypeEvalConfig", "ModelConfig", "Preset", "SimulationConfig", "TrainConfig", "get_preset",
]
