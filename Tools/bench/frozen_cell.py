"""A cell whose physics never moves, for Tools/bench-link: a STEP then costs the protocol and the twin's
server loop only (decode, validate, encode, ZeroMQ), not MuJoCo. The observation is computed once after each
reset and served again for every step."""

from __future__ import annotations

from typing import Any

from edgecell_twin.cell import Cell


class FrozenCell(Cell):
    """`Cell` with `step` a no-op and `observe` cached."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cached: Any = None

    def reset(self, task: str, seed: int) -> None:
        super().reset(task, seed)
        self._cached = None

    def step(self) -> None:
        pass

    def observe(self, render: bool = True) -> Any:
        if self._cached is None or render:
            self._cached = super().observe(render=render)
        return self._cached
