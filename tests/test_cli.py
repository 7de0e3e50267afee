import subprocess
import sys

import pytest

from lmeqtl import cli


def test_package_imports_and_has_version():
    import lmeqtl

    assert lmeqtl.__version__


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_console_script_help_runs():
    result = subprocess.run([sys.executable, "-m", "lmeqtl.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "commands:" in result.stdout


@pytest.mark.parametrize("name", list(cli.COMMANDS))
def test_every_command_has_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([name, "--help"])
    assert exit_info.value.code == 0
    assert f"lmeqtl {name}" in capsys.readouterr().out


def test_unknown_command_fails(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["no-such-command"])
    assert exit_info.value.code == 2
