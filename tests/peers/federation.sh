#!/usr/bin/env bash
# Signing in through identity providers with real peers on loopback: an MCP client (the TS SDK)
# meets Portcullis's 401, the person chooses a provider on the sign-in page, signs in there,
# comes back through /auth/callback/{id}, clicks Allow, and the client calls a tool on an
# upstream with pass_provider_token, which must receive the person's provider token (and never
# the client's own token). One run per kind of `[[identity_providers]]`:
#
#   corp    kind oidc:   a real OpenID Connect provider (npm oidc-provider)
#   google  kind google: oidc-provider again, shaped like Google (`hd`), `issuer` overridden
#   entra   kind entra:  tenant "organizations", `issuer` overridden to a server shaped like the
#                        Microsoft identity platform (multi-tenant issuer template, `tid`, `xms_edov`)
#   github  kind github: `base_url` pointed at a server shaped like GitHub Enterprise (OAuth + API)
#
# and two refusals: a provider's redirect replayed (the state works once: 400), and a Google
# account outside `hosted_domains` (403). See tests/peers/README.md, federation_idp.mjs and
# federation-client.mjs.
#
#   tests/peers/federation.sh     # last line "N passed, M failed"
#
# Environment: PORTCULLIS_BIN (skip the cargo build), PEERS_OUT (results; default .peers/results).
set -euo pipefail
# shellcheck source=tests/peers/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

out=$PEERS_OUT/federation
rm -rf "$out"
mkdir -p "$out"

# Node and npm install the peers; CI has them, and a missing one fails the suite rather than
# skipping it.
command -v node >/dev/null && command -v npm >/dev/null ||
  peers_die "node and npm are needed (the peers are installed with npm ci --prefix tests/peers)"
peers_install_node
[[ -f $PEERS_DIR/node_modules/oidc-provider/package.json ]] ||
  peers_die "npm ci did not install oidc-provider under $PEERS_DIR/node_modules"
bin=$(peers_portcullis_bin)

random() { python3 -c 'import secrets; print(secrets.token_urlsafe(24))'; }

port=$(peers_free_port)
gateway=http://127.0.0.1:$port
upstream_port=$(peers_free_port)
corp_port=$(peers_free_port)
google_port=$(peers_free_port)
entra_port=$(peers_free_port)
github_port=$(peers_free_port)
# The password of the entra and github sign-in pages (oidc-provider's takes any password).
export PEERS_PROVIDER_PASSWORD
PEERS_PROVIDER_PASSWORD=$(random)
# The corp provider's access tokens last this long, so that the suite sees one refreshed.
corp_access_ttl=45

peers_start "header upstream (:$upstream_port)" "$out/upstream.log" \
  python3 "$PEERS_DIR/header_upstream.py" "$upstream_port" "$out/upstream-requests.jsonl"
peers_wait_http "http://127.0.0.1:$upstream_port/mcp" "$PEERS_LAST_PID" "$out/upstream.log" 30 ||
  peers_die "the header upstream did not start"

# start_idp ID KIND PORT READY_PATH READY_STATUS [ARGS...]: one provider, its client secret in
# ${ID^^}_CLIENT_SECRET (exported for Portcullis too), ready when READY_PATH answers READY_STATUS.
start_idp() {
  local id=$1 kind=$2 idp_port=$3 ready=$4 ready_status=$5 secret_var
  shift 5
  secret_var=${id^^}_CLIENT_SECRET
  printf -v "$secret_var" '%s' "$(random)"
  export "${secret_var?}"
  peers_start "$kind provider $id (:$idp_port)" "$out/idp-$id.log" \
    env FEDERATION_CLIENT_SECRET="${!secret_var}" FEDERATION_PASSWORD="$PEERS_PROVIDER_PASSWORD" \
    "$NODE22" "$PEERS_DIR/federation_idp.mjs" --kind "$kind" --port "$idp_port" \
    --client-id "portcullis-$id" --redirect-uri "$gateway/auth/callback/$id" \
    --log "$out/idp-requests.jsonl" "$@"
  peers_wait_http "http://127.0.0.1:$idp_port$ready" "$PEERS_LAST_PID" "$out/idp-$id.log" 30 "$ready_status" ||
    peers_die "the $kind provider $id did not start"
}
start_idp corp oidc "$corp_port" /.well-known/openid-configuration 200 --access-ttl "$corp_access_ttl"
start_idp google google "$google_port" /.well-known/openid-configuration 200
start_idp entra entra "$entra_port" /organizations/v2.0/.well-known/openid-configuration 200
start_idp github github "$github_port" /api/v3/user 401
: >"$out/idp-requests.jsonl"

config=$out/portcullis.toml
mkdir -p "$out/portcullis-state"
{
  cat <<EOF
version = 1

[server]
listen = "127.0.0.1:$port"
public_url = "$gateway"

[store]
url = "sqlite://$out/portcullis-state/portcullis.db"

[[identity_providers]]
id = "corp"
kind = "oidc"
display_name = "Corp SSO"
issuer = "http://127.0.0.1:$corp_port"
client_id = "portcullis-corp"
client_secret_env = "CORP_CLIENT_SECRET"
allow_private_network = true

[[identity_providers]]
id = "google"
kind = "google"
# Tests only: Google's issuer is https://accounts.google.com.
issuer = "http://127.0.0.1:$google_port"
client_id = "portcullis-google"
client_secret_env = "GOOGLE_CLIENT_SECRET"
hosted_domains = ["workspace.example"]
allow_private_network = true

[[identity_providers]]
id = "entra"
kind = "entra"
tenant = "organizations"
# Tests only: the Microsoft identity platform's is https://login.microsoftonline.com/organizations/v2.0.
issuer = "http://127.0.0.1:$entra_port/organizations/v2.0"
client_id = "portcullis-entra"
client_secret_env = "ENTRA_CLIENT_SECRET"
allow_private_network = true

[[identity_providers]]
id = "github"
kind = "github"
base_url = "http://127.0.0.1:$github_port"
client_id = "portcullis-github"
client_secret_env = "GITHUB_CLIENT_SECRET"
allowed_orgs = ["acme"]
allow_private_network = true
EOF
  # One MCP server per provider, each acting as the person there; GitHub's token goes in a
  # header of its own (the bare token), the others' in Authorization (Bearer).
  for id in corp google entra github; do
    cat <<EOF

[[upstreams]]
name = "$id-files"
url = "http://127.0.0.1:$upstream_port/$id/mcp"
auth = "oauth"
pass_provider_token = "$id"
authenticated_roles = ["developer"]
EOF
    [[ $id == github ]] && echo 'provider_token_header = "x-github-token"'
  done
} >"$config"
"$bin" config check --config "$config" >"$out/config-check.log" 2>&1 ||
  { cat "$out/config-check.log" >&2; peers_die "portcullis config check refused $config"; }

peers_start_portcullis "$bin" "$config" "$port" "$out/portcullis.log"

client() {
  local label=$1
  shift
  peers_run_cases federation "$label" "$out/$label.log" "$NODE22" "$PEERS_DIR/federation-client.mjs" --label "$label" "$@"
}

client corp --provider "Corp SSO" --id corp --login alice@corp.example \
  --whoami "http://127.0.0.1:$corp_port/me" --whoami-field sub --whoami-value alice@corp.example \
  --callback-iss "http://127.0.0.1:$corp_port" --refresh-wait 32 \
  "$gateway/servers/corp-files/mcp"
client google --provider Google --id google --login carol@workspace.example \
  --whoami "http://127.0.0.1:$google_port/me" --whoami-field email --whoami-value carol@workspace.example \
  --callback-iss "http://127.0.0.1:$google_port" \
  "$gateway/servers/google-files/mcp"
client google-other-domain --provider Google --id google --login mallory@other.example \
  --refused 403 --refused-text "not in a domain allowed to sign in here" \
  "$gateway/servers/google-files/mcp"
client entra --provider Microsoft --id entra --login dana@contoso.example \
  --whoami "http://127.0.0.1:$entra_port/oidc/userinfo" --whoami-field email --whoami-value dana@contoso.example \
  "$gateway/servers/entra-files/mcp"
client github --provider GitHub --id github --login octo-erin --token-header x-github-token \
  --whoami "http://127.0.0.1:$github_port/api/v3/user" --whoami-field login --whoami-value octo-erin \
  "$gateway/servers/github-files/mcp"
client github-other-org --provider GitHub --id github --login octo-frank \
  --refused 403 --refused-text "not allowed to sign in here" \
  "$gateway/servers/github-files/mcp"

# What Portcullis made of each identity: one account per person who got in (none for the
# refused), no password, the address verified (Entra's by `xms_edov`, GitHub's by /user/emails),
# and the GitHub user named by the login.
"$bin" admin --config "$config" --json user list >"$out/users.json" 2>"$out/admin.log" ||
  { cat "$out/admin.log" >&2; peers_die "portcullis admin user list failed"; }
peers_run_cases federation accounts "$out/accounts.log" python3 - "$out/users.json" <<'PY'
import json, sys
users = {u["email"]: u for u in json.load(open(sys.argv[1], encoding="utf-8"))}
def case(name, ok, why):
    print(f"ok accounts: {name}" if ok else f"FAIL accounts: {name}: {why}")
expected = ["alice@corp.example", "carol@workspace.example", "dana@contoso.example", "erin@erin.example"]
case("one account per person who signed in, none for the refused", sorted(users) == sorted(expected), sorted(users))
for email in expected:
    u = users.get(email, {})
    case(f"{email}: verified address, no password", u.get("email_verified") is True and u.get("has_password") is False, u)
case("the GitHub user's username is the GitHub login", users.get("erin@erin.example", {}).get("username") == "octo-erin",
     users.get("erin@erin.example", {}).get("username"))
PY

# What the providers saw: Portcullis authenticated at each token endpoint the way its
# discovery document (or GitHub) asks, and the Entra-shaped provider's discovery was read
# from the overridden issuer.
idp_log=$out/idp-requests.jsonl
check_idp() {
  local name=$1 pattern=$2 message=$3 status=1
  grep -q "$pattern" "$idp_log" && status=0
  peers_case "$name" "$status" "$message"
}
check_idp providers '"kind":"oidc","method":"POST","path":"/token","status":200,"client_auth":"basic"' \
  "Portcullis redeemed corp's code with client_secret_basic"
check_idp providers '"kind":"entra","method":"GET","path":"/organizations/v2.0/.well-known/openid-configuration","status":200' \
  "Portcullis read the Entra-shaped discovery document at the overridden issuer"
check_idp providers '"kind":"github","method":"POST","path":"/login/oauth/access_token","status":200' \
  "Portcullis redeemed GitHub's code at {base_url}/login/oauth/access_token"
# No provider token that reached the upstream appears in Portcullis's log.
leaked=0
python3 - "$out/upstream-requests.jsonl" "$out/portcullis.log" <<'PY' || leaked=1
import json, sys
tokens = set()
for line in open(sys.argv[1], encoding="utf-8"):
    headers = json.loads(line)["headers"]
    for name in ("authorization", "x-github-token"):
        value = headers.get(name, "").removeprefix("Bearer ")
        if len(value) >= 20:
            tokens.add(value)
log = open(sys.argv[2], encoding="utf-8", errors="replace").read()
found = [t[:8] for t in tokens if t in log]
if not tokens or found:
    sys.exit(f"provider tokens seen: {len(tokens)}; in portcullis.log: {found}")
PY
peers_case "logs" "$leaked" "no provider token the upstream got is in portcullis.log"

peers_stop_all
peers_log "logs in $out (one per client; portcullis.log, idp-*.log, idp-requests.jsonl, upstream-requests.jsonl)"
peers_summary "$out/summary.txt"
