#!/usr/bin/env bash
# Real MCP clients sign in through Portcullis's own OAuth and then use the MCP server with their
# token: server-everything is published as `everything` with auth = "oauth", a person made with
# `portcullis admin user create` signs in and clicks Allow headlessly (oauth_user.mjs), and each
# client lists and calls tools. Clients: the TypeScript SDK v2 and v1, the Python SDK and the MCP
# Inspector CLI, each with a client ID metadata document and with dynamic registration, and the
# strict OAuth library oauth4webapi. See tests/peers/README.md.
#
#   tests/peers/oauth_clients.sh     # last line "N passed, M failed"
#
# Environment: PORTCULLIS_BIN (skip the cargo build), PEERS_OUT (results; default .peers/results).
set -euo pipefail
# shellcheck source=tests/peers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

out=$PEERS_OUT/oauth-clients
rm -rf "$out"
mkdir -p "$out"

peers_install_node
peers_install_python
bin=$(peers_portcullis_bin)

peers_start_oauth_portcullis "$bin" "$out"

# Each client: a label and the command that takes the MCP server's URL as its last argument.
# Client ID metadata documents are https://127.0.0.1:PORT/clients/NAME.json (cimd_server.mjs).
clients=(
  "ts-v2-cimd|$NODE22 $PEERS_DIR/ts-oauth-client.mjs --sdk v2 --cimd $PEERS_CIMD/clients/ts-v2.json"
  "ts-v2-dcr|$NODE22 $PEERS_DIR/ts-oauth-client.mjs --sdk v2"
  "ts-v1-cimd|$NODE22 $PEERS_DIR/ts-oauth-client.mjs --sdk v1 --cimd $PEERS_CIMD/clients/ts-v1.json"
  "ts-v1-dcr|$NODE22 $PEERS_DIR/ts-oauth-client.mjs --sdk v1"
  "py-cimd|$VENV/bin/python $PEERS_DIR/py_oauth_client.py --node $NODE22 --cimd $PEERS_CIMD/clients/py.json"
  "py-dcr|$VENV/bin/python $PEERS_DIR/py_oauth_client.py --node $NODE22"
  "inspector-cimd|$NODE22 $PEERS_DIR/inspector-oauth-client.mjs --cimd $PEERS_CIMD/clients/inspector.json"
  "inspector-dcr|$NODE22 $PEERS_DIR/inspector-oauth-client.mjs"
  "strict|$NODE22 $PEERS_DIR/strict-oauth-client.mjs"
)
for entry in "${clients[@]}"; do
  name=${entry%%|*}
  cmd=${entry#*|}
  # Word splitting of $cmd is intended: the paths it holds have no spaces in this layout.
  # shellcheck disable=SC2086
  peers_run_cases everything "$name" "$out/$name.log" $cmd "$PEERS_MCP_URL"
done

# A client that says it used its metadata document must have made Portcullis fetch it; the SDKs
# fall back to registration silently when the metadata does not offer CIMD.
for name in ts-v2 ts-v1 py inspector; do
  fetched=1
  grep -q "\"path\":\"/clients/$name.json\"" "$PEERS_CIMD_LOG" && fetched=0
  peers_case "cimd" "$fetched" "Portcullis fetched /clients/$name.json from the client's https server"
done

peers_stop_all
peers_log "logs in $out (one per client; portcullis.log, cimd-requests.jsonl)"
peers_summary "$out/summary.txt"
