#!/usr/bin/env bash
# The MCP conformance suite's `authorization` runner against Portcullis's authorization server:
# the scenarios `authorization-server-metadata-endpoint` (metadata at the probed paths, issuer
# equal to --url, PKCE S256, client ID metadata documents advertised) and
# `authorization-code-grant` (a real PKCE code flow with --resource: state, code and iss in the
# redirect, a no-store JSON token response). The runner prints the authorization URL for a
# person to open and waits on its loopback callback; here the person is oauth_user.mjs, who
# signs in, clicks Allow and delivers the redirect. It runs twice: for a client made with
# `portcullis admin client create`, and for a client known by its metadata document. See
# tests/peers/README.md.
#
#   tests/peers/oauth_conformance.sh     # last line "N passed, M failed"
#
# Environment: PORTCULLIS_BIN (skip the cargo build), PEERS_OUT (results; default .peers/results).
set -euo pipefail
# shellcheck source=tests/peers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

out=$PEERS_OUT/oauth-conformance
rm -rf "$out"
mkdir -p "$out"

peers_install_node
bin=$(peers_portcullis_bin)

peers_start_oauth_portcullis "$bin" "$out"

# run_authorization LABEL CLIENT_ID CALLBACK_PORT: the runner's two scenarios for one client, the
# person answering its authorization URL; each check becomes an `ok`/`FAIL` line in
# LABEL-checks.log.
run_authorization() {
  local label=$1 client_id=$2 port=$3 status=0
  peers_log "conformance authorization ($label, client_id $client_id)"
  # The runner is done in seconds once the person answers; 90 s bound a person who never does.
  timeout 90 "$NODE22" "$CONFORMANCE_JS" authorization --url "$PEERS_GATEWAY" --client-id "$client_id" \
    --resource "$PEERS_MCP_URL" --port "$port" -o "$out/$label" 2>&1 |
    while IFS= read -r line; do
      printf '%s\n' "$line"
      case $line in
        "$PEERS_GATEWAY"/authorize\?*)
          # Printed just before the runner's callback listener is up; signing in takes longer.
          (sleep 0.3 && "$NODE22" "$PEERS_DIR/oauth_user.mjs" --follow "$line") &
          ;;
      esac
    done >"$out/$label.log" 2>&1 || status=$?
  peers_log "$label: the runner exited with status $status ($(grep -E '^Total:' "$out/$label.log" || echo 'no total'))"
  peers_run_cases authorization "$label" "$out/$label-checks.log" python3 - "$out/$label" "$label" <<'PY'
import glob, json, sys

results, label = sys.argv[1], sys.argv[2]
expected = ["authorization-server-metadata-endpoint", "authorization-code-grant"]
failed = False
for scenario in expected:
    files = glob.glob(f"{results}/authorization-server-{scenario}-*/checks.json")
    if len(files) != 1:
        print(f"FAIL {label}: {scenario}: {len(files)} result files, expected 1")
        failed = True
        continue
    checks = json.load(open(files[0]))
    if not checks:
        print(f"FAIL {label}: {scenario}: no checks")
        failed = True
    for check in checks:
        name = f"{scenario}:{check['id']}"
        if check["status"] == "SUCCESS":
            print(f"ok {label}: {name}")
        else:
            print(f"FAIL {label}: {name}: {check['status']}: {check.get('errorMessage', '')}")
            failed = True
sys.exit(1 if failed else 0)
PY
}

# 1. A client the operator registered, with the runner's callback as its redirect URI.
port=$(peers_free_port)
client_id=$("$bin" admin --config "$out/portcullis.toml" --json client create --name "conformance runner" \
  --redirect-uri "http://127.0.0.1:$port/callback" 2>>"$out/admin.log" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["client_id"])')
run_authorization admin-client "$client_id" "$port"

# 2. A client known by its metadata document (https, loopback redirect URIs on any port).
run_authorization cimd-client "$PEERS_CIMD/clients/conformance.json" "$(peers_free_port)"
fetched=1
grep -q '"path":"/clients/conformance.json"' "$PEERS_CIMD_LOG" && fetched=0
peers_case "cimd" "$fetched" "Portcullis fetched /clients/conformance.json from the client's https server"

peers_stop_all
peers_log "logs in $out (the runner's output and results per client; portcullis.log)"
peers_summary "$out/summary.txt"
