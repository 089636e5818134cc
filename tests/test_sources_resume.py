"""Resume: a killed scrape picks up from data/raw/journal.jsonl and fetches nothing twice."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from werkzeug import Response

from dvc_cli import DVC, python_first_path
from pipeline.sources.store import RawStore, Rejected
from web_fixtures import CONTACT, image, read_csv, requested, site, _host_a  # noqa: F401

REPO = Path(__file__).resolve().parents[1]


def test_journal_resumes_under_any_settings(tmp_path):
    root = tmp_path / "raw"
    store = RawStore(root, min_side=32)
    store.add(image(1), source="urls", origin="http://a/1.png")
    store.add(image(1), source="urls", origin="http://a/1-again.png")
    store.reject(origin="http://a/gone.png", source="urls", reason="http-404")
    store.reject(origin="http://a/busy.png", source="urls", reason="http-503")
    store.reject(origin="http://a/later.png", source="urls", reason="robots-unavailable")
    store.note("page", {"images": ["x"]})
    del store  # killed: no close()

    again = RawStore(root, min_side=16)  # other settings: still the same store
    assert again.rows == {}  # nothing asked for yet in this run
    assert all(again.done(u) for u in ("http://a/1.png", "http://a/1-again.png", "http://a/gone.png"))
    assert not again.done("http://a/busy.png") and not again.done("http://a/later.png")  # retried
    assert again.notes == {"page": {"images": ["x"]}}
    # the smallest origin is the row's own, whatever order the downloads finished in
    assert [(r["origin"], r["other_origins"]) for r in again.rows.values()] == [
        ("http://a/1-again.png", "http://a/1.png")]
    again.close()
    assert [r["reason"] for r in read_csv(root / "rejected.csv")] == ["http-404"]

    finished = RawStore(root, min_side=16)
    assert finished.done("http://a/1.png") and finished.notes == {}  # a finished run drops its notes


def test_a_removed_source_leaves_the_manifest_and_keeps_its_files(tmp_path):
    root = tmp_path / "raw"
    first = RawStore(root)
    for i in range(3):
        first.add(image(i), source="urls", origin=f"http://a/{i}.png")
    first.add(image(9), source="folder", origin="mine.png")
    first.close()

    second = RawStore(root)  # the folder source was removed from scrape.sources
    assert all(second.done(f"http://a/{i}.png") for i in range(3))
    second.close()
    assert sorted(r["origin"] for r in read_csv(root / "manifest.csv")) == [f"http://a/{i}.png" for i in range(3)]
    assert second.set_aside == 1 and len(list((root / "images").iterdir())) == 4

    third = RawStore(root)  # ... and added back: listed again, no new bytes needed
    assert third.done("mine.png") and len(third.rows) == 1


def test_min_side_filters_the_manifest_without_deleting(tmp_path):
    root = tmp_path / "raw"
    store = RawStore(root, min_side=32)
    store.add(image(1, size=40), source="urls", origin="http://a/40.png")
    with pytest.raises(Rejected):
        store.add(image(2, size=20), source="urls", origin="http://a/20.png")
    store.reject(origin="http://a/20.png", source="urls", reason="too-small", detail="20x20 < 32px")
    store.close()

    higher = RawStore(root, min_side=48)
    assert higher.done("http://a/40.png") and higher.done("http://a/20.png")
    assert higher.rows == {} and [r["reason"] for r in higher.rejected] == ["too-small", "too-small"]
    higher.close()

    lower = RawStore(root, min_side=16)
    assert lower.done("http://a/40.png") and not lower.done("http://a/20.png")  # asked again
    lower.add(image(2, size=20), source="urls", origin="http://a/20.png")
    assert len(lower.rows) == 2 and lower.rejected == []


def test_crash_leftovers_are_cleaned_and_a_torn_line_is_cut(tmp_path):
    root = tmp_path / "raw"
    store = RawStore(root)
    store.add(image(1), source="urls", origin="http://a/1.png")
    store.add(image(2), source="urls", origin="http://a/2.png")
    del store
    partial = root / "images" / ".abc.png.x1y2.tmp"  # atomic_path's name for a file being written
    partial.write_bytes(b"half an image")
    journal = root / "journal.jsonl"
    text = journal.read_text()
    journal.write_text(text[:-25])  # killed halfway through the last line
    lost = next(f for f in (root / "images").iterdir() if f.name in text.splitlines()[0])
    lost.write_bytes(lost.read_bytes()[:100])  # a file cut short (no fsync before a power loss)

    again = RawStore(root)
    assert not partial.exists()
    assert journal.read_text().endswith("\n")  # the torn line was cut, so appends start clean
    assert not again.done("http://a/1.png")  # its file is incomplete: fetched again
    assert not again.done("http://a/2.png")  # its line was torn
    again.add(image(2), source="urls", origin="http://a/2.png")
    del again
    third = RawStore(root)
    assert third.done("http://a/2.png") and len(third.rows) == 1


def test_a_finished_scrape_of_an_older_version_is_adopted(tmp_path):
    root = tmp_path / "raw"
    store = RawStore(root)
    store.add(image(1), source="urls", origin="http://a/1.png", license="CC0")
    store.add(image(1), source="urls", origin="http://a/1b.png")
    store.reject(origin="http://a/gone.png", source="urls", reason="http-404")
    store.close()
    (root / "journal.jsonl").unlink()  # earlier versions deleted it when a scrape finished

    adopted = RawStore(root)
    assert all(adopted.done(u) for u in ("http://a/1.png", "http://a/1b.png", "http://a/gone.png"))
    [row] = adopted.rows.values()
    assert (row["origin"], row["other_origins"], row["license"]) == ("http://a/1.png", "http://a/1b.png", "CC0")


def _dvc_repo(tmp_path: Path, listing: str) -> Path:
    """A scratch git+DVC repo with this project's scrape stage and params, scraping ``listing``."""
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "pipeline", repo / "pipeline", ignore=shutil.ignore_patterns("__pycache__"))
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["scrape"]
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"scrape": stage}}))
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["scrape"] = {"sources": [{"kind": "urls", "path": "urls.txt"}], "min_side": 32,
                        "http": {"contact": CONTACT, "workers": 2, "per_host": 2, "delay": 0, "backoff": 0,
                                 "allow_private": True}}
    (repo / "params.yaml").write_text(yaml.safe_dump(params))
    (repo / "urls.txt").write_text(listing)
    for cmd in (["git", "init", "-q"], DVC + ["init", "-q"], DVC + ["config", "core.autostage", "false"]):
        subprocess.run(cmd, cwd=repo, check=True, env=_env())
    return repo


def _env() -> dict:
    return {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": "", "PATH": python_first_path()}


def _repro(repo: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(DVC + ["repro", *args, "scrape"], cwd=repo, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def _stored_origins(journal: Path) -> set[str]:
    entries = (json.loads(line) for line in journal.read_text().splitlines() if line.endswith("}"))
    return {e["origin"] for e in entries if "sha256" in e and "origin" in e}


def _set_scrape(repo: Path, **changes) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for key, value in changes.items():
        params["scrape"][key] = value if key == "sources" else {**params["scrape"][key], **value}
    (repo / "params.yaml").write_text(yaml.safe_dump(params))


def _images(paths: list[str]) -> list[str]:
    return [p for p in paths if p.endswith(".png")]


def test_kill_change_settings_resume_and_change_sources(site, tmp_path):
    n = 40

    def slow(i):
        def handler(_request):
            time.sleep(0.05)
            return Response(image(i), content_type="image/png")
        return handler

    for i in range(n + 5):
        site.expect_request(f"/{i}.png").respond_with_handler(slow(i))
    repo = _dvc_repo(tmp_path, "\n".join(site.url_for(f"/{i}.png") for i in range(n)) + "\n")
    raw = repo / "data" / "raw"
    journal = raw / "journal.jsonl"

    first = _repro(repo)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and first.poll() is None:
        if journal.exists() and len(_stored_origins(journal)) >= 8:
            break
        time.sleep(0.02)
    assert first.poll() is None, first.stdout.read().decode()[-2000:]
    os.killpg(first.pid, signal.SIGKILL)  # the stage and dvc, mid-download
    first.wait()
    finished = _stored_origins(journal)
    assert 8 <= len(finished) < n
    assert len(list((raw / "images").iterdir())) >= len(finished)  # nothing deleted by the kill
    site.clear_log()

    # speed and politeness knobs are not what decides which images belong: the kill resumes
    _set_scrape(repo, http={"workers": 4, "per_host": 3, "delay": 0.01, "timeout": 20})
    second = _repro(repo)
    out = second.communicate(timeout=120)[0].decode()
    assert second.returncode == 0, out[-2000:]
    refetched = {site.url_for(p) for p in requested(site)} & finished
    assert refetched == set()  # nothing that had succeeded was fetched again
    assert len(read_csv(raw / "manifest.csv")) == n and len(list((raw / "images").iterdir())) == n

    # a second source: only its own images are fetched
    (repo / "more.txt").write_text("".join(site.url_for(f"/{i}.png") + "\n" for i in range(n, n + 5)))
    sources = [{"kind": "urls", "path": "urls.txt"}, {"kind": "urls", "path": "more.txt"}]
    site.clear_log()
    _set_scrape(repo, sources=sources)
    assert _repro(repo).wait(timeout=120) == 0
    assert sorted(_images(requested(site))) == sorted(f"/{i}.png" for i in range(n, n + 5))
    assert len(read_csv(raw / "manifest.csv")) == n + 5

    # removing it drops its rows from the manifest; its files stay
    site.clear_log()
    _set_scrape(repo, sources=sources[:1])
    assert _repro(repo).wait(timeout=120) == 0
    assert _images(requested(site)) == []
    assert len(read_csv(raw / "manifest.csv")) == n and len(list((raw / "images").iterdir())) == n + 5

    # a forced run asks again and finds everything already stored
    assert _repro(repo, "-f").wait(timeout=120) == 0
    assert _images(requested(site)) == [] and len(read_csv(raw / "manifest.csv")) == n
