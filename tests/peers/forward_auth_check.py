"""The checks of forward_auth.sh: MCP requests through nginx, which asks Portcullis's
/forward-auth before proxying to header_upstream.py. Prints one `ok NAME` or `FAIL NAME: why`
line per check.

    python3 forward_auth_check.py NGINX_BASE_URL API_KEY PORTCULLIS_PUBLIC_URL
"""

import json
import sys
import urllib.error
import urllib.request

BASE, KEY, PUBLIC = sys.argv[1], sys.argv[2], sys.argv[3]
failures = 0


def check(name, condition, why=""):
    global failures
    if condition:
        print(f"ok {name}")
    else:
        failures += 1
        print(f"FAIL {name}: {why}")


def post(path, message, headers=None):
    request = urllib.request.Request(
        BASE + path,
        data=json.dumps(message).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-11-25",
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "forward-auth-check", "version": "0"}}}
CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
BEARER = {"Authorization": f"Bearer {KEY}"}
METADATA = f'resource_metadata="{PUBLIC}/.well-known/oauth-protected-resource/servers/files/mcp"'

for location in ["/servers/files/mcp", "/by-name/files/mcp"]:
    status, headers, _ = post(location, INIT)
    challenge = headers.get("WWW-Authenticate", "")
    check(f"{location}: no credential is 401", status == 401, f"status {status}")
    check(f"{location}: the 401 carries the challenge", METADATA in challenge and "error=" not in challenge,
          f"WWW-Authenticate: {challenge!r}")

    status, headers, _ = post(location, INIT, {"Authorization": "Bearer pcl_not_a_real_key"})
    challenge = headers.get("WWW-Authenticate", "")
    check(f"{location}: a bad key is 401 invalid_token", status == 401 and 'error="invalid_token"' in challenge,
          f"status {status}, WWW-Authenticate: {challenge!r}")

    status, headers, _ = post(location, INIT, BEARER)
    session = headers.get("Mcp-Session-Id")
    check(f"{location}: a good key initializes", status == 200 and session, f"status {status}")

    forged = {**BEARER, "Mcp-Session-Id": session or "", "X-Portcullis-User": "admin",
              "x-portcullis-tenant": "forged"}
    status, _, body = post(location, CALL, forged)
    seen = json.loads(body or b"{}").get("result", {}).get("headers", {}) if status == 200 else {}
    check(f"{location}: the call reaches the upstream", status == 200, f"status {status}")
    check(f"{location}: the upstream sees the verified subject",
          seen.get("x-portcullis-user") == "service:nginx-test", f"x-portcullis-user: {seen.get('x-portcullis-user')!r}")
    check(f"{location}: forged identity headers do not reach the upstream",
          "forged" not in json.dumps(seen) and seen.get("x-portcullis-user") != "admin", json.dumps(seen))
    check(f"{location}: the client's key does not reach the upstream",
          KEY not in json.dumps(seen) and "authorization" not in seen, json.dumps(seen))

status, _, _ = post("/servers/nothing/mcp", INIT, BEARER)
check("a path that names no MCP server is refused with 403", status == 403, f"status {status}")
status, _, _ = post("/servers/files/mcp?access_token=" + KEY, INIT)
check("a token in the query string is refused", status == 401, f"status {status}")

print(f"{failures} failed")
sys.exit(1 if failures else 0)
