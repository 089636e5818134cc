"""Defaults once: every value params.yaml shows is the default of the dataclass field its stage reads it into."""
from __future__ import annotations

import dataclasses
import fnmatch
import shutil
import typing
from typing import Any, Mapping

from pipeline import params as P
from pipeline.gan.config import TrainConfig
from pipeline.gan.ladder import Ladder
from pipeline.metrics.settings import Settings
from pipeline.images.screen import Screen
from pipeline.neardup.rule import Rule
from pipeline.prepare import Prepare
from pipeline.sources import KINDS, ScrapeConfig
from pipeline.sources.http import HttpSettings
from pipeline.sr.config import UpscaleConfig
from test_params import ROOT, leaves


def source_kind(entry: Any) -> type | None:
    """An entry of scrape.sources is read into its kind's ``Source``."""
    kind = entry.get("kind") if isinstance(entry, Mapping) else None
    return KINDS[kind].Source if kind in KINDS else None


# Where each part of params.yaml is read: a path names a mapping read into a dataclass, or, as
# (dataclass, field), one key read into that field. `*` stands for one key or list index.
SECTIONS: dict[str, Any] = {
    "scrape": ScrapeConfig,
    "scrape.http": HttpSettings,
    "scrape.sources.*": source_kind,
    "dedup": Rule,
    "dedup.blank": (Screen, "blank"),
    "dedup.transparent": (Screen, "transparent"),
    "prepare": Prepare,
    "ladder": Ladder,
    "train": TrainConfig,
    "train.size": (Ladder, "top"),
    "evaluate": Settings,
    "upscale": UpscaleConfig,
}

# Keys whose value is deliberately not a code default, and why (`*` stands for one key).
ALLOWED = {
    "res.*.*": "schedules chosen per size (batch, lr, kimg ...); TrainConfig.from_params checks their names",
}


def matches(key: str, pattern: str) -> bool:
    parts, wanted = key.split("."), pattern.split(".")
    return len(parts) == len(wanted) and all(fnmatch.fnmatchcase(p, w) for p, w in zip(parts, wanted))


def owner(path: str, node: Any) -> tuple[type | None, str | None]:
    """(dataclass, field) SECTIONS names for ``path``: field None for a mapping; (None, None) if none."""
    for pattern, target in SECTIONS.items():
        if matches(path, pattern):
            if isinstance(target, tuple):
                return target
            return (target if dataclasses.is_dataclass(target) else target(node)), None
    return None, None


def leads_to_section(path: str) -> bool:
    """Whether a SECTIONS path lies below ``path`` (scrape.sources leads to scrape.sources.*)."""
    depth = len(path.split("."))
    return any(matches(path, ".".join(p.split(".")[:depth])) for p in SECTIONS if len(p.split(".")) > depth)


def same(a: Any, b: Any) -> bool:
    """Equal, lists and tuples alike as sequences."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def compare_field(cls: type, name: str, raw: Any, key: str, found: dict[str, str]) -> None:
    """Compare params.yaml's ``raw`` at ``key`` with the default of ``cls.name``, leaf by leaf."""
    field = next(f for f in dataclasses.fields(cls) if f.name == name)
    where = f"{cls.__module__}.{cls.__qualname__}.{name}"
    if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
        for k, v in leaves(raw, key):
            found[k] = f"{k}: params.yaml {v!r}, {where} has no default"
        return
    default = field.default if field.default is not dataclasses.MISSING else field.default_factory()
    try:   # the conversion the stage applies ('64' -> 64, 20 -> 20.0, a list -> a tuple ...)
        value = None if raw is None else P.convert(raw, typing.get_type_hints(cls)[name], key, field.metadata)
    except P.ParamError as e:
        found[key] = str(e)
        return
    want = dict(leaves(default, key))
    for k, v in leaves(value, key):
        if k not in want:
            found[k] = f"{k}: params.yaml {v!r}, no such key in the default of {where} ({default!r})"
        elif not same(v, want[k]):
            found[k] = f"{k}: params.yaml {v!r}, code default {want[k]!r} ({where})"


def disagreements(params: Mapping, allowed: Mapping[str, str] = ALLOWED) -> dict[str, str]:
    """{dotted key: message} for each leaf of ``params`` that is not its dataclass default, or has
    none, and is not ``allowed``."""
    found: dict[str, str] = {}

    def visit(node: Any, path: str, cls: type | None) -> None:
        items = node.items() if isinstance(node, Mapping) else enumerate(node)
        for key, value in items:
            child = P.join(path, key)
            section, field = owner(child, value)
            if field is not None:
                compare_field(section, field, value, child, found)
            elif (section is not None or leads_to_section(child)) and isinstance(value, (Mapping, list)):
                visit(value, child, section)
            elif cls is not None and key in {f.name for f in dataclasses.fields(cls)}:
                compare_field(cls, key, value, child, found)
            else:
                for k, v in leaves(value, child):
                    found[k] = f"{k}: params.yaml {v!r}, no dataclass field (map it in SECTIONS or allow it in ALLOWED)"

    visit(params, "", None)
    return {k: m for k, m in found.items() if not any(matches(k, p) for p in allowed)}


def test_params_yaml_shows_the_code_defaults():
    params = P.load(ROOT / "params.yaml")
    found = disagreements(params)
    assert not found, "params.yaml and the dataclass defaults disagree:\n" + "\n".join(found.values())
    everything = disagreements(params, allowed={})
    unused = [p for p in ALLOWED if not any(matches(k, p) for k in everything)]
    assert not unused, f"ALLOWED entries that allow nothing any more: {unused}"


def test_a_changed_value_is_reported_by_its_key(tmp_path):
    """The same check on a copy where `dvc exp run -S` changed one value names exactly that key."""
    from dvc.utils.hydra import apply_overrides

    for override, expected in [("dedup.colour=0.5", ["dedup.colour"]),
                               ("train.channels.64=16", ["train.channels.64"]),
                               ("scrape.sources.0.n=2400", ["scrape.sources.0.n"]),
                               ("train.augment=[color,cutout]", ["train.augment"]),
                               ("train.size=128", ["train.size"]),
                               ("+dedup.colur=0.5", ["dedup.colur"]),
                               ("res.64.lr=0.001", [])]:
        target = tmp_path / "params.yaml"
        shutil.copy(ROOT / "params.yaml", target)
        apply_overrides(target, [override])
        assert list(disagreements(P.load(target))) == expected, override
