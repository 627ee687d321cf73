#!/usr/bin/env bash
# Authorization on MCP traffic, seen by real TypeScript SDK clients (v1 and v2) that sign in
# through Portcullis's OAuth as a person (oauth_user.mjs, headless) whose roles are granted with
# `portcullis admin role grant`:
#   - `everything` (server-everything): a custom role allows tools/list, echo and toggle-*; the
#     client lists exactly those, calls echo, and calling get-sum fails as for a tool that does
#     not exist, without the server being called (a logging proxy in front of it says so);
#   - `scoped` (the same server): every capability granted, but `scope_permissions` let a
#     files:read token list and call echo only; the client signs in for files:read, calls
#     get-sum, gets 403 insufficient_scope, re-authorizes for files:read files:write (the person
#     allows it again) and the call succeeds.
# See tests/peers/README.md.
#
#   tests/peers/authz_clients.sh     # last line "N passed, M failed"
#
# Environment: PORTCULLIS_BIN (skip the cargo build), PEERS_OUT (results; default .peers/results).
set -euo pipefail
# shellcheck source=tests/peers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

out=$PEERS_OUT/authz-clients
rm -rf "$out"
mkdir -p "$out"

peers_install_node
bin=$(peers_portcullis_bin)

# server-everything, behind a proxy that logs every request (one JSON line each) by path: each
# Portcullis upstream has its own.
everything_port=$(peers_free_port)
peers_start_everything_http "$everything_port" "$out/server-everything.log"
proxy_port=$(peers_free_port)
upstream_log=$out/upstream-requests.jsonl
: >"$upstream_log"
peers_start "logging proxy (:$proxy_port)" "$out/logging-proxy.log" \
  "$NODE22" "$PEERS_DIR/logging_proxy.mjs" --port "$proxy_port" \
  --target "http://127.0.0.1:$everything_port/mcp" --log "$upstream_log"
peers_wait_http "http://127.0.0.1:$proxy_port/probe" "$PEERS_LAST_PID" "$out/logging-proxy.log" 30 ||
  peers_die "the logging proxy did not answer"
: >"$upstream_log"

export PEERS_OAUTH_EVERYTHING_URL=http://127.0.0.1:$proxy_port/everything/mcp
# Nobody gets a role by default: the person's rights are the grants made below.
export PEERS_OAUTH_DEFAULT_ROLES='[]'
export PEERS_OAUTH_EXTRA_CONFIG="
[[roles]]
name = \"echo-and-toggles\"
permissions = [\"mcp.tools.list\", \"mcp.tools.call:everything/echo\", \"mcp.tools.call:everything/toggle-*\"]
description = \"Lists tools; calls echo and the toggles\"

[[upstreams]]
name = \"scoped\"
url = \"http://127.0.0.1:$proxy_port/scoped/mcp\"
auth = \"oauth\"
scopes = [\"files:read\", \"files:write\"]
scope_permissions = { \"files:read\" = \"mcp.tools.list mcp.tools.call:scoped/echo\", \"files:write\" = \"mcp.*\" }
"
peers_start_oauth_portcullis "$bin" "$out"
scoped_url=$PEERS_GATEWAY/servers/scoped/mcp

admin() { "$bin" admin --config "$out/portcullis.toml" "$@"; }
{
  admin role grant --user "$PEERS_OAUTH_USERNAME" --role echo-and-toggles --server everything
  admin role grant --user "$PEERS_OAUTH_USERNAME" --role developer --server scoped
  admin role grants
} >>"$out/admin.log" 2>&1 || { cat "$out/admin.log" >&2; peers_die "portcullis admin role grant failed"; }
# Grants are in force within a second (the policy is rebuilt when the store's version moves).
sleep 1.5

for sdk in v1 v2; do
  peers_run_cases everything "ts-$sdk-filter" "$out/ts-$sdk-filter.log" \
    "$NODE22" "$PEERS_DIR/ts-authz-client.mjs" --sdk "$sdk" --case filter \
    --direct "http://127.0.0.1:$everything_port/mcp" --allowed 'echo,toggle-*' --forbidden get-sum "$PEERS_MCP_URL"
  peers_run_cases scoped "ts-$sdk-step-up" "$out/ts-$sdk-step-up.log" \
    "$NODE22" "$PEERS_DIR/ts-authz-client.mjs" --sdk "$sdk" --case step-up \
    --narrow files:read --broad 'files:read files:write' "$scoped_url"
done

# What reached server-everything, by upstream: the permitted calls did, the forbidden one never,
# and the call refused for its scope only after the step-up.
calls() { # PATH TOOL: how many tools/call of TOOL reached the server through PATH
  python3 - "$upstream_log" "$1" "$2" <<'EOF'
import json, sys
log, path, tool = sys.argv[1:]
n = 0
for line in open(log, encoding="utf-8"):
    r = json.loads(line)
    if r["path"] == path:
        n += sum(1 for m in r["rpc"] if m.get("method") == "tools/call" and m.get("name") == tool)
print(n)
EOF
}
n=$(calls /everything/mcp echo)
status=1; ((n == 4)) && status=0
peers_case upstream "$status" "the permitted echo calls reached server-everything (4 expected, $n seen)"
n=$(calls /everything/mcp get-sum)
status=1; ((n == 0)) && status=0
peers_case upstream "$status" "the forbidden get-sum never reached server-everything ($n calls seen)"
n=$(calls /scoped/mcp get-sum)
status=1; ((n == 4)) && status=0
peers_case upstream "$status" "get-sum reached server-everything through scoped only after the step-up (4 expected, $n seen)"
# Portcullis logged each refusal: get-sum on everything as forbidden (twice per client), on scoped
# as a step-up.
refusals() { # UPSTREAM STEP_UP: refusals of get-sum logged for UPSTREAM with step_up=STEP_UP
  sed 's/\x1b\[[0-9;]*m//g' "$out/portcullis.log" |
    grep 'MCP request refused by the authorization policy' |
    grep -c "upstream=$1 .*name=\"get-sum\" step_up=$2" || true
}
n=$(refusals everything false)
status=1; ((n == 4)) && status=0
peers_case portcullis "$status" "portcullis.log records each refusal of get-sum on everything (4 expected, $n seen)"
n=$(refusals scoped true)
status=1; ((n >= 2)) && status=0
peers_case portcullis "$status" "portcullis.log records the step-up refusals of get-sum on scoped (at least 2 expected, $n seen)"

peers_stop_all
peers_log "logs in $out (one per client; portcullis.log, upstream-requests.jsonl)"
peers_summary "$out/summary.txt"
