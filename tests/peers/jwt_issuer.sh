#!/usr/bin/env bash
# Portcullis against a real JWT issuer on loopback (npm oauth2-mock-server): valid tokens of each
# signature algorithm reach the upstream as identity headers, and every JWT/JWKS and MCP
# transport attack of the security reference is refused before the upstream. See
# tests/peers/README.md and jwt_issuer.mjs.
#
#   tests/peers/jwt_issuer.sh     # last line "N passed, M failed"
#
# Environment: PORTCULLIS_BIN (skip the cargo build), PEERS_OUT (results; default .peers/results).
set -euo pipefail
# shellcheck source=tests/peers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

peers_install_node
bin=$(peers_portcullis_bin)
out=$PEERS_OUT/jwt-issuer
mkdir -p "$out"
timeout 300 "$NODE22" "$PEERS_DIR/jwt_issuer.mjs" --portcullis "$bin" --out "$out" 2>&1 | tee "$out/checks.log"
