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

# run_clients TARGET URL: every client variant against URL.
run_clients() {
  local target=$1 url=$2 entry name cmd
  for entry in "${clients[@]}"; do
    name=${entry%%|*}
    cmd=${entry#*|}
    # Word splitting of $cmd is intended: the paths it holds have no spaces in this layout.
    # shellcheck disable=SC2086
    peers_run_cases "$target" "$name" "$out/$target-$name.log" $cmd "$url"
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
  if ((PEERS_FAILED > 0)); then
    printf '%s\n' "${PEERS_FAILURES[@]}" >&2
    peers_die "the clients fail against server-everything directly (logs in $out); not a Portcullis result"
  fi
  PEERS_PASSED=0
  bin=$(peers_portcullis_bin)
  gateway_port=$(peers_free_port)
  peers_write_config "$out/portcullis.toml" "$gateway_port" "$upstream_port" "$out/portcullis-state"
  peers_start_portcullis "$bin" "$out/portcullis.toml" "$gateway_port" "$out/portcullis.log"
  run_clients everything "http://127.0.0.1:$gateway_port/servers/everything/mcp"
  run_clients everything-stdio "http://127.0.0.1:$gateway_port/servers/everything-stdio/mcp"
fi

peers_stop_all
peers_log "logs in $out (one per target and client, portcullis.log)"
peers_summary "$out/summary.txt"
