#!/usr/bin/env bash
# Portcullis's pages in headless Chromium (Debian's chromium, driven by playwright-core): a real
# `portcullis serve` on 127.0.0.1, published as http://localhost:PORT (a WebAuthn relying party
# id must be a domain name, and browsers treat localhost as a secure context), with a temporary
# SQLite store, accounts made with `portcullis admin user create`, and pages.test.mjs run by
# Node's test runner. See tests/browser/README.md.
#
#   tests/browser/run.sh
#
# Environment: PORTCULLIS_BIN (skip the cargo build), PEERS_OUT (results, default .peers/results;
# this suite writes under $PEERS_OUT/browser/pages, screenshots included).
set -euo pipefail
# shellcheck source=tests/browser/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

browser_suite pages
port=$(peers_free_port)
config=$OUT/portcullis.toml
cat >"$config" <<TOML
version = 1

[server]
listen = "127.0.0.1:$port"
# localhost rather than 127.0.0.1: passkeys need a domain name as their relying party id.
public_url = "http://localhost:$port"

[store]
url = "sqlite://$WORK/portcullis.db"

# Accounts of the tenant "strict" must have a second factor (the required-enrolment test).
[accounts]
mfa_by_tenant = { strict = "required" }

# The built-in demo MCP server behind Portcullis's own OAuth: what the consent tests ask for.
[[upstreams]]
name = "demo"
builtin = "demo"
auth = "oauth"
TOML
peers_start_portcullis "$BIN" "$config" "$port" "$OUT/portcullis.log"

status=0
PORTCULLIS_BIN=$BIN PORTCULLIS_TEST_CONFIG=$config PORTCULLIS_TEST_BASE="http://localhost:$port" \
  BROWSER_OUT=$OUT timeout 900 "$NODE22" --test --test-reporter=spec --test-concurrency=1 \
  "$BROWSER_DIR/pages.test.mjs" 2>&1 | tee "$OUT/tests.log" || status=$?
peers_log "screenshots in $OUT/screenshots, Portcullis's log in $OUT/portcullis.log"
exit "$status"
