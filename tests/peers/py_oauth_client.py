"""A real Python SDK client (PyPI `mcp`) signing in to an MCP server behind Portcullis's OAuth: the
SDK's `OAuthClientProvider` (discovery from the 401, client ID metadata document or dynamic
registration, PKCE, resource, state and `iss` checks, code exchange, refresh), with a headless
person at the consent page (oauth_user.mjs, run as the "browser"), then tools listed and called
with the token. One line per case, `ok LABEL: CASE` or `FAIL LABEL: CASE: why`; exit status 1
when any case failed.

    PEERS_OAUTH_USERNAME=u PEERS_OAUTH_PASSWORD=p .venv/bin/python tests/peers/py_oauth_client.py \\
        --node NODE [--cimd https://.../clients/NAME.json] URL

Without --cimd the client registers itself (RFC 7591).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
from cases import Cases, text_of
from mcp import Client
from mcp.client.auth import OAuthClientProvider, TokenStorage
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

TIMEOUT_S = 20
HERE = Path(__file__).resolve().parent


class MemoryStorage(TokenStorage):
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


class HeadlessBrowser:
    """The SDK's redirect and callback handlers: the authorization URL goes to oauth_user.mjs (a
    person who signs in and clicks Allow), and its redirect back is what the callback returns."""

    def __init__(self, node: str) -> None:
        self.node = node
        self.authorizations: list[dict] = []
        self.location: str | None = None

    async def redirect_handler(self, url: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            self.node,
            str(HERE / "oauth_user.mjs"),
            url,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT_S)
        if proc.returncode != 0:
            raise RuntimeError(f"the person could not authorize: {err.decode().strip()}")
        consent = None
        for line in err.decode().splitlines():
            if line.startswith("oauth_user: consent page: "):
                consent = json.loads(line.removeprefix("oauth_user: consent page: "))
        self.authorizations.append({"request": url, "consent": consent})
        self.location = out.decode().strip()

    async def callback_handler(self) -> AuthorizationCodeResult:
        assert self.location, "no redirect came back"
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.location).query).items()}
        self.location = None
        if "error" in query:
            raise RuntimeError(f"the authorization ended with {query['error']}: {query.get('error_description')}")
        return AuthorizationCodeResult(code=query["code"], state=query.get("state"), iss=query.get("iss"))


def jwt_claims(token: str) -> dict:
    parts = token.split(".")
    assert len(parts) == 3, "the access token is not a JWS compact serialization"
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--node", required=True, help="the Node binary that runs oauth_user.mjs")
    parser.add_argument("--cimd", help="the https URL of this client's metadata document")
    parser.add_argument("url")
    args = parser.parse_args()
    label = f"py-{'cimd' if args.cimd else 'dcr'}"
    issuer = f"{urlsplit(args.url).scheme}://{urlsplit(args.url).netloc}"
    assert os.environ.get("PEERS_OAUTH_USERNAME") and os.environ.get("PEERS_OAUTH_PASSWORD"), "no person to sign in"

    storage = MemoryStorage()
    browser = HeadlessBrowser(args.node)
    provider = OAuthClientProvider(
        server_url=args.url,
        client_metadata=OAuthClientMetadata(
            client_name=f"Portcullis peers {label}",
            redirect_uris=[f"http://127.0.0.1:{20000 + os.getpid() % 20000}/callback"],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=storage,
        redirect_handler=browser.redirect_handler,
        callback_handler=browser.callback_handler,
        client_metadata_url=args.cimd,
    )

    async def check_request(_client: Client) -> None:
        assert len(browser.authorizations) == 1, f"signed in {len(browser.authorizations)} times"
        query = {k: v[0] for k, v in parse_qs(urlsplit(browser.authorizations[0]["request"]).query).items()}
        assert query.get("code_challenge_method") == "S256" and query.get("code_challenge"), f"PKCE: {query}"
        assert query.get("resource") == args.url, f"resource={query.get('resource')}, expected {args.url}"

    async def check_client(_client: Client) -> None:
        client_id = storage.client_info.client_id if storage.client_info else None
        consent = browser.authorizations[0]["consent"] or {}
        if args.cimd:
            assert client_id == args.cimd, f"client_id {client_id}, expected {args.cimd}"
            name = urlsplit(args.cimd).path.removeprefix("/clients/").removesuffix(".json")
            assert consent.get("client") == f"Portcullis peers {name}", f"the consent page named {consent.get('client')}"
            assert consent.get("documentHost") == urlsplit(args.cimd).hostname, f"document host {consent}"
        else:
            assert client_id and not client_id.startswith("https://"), f"client_id {client_id}"
            assert consent.get("client") == f"Portcullis peers {label}", f"the consent page named {consent.get('client')}"

    async def check_token(_client: Client) -> None:
        tokens = storage.tokens
        assert tokens and tokens.token_type.lower() == "bearer", f"tokens {tokens}"
        assert tokens.refresh_token, "no refresh token"
        claims = jwt_claims(tokens.access_token)
        assert claims.get("iss") == issuer, f"iss {claims.get('iss')}"
        assert claims.get("aud") in (args.url, [args.url]), f"aud {claims.get('aud')}"
        assert claims.get("client_id") == storage.client_info.client_id, f"client_id {claims.get('client_id')}"

    async def list_tools(client: Client) -> None:
        names = [tool.name for tool in (await client.list_tools()).tools]
        assert "echo" in names and "get-sum" in names, f"tools were {names}"

    async def call_echo(client: Client) -> None:
        message = f"hello from {label} \u2713"
        result = await client.call_tool("echo", {"message": message})
        assert not result.is_error and text_of(result) == f"Echo: {message}", f"got {result}"

    async def call_sum(client: Client) -> None:
        result = await client.call_tool("get-sum", {"a": 2, "b": 40})
        assert not result.is_error and "42" in text_of(result), f"got {result}"

    async def refresh(client: Client) -> None:
        before = storage.tokens
        # The SDK refreshes before a request once it believes the access token has expired.
        provider.context.token_expiry_time = time.time() - 1
        result = await client.call_tool("get-sum", {"a": 1, "b": 1})
        assert not result.is_error and "2" in text_of(result), f"got {result}"
        after = storage.tokens
        assert after.access_token != before.access_token, "no new access token"
        assert after.refresh_token and after.refresh_token != before.refresh_token, "the refresh token did not rotate"
        assert len(browser.authorizations) == 1, "the person was asked to sign in again"

    checks = [
        ("the authorization request had PKCE S256 and this MCP server as resource", check_request),
        (
            "the client is known by its metadata document" if args.cimd else "the client registered itself (RFC 7591)",
            check_client,
        ),
        ("the access token is a JWT for this MCP server alone", check_token),
        ("tools/list has echo and get-sum", list_tools),
        ("tools/call echo", call_echo),
        ("tools/call get-sum", call_sum),
        ("an expired access token is refreshed without signing in again; the refresh token rotates", refresh),
    ]

    @asynccontextmanager
    async def connection() -> AsyncIterator[Client]:
        async with httpx2.AsyncClient(auth=provider, timeout=TIMEOUT_S) as http:
            transport = streamable_http_client(args.url, http_client=http)
            async with Client(transport, mode="legacy", read_timeout_seconds=TIMEOUT_S, cache=None) as client:
                yield client

    cases = Cases(label)
    await cases.run(connection(), "sign in, Allow, connect", checks, TIMEOUT_S)
    return cases.status()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
