"""Open a local HTML page in headless Chromium with no network and count the Vega charts it drew."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from bs4 import BeautifulSoup

# DVC's chart divs each hold an inline script `vegaEmbed('#<div id>', spec)`. vega-embed empties
# the div as it draws, so the charts are counted in the file and looked up in the rendered DOM.
EMBED_CALL = re.compile(r"""vegaEmbed\(\s*['"]#([^'"]+)['"]""")
# Chromium's --enable-logging=stderr line for a console message: ...:CONSOLE:<line>] "<text>", source: ...
CONSOLE = re.compile(r':CONSOLE(?::\d+)?\] "(.*)", source: ')


def chromium() -> str | None:
    """Path of a Chromium or Chrome binary, or None when none is installed."""
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    return next((path for path in map(shutil.which, names) if path), None)


def chart_report(html_file: Path, timeout: float = 60) -> dict:
    """Load ``html_file`` offline in headless Chromium and report on its Vega charts.

    Returns ``charts`` (divs that call vegaEmbed), ``rendered`` (of those, how many drew at least one
    data mark as SVG), ``blank`` (ids of the rest), ``errors`` (uncaught exceptions and logged errors)
    and ``console`` (every console message). A canvas chart counts as blank: its marks are not in
    the DOM. Raises subprocess.TimeoutExpired after ``timeout`` seconds.
    """
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-quic", f"--user-data-dir={tmp}/profile",
            # No network even on a machine that has it: no host resolves, and anything addressed by
            # IP goes to a closed local port. So a page that fetches its scripts is blank here.
            "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
            "--enable-logging=stderr", "--v=0",
            # Virtual time: timers and the load run to completion without real waiting.
            "--virtual-time-budget=10000", "--dump-dom", Path(html_file).resolve().as_uri(),
        ]
        # Files, not pipes: a helper process that outlives a killed browser cannot block the read.
        with open(f"{tmp}/dom", "w+") as out, open(f"{tmp}/log", "w+") as log:
            proc = subprocess.Popen(cmd, stdout=out, stderr=log, start_new_session=True)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the browser and its helpers, one session
                proc.wait()
                raise
            out.seek(0)
            log.seek(0)
            dom, stderr = out.read(), log.read()
    if proc.returncode != 0 or not dom.strip():
        raise RuntimeError(f"chromium exited {proc.returncode} with no page:\n{stderr[-3000:]}")

    console = CONSOLE.findall(stderr)
    soup = BeautifulSoup(dom, "html.parser")
    ids = EMBED_CALL.findall(Path(html_file).read_text(encoding="utf8"))
    blank = [i for i in ids if not _drew_marks(soup.find(id=i))]
    return {
        "charts": len(ids),
        "rendered": len(ids) - len(blank),
        "blank": blank,
        "errors": [m for m in console if m.startswith(("Uncaught", "ERROR"))],
        "console": console,
    }


def _drew_marks(div) -> bool:
    """vega-embed classes its container vega-embed; a mark group holding an item means data drawn."""
    return (div is not None and "vega-embed" in div.get("class", [])
            and any(g.find(True) for g in div.select("svg.marks g.role-mark")))
