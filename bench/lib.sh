# bench/lib.sh — shared by bench/run and bench/profile; source it, do not run it.
#
# Defines the request bodies, the clean-up machinery, and the steps both scripts share: start the
# echo upstream, start Portcullis in front of it (auth = "none"), open an MCP session, write
# wrk's Lua script (closed loop, or paced to a fixed request rate) and run wrk. Nothing here runs
# when the file is sourced except constant definitions; `bench_init` creates the temp dir and
# installs the traps.
#
# Everything listens on and targets 127.0.0.1 only; every wait is bounded; every process started
# through `bench_started` is stopped on exit (SIGTERM, then SIGKILL after 5 s).

# shellcheck shell=bash

PROTOCOL_VERSION=2025-11-25
CALL_BODY='{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'
INIT_BODY='{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"'$PROTOCOL_VERSION'","capabilities":{},"clientInfo":{"name":"portcullis-bench","version":"1"}}}'
INITIALIZED_BODY='{"jsonrpc":"2.0","method":"notifications/initialized"}'

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf '!!! %s\n' "$*" >&2; }
die() {
    printf '!!! %s\n' "$*" >&2
    exit 1
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

# Where cargo puts its builds: $CARGO_TARGET_DIR (relative to the repository root, where the
# scripts run cargo, when it is relative) or target/.
target_dir() {
    local dir=${CARGO_TARGET_DIR:-target}
    [[ $dir == /* ]] || dir=$ROOT/$dir
    echo "$dir"
}

# --- processes and clean-up --------------------------------------------------------------------

STARTED_PIDS=()
TMP=""

# Registers a pid to be stopped on exit.
bench_started() { STARTED_PIDS+=("$1"); }

bench_cleanup() {
    local status=$?
    local pid i
    for pid in "${STARTED_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED_PIDS[@]}"; do
        # Up to 5 s for a clean exit, then SIGKILL.
        for ((i = 0; i < 50; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n $TMP ]]; then
        if [[ ${BENCH_KEEP_TMP:-} == 1 ]]; then
            log "kept $TMP"
        else
            rm -rf "$TMP"
        fi
    fi
    exit "$status"
}

# Creates $TMP (prefix $1), installs the clean-up traps, and clears PORTCULLIS_* from the
# environment: the generated config file is the whole configuration.
bench_init() {
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    local name
    while read -r name; do
        unset "$name"
    done < <(compgen -e | grep '^PORTCULLIS_' || true)
}

# A free loopback TCP port. Portcullis needs its port in the config before it starts, so this
# picks one that nothing listens on; the window for a clash is the few ms until Portcullis binds.
free_port() {
    local i port
    for ((i = 0; i < 100; i++)); do
        port=$((20000 + RANDOM % 40000))
        if command -v ss >/dev/null; then
            [[ -z $(ss -Htan "sport = :$port" 2>/dev/null) ]] && {
                echo "$port"
                return 0
            }
        elif ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

# utime + stime of a process, in clock ticks, all threads included (fields 14 and 15 of
# /proc/PID/stat, counted after the parenthesised command name, which may contain spaces).
cpu_ticks() {
    local stat fields
    stat=$(<"/proc/$1/stat") || return 1
    read -r -a fields <<<"${stat##*) }"
    # fields[0] is field 3 (state), so utime (14) and stime (15) are fields[11] and fields[12].
    echo $((fields[11] + fields[12]))
}

# CPU µs per request from a tick delta: ticks / CLK_TCK × 10⁶ / requests.
cpu_us_per_request() {
    awk -v t="$1" -v hz="$CLK_TCK" -v n="$2" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }'
}

# --- prerequisites -----------------------------------------------------------------------------

# wrk (installed with apt-get when missing and running as root on Debian/Ubuntu), curl, awk,
# getconf, timeout. Sets CLK_TCK.
bench_require_tools() {
    if ! command -v wrk >/dev/null; then
        if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
            log "wrk is missing: installing it with apt-get"
            apt-get install -y wrk >"$TMP/apt.log" 2>&1 ||
                { apt-get update >>"$TMP/apt.log" 2>&1 && apt-get install -y wrk >>"$TMP/apt.log" 2>&1; } ||
                { tail -n 20 "$TMP/apt.log" >&2; die "could not install wrk"; }
        else
            die "wrk is not installed (Debian/Ubuntu: sudo apt-get install -y wrk)"
        fi
    fi
    local tool
    for tool in curl getconf awk timeout; do
        command -v "$tool" >/dev/null || die "$tool is required"
    done
    CLK_TCK=$(getconf CLK_TCK)
}

# --- the echo upstream and Portcullis ----------------------------------------------------------

# Starts the echo upstream binary $1 on a loopback port 0; sets ECHO_PID and ECHO_URL, or dies.
start_echo() {
    local bin=$1 i
    log "starting the echo upstream"
    # The log exists before the background job opens it: the loop below reads it at once.
    : >"$TMP/echo.log"
    "$bin" --listen 127.0.0.1:0 >>"$TMP/echo.log" 2>&1 &
    ECHO_PID=$!
    bench_started "$ECHO_PID"
    ECHO_URL=""
    for ((i = 0; i < 100; i++)); do
        ECHO_URL=$(sed -n 's/^listening on \(http:\/\/127\.0\.0\.1:[0-9]*\/mcp\)$/\1/p' "$TMP/echo.log" || true)
        [[ -n $ECHO_URL ]] && break
        kill -0 "$ECHO_PID" 2>/dev/null || break
        sleep 0.1
    done
    [[ -n $ECHO_URL ]] || {
        cat "$TMP/echo.log" >&2
        die "the echo upstream did not start"
    }
    log "echo upstream: $ECHO_URL (pid $ECHO_PID)"
}

# start_portcullis BIN [WRAPPER...]: starts Portcullis in front of $ECHO_URL with a fresh SQLite
# store in $TMP (under WRAPPER, e.g. valgrind, when given), and waits (at most 60 s, or
# $PORTCULLIS_READY_TIMEOUT s) for GET /readyz to answer 200. Three upstreams, all the echo:
# `echo` with auth = "none", `echo-auth` with auth = "oauth" accepting Portcullis API keys under
# an allow-all policy (`authenticated_roles`), and `echo-policy`, the same decided by grants of
# the 100 roles of `policy_roles` (see `grant_policy`).
# Sets PORTCULLIS_PID, PORTCULLIS_URL, PORTCULLIS_AUTH_URL and PORTCULLIS_POLICY_URL; on failure
# sets PORTCULLIS_PROBLEM and returns 1.
PORTCULLIS_PID=""
PORTCULLIS_URL=""
PORTCULLIS_AUTH_URL=""
PORTCULLIS_POLICY_URL=""
PORTCULLIS_PROBLEM=""

# How many roles and grants the relayed-policy target's policy holds.
POLICY_ROLES=100
POLICY_GRANTS=1000

# policy_roles: the [[roles]] of the relayed-policy target, printed as TOML: bench-role-0 …
# bench-role-99, each listing tools and allowing the calls of tools named tool-<i>-*; the last
# one also allows the echo tool of echo-policy.
policy_roles() {
    local i
    for ((i = 0; i < POLICY_ROLES; i++)); do
        printf '[[roles]]\nname = "bench-role-%d"\npermissions = ["mcp.tools.list", "mcp.tools.call:echo-policy/tool-%d-*"' "$i" "$i"
        ((i == POLICY_ROLES - 1)) && printf ', "mcp.tools.call:echo-policy/echo"'
        printf ']\n'
    done
}

# grant_policy BIN: the grants of the relayed-policy target, made with `portcullis admin role
# grant` against the running Portcullis's store: POLICY_GRANTS in all, of which ten are the bench
# key's (service:bench; nine roles that do not allow the call, then the one that does), the rest
# other services'. Portcullis picks them up within a second (it polls the store's authorization
# version).
grant_policy() {
    local bin=$1 i subject role
    for ((i = 0; i < POLICY_GRANTS; i++)); do
        if ((i < 10)); then
            subject=service:bench
            role=bench-role-$((POLICY_ROLES - 10 + i))
        else
            subject=service:other-$i
            role=bench-role-$((i % POLICY_ROLES))
        fi
        (cd "$TMP/portcullis" && timeout 30 "$bin" admin --config "$TMP/portcullis.toml" role grant \
            --service "$subject" --role "$role" --server echo-policy) >/dev/null 2>>"$TMP/grants.log" || {
            cat "$TMP/grants.log" >&2
            return 1
        }
    done
    sleep 1
}
start_portcullis() {
    local bin=$1 port base code="" i
    shift
    local wrapper=("$@") ready_timeout=${PORTCULLIS_READY_TIMEOUT:-60}
    port=$(free_port) || {
        PORTCULLIS_PROBLEM="found no free port for Portcullis"
        return 1
    }
    base="http://127.0.0.1:$port"
    mkdir -p "$TMP/portcullis"
    cat >"$TMP/portcullis.toml" <<EOF
version = 1
[server]
listen = "127.0.0.1:$port"
public_url = "$base"
[store]
url = "sqlite://$TMP/portcullis/portcullis.db"
[log]
level = "warn"
[[upstreams]]
name = "echo"
url = "$ECHO_URL"
auth = "none"
[[upstreams]]
name = "echo-auth"
url = "$ECHO_URL"
auth = "oauth"
accept = ["api_key"]
# An allow-all policy: every authenticated caller may do everything here.
authenticated_roles = ["service"]
[[upstreams]]
name = "echo-policy"
url = "$ECHO_URL"
auth = "oauth"
accept = ["api_key"]
$(policy_roles)
EOF
    log "starting Portcullis on $base (config $TMP/portcullis.toml)"
    (cd "$TMP/portcullis" && exec "${wrapper[@]}" "$bin" serve --config "$TMP/portcullis.toml") \
        >"$TMP/portcullis.log" 2>&1 &
    PORTCULLIS_PID=$!
    bench_started "$PORTCULLIS_PID"
    # Up to 60 s by default: the first start creates and migrates the SQLite store.
    for ((i = 0; i < ready_timeout * 10; i++)); do
        if ! kill -0 "$PORTCULLIS_PID" 2>/dev/null; then
            wait "$PORTCULLIS_PID" && code=0 || code=$?
            PORTCULLIS_PROBLEM="Portcullis exited with status $code before GET /readyz answered 200"
            if [[ ! -s $TMP/portcullis.log ]]; then
                PORTCULLIS_PROBLEM+=", printing nothing: does this build implement 'portcullis serve --config' yet?"
            fi
            return 1
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$base/readyz" || true)
        [[ $code == 200 ]] && break
        sleep 0.1
    done
    if [[ $code != 200 ]]; then
        PORTCULLIS_PROBLEM="GET $base/readyz did not answer 200 within $ready_timeout s (last: ${code:-no answer})"
        return 1
    fi
    # Without a wrapper the pid must be Portcullis itself (its /proc is read), not a shell; the
    # kernel keeps the first 15 bytes of the binary's name.
    local comm
    comm=$(basename "$bin")
    if ((${#wrapper[@]} == 0)) && [[ $(cat "/proc/$PORTCULLIS_PID/comm" 2>/dev/null) != "${comm:0:15}" ]]; then
        PORTCULLIS_PROBLEM="pid $PORTCULLIS_PID is not the portcullis process"
        return 1
    fi
    PORTCULLIS_URL="$base/servers/echo/mcp"
    # shellcheck disable=SC2034 # used by bench/run
    PORTCULLIS_AUTH_URL="$base/servers/echo-auth/mcp"
    # shellcheck disable=SC2034 # used by bench/run
    PORTCULLIS_POLICY_URL="$base/servers/echo-policy/mcp"
    log "Portcullis ready: $PORTCULLIS_URL (pid $PORTCULLIS_PID)"
}

# create_api_key BIN: an API key for the subject service:bench, made with
# `portcullis admin api-key create --json` against the running Portcullis's store (the key file
# of the embedded store is found from the same working directory). Prints the key.
create_api_key() {
    local bin=$1 out="$TMP/api-key.json" key
    (cd "$TMP/portcullis" && timeout 60 "$bin" admin --config "$TMP/portcullis.toml" api-key create \
        --name bench --subject service:bench --json) >"$out" 2>"$TMP/api-key.log" || {
        cat "$TMP/api-key.log" >&2
        return 1
    }
    key=$(sed -n 's/.*"api_key" *: *"\([^"]*\)".*/\1/p' "$out")
    [[ -n $key ]] || {
        warn "portcullis admin api-key create printed no api_key: $(head -c 300 "$out")"
        return 1
    }
    echo "$key"
}

# --- MCP session and load ----------------------------------------------------------------------

# MCP session set-up with curl: initialize (capturing Mcp-Session-Id), notifications/initialized,
# and one tools/call whose answer must echo "hello". Prints the session id. With a third
# argument, every request carries it as `Authorization: Bearer`.
open_session() {
    local url=$1 name=$2 bearer=${3:-} code session
    local headers="$TMP/$name.init.headers" body="$TMP/$name.init.body"
    local auth=()
    [[ -n $bearer ]] && auth=(-H "Authorization: Bearer $bearer")
    code=$(curl -sS --max-time 10 -o "$body" -D "$headers" -w '%{http_code}' -X POST "$url" \
        -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
        -H "MCP-Protocol-Version: $PROTOCOL_VERSION" "${auth[@]}" --data "$INIT_BODY") || code="curl failed"
    if [[ $code != 200 ]]; then
        warn "$name: initialize at $url answered $code: $(head -c 500 "$body" 2>/dev/null)"
        return 1
    fi
    session=$(tr -d '\r' <"$headers" | sed -n 's/^[Mm][Cc][Pp]-[Ss][Ee][Ss][Ss][Ii][Oo][Nn]-[Ii][Dd]: *//p' | tail -n 1)
    if [[ -z $session ]]; then
        warn "$name: initialize at $url returned no Mcp-Session-Id header"
        return 1
    fi
    code=$(curl -sS --max-time 10 -o "$body" -w '%{http_code}' -X POST "$url" \
        -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
        -H "MCP-Protocol-Version: $PROTOCOL_VERSION" -H "Mcp-Session-Id: $session" "${auth[@]}" \
        --data "$INITIALIZED_BODY") || code="curl failed"
    if [[ $code != 202 ]]; then
        warn "$name: notifications/initialized answered $code (expected 202): $(head -c 500 "$body")"
        return 1
    fi
    code=$(curl -sS --max-time 10 -o "$body" -w '%{http_code}' -X POST "$url" \
        -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \
        -H "MCP-Protocol-Version: $PROTOCOL_VERSION" -H "Mcp-Session-Id: $session" "${auth[@]}" \
        --data "$CALL_BODY") || code="curl failed"
    if [[ $code != 200 ]] || ! grep -q '"text":"hello"' "$body"; then
        warn "$name: the probe tools/call answered $code: $(head -c 500 "$body")"
        return 1
    fi
    echo "$session"
}

# wrk's request script: write_wrk_script SESSION FILE [RATE THREADS [BEARER]]. With BEARER, every
# request carries `Authorization: Bearer BEARER`.
#
# Without RATE, each connection sends its next request as soon as the previous answer arrived
# (closed loop, saturation). With RATE (requests/s in total), the Lua delay() hook pauses each
# connection before each request so that the run offers RATE requests/s: every wrk thread keeps
# an absolute schedule of RATE/THREADS request slots per second (its threads' slots interleaved),
# and a connection that becomes free waits in delay() until the thread's next free slot. With C
# connections each connection so waits on average C/RATE s from one request's start to the next,
# whatever the response time — unlike a constant pause, which offers C/(pause + latency) and so
# a lower rate to the slower target. A slot that passes while every connection of the thread is
# busy is dropped, not made up in a burst: the achieved rate then falls short, which the caller
# checks. delay() has millisecond resolution (wrk's timers), so slots fire up to 1 ms late; the
# schedule is absolute, so that does not accumulate. Latency is timed by wrk from the write of the
# request, so the pause is not part of it.
#
# done() prints one "BENCH key=value" line per figure; latencies are in microseconds. wrk counts
# an HTTP status >= 400 as a status error; the curl probe in open_session has already checked the
# exact 200 and the echoed body, and the reply here is the same every time.
write_wrk_script() {
    local session=$1 file=$2 rate=${3:-} threads=${4:-} bearer=${5:-}
    cat >"$file" <<EOF
wrk.method = "POST"
wrk.body = '$CALL_BODY'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["MCP-Protocol-Version"] = "$PROTOCOL_VERSION"
wrk.headers["Mcp-Session-Id"] = "$session"
EOF
    if [[ -n $bearer ]]; then
        printf 'wrk.headers["Authorization"] = "Bearer %s"\n' "$bearer" >>"$file"
    fi
    if [[ -n $rate ]]; then
        cat >>"$file" <<EOF

-- Fixed offered rate: $rate requests/s over $threads wrk threads (see bench/lib.sh).
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clock_id, bench_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("bench_timespec")
local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local thread_count = 0
function setup(thread)
  thread:set("thread_index", thread_count)
  thread_count = thread_count + 1
end

local spacing_ms = $threads * 1000 / $rate  -- between two slots of one thread
local next_slot = nil
function delay()
  local now = now_ms()
  if next_slot == nil then
    next_slot = now + (thread_index or 0) * spacing_ms / $threads
  else
    next_slot = next_slot + spacing_ms
  end
  if next_slot < now then
    next_slot = now
  end
  return next_slot - now
end
EOF
    fi
    cat >>"$file" <<'EOF'

function done(summary, latency, requests)
  local seconds = summary.duration / 1000000
  local e = summary.errors
  io.write(string.format("BENCH requests=%d\n", summary.requests))
  io.write(string.format("BENCH duration_us=%d\n", summary.duration))
  io.write(string.format("BENCH rps=%.1f\n", summary.requests / seconds))
  io.write(string.format("BENCH p50_us=%d\n", latency:percentile(50)))
  io.write(string.format("BENCH p90_us=%d\n", latency:percentile(90)))
  io.write(string.format("BENCH p99_us=%d\n", latency:percentile(99)))
  io.write(string.format("BENCH max_us=%d\n", latency.max))
  io.write(string.format("BENCH mean_us=%.1f\n", latency.mean))
  io.write(string.format("BENCH errors_connect=%d\n", e.connect))
  io.write(string.format("BENCH errors_read=%d\n", e.read))
  io.write(string.format("BENCH errors_write=%d\n", e.write))
  io.write(string.format("BENCH errors_timeout=%d\n", e.timeout))
  io.write(string.format("BENCH non2xx=%d\n", e.status))
end
EOF
}

# run_wrk SECONDS SCRIPT URL OUT, with $THREADS threads and $CONNECTIONS connections; bounded by
# `timeout` at SECONDS + 30 s. THREADS and CONNECTIONS are set by the sourcing script.
# shellcheck disable=SC2153
run_wrk() {
    local seconds=$1 script=$2 url=$3 out=$4
    timeout --kill-after=5 $((seconds + 30)) \
        wrk -t "$THREADS" -c "$CONNECTIONS" -d "${seconds}s" --timeout 5s --latency -s "$script" "$url" >"$out" 2>&1
}

# The value of one "BENCH key=value" line of a wrk output file.
figure() { sed -n "s/^BENCH $1=//p" "$2" | tail -n 1; }
