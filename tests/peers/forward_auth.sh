#!/usr/bin/env bash
# ForwardAuth with a real nginx (`auth_request`): nginx publishes an MCP server and asks
# Portcullis's /forward-auth about every request; Portcullis answers with the caller's identity
# (copied onto the proxied request) or a 401 challenge (passed back to the client). Two nginx
# locations cover both ways of naming the upstream: the forwarded scheme, host and path
# (`/servers/files/mcp`, X-Forwarded-* from a trusted proxy) and `?upstream=files`
# (`/by-name/files/mcp`). See tests/peers/README.md.
#
#   tests/peers/forward_auth.sh     # last line "N passed, M failed"
#
# Needs nginx with the auth_request module (Debian's nginx-light has it; `.ci/run` installs it).
# Environment: PORTCULLIS_BIN (skip the cargo build), PEERS_OUT (results; default .peers/results).
set -euo pipefail
# shellcheck source=tests/peers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
[[ -x $NGINX ]] || peers_die "nginx is not installed (apt-get install nginx-light)"
"$NGINX" -V 2>&1 | grep -q -- --with-http_auth_request_module ||
  peers_die "$NGINX has no auth_request module"

out=$PEERS_OUT/forward-auth
rm -rf "$out"
mkdir -p "$out/nginx"

bin=$(peers_portcullis_bin)
upstream_port=$(peers_free_port)
portcullis_port=$(peers_free_port)
nginx_port=$(peers_free_port)
public=http://127.0.0.1:$nginx_port

peers_start "header upstream (:$upstream_port)" "$out/upstream.log" \
  python3 "$PEERS_DIR/header_upstream.py" "$upstream_port"
peers_wait_http "http://127.0.0.1:$upstream_port/mcp" "$PEERS_LAST_PID" "$out/upstream.log" 30

# Portcullis is published through nginx, so its public URL is nginx's; nginx is its trusted proxy.
config=$out/portcullis.toml
cat >"$config" <<TOML
version = 1

[server]
listen = "127.0.0.1:$portcullis_port"
public_url = "$public"
trusted_proxies = ["127.0.0.1/32"]

[store]
url = "sqlite://$out/state/portcullis.db"

[[upstreams]]
name = "files"
url = "http://127.0.0.1:$upstream_port/mcp"
accept = ["api_key"]
scopes = ["files:read"]
TOML
mkdir -p "$out/state"
key=$("$bin" admin --config "$config" --json api-key create --name nginx --subject service:nginx-test 2>"$out/admin.log" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["api_key"])')
peers_start_portcullis "$bin" "$config" "$portcullis_port" "$out/portcullis.log"

# The documented nginx recipe (docs/forward-auth.md), with test paths.
cat >"$out/nginx/nginx.conf" <<NGINX
daemon off;
worker_processes 1;
pid $out/nginx/nginx.pid;
error_log $out/nginx/error.log info;
events { worker_connections 64; }
http {
  access_log $out/nginx/access.log;
  client_body_temp_path $out/nginx/body;
  proxy_temp_path $out/nginx/proxy;
  fastcgi_temp_path $out/nginx/fastcgi;
  uwsgi_temp_path $out/nginx/uwsgi;
  scgi_temp_path $out/nginx/scgi;

  server {
    listen 127.0.0.1:$nginx_port;

    # Upstream chosen from the forwarded scheme, host and path.
    location /servers/ {
      auth_request /_portcullis;
      auth_request_set \$portcullis_user \$upstream_http_x_portcullis_user;
      auth_request_set \$portcullis_email \$upstream_http_x_portcullis_email;
      auth_request_set \$portcullis_tenant \$upstream_http_x_portcullis_tenant;
      auth_request_set \$portcullis_groups \$upstream_http_x_portcullis_groups;
      auth_request_set \$portcullis_scopes \$upstream_http_x_portcullis_scopes;
      auth_request_set \$portcullis_challenge \$upstream_http_www_authenticate;
      add_header WWW-Authenticate \$portcullis_challenge always;
      proxy_set_header X-Portcullis-User \$portcullis_user;
      proxy_set_header X-Portcullis-Email \$portcullis_email;
      proxy_set_header X-Portcullis-Tenant \$portcullis_tenant;
      proxy_set_header X-Portcullis-Groups \$portcullis_groups;
      proxy_set_header X-Portcullis-Scopes \$portcullis_scopes;
      proxy_set_header Authorization "";
      proxy_set_header Cookie "";
      proxy_http_version 1.1;
      proxy_buffering off;
      proxy_pass http://127.0.0.1:$upstream_port/mcp;
    }

    # Upstream named in the ForwardAuth URL.
    location /by-name/files/mcp {
      auth_request /_portcullis_files;
      auth_request_set \$portcullis_user \$upstream_http_x_portcullis_user;
      auth_request_set \$portcullis_challenge \$upstream_http_www_authenticate;
      add_header WWW-Authenticate \$portcullis_challenge always;
      proxy_set_header X-Portcullis-User \$portcullis_user;
      proxy_set_header X-Portcullis-Tenant "";
      proxy_set_header Authorization "";
      proxy_http_version 1.1;
      proxy_pass http://127.0.0.1:$upstream_port/mcp;
    }

    location = /_portcullis {
      internal;
      proxy_pass http://127.0.0.1:$portcullis_port/forward-auth;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Forwarded-Method \$request_method;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$http_host;
      proxy_set_header X-Forwarded-Uri \$request_uri;
    }

    location = /_portcullis_files {
      internal;
      proxy_pass http://127.0.0.1:$portcullis_port/forward-auth?upstream=files;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Forwarded-Uri \$request_uri;
    }
  }
}
NGINX
"$NGINX" -t -p "$out/nginx" -c "$out/nginx/nginx.conf" >"$out/nginx-test.log" 2>&1 ||
  { cat "$out/nginx-test.log" >&2; peers_die "nginx rejected the configuration"; }
peers_start "nginx (:$nginx_port)" "$out/nginx.log" "$NGINX" -p "$out/nginx" -c "$out/nginx/nginx.conf"
peers_wait_http "$public/" "$PEERS_LAST_PID" "$out/nginx.log" 30

status=0
python3 "$PEERS_DIR/forward_auth_check.py" "$public" "$key" "$public" | tee "$out/checks.log" || status=$?
passed=$(grep -c '^ok ' "$out/checks.log" || true)
failed=$(grep -c '^FAIL ' "$out/checks.log" || true)
if ((status != 0 && failed == 0)); then
  failed=1
fi
echo "$passed passed, $failed failed"
((failed == 0))
