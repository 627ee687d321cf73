#!/bin/sh
# The "web browser" ($BROWSER) of clients that open the authorization URL in the user's browser
# (the MCP Inspector CLI opens it with the `open` package, whose xdg-open honours $BROWSER): the
# headless person of oauth_user.mjs signs in, clicks Allow and delivers the redirect to the
# client's loopback callback. PEERS_NODE names the Node binary; with PEERS_BROWSER_LOG set, each
# URL opened is appended to that file, and so is what the person saw.
set -eu
if [ -n "${PEERS_BROWSER_LOG:-}" ]; then
  printf 'open %s\n' "$1" >>"$PEERS_BROWSER_LOG"
  exec "${PEERS_NODE:?}" "$(dirname "$0")/oauth_user.mjs" --follow "$1" >>"$PEERS_BROWSER_LOG" 2>&1
fi
exec "${PEERS_NODE:?}" "$(dirname "$0")/oauth_user.mjs" --follow "$1"
