"""``lmeqtl presets``: list the presets, or print every setting of one."""

from __future__ import annotations

from lmeqtl.config import PRESETS, get_preset


def add_arguments(parser) -> None:  # noqa: ANN001 - argparse.ArgumentParser
    parser.add_argument("name", nargs="?", choices=list(PRESETS), help="show one preset in full (JSON)")


def run(args) -> int:  # noqa: ANN001 - argparse.Namespace
    if args.name:
        print(get_preset(args.name).to_json())
    else:
        for preset in PRESETS.values():
            print(f"{preset.name:<10} {preset.description}")
    return 0
