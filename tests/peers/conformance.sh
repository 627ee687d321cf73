#!/usr/bin/env bash
# The MCP conformance suite's server scenarios, run against the reference server-everything
# directly and through Portcullis (as an HTTP upstream and as a stdio upstream). Acceptance: every
# check that passes directly passes through Portcullis too, and Portcullis passes
# dns-rebinding-protection outright. Failures listed in conformance-known-failures.txt (each with
# a FIXME) are reported but not counted. See tests/peers/README.md.
#
#   tests/peers/conformance.sh                # everything; last line "N passed, M failed"
#   tests/peers/conformance.sh --direct-only  # just the direct baseline (no Portcullis needed)
#
# Environment: PORTCULLIS_BIN (skip the cargo build), PEERS_OUT (results; default .peers/results),
# CONFORMANCE_REVISIONS (default "2025-11-25 2026-07-28").
set -euo pipefail
# shellcheck source=tests/peers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

direct_only=false
case ${1:-} in
  "") ;;
  --direct-only) direct_only=true ;;
  *) echo "usage: $0 [--direct-only]" >&2; exit 2 ;;
esac

read -r -a revisions <<<"${CONFORMANCE_REVISIONS:-2025-11-25 2026-07-28}"
upstreams=(everything everything-stdio)
out=$PEERS_OUT/conformance
rm -rf "$out"
mkdir -p "$out"

peers_install_node

# run_conformance NAME URL ARGS...: one conformance run into $out/NAME (checks.json per scenario)
# with its console output in $out/NAME.log. Its exit status is not the verdict (the bare upstream
# fails many scenarios); the per-check comparison below is.
run_conformance() {
  local name=$1 url=$2 status=0
  shift 2
  # Bounded: 15 s per scenario, 8 minutes per run, whatever the server under test does.
  timeout 480 "$NODE22" "$CONFORMANCE_JS" server --url "$url" --timeout 15000 -o "$out/$name" "$@" \
    >"$out/$name.log" 2>&1 || status=$?
  if ((status == 124)); then
    peers_log "$name: the conformance run timed out after 480 s (scenarios not reached count as missing)"
  fi
  mkdir -p "$out/$name"
  # The suite's own tally (checks the server itself fails included), reworded so CI log readers
  # do not take it for this script's verdict, which is the last line.
  peers_log "$name: suite tally $(grep -E '^(Total|Passed):' "$out/$name.log" | sed -E 's/([0-9]+) passed, ([0-9]+) failed/\1 checks pass, \2 fail/' || echo "missing (exit $status); see $out/$name.log")"
}

upstream_port=$(peers_free_port)
peers_start_everything_http "$upstream_port" "$out/server-everything.log"
upstream_url=http://127.0.0.1:$upstream_port/mcp

for rev in "${revisions[@]}"; do
  run_conformance "direct-$rev" "$upstream_url" --requirements "$rev"
done

if $direct_only; then
  pairs=()
  for rev in "${revisions[@]}"; do
    pairs+=(--pair "direct/$rev" "$out/direct-$rev" "$out/direct-$rev")
  done
  python3 "$PEERS_DIR/compare_checks.py" "${pairs[@]}" | tee "$out/summary.txt"
  exit "${PIPESTATUS[0]}"
fi

bin=$(peers_portcullis_bin)
gateway_port=$(peers_free_port)
peers_write_config "$out/portcullis.toml" "$gateway_port" "$upstream_port" "$out/portcullis-state"
peers_start_portcullis "$bin" "$out/portcullis.toml" "$gateway_port" "$out/portcullis.log"

args=(--known-failures "$PEERS_DIR/conformance-known-failures.txt")
for upstream in "${upstreams[@]}"; do
  url=http://127.0.0.1:$gateway_port/servers/$upstream/mcp
  for rev in "${revisions[@]}"; do
    run_conformance "$upstream-$rev" "$url" --requirements "$rev"
    args+=(--pair "$upstream/$rev" "$out/direct-$rev" "$out/$upstream-$rev")
  done
  # The bare upstream has no DNS-rebinding protection; Portcullis must (MCP transports, Security).
  run_conformance "$upstream-dns-rebinding" "$url" --scenario dns-rebinding-protection
  args+=(--strict "$upstream/dns-rebinding" "$out/$upstream-dns-rebinding")
done

peers_stop_all

peers_log "results in $out (checks.json per scenario, console logs, portcullis.log)"
python3 "$PEERS_DIR/compare_checks.py" "${args[@]}" | tee "$out/summary.txt"
exit "${PIPESTATUS[0]}"
