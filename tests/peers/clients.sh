#!/usr/bin/env bash
# Real MCP client SDKs through Portcullis: the TypeScript SDK v1 (@modelcontextprotocol/sdk) and
# v2 (@modelcontextprotocol/client), and the Python SDK (PyPI mcp), each connect to
# /servers/everything/mcp (HTTP upstream) and /servers/everything-stdio/mcp (stdio upstream),
# list tools and call tools. See tests/peers/README.md.
#
#   tests/peers/clients.sh                # last line "N passed, M failed"
#   tests/peers/clients.sh --direct-only  # the same clients against server-everything itself
#
# Environment: PORTCULLIS_BIN (skip the cargo build), PEERS_OUT (results; default .peers/results).
set -euo pipefail
# shellcheck source=tests/peers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

direct_only=false
case ${1:-} in
  "") ;;
  --direct-only) direct_only=true ;;
  *) echo "usage: $0 [--direct-only]" >&2; exit 2 ;;
esac

out=$PEERS_OUT/clients
rm -rf "$out"
mkdir -p "$out"

peers_install_node
peers_install_python

# Each client variant: a label and the command that takes the endpoint URL as its last argument.
clients=(
  "ts-v1|$NODE22 $PEERS_DIR/ts-client.mjs --sdk v1"
  "ts-v2|$NODE22 $PEERS_DIR/ts-client.mjs --sdk v2"
  "ts-v2-auto|$NODE22 $PEERS_DIR/ts-client.mjs --sdk v2 --mode auto"
  "py-auto|$VENV/bin/python $PEERS_DIR/py_client.py --mode auto"
  "py-legacy|$VENV/bin/python $PEERS_DIR/py_client.py --mode legacy"
)

passed=0
failed=0
failures=()

# run_clients TARGET URL: every client variant against URL; tallies its `ok`/`FAIL` lines.
run_clients() {
  local target=$1 url=$2 entry name cmd log status ok bad
  for entry in "${clients[@]}"; do
    name=${entry%%|*}
    cmd=${entry#*|}
    log=$out/$target-$name.log
    status=0
    # Word splitting of $cmd is intended: the paths it holds have no spaces in this layout.
    # shellcheck disable=SC2086
    timeout 120 $cmd "$url" >"$log" 2>&1 || status=$?
    ok=$(grep -c '^ok ' "$log" || true)
    bad=$(grep -c '^FAIL ' "$log" || true)
    if ((status != 0 && bad == 0)); then
      # Crashed or timed out before reporting a failed case: that is one failure too.
      echo "FAIL $name: exited with status $status without reporting a failed case" >>"$log"
      bad=1
    fi
    passed=$((passed + ok))
    failed=$((failed + bad))
    peers_log "$target / $name: $ok ok, $bad failed"
    while IFS= read -r line; do
      failures+=("[$target] $line")
    done < <(grep '^FAIL ' "$log" || true)
  done
}

upstream_port=$(peers_free_port)
peers_start_everything_http "$upstream_port" "$out/server-everything.log"

if $direct_only; then
  run_clients direct "http://127.0.0.1:$upstream_port/mcp"
else
  # The clients must work against the bare upstream first; otherwise a failure says nothing about
  # Portcullis.
  run_clients direct "http://127.0.0.1:$upstream_port/mcp"
  if ((failed > 0)); then
    printf '%s\n' "${failures[@]}" >&2
    peers_die "the clients fail against server-everything directly (logs in $out); not a Portcullis result"
  fi
  passed=0
  bin=$(peers_portcullis_bin)
  gateway_port=$(peers_free_port)
  peers_write_config "$out/portcullis.toml" "$gateway_port" "$upstream_port" "$out/portcullis-state"
  peers_start_portcullis "$bin" "$out/portcullis.toml" "$gateway_port" "$out/portcullis.log"
  run_clients everything "http://127.0.0.1:$gateway_port/servers/everything/mcp"
  run_clients everything-stdio "http://127.0.0.1:$gateway_port/servers/everything-stdio/mcp"
fi

peers_stop_all
peers_log "logs in $out (one per target and client, portcullis.log)"
{
  if ((${#failures[@]} > 0)); then
    printf '%s\n' "${failures[@]}"
  fi
  echo "$passed passed, $failed failed"
} | tee "$out/summary.txt"
((failed == 0 && passed > 0))
