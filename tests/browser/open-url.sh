#!/bin/sh
# The "web browser" the MCP Inspector opens its authorization URL with in newcomer.sh (through
# `open` and xdg-open, which run $BROWSER when there is no desktop): it writes the URL to
# $NEWCOMER_URL_FILE, where newcomer.mjs picks it up and opens it in headless Chromium.
printf '%s\n' "$1" >>"$NEWCOMER_URL_FILE"
