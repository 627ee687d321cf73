#!/usr/bin/env bash
# The newcomer's path, end to end: `portcullis serve` with no configuration (the demo on an
# embedded store, in an empty folder), the URL and the first account's one-time password read
# from what it prints, and the MCP Inspector CLI connecting to the demo server through OAuth,
# with the sign-in (and the required password change) and the consent done in headless Chromium.
# See tests/browser/README.md.
#
#   tests/browser/newcomer.sh
#
# Environment: PORTCULLIS_BIN (skip the cargo build), PEERS_OUT (results, default .peers/results;
# this suite writes under $PEERS_OUT/browser/newcomer).
set -euo pipefail
# shellcheck source=tests/browser/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

browser_suite newcomer

# The demo as a newcomer starts it: no configuration, state under ./portcullis-data of the
# folder it runs in. Only the port is moved (with the documented environment overrides) off
# 8080, which another program on this machine may hold; the URL is then read from the output.
port=$(peers_free_port)
log=$OUT/portcullis.log
mkdir -p "$WORK/demo"
peers_start "portcullis demo" "$log" env -C "$WORK/demo" RUST_LOG="${RUST_LOG:-info}" \
  PORTCULLIS_SERVER__LISTEN="127.0.0.1:$port" PORTCULLIS_SERVER__PUBLIC_URL="http://127.0.0.1:$port" \
  "$BIN" serve
demo_pid=$PEERS_LAST_PID

url="" password=""
deadline=$((SECONDS + 60))
while [[ -z $url || -z $password ]]; do
  ((SECONDS < deadline)) || { tail -n 40 "$log" >&2; peers_die "the demo did not print its URL and first account within 60 s"; }
  kill -0 "$demo_pid" 2>/dev/null || { tail -n 40 "$log" >&2; peers_die "the demo exited"; }
  sleep 0.2
  [[ -f $log ]] || continue
  url=$(sed -n 's/^Portcullis demo running at \(http[^ ]*\)$/\1/p' "$log" | head -n 1)
  password=$(sed -n 's/^  First account: admin with the one-time password \([^ ]*\)  .*$/\1/p' "$log" | head -n 1)
done
peers_log "the demo printed its URL $url and the first account's one-time password"
[[ $url == "http://127.0.0.1:$port" ]] || peers_die "the demo printed $url, not the public URL it was given"
[[ -d $WORK/demo/portcullis-data ]] || peers_die "the demo keeps no state under ./portcullis-data"
peers_wait_http "$url/readyz" "$demo_pid" "$log" 30 200 || peers_die "the demo is not ready"

DEMO_URL=$url DEMO_PASSWORD=$password BROWSER_OUT=$OUT NEWCOMER_HOME=$WORK/home \
  timeout 600 "$NODE22" --test --test-reporter=spec "$BROWSER_DIR/newcomer.test.mjs" 2>&1 |
  tee "$OUT/tests.log"
