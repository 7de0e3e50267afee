"""Progress bars in the console, never on the book's pages.

When ``lmeqtl book`` runs a chapter, papermill records everything the notebook prints,
tqdm's bars included, and the pages would show dozens of bar lines. So the runner gives
the notebook a progress file (:data:`PROGRESS_ENV`): :func:`route_progress_bars`, called by
``notebook_setup`` inside the kernel, sends every tqdm bar there, and :class:`ProgressEcho`,
in the runner, shows the newest bar line on the console while the step runs. Without the
variable (Jupyter, Colab) the bars stay where the user sees them.
"""

from __future__ import annotations

import functools
import os
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

PROGRESS_ENV = "LMEQTL_PROGRESS_FILE"


def route_progress_bars() -> Path | None:
    """Inside a notebook the runner started: write every tqdm bar to the runner's progress file.

    Returns that file, or None when the notebook runs by hand (bars unchanged).
    """
    path = os.environ.get(PROGRESS_ENV)
    if not path:
        return None
    from tqdm import std

    if getattr(std.tqdm.__init__, "_lmeqtl_progress", None) == path:
        return Path(path)
    stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the kernel
    original = getattr(std.tqdm.__init__, "__wrapped__", std.tqdm.__init__)

    @functools.wraps(original)
    def __init__(self, *args, **kwargs):
        kwargs["file"] = stream  # never the notebook's stdout or stderr
        kwargs.setdefault("ncols", 100)
        original(self, *args, **kwargs)

    __init__._lmeqtl_progress = path
    std.tqdm.__init__ = __init__  # tqdm.auto's class is std.tqdm without ipywidgets; subclasses inherit it
    return Path(path)


def last_line(text: str) -> str:
    """The newest non-empty bar line of ``text`` (tqdm redraws a bar with ``\\r``)."""
    for line in reversed(text.replace("\r", "\n").split("\n")):
        if line.strip():
            return line.strip()
    return ""


class ProgressEcho:
    """Context manager for the runner: create the progress file, export :data:`PROGRESS_ENV` (the
    kernel inherits it), and echo the newest bar line to ``stream`` every ``interval`` seconds.

    On a terminal the line is redrawn in place; elsewhere (CI logs) a changed line is printed
    at most every ``every`` seconds. With ``echo=False`` the bars still go to the file (off the
    pages) but nothing is shown.
    """

    def __init__(self, path: Path, label: str, stream: TextIO | None = None, interval: float = 0.5,
                 every: float = 30.0, echo: bool = True) -> None:
        self.path, self.label, self.echo = Path(path), label, echo
        self.stream = stream if stream is not None else sys.stderr
        self.interval, self.every = interval, every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._previous_env: str | None = None
        self._shown = ""

    def __enter__(self) -> ProgressEcho:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text("")
        self._previous_env = os.environ.get(PROGRESS_ENV)
        os.environ[PROGRESS_ENV] = str(self.path)
        if self.echo:
            self._thread = threading.Thread(target=self._run, name="lmeqtl-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._previous_env is None:
            os.environ.pop(PROGRESS_ENV, None)
        else:
            os.environ[PROGRESS_ENV] = self._previous_env
        if self._shown and self._tty():
            self.stream.write("\n")
            self.stream.flush()
        self.path.unlink(missing_ok=True)

    def _tty(self) -> bool:
        return bool(getattr(self.stream, "isatty", lambda: False)())

    def _run(self) -> None:
        offset, tail, printed_at = 0, "", 0.0
        while not self._stop.wait(self.interval):
            try:
                with open(self.path, encoding="utf-8", errors="replace") as handle:
                    handle.seek(offset)
                    new = handle.read()
                    offset = handle.tell()
            except OSError:
                continue
            tail = (tail + new)[-4000:]
            line = last_line(tail)
            if not line or line == self._shown:
                continue
            now = time.monotonic()
            if self._tty():
                self.stream.write(f"\r{self.label}: {line}"[:160].ljust(160))
            elif now - printed_at >= self.every:
                self.stream.write(f"{self.label}: {line}\n")
                printed_at = now
            else:
                continue
            self.stream.flush()
            self._shown = line
