"""The report of the Python client scripts: one line per case, `ok LABEL: CASE` or
`FAIL LABEL: CASE: why`, which the suites count (lib.sh, peers_run_cases).

    cases = Cases("py-auto")
    await cases.run(connection, "connect", [("tools/list ...", list_tools), ...], timeout_s)
    sys.exit(cases.status())
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import anyio


def describe(err: BaseException) -> str:
    if isinstance(err, BaseExceptionGroup):
        return "; ".join(describe(inner) for inner in err.exceptions)
    return " ".join(f"{type(err).__name__}: {err}".split())[:500]


def text_of(result: Any) -> str:
    return "".join(block.text for block in result.content if getattr(block, "type", None) == "text")


class Cases:
    def __init__(self, label: str) -> None:
        self.label = label
        self.failed = 0

    def report(self, name: str, err: BaseException | str | None) -> None:
        if err is None:
            print(f"ok {self.label}: {name}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL {self.label}: {name}: {err if isinstance(err, str) else describe(err)}", flush=True)

    async def run(
        self,
        connection: AbstractAsyncContextManager[Any],
        connect_case: str,
        cases: Sequence[tuple[str, Callable[[Any], Awaitable[None]]]],
        timeout_s: float,
    ) -> None:
        """Opens `connection` (reported as `connect_case`), runs each case with the client it
        gives, each within `timeout_s`, and reports the close; when the connection cannot be
        opened, every case is reported as not run."""
        connected = False
        try:
            async with connection as client:
                connected = True
                self.report(connect_case, None)
                for name, body in cases:
                    try:
                        with anyio.fail_after(timeout_s):
                            await body(client)
                        self.report(name, None)
                    except Exception as err:  # noqa: BLE001 - every failure is a failed case
                        self.report(name, err)
            self.report("close", None)
        except Exception as err:  # noqa: BLE001
            if connected:
                self.report("close", err)
            else:
                self.report(connect_case, err)
                for name in [name for name, _ in cases] + ["close"]:
                    self.report(name, "not run, no connection")

    def status(self) -> int:
        return 1 if self.failed else 0
