# shellcheck shell=bash
# Shared set-up of the browser suites. Source it from bash:
#
#     source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# It sources tests/peers/lib.sh (process helpers, free ports, Node 22 as NODE22, PEERS_OUT) and
# sets BROWSER_DIR (tests/browser) and CHROMIUM_PATH.

BROWSER_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/peers/lib.sh
source "$BROWSER_DIR/../peers/lib.sh"
export CHROMIUM_PATH=${CHROMIUM_PATH:-/usr/bin/chromium}

# Node 22 and the MCP Inspector from tests/peers, then playwright-core (and the QR reader) from
# tests/browser/package-lock.json into tests/browser/node_modules, reinstalled only when the lock
# file changes. No browser is downloaded: Playwright drives Debian's chromium package.
browser_install() {
  peers_install_node
  local stamp=$BROWSER_DIR/node_modules/.browser-lock.sha256 want
  want=$(peers_sha256 "$BROWSER_DIR/package-lock.json")
  if [[ ! -f $stamp || $(<"$stamp") != "$want" ]]; then
    peers_log "npm ci --prefix tests/browser"
    (cd "$PEERS_REPO" && npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error) >&2
    echo "$want" >"$stamp"
  fi
  [[ -f $BROWSER_DIR/node_modules/playwright-core/package.json ]] ||
    peers_die "npm ci did not install playwright-core under $BROWSER_DIR/node_modules"
  [[ -f $PEERS_DIR/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js ]] ||
    peers_die "no MCP Inspector under $PEERS_DIR/node_modules (tests/peers/package.json)"
  [[ -x $CHROMIUM_PATH ]] ||
    peers_die "no Chromium at $CHROMIUM_PATH: apt-get install chromium chromium-driver (Debian's packages)"
  peers_log "$("$CHROMIUM_PATH" --version 2>/dev/null), playwright-core $(
    "$NODE22" -p 'require(process.argv[1]).version' "$BROWSER_DIR/node_modules/playwright-core/package.json"
  )"
}

# browser_suite NAME: what each runner does first. Installs (browser_install), finds Portcullis
# (BIN), empties the results folder OUT=$PEERS_OUT/browser/NAME, and makes a scratch folder WORK
# that is removed, with every process started, on exit.
browser_suite() {
  browser_install
  # shellcheck disable=SC2034 # for the runner that calls this
  BIN=$(peers_portcullis_bin)
  OUT=$PEERS_OUT/browser/$1
  rm -rf "$OUT"
  mkdir -p "$OUT"
  WORK=$(mktemp -d)
  trap 'peers_stop_all; rm -rf "$WORK"' EXIT
}
