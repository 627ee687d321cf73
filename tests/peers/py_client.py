"""A real Python SDK client (PyPI `mcp`) against one MCP endpoint: connect, list tools, call tools,
and check the answers server-everything gives. One line per case, `ok LABEL: CASE` or
`FAIL LABEL: CASE: why`; exit status 1 when any case failed.

    .venv/bin/python tests/peers/py_client.py [--mode auto|legacy] URL

`auto` (the SDK's default) probes `server/discover` and falls back to the 2025 `initialize`
handshake; `legacy` goes straight to the handshake.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from cases import Cases, text_of
from mcp import Client, MCPError

TIMEOUT_S = 15


CASES = [
    "tools/list has echo and get-sum",
    "tools/call echo",
    "tools/call get-sum",
    "tools/call with progress notifications",
    "tools/call of an unknown tool is an error",
]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["auto", "legacy"], default="auto")
    parser.add_argument("url")
    args = parser.parse_args()
    label = f"py-{args.mode}"

    async def list_tools(client: Client) -> None:
        tools = (await client.list_tools()).tools
        names = [tool.name for tool in tools]
        assert "echo" in names and "get-sum" in names, f"tools were {names}"
        echo = next(tool for tool in tools if tool.name == "echo")
        assert "message" in (echo.input_schema.get("properties") or {}), f"echo schema: {echo.input_schema}"

    async def call_echo(client: Client) -> None:
        message = f"hello from {label} \u2713"
        result = await client.call_tool("echo", {"message": message})
        assert not result.is_error, f"is_error: {result}"
        assert text_of(result) == f"Echo: {message}", f"got {result.content}"

    async def call_sum(client: Client) -> None:
        result = await client.call_tool("get-sum", {"a": 2, "b": 40})
        assert not result.is_error and "42" in text_of(result), f"got {result}"

    async def call_progress(client: Client) -> None:
        # server-everything sends notifications/progress (related to the call) when a progress token
        # is given; through a relay they must arrive before the result, on the call's own stream.
        seen: list[str] = []

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            seen.append(f"{progress:g}/{total:g}" if total is not None else f"{progress:g}")

        result = await client.call_tool(
            "trigger-long-running-operation", {"duration": 0.3, "steps": 3}, progress_callback=on_progress
        )
        assert not result.is_error and "completed" in text_of(result), f"got {result}"
        assert seen == ["1/3", "2/3", "3/3"], f"progress notifications were {seen}"

    async def call_unknown(client: Client) -> None:
        try:
            result = await client.call_tool("no-such-tool", {})
        except MCPError:
            return
        assert result.is_error, f"expected an error, got {result}"

    cases = Cases(label)
    bodies = [list_tools, call_echo, call_sum, call_progress, call_unknown]
    connection = Client(args.url, mode=args.mode, read_timeout_seconds=TIMEOUT_S, cache=None)
    await cases.run(connection, "connect", list(zip(CASES, bodies, strict=True)), TIMEOUT_S)
    return cases.status()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
