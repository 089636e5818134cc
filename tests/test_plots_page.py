"""`dvc plots show` and `dvc plots diff` draw every chart offline with the pipeline's page template.

Runs the real dvc CLI in a scratch git+DVC repo and opens the pages in headless Chromium with the
network cut off (tests/browser.py).
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from browser import chart_report, chromium
from dvc_cli import DVC, run
from pipeline.plots_page import write_template

pytestmark = pytest.mark.skipif(chromium() is None, reason="no Chromium to render the pages")

GIT = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
# The stage writes one row per x; y columns a, b, c scale with the `curve.scale` param.
CURVE = """\
import yaml
s = yaml.safe_load(open("params.yaml"))["curve"]["scale"]
rows = [f"{x},{s * x},{s * x * x},{s * (10 - x)}" for x in range(10)]
open("curve.csv", "w").write("x,a,b,c\\n" + "\\n".join(rows) + "\\n")
"""
DVC_YAML = f"""\
stages:
  curve:
    cmd: '"{sys.executable}" curve.py'
    deps: [curve.py]
    params: [curve]
    outs: [curve.csv]
plots:
  - two_lines:
      template: linear
      x: x
      y:
        curve.csv: [a, b]
  - one_line:
      template: linear
      x: x
      y:
        curve.csv: [c]
  - picture.png
"""
VEGA_PLOTS = 2  # two_lines, one_line; picture.png is an <img>, not a chart


def dvc(repo: Path, *args: str) -> str:
    return run(repo, *DVC, *args, env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                                       "GIT_COMMITTER_EMAIL": "t@t"}, timeout=120)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A committed repo with one curve stage run, its plots, and `.dvc/config` html_template set."""
    repo = tmp_path_factory.mktemp("plots") / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    dvc(repo, "init", "-q")
    (repo / "curve.py").write_text(CURVE)
    (repo / "params.yaml").write_text("curve:\n  scale: 1.0\n")
    (repo / "dvc.yaml").write_text(DVC_YAML)
    Image.new("RGB", (16, 16), (200, 60, 40)).save(repo / "picture.png")
    write_template(repo / "plots/page.html")
    dvc(repo, "config", "plots.html_template", "../plots/page.html")  # relative to .dvc/
    dvc(repo, "repro")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", "curve"], cwd=repo, check=True)
    return repo


def assert_all_drawn(page: Path) -> None:
    report = chart_report(page)
    assert report["charts"] == VEGA_PLOTS, report
    assert report["rendered"] == VEGA_PLOTS, f"blank charts {report['blank']}: {report['errors']}"
    assert report["errors"] == [], report["errors"]


def test_plots_show_draws_every_chart_offline(repo):
    dvc(repo, "plots", "show")
    page = repo / "dvc_plots/index.html"
    assert "<script src=" not in page.read_text(), "the page still loads scripts from elsewhere"
    assert_all_drawn(page)
    assert list((repo / "dvc_plots/static").glob("*picture.png")), "the image plot is missing"


def test_plots_diff_of_two_experiments_draws_every_chart_offline(repo, tmp_path):
    for name, scale in (("exp-low", 0.5), ("exp-high", 2.0)):
        dvc(repo, "exp", "run", "-n", name, "-S", f"curve.scale={scale}")
    dvc(repo, "plots", "diff", "exp-low", "exp-high", "-o", str(tmp_path / "diff"))
    assert_all_drawn(tmp_path / "diff/index.html")


def test_default_dvc_page_is_blank_offline(repo, tmp_path):
    """The check can fail: DVC's own page fetches Vega from a CDN, so offline it draws nothing."""
    copy = tmp_path / "repo"
    shutil.copytree(repo, copy, symlinks=True)
    dvc(copy, "config", "--unset", "plots.html_template")
    dvc(copy, "plots", "show", "-o", str(tmp_path / "default"))
    report = chart_report(tmp_path / "default/index.html")
    assert report["charts"] == VEGA_PLOTS and report["rendered"] == 0, report
    assert any("vegaEmbed is not defined" in e for e in report["errors"]), report["errors"]
