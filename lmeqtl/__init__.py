"""lmeqtl: a masked language model of phased haplotypes, asked about gene expression."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("lmeqtl")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0+unknown"
