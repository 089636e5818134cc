"""Read params.yaml and turn one section into the dataclass a stage runs on.

Library code: it knows the file's shape, not the stages. A stage calls
``load()`` once, then builds its own section's dataclass with ``build`` (or a
``from_params`` beside that dataclass, which uses ``read``). Defaults live
once, in the dataclass fields; bounds and choices in their ``knob`` metadata.
Every error names the dotted key; an unknown key suggests the nearest known
one. Reading never writes into the dict it reads.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import os
import types
import typing
from pathlib import Path
from typing import Any, Mapping

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

PARAMS_FILE = Path(os.environ.get("WALLGAN_PARAMS", "params.yaml"))
SECTIONS = ("scrape", "dedup", "prepare", "ladder", "train", "res", "evaluate", "upscale")


class ParamError(ValueError):
    """A bad value in params.yaml; the message starts with the dotted key."""

    def __init__(self, key: str, message: str):
        super().__init__(f"params.yaml: {key}: {message}")
        self.key = key


def run_stage(main: typing.Callable, *args: Any) -> Any:
    """Run a stage's ``main``; a ParamError ends it with its one-line message, not a traceback."""
    try:
        return main(*args)
    except ParamError as e:
        raise SystemExit(str(e)) from None


def load(path: Path | str = PARAMS_FILE) -> dict[str, Any]:
    """The whole file as read: a mapping of known sections (unknown ones are errors)."""
    path = Path(path)
    if not path.is_file():
        raise ParamError("<file>", f"{path} not found (run stages from the repository root)")
    # YAML 1.2, as DVC writes it: `dvc exp run -S lr=1e-05` writes 1e-05, which YAML 1.1 reads as a string.
    try:
        raw = YAML(typ="safe", pure=True).load(path) or {}
    except YAMLError as e:
        raise ParamError("<file>", f"not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ParamError("<top>", "expected a mapping of sections")
    check_keys(raw, SECTIONS, "")
    return raw


def section(params: Mapping, name: str) -> Mapping:
    """``params[name]`` as a mapping (a missing section is empty: every key has a default)."""
    value = params.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ParamError(name, f"expected a mapping, got {type(value).__name__}")
    return value


# ---------------------------------------------------------------- keys and values

def knob(default: Any = dataclasses.MISSING, *, minimum: float | None = None, maximum: float | None = None,
         below: float | None = None, choices: tuple | None = None, missing: str = "", **kwargs) -> Any:
    """A dataclass field that is a params key: its default and its checks, in one place.

    With no default the key is required; ``missing`` says what to write there.
    """
    meta = {"minimum": minimum, "maximum": maximum, "below": below, "choices": choices, "missing": missing}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: copy.deepcopy(default), metadata=meta, **kwargs)
    return dataclasses.field(default=default, metadata=meta, **kwargs)


def check_keys(mapping: Mapping, known: typing.Iterable[str], prefix: str) -> None:
    """Raise ParamError on the first key of ``mapping`` not in ``known``, with the nearest known one."""
    known = list(known)
    for key in mapping:
        if key in known:
            continue
        near = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
        hint = f"did you mean `{near[0]}`?" if near else f"known keys: {', '.join(known) or 'none'}"
        raise ParamError(join(prefix, key), f"unknown key; {hint}")


def join(prefix: str, key: Any) -> str:
    return f"{prefix}.{key}" if prefix else str(key)


def read(cls: type, mapping: Mapping, prefix: str, keys: typing.Iterable[str] | None = None) -> dict[str, Any]:
    """The values of ``mapping`` for the fields of dataclass ``cls``, converted and checked.

    ``keys`` limits which fields are params keys here (default: every field).
    Missing keys are left out, so the dataclass default applies.
    """
    if not isinstance(mapping, Mapping):
        raise ParamError(prefix, f"expected a mapping, got {mapping!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    keys = list(fields) if keys is None else list(keys)
    check_keys(mapping, keys, prefix)
    hints = typing.get_type_hints(cls)
    out = {}
    for key in keys:
        if key in mapping and mapping[key] is not None:
            out[key] = convert(mapping[key], hints[key], join(prefix, key), fields[key].metadata)
    return out


def build(cls: type, mapping: Mapping, prefix: str, **fixed: Any):
    """``cls(**read(...), **fixed)``: a dataclass from its params section; a required key missing is an error."""
    values = read(cls, mapping, prefix)
    for f in dataclasses.fields(cls):
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and f.init and f.name not in values and f.name not in fixed:
            hint = f.metadata.get("missing")
            raise ParamError(join(prefix, f.name), f"missing: {hint}" if hint else "missing")
    return cls(**values, **fixed)


def convert(value: Any, kind: Any, name: str, checks: Mapping | None = None) -> Any:
    """``value`` as type ``kind`` (int, float, bool, str, Path, tuple[str, ...], dict[int, int] ...)."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        kinds = [a for a in args if a is not type(None)]
        if len(kinds) == 1:
            return convert(value, kinds[0], name, checks)
        for k in kinds:   # e.g. str | list[str]: the first that fits
            try:
                return convert(value, k, name, checks)
            except ParamError:
                pass
        raise ParamError(name, f"expected {' or '.join(_name(k) for k in kinds)}, got {value!r}")
    if origin in (tuple, list):
        if isinstance(value, str):   # a single item may be written without brackets
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ParamError(name, f"expected a list, got {value!r}")
        items = [convert(v, args[0], f"{name}[{i}]", checks) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ParamError(name, f"expected a mapping, got {value!r}")
        return {_key(k, args[0], join(name, k)): convert(v, args[1], join(name, k), checks)
                for k, v in value.items()}
    value = _scalar(value, kind, name)
    checks = checks or {}
    if checks.get("minimum") is not None and value < checks["minimum"]:
        raise ParamError(name, f"must be >= {checks['minimum']}, got {value!r}")
    if checks.get("maximum") is not None and value > checks["maximum"]:
        raise ParamError(name, f"must be <= {checks['maximum']}, got {value!r}")
    if checks.get("below") is not None and value >= checks["below"]:
        raise ParamError(name, f"must be < {checks['below']}, got {value!r}")
    if checks.get("choices") and value not in checks["choices"]:
        raise ParamError(name, f"must be one of {', '.join(map(str, checks['choices']))}; got {value!r}")
    return value


def _scalar(value: Any, kind: type, name: str) -> Any:
    if kind is Path:
        if not isinstance(value, str) or not value.strip():
            raise ParamError(name, f"expected a path, got {value!r}")
        return Path(expand_path(value.strip()))
    if isinstance(value, bool) and kind is not bool:
        raise ParamError(name, f"expected {_name(kind)}, got a boolean")
    if kind is float and isinstance(value, int):
        return float(value)
    if kind is float and isinstance(value, float) and not math.isfinite(value):
        raise ParamError(name, f"expected a finite number, got {value!r}")
    if kind is str and isinstance(value, (int, float)):
        raise ParamError(name, f"expected a string, got {value!r}")
    if not isinstance(value, kind):
        raise ParamError(name, f"expected {_name(kind)}, got {value!r}")
    return value


def expand_path(text: str) -> str:
    """A path as written in params.yaml, with ``~`` and ``$VARS`` expanded."""
    return os.path.expandvars(os.path.expanduser(text))


def _key(key: Any, kind: type, name: str) -> Any:
    """A mapping key; integer keys are quoted in params.yaml (so -S finds them) and arrive as strings."""
    if kind is int and isinstance(key, str) and key.strip().isdigit():
        return int(key)
    return convert(key, kind, name)


def _name(kind: Any) -> str:
    return getattr(kind, "__name__", str(kind))


# ---------------------------------------------------------------- resolutions

def is_power_of_two(n: int) -> bool:
    return n >= 4 and n & (n - 1) == 0


def resolution(key: Any, name: str) -> int:
    """A resolution key (quoted in params.yaml, so ``dvc exp run -S res.64.lr=...`` finds it)."""
    try:
        size = int(key)
    except (TypeError, ValueError):
        raise ParamError(name, f"{key!r} is not a resolution") from None
    if isinstance(key, bool) or (isinstance(key, float) and not key.is_integer()) or not is_power_of_two(size):
        raise ParamError(name, f"resolution {key!r} is not a power of two >= 4")
    return size
