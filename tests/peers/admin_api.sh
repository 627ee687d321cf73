#!/usr/bin/env bash
# The admin REST API against its own OpenAPI document, with schemathesis (PyPI): every
# operation of /admin/api/v1/openapi.json is called with generated valid and invalid inputs, as
# an owner (who may do everything) and without a credential, and every answer must be a
# documented status with a documented body and headers — never a server error. See
# tests/peers/README.md.
#
#   tests/peers/admin_api.sh     # exit 0 when schemathesis finds nothing
#
# Environment: PORTCULLIS_BIN (skip the cargo build), PEERS_OUT (results; default
# .peers/results), ADMIN_API_MAX_EXAMPLES (cases per operation and phase; default 40), ADMIN_API_SEED.
set -euo pipefail
# shellcheck source=tests/peers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# schemathesis in a venv of its own (its pins would fight the MCP SDK's in .venv).
st_venv=$PEERS_REPO/.venv-schemathesis
st_requirements=$PEERS_DIR/requirements-schemathesis.txt
stamp=$st_venv/.requirements.sha256
want=$(peers_sha256 "$st_requirements")
if [[ ! -x $st_venv/bin/st || ! -f $stamp || $(<"$stamp") != "$want" ]]; then
  peers_log "python3 -m venv .venv-schemathesis && pip install -r $st_requirements"
  python3 -m venv "$st_venv"
  "$st_venv/bin/pip" install --disable-pip-version-check --quiet -r "$st_requirements" >&2
  echo "$want" >"$stamp"
fi
"$st_venv/bin/st" --version

out=$PEERS_OUT/admin-api
rm -rf "$out"
mkdir -p "$out/state"
bin=$(peers_portcullis_bin)
port=$(peers_free_port)
base=http://127.0.0.1:$port
config=$out/portcullis.toml
cat >"$config" <<TOML
version = 1

[server]
listen = "127.0.0.1:$port"
public_url = "$base"

[store]
url = "sqlite://$out/state/portcullis.db"

[[upstreams]]
name = "demo"
builtin = "demo"
TOML

# The caller: a service principal holding the owner role, through an API key; and alice, the
# account the document's examples name.
"$bin" admin --config "$config" role grant --service service:schemathesis --role owner >"$out/admin.log" 2>&1
"$bin" admin --config "$config" user create --username alice --email alice@example.com --generate-password >>"$out/admin.log" 2>&1
key=$("$bin" admin --config "$config" --json api-key create --name schemathesis --subject service:schemathesis 2>>"$out/admin.log" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["api_key"])')
peers_start_portcullis "$bin" "$config" "$port" "$out/portcullis.log"

# Bounded: a fixed number of cases per operation and phase, one worker, a fixed seed (a failure
# reproduces), and 15 minutes at most. Two runs: first every operation but the two that can take the
# caller's own rights away (revoking its grant or its key would turn the rest into 403s), then
# those two.
st_run() {
  # From the results directory, where schemathesis leaves its cache (.schemathesis/).
  (cd "$out" && timeout 900 "$st_venv/bin/st" --config-file "$PEERS_DIR/schemathesis.toml" run "$base/admin/api/v1/openapi.json" \
    --header "Authorization: Bearer $key" \
    --checks all \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "${ADMIN_API_MAX_EXAMPLES:-40}" \
    --seed "${ADMIN_API_SEED:-20261204}" \
    --workers 1 \
    --request-timeout 10 \
    --no-color \
    --generation-database none \
    --report junit --report-dir "$out/report-$1" "${@:2}")
}
set +e
st_run all --exclude-operation-id revokeGrant --exclude-operation-id revokeApiKey 2>&1 | tee "$out/schemathesis.log"
status=${PIPESTATUS[0]}
st_run revocations --include-operation-id revokeGrant --include-operation-id revokeApiKey 2>&1 | tee -a "$out/schemathesis.log"
status=$((status | PIPESTATUS[0]))
set -e
# Whatever the generated requests did, the process must still be up and answering.
curl -fsS "$base/readyz" >/dev/null || peers_die "portcullis stopped answering (see $out/portcullis.log)"
if grep -qE 'panicked|thread .* panicked' "$out/portcullis.log"; then
  peers_die "portcullis panicked (see $out/portcullis.log)"
fi
if ((status != 0)); then
  peers_die "schemathesis found problems (exit $status; see $out/schemathesis.log)"
fi
peers_log "schemathesis found no server error and no schema violation"
