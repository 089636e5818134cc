"""The content-addressed raw store and the folder source."""
from __future__ import annotations

import csv
import hashlib
import io

import numpy as np
import pytest
from PIL import Image

from pipeline.sources.store import RawStore, Rejected, inspect_image
from pipeline.params import ParamError
from pipeline.sources import folder
from pipeline.sources.http import HttpSettings


def png(size=(40, 40), colour=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


def test_store_names_files_by_content_and_stores_repeats_once(tmp_path):
    store = RawStore(tmp_path / "raw", min_side=8)
    data = png()
    row = store.add(data, source="t", origin="a")
    again = store.add(data, source="t", origin="b")
    store.close()
    sha = hashlib.sha256(data).hexdigest()
    assert row["file"] == f"images/{sha}.png" and (tmp_path / "raw" / row["file"]).read_bytes() == data
    assert again["other_origins"] == "b"
    # arriving in the other order gives the same row: the smallest origin is the row's own
    other = RawStore(tmp_path / "raw2", min_side=8)
    other.add(data, source="t", origin="b", page_url="pb")
    row2 = other.add(data, source="t", origin="a", page_url="pa")
    assert (row2["origin"], row2["other_origins"], row2["page_url"]) == ("a", "b", "pa")
    rows = list(csv.DictReader(open(tmp_path / "raw" / "manifest.csv")))
    assert len(rows) == 1 and rows[0]["width"] == "40" and rows[0]["mime"] == "image/png"


@pytest.mark.parametrize("data, reason", [
    (b"<html>not an image</html>", "not-an-image"),
    (png()[:60], "decode-error"),
    (png((4, 4)), "too-small"),
])
def test_junk_is_rejected_with_a_reason(data, reason):
    with pytest.raises(Rejected) as e:
        inspect_image(data, min_side=8)
    assert e.value.reason == reason


def encoded(fmt: str, size=(40, 40), mode="RGB") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, (200, 30, 30)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["ICO", "SGI", "PCX", "TGA", "EPS", "PPM", "DDS"])
def test_formats_outside_the_allow_list_are_refused_undecoded(fmt):
    with pytest.raises(Rejected) as e:
        inspect_image(encoded(fmt), min_side=8)
    assert e.value.reason == "format" and fmt[:3] in e.value.detail


@pytest.mark.parametrize("fmt, ext", [("JPEG", "jpg"), ("PNG", "png"), ("WEBP", "webp"), ("GIF", "gif"),
                                      ("BMP", "bmp"), ("TIFF", "tif")])
def test_painting_formats_are_stored(fmt, ext):
    assert inspect_image(encoded(fmt), min_side=8)[3] == ext


def test_manifest_columns_from_a_source_do_not_collide_with_the_store(tmp_path):
    store = RawStore(tmp_path / "raw", min_side=8)
    row = store.add(png(), source="urls", origin="a", data="from a CSV", self="me")
    store.close()
    assert (row["data"], row["self"], row["origin"]) == ("from a CSV", "me", "a")


def test_folder_source_copies_recursively_and_lists_unreadable_files(tmp_path):
    src = tmp_path / "art"
    (src / "sub").mkdir(parents=True)
    (src / "a.png").write_bytes(png(colour=(1, 2, 3)))
    (src / "sub" / "b.jpg").write_bytes(png(colour=(9, 9, 9)))   # wrong extension is fine
    (src / "sub" / "notes.txt").write_text("hello")
    source = folder.Source.from_params({"kind": "folder", "path": str(src)}, "scrape.sources[0]")
    store = RawStore(tmp_path / "raw", min_side=8)
    folder.collect(source, store, HttpSettings())
    store.close()
    assert sorted(r["origin"] for r in store.rows.values()) == ["a.png", "sub/b.jpg"]
    rejected = list(csv.DictReader(open(tmp_path / "raw" / "rejected.csv")))
    assert [(r["origin"], r["reason"]) for r in rejected] == [("sub/notes.txt", "not-an-image")]


def test_folder_path_expands_home_and_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ART", "Pictures")
    (tmp_path / "Pictures" / "abstract").mkdir(parents=True)
    for path in ("~/Pictures/abstract", "$HOME/$ART/abstract"):
        source = folder.Source.from_params({"kind": "folder", "path": path}, "scrape.sources[0]")
        assert source.path == tmp_path / "Pictures" / "abstract"
    with pytest.raises(ParamError, match=r"scrape.sources\[0\].path.*does not exist"):
        folder.Source.from_params({"kind": "folder", "path": "~/nope"}, "scrape.sources[0]")
