"""Resume: a killed scrape picks up from data/raw/journal.jsonl and fetches nothing twice."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml
from werkzeug import Response

from pipeline.images.store import RawStore
from web_fixtures import CONTACT, image, read_csv, requested, site, _host_a  # noqa: F401

REPO = Path(__file__).resolve().parents[1]


def test_store_journal_resumes_only_the_same_scrape(tmp_path):
    root = tmp_path / "raw"
    store = RawStore(root, resume="params-1")
    store.add(image(1), source="urls", origin="http://a/1.png")
    store.add(image(1), source="urls", origin="http://a/1-again.png")
    store.reject(origin="http://a/gone.png", source="urls", reason="http-404")
    store.reject(origin="http://a/busy.png", source="urls", reason="http-503")
    store.note("page", {"images": ["x"]})
    del store  # killed: no close()

    again = RawStore(root, resume="params-1")
    # the smallest origin is the row's own, whatever order the downloads finished in
    assert [(r["origin"], r["other_origins"]) for r in again.rows.values()] == [
        ("http://a/1-again.png", "http://a/1.png")]
    assert all(again.done(u) for u in ("http://a/1.png", "http://a/1-again.png", "http://a/gone.png"))
    assert not again.done("http://a/busy.png")  # a transient failure gets another try
    assert again.notes == {"page": {"images": ["x"]}}
    again.close()
    assert not (root / "journal.jsonl").exists()
    assert [r["reason"] for r in read_csv(root / "rejected.csv")] == ["http-404"]

    assert RawStore(root, resume="params-1").rows == {}  # finished: a new run starts afresh
    RawStore(root, resume="params-1").add(image(2), source="urls", origin="http://a/2.png")
    assert RawStore(root, resume="params-2").rows == {}  # other params: afresh
    assert list((root / "images").iterdir()) == []


def _dvc_repo(tmp_path: Path, listing: str) -> Path:
    """A scratch git+DVC repo with this project's scrape stage and params, scraping ``listing``."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "pipeline", repo / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["scrape"]
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"scrape": stage}}))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["scrape"] = {"sources": [{"kind": "urls", "path": "urls.txt"}], "min_side": 32,
                        "http": {"contact": CONTACT, "workers": 2, "per_host": 2, "delay": 0, "backoff": 0}}
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    (repo / "urls.txt").write_text(listing)
    for cmd in (["git", "init", "-q"], ["dvc", "init", "-q"], ["dvc", "config", "core.autostage", "false"]):
        subprocess.run(cmd, cwd=repo, check=True, env=_env())
    return repo


def _env() -> dict:
    return {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": ""}


def _repro(repo: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dvc", "repro", *args, "scrape"], cwd=repo, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def test_dvc_repro_after_a_kill_resumes(site, tmp_path):
    n = 40

    def slow(i):
        def handler(_request):
            time.sleep(0.05)
            return Response(image(i), content_type="image/png")
        return handler

    for i in range(n):
        site.expect_request(f"/{i}.png").respond_with_handler(slow(i))
    repo = _dvc_repo(tmp_path, "\n".join(site.url_for(f"/{i}.png") for i in range(n)) + "\n")
    journal = repo / "data" / "raw" / "journal.jsonl"

    first = _repro(repo)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and first.poll() is None:
        if journal.exists() and journal.read_text().count('"stored"') >= 8:
            break
        time.sleep(0.02)
    assert first.poll() is None, first.stdout.read().decode()[-2000:]
    os.killpg(first.pid, signal.SIGKILL)  # the stage and dvc, mid-download
    first.wait()
    finished = {line.split('"origin": "')[1].split('"')[0]
                for line in journal.read_text().splitlines() if '"stored"' in line}
    assert 8 <= len(finished) < n
    site.clear_log()

    second = _repro(repo)
    out = second.communicate(timeout=120)[0].decode()
    assert second.returncode == 0, out[-2000:]
    refetched = {site.url_for(p) for p in requested(site)} & finished
    assert refetched == set()  # nothing that had succeeded was fetched again
    manifest = read_csv(repo / "data" / "raw" / "manifest.csv")
    assert len(manifest) == n and not journal.exists()
    assert len(list((repo / "data" / "raw" / "images").iterdir())) == n

    site.clear_log()  # a forced run scrapes afresh, despite persist: true
    forced = _repro(repo, "-f")
    assert forced.wait(timeout=120) == 0
    assert len([p for p in requested(site) if p.endswith(".png")]) == n
