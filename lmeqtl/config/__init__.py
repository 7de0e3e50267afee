"""Settings: the typed configuration of every stage and the presets that combine them.

=================  ===========================================================================
module             concept
=================  ===========================================================================
``sections``       one frozen dataclass per stage (simulation, model, training, RQ1-RQ5)
``presets``        ``Preset`` (one section each), the named presets, ``get_preset``
=================  ===========================================================================

Everything is imported from here: ``from lmeqtl.config import FinetuneConfig, get_preset``.
"""

from lmeqtl.config import sections
from lmeqtl.config.presets import PRESETS, Preset, get_preset
from lmeqtl.config.sections import *  # noqa: F403 - every section dataclass (sections.__all__)

__all__ = ["PRESETS", "Preset", "get_preset", *sections.__all__]
