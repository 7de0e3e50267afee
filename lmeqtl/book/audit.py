"""Read the built book as a reader does: each HTML page rendered in headless Chromium, then checked.

A page can build without a warning and still read badly: a glue placeholder left as raw text, a
Python repr where a result should be (``<IPython.core.display.Markdown object>``), a traceback, a
progress bar's text, or a table wider than the page column. :func:`audit_page` renders one page at a
1280 px window, measures its tables and images with a small injected script, and returns one line
per problem, naming the page and the offending text or element, so a failing test says what to fix.

Chromium is the Debian package ``chromium`` (:func:`find_chromium`); callers skip when it is absent.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from lmeqtl.data.io import atomic_path

WINDOW = (1280, 2000)  # px: the reader's browser window
SLACK_PX = 2  # rounding of sub-pixel layouts
AUDIT_ID = "lmeqtl-audit"
_REDIRECT = re.compile(r'http-equiv="refresh"', re.I)  # index.html only forwards to the first page

# (what it is, pattern): searched in the page's text outside code inputs (prose + outputs).
TEXT_PROBLEMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("raw glue placeholder", re.compile(r"\{glue(?::\w+)?\}|\bglue:(?:text|figure|math|any)\b")),
    ("Python repr", re.compile(r"<IPython\.core\.display\.\w+ object>|<Figure size|<matplotlib"
                               r"|\bnp\.(?:float|int|uint|bool)\w*\(|<pandas\.[\w.]+ object"
                               r"|<[\w.]+ object at 0x[0-9a-fA-F]+>")),
    ("traceback", re.compile(r"Traceback \(most recent call last\)")),
    ("progress bar", re.compile(r"it/s\]|s/it\]|%\|")),
)
# searched only in cell outputs: prose may well say "Error:".
OUTPUT_PROBLEMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("error in an output cell", re.compile(r"\b\w*Error:(?=\s|$)")),
)

# Injected into a copy of the page: text outside code inputs, output text, and the tables and images
# wider than the article column (a table inside a horizontal scroller counts only if the scroller is).
_SCRIPT = """
<script>
window.addEventListener('load', function () {
  var column = document.querySelector('article.bd-article') || document.querySelector('main')
               || document.body;
  var style = getComputedStyle(column);
  var inner = column.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  var limit = inner + __SLACK__;
  function text(root, drop) {
    var copy = root.cloneNode(true);
    copy.querySelectorAll(drop).forEach(function (e) { e.remove(); });
    return copy.textContent;
  }
  function scroller(el) {
    for (var e = el; e && e !== column; e = e.parentElement) {
      var o = getComputedStyle(e).overflowX;
      if (o === 'auto' || o === 'scroll' || o === 'hidden' || o === 'clip') return e;
    }
    return null;
  }
  function describe(el) {
    if (el.tagName === 'IMG') {
      var src = el.getAttribute('src') || '';
      return 'img ' + (src.indexOf('data:') === 0 ? '"' + el.alt + '"' : src.split('/').pop());
    }
    var cells = Array.prototype.slice.call(el.querySelectorAll('caption, th, td'))
      .map(function (c) { return c.textContent.trim().replace(/\\s+/g, ' '); })
      .filter(function (t) { return t; });
    return 'table "' + cells.slice(0, 4).join(' | ').slice(0, 80) + '"';
  }
  function px(width) { return Math.round(width) + ' px in a ' + Math.round(inner) + ' px column'; }
  var wide = [], scrolled = [];
  column.querySelectorAll('table, img').forEach(function (el) {
    var box = scroller(el);
    var own = Math.max(el.getBoundingClientRect().width, el.scrollWidth);
    var shown = box ? box.getBoundingClientRect().width : own;
    if (shown > limit) wide.push(describe(el) + ': ' + px(shown));
    else if (box && own > limit) scrolled.push(describe(el) + ': ' + px(own));
  });
  var outputs = [];
  column.querySelectorAll('.cell_output, .output').forEach(function (e) {
    if (!e.parentElement.closest('.cell_output, .output')) outputs.push(e.textContent);  // outermost only
  });
  var pre = document.createElement('pre');
  pre.id = '__ID__';
  pre.textContent = JSON.stringify({
    text: text(column, 'script, style, .cell_input, #__ID__'), outputs: outputs, wide: wide, scrolled: scrolled,
    column: inner});
  document.body.appendChild(pre);
});
</script>
""".replace("__SLACK__", str(SLACK_PX)).replace("__ID__", AUDIT_ID)


def find_chromium() -> str | None:
    """The headless browser to read pages with: $LMEQTL_CHROMIUM, else ``chromium`` on PATH."""
    for name in (os.environ.get("LMEQTL_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and (found := shutil.which(name)):
            return found
    return None


def _instrumented(page: Path, out: Path) -> Path:
    """A copy of ``page`` in ``out`` that loads its assets from the page's folder and runs the audit script."""
    source = page.read_text(encoding="utf-8")
    base = f'<base href="{page.parent.resolve().as_uri()}/">'
    source = re.sub(r"<head[^>]*>", lambda m: m.group(0) + base, source, count=1)
    cut = source.rfind("</body>")
    source = source[:cut] + _SCRIPT + source[cut:] if cut >= 0 else source + _SCRIPT
    copy = out / page.name
    with atomic_path(copy) as tmp:
        tmp.write_text(source, encoding="utf-8")
    return copy


def render(page: Path, *, chromium: str, timeout: float = 120) -> dict:
    """Render ``page`` at the reader's window and return the injected script's measurements.

    Each call uses its own temporary Chromium profile, so calls can run in parallel.
    """
    with tempfile.TemporaryDirectory(prefix="lmeqtl-audit-") as tmp:
        copy = _instrumented(page, Path(tmp))
        command = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                   f"--window-size={WINDOW[0]},{WINDOW[1]}", "--virtual-time-budget=5000",
                   f"--user-data-dir={Path(tmp) / 'profile'}", "--dump-dom", copy.as_uri()]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    found = re.search(rf'<pre id="{AUDIT_ID}"[^>]*>(.*?)</pre>', done.stdout, re.S)
    if not found:
        raise RuntimeError(f"{page}: Chromium returned no audit (exit {done.returncode}): "
                           f"{done.stderr.strip()[-500:]}")
    return json.loads(html.unescape(found.group(1)))


def _hits(where: str, texts: Iterable[str], problems: Iterable[tuple[str, re.Pattern[str]]]) -> list[str]:
    """One line per kind of problem found in ``texts``: how often, and the first hit in its context."""
    texts = list(texts)
    found = []
    for what, pattern in problems:
        matches = [(text, m) for text in texts for m in pattern.finditer(text)]
        if not matches:
            continue
        text, first = matches[0]
        start, end = max(first.start() - 50, 0), min(first.end() + 50, len(text))
        context = " ".join(text[start:end].split())
        times = f" ({len(matches)} times)" if len(matches) > 1 else ""
        shown = ", ".join(repr(m) for m in list(dict.fromkeys(m.group(0) for _, m in matches))[:6])
        found.append(f"{where}: {what}{times}: {shown}; the first in '…{context}…'")
    return found


def audit_page(html_path: Path, *, chromium: str | None = None, name: str | None = None,
               scrolled_ok: bool = True) -> list[str]:
    """The problems a reader of ``html_path`` would see at a 1280 px window: one line each, [] when clean.

    ``name`` labels the lines (default: the file name); ``scrolled_ok=False`` also reports tables
    and images that fit only by scrolling sideways in a wrapper. Raises RuntimeError when Chromium is missing
    or renders nothing.
    """
    chromium = chromium or find_chromium()
    if chromium is None:
        raise RuntimeError("no Chromium found (install the Debian package 'chromium' or set LMEQTL_CHROMIUM)")
    where = name or Path(html_path).name
    result = render(Path(html_path), chromium=chromium)
    problems = _hits(where, [result["text"]], TEXT_PROBLEMS) + _hits(where, result["outputs"], OUTPUT_PROBLEMS)
    problems += [f"{where}: wider than the page column: {wide}" for wide in result["wide"]]
    if not scrolled_ok:
        problems += [f"{where}: scrolls sideways: {wide}" for wide in result["scrolled"]]
    return problems


def book_pages(html_dir: Path) -> list[Path]:
    """The reader's pages of a built book: every .html except Sphinx's search/index scaffolding."""
    skip = {"search.html", "genindex.html", "py-modindex.html"}
    pages = (p for p in Path(html_dir).rglob("*.html")
             if p.name not in skip and "_static" not in p.parts and "_sources" not in p.parts)
    return sorted(p for p in pages if not _REDIRECT.search(p.read_text(encoding="utf-8")[:2000]))


def audit_book(html_dir: Path, *, chromium: str | None = None, workers: int = 2,
               scrolled_ok: bool = True) -> list[str]:
    """:func:`audit_page` over :func:`book_pages`, pages named relative to ``html_dir``."""
    from concurrent.futures import ThreadPoolExecutor

    html_dir = Path(html_dir)
    pages = book_pages(html_dir)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = pool.map(lambda p: audit_page(p, chromium=chromium, name=str(p.relative_to(html_dir)),
                                              scrolled_ok=scrolled_ok), pages)
        return [line for lines in found for line in lines]
