"""Load and validate params.yaml once; every error names the offending key.

Stage modules call ``load()`` and read their own section. Validation happens
here, before any work, so a typo stops the stage in a second rather than after
ten minutes of training.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

PARAMS_FILE = Path(os.environ.get("WALLGAN_PARAMS", "params.yaml"))


class ParamError(ValueError):
    """A bad value in params.yaml; the message starts with the dotted key."""

    def __init__(self, key: str, message: str):
        super().__init__(f"params.yaml: {key}: {message}")
        self.key = key


def load(path: Path | str = PARAMS_FILE) -> dict[str, Any]:
    """Read params.yaml, validate every section and return it (with defaults filled)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} not found (run stages from the repository root)")
    with open(path) as f:
        raw = yaml.safe_load(f) or {}
    if not isinstance(raw, dict):
        raise ParamError("<top>", "expected a mapping of sections")
    return validate(raw)


def validate(raw: dict[str, Any]) -> dict[str, Any]:
    params = dict(raw)
    for section in ("scrape", "dedup", "prepare", "ladder", "train", "res", "evaluate"):
        value = params.get(section, {})
        if not isinstance(value, dict):
            raise ParamError(section, f"expected a mapping, got {type(value).__name__}")
        params[section] = dict(value)
    _validate_scrape(params["scrape"])
    _validate_ladder(params["ladder"])
    return params


# ---------------------------------------------------------------- helpers

def get(section: dict, key: str, prefix: str, kind: type | tuple, default: Any = ..., *,
        minimum: float | None = None, choices: tuple | None = None) -> Any:
    """Return section[key] checked against ``kind``; ``default`` fills a missing key."""
    name = f"{prefix}.{key}"
    if key not in section or section[key] is None:
        if default is ...:
            raise ParamError(name, "missing")
        section[key] = default
        return default
    value = section[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) and bool not in kinds:
        raise ParamError(name, f"expected {_names(kinds)}, got a boolean")
    if not isinstance(value, kinds):
        raise ParamError(name, f"expected {_names(kinds)}, got {value!r}")
    if minimum is not None and value < minimum:
        raise ParamError(name, f"must be >= {minimum}, got {value!r}")
    if choices is not None and value not in choices:
        raise ParamError(name, f"must be one of {', '.join(map(str, choices))}; got {value!r}")
    section[key] = value
    return value


def _names(kinds: tuple) -> str:
    return " or ".join(k.__name__ for k in kinds)


def is_power_of_two(n: int) -> bool:
    return n >= 4 and n & (n - 1) == 0


def int_key(key: Any, name: str) -> int:
    """Resolution keys arrive as ints or (after ``dvc exp run -S``) as strings."""
    try:
        size = int(key)
    except (TypeError, ValueError):
        raise ParamError(name, f"{key!r} is not a resolution") from None
    if not is_power_of_two(size):
        raise ParamError(name, f"resolution {size} is not a power of two >= 4")
    return size


def per_resolution(value: Any, name: str, sizes: list[int], kind: type) -> dict[int, Any]:
    """A scalar applies to every resolution; a mapping must cover each one used."""
    if not isinstance(value, dict):
        return {s: kind(value) for s in sizes}
    table = {int_key(k, f"{name}.{k}"): v for k, v in value.items()}
    for s in sizes:
        if s not in table:
            raise ParamError(f"{name}.{s}", f"missing (needed for resolution {s})")
    return {s: kind(table[s]) for s in table}


# ---------------------------------------------------------------- sections

def _validate_scrape(scrape: dict) -> None:
    from pipeline.sources import KINDS, validate_settings

    sources = scrape.get("sources")
    if not isinstance(sources, list) or not sources:
        raise ParamError("scrape.sources", "expected a non-empty list of sources")
    for i, spec in enumerate(sources):
        name = f"scrape.sources[{i}]"
        if not isinstance(spec, dict):
            raise ParamError(name, "expected a mapping with a 'kind'")
        kind = spec.get("kind")
        if kind not in KINDS:
            raise ParamError(f"{name}.kind", f"unknown source kind {kind!r} (known: {', '.join(sorted(KINDS))})")
        KINDS[kind].validate(spec, name)
    get(scrape, "min_side", "scrape", int, 32, minimum=1)
    validate_settings(scrape)


def _chain(base: int, grow: dict[int, int]) -> list[tuple[int, int | None]]:
    """The resolution ladder as (size, from_size) in training order; base first."""
    order = [(base, None)]
    pending = dict(grow)
    while pending:
        prev = order[-1][0]
        # every grown size is twice its source (checked below), so at most one grows from prev
        size = 2 * prev
        if pending.get(size) != prev:
            bad = min(pending)
            raise ParamError(f"ladder.grow.{bad}",
                             f"starts from {pending[bad]}, which is not trained "
                             f"(ladder so far: {', '.join(str(s) for s, _ in order)})")
        order.append((size, prev))
        del pending[size]
    return order


def _validate_ladder(ladder: dict) -> None:
    base = get(ladder, "base", "ladder", int)
    int_key(base, "ladder.base")
    grow_raw = ladder.get("grow") or {}
    if not isinstance(grow_raw, dict):
        raise ParamError("ladder.grow", "expected a mapping {size: from_size}, e.g. {64: 32}")
    grow = {}
    for k, v in grow_raw.items():
        size = int_key(k, f"ladder.grow.{k}")
        frm = int_key(v, f"ladder.grow.{k}")
        if size != 2 * frm:
            raise ParamError(f"ladder.grow.{k}", f"{size} must be twice the resolution it grows from ({frm})")
        grow[size] = frm
    ladder["grow"] = grow
    ladder["order"] = _chain(base, grow)


def sizes(params: dict) -> list[int]:
    """Every training resolution, in ladder order."""
    return [s for s, _ in params["ladder"]["order"]]
