"""The resolution ladder: ``base`` trains from scratch, each ``grow`` entry {size: from} adds a block."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from pipeline.params import ParamError, check_keys, convert, resolution


@dataclass(frozen=True)
class Ladder:
    base: int = 16
    grow: dict[int, int] = field(default_factory=dict)

    @classmethod
    def from_params(cls, ladder: Mapping) -> "Ladder":
        """From params.yaml's ``ladder`` section; errors name the key (``ladder.grow.128`` ...)."""
        check_keys(ladder, ("base", "grow"), "ladder")
        base = resolution(convert(ladder.get("base", cls.base), int, "ladder.base"), "ladder.base")
        grow_raw = ladder.get("grow") or {}
        if not isinstance(grow_raw, Mapping):
            raise ParamError("ladder.grow", "expected a mapping {size: from_size}, e.g. {'64': 32}")
        grow = {}
        for k, v in grow_raw.items():
            size, frm = resolution(k, f"ladder.grow.{k}"), resolution(v, f"ladder.grow.{k}")
            if size != 2 * frm:
                raise ParamError(f"ladder.grow.{k}", f"{size} must be twice the resolution it grows from ({frm})")
            grow[size] = frm
        ladder = cls(base, grow)
        ladder.order   # checks that it chains
        return ladder

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
        """Every training resolution, in ladder order."""
        return [s for s, _ in self.order]

    def source(self, size: int) -> int | None:
        """The resolution ``size`` grows from (None for the base); ParamError when not on the ladder."""
        order = dict(self.order)
        if size not in order:
            raise ParamError("ladder", f"resolution {size} is not on the ladder ({', '.join(map(str, order))})")
        return order[size]
