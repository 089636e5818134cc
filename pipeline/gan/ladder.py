"""The resolution ladder: ``base`` trains from scratch, each ``grow`` entry {size: from} adds a block.

Every rung is its own DVC stage, whatever the top; ``train.size`` picks how far up
the ladder a run trains. DVC's ``foreach`` iterates a fixed list, so rungs above
the top stay as stages that prepare gives no images and that record themselves
``idle`` in a second, instead of vanishing.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from pipeline.params import ParamError, check_keys, convert, resolution

# The rungs that exist: 16 px from scratch, grown by doubling to 256 px ('+ladder.grow.512=256' adds one).
GROW = {32: 16, 64: 32, 128: 64, 256: 128}
TOP = 64   # train.size: what 2 CPU cores train in about 8 minutes
IDLE = "idle.json"   # the one file in models/<size>/, dvclive/<size>/ and plots/<size>/ of a rung above the top


@dataclass(frozen=True)
class Ladder:
    base: int = 16
    grow: dict[int, int] = field(default_factory=lambda: dict(GROW))
    top: int = TOP   # train.size

    @classmethod
    def from_params(cls, ladder: Mapping, size=None) -> "Ladder":
        """From params.yaml's ``ladder`` section and ``train.size`` (``size``, None: the default top).

        Errors name the key (``ladder.grow.128``, ``train.size`` ...).
        """
        check_keys(ladder, ("base", "grow"), "ladder")
        base = resolution(convert(ladder.get("base", cls.base), int, "ladder.base"), "ladder.base")
        grow_raw = ladder.get("grow") if "grow" in ladder else GROW
        if not isinstance(grow_raw or {}, Mapping):
            raise ParamError("ladder.grow", "expected a mapping {size: from_size}, e.g. {'64': 32}")
        grow = {}
        for k, v in (grow_raw or {}).items():
            size_k, frm = resolution(k, f"ladder.grow.{k}"), resolution(v, f"ladder.grow.{k}")
            if size_k != 2 * frm:
                raise ParamError(f"ladder.grow.{k}", f"{size_k} must be twice the resolution it grows from ({frm})")
            grow[size_k] = frm
        sizes = cls(base, grow).sizes   # checks that it chains
        if size is None:   # train.size not set: the default, or the ladder's top if it is shorter
            return cls(base, grow, TOP if TOP in sizes else sizes[-1])
        top = resolution(convert(size, int, "train.size"), "train.size")
        if top not in sizes:
            raise ParamError("train.size", f"{top} px is not on the ladder ({', '.join(map(str, sizes))}); "
                             f"add a rung with -S '+ladder.grow.{2 * sizes[-1]}={sizes[-1]}'" if top > sizes[-1]
                             else f"{top} px is not on the ladder ({', '.join(map(str, sizes))})")
        return cls(base, grow, top)

    @classmethod
    def of(cls, params: Mapping) -> "Ladder":
        """The ladder of a whole params.yaml mapping: its ``ladder`` section and ``train.size``."""
        train = params.get("train") or {}
        return cls.from_params(params.get("ladder") or {}, train.get("size") if isinstance(train, Mapping) else None)

    @property
    def order(self) -> list[tuple[int, int | None]]:
        """(size, from_size) in training order, base first (from_size None)."""
        order: list[tuple[int, int | None]] = [(self.base, None)]
        pending = dict(self.grow)
        while pending:
            prev = order[-1][0]
            size = 2 * prev   # every grown size is twice its source, so at most one grows from prev
            if pending.get(size) != prev:
                bad = min(pending)
                raise ParamError(f"ladder.grow.{bad}",
                                 f"starts from {pending[bad]}, which is not trained "
                                 f"(ladder so far: {', '.join(str(s) for s, _ in order)})")
            order.append((size, prev))
            del pending[size]
        return order

    @property
    def sizes(self) -> list[int]:
        """Every rung, in ladder order (each is a DVC stage, trained or idle)."""
        return [s for s, _ in self.order]

    @property
    def trained(self) -> list[int]:
        """The rungs this run trains: the base up to ``top`` (train.size)."""
        return [s for s in self.sizes if s <= self.top]

    def source(self, size: int) -> int | None:
        """The resolution ``size`` grows from (None for the base); ParamError when not on the ladder."""
        order = dict(self.order)
        if size not in order:
            raise ParamError("ladder", f"resolution {size} is not on the ladder ({', '.join(map(str, order))})")
        return order[size]
