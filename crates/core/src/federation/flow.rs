//! The two halves of a sign-in at a provider: sending the browser there ([`begin`]) and
//! checking what it brings back ([`complete`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use portcullis_store::FederationState;
use rand::{CryptoRng, RngCore};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{FederationError, Provider, ProviderIdentity, ProviderMetadata, ProviderTokens};
use crate::auth::jwt::{Claims, Expected, Jws, TokenTypes};
use crate::auth::{Context, Credential, FetchMethod, LEEWAY_SECS, Rejection};
use crate::config::ProviderKind;
use crate::crypto::Sealer;
use crate::oauth::pkce;

/// How long a sign-in at a provider may take, from the click to the callback.
pub const STATE_TTL: time::Duration = time::Duration::minutes(10);
/// The largest token or userinfo answer read from a provider.
const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// A sign-in sent to a provider: where to send the browser, and the row to store.
#[derive(Debug)]
pub struct Started {
    pub authorization_url: String,
    pub state: FederationState,
}

/// The parameters of the provider's redirect back to `/auth/callback/{id}`.
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

fn random_b64(rng: &mut impl RngCore) -> Zeroizing<String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(bytes.as_mut());
    Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_ref()))
}

/// The hash the store keeps of a `state` value.
pub fn state_hash(state: &str) -> [u8; 32] {
    Sha256::digest(state.as_bytes()).into()
}

/// The associated data a pending sign-in's verifier is sealed with.
fn verifier_aad(state_hash: &[u8; 32]) -> Vec<u8> {
    let mut aad = b"portcullis/federation-verifier/".to_vec();
    aad.extend_from_slice(state_hash);
    aad
}

/// Starts a sign-in at `provider` for the browser whose binding secret hashes to
/// `browser_hash`: the authorization URL (with a fresh `state`, `nonce` and PKCE S256
/// challenge) and the pending row the caller stores before sending the browser on.
#[allow(
    clippy::too_many_arguments,
    reason = "each is a separate input of the request being built"
)]
pub async fn begin(
    provider: &Provider,
    sealer: &Sealer,
    redirect_uri: &str,
    browser_hash: [u8; 32],
    return_to: Option<String>,
    link_user_id: Option<String>,
    now: OffsetDateTime,
    rng: &mut impl CryptoRng,
) -> Result<Started, FederationError> {
    let metadata = provider.metadata(now.unix_timestamp()).await?;
    let state = random_b64(rng);
    let nonce = random_b64(rng);
    let verifier = random_b64(rng);
    let hash = state_hash(&state);
    let sealed = sealer
        .seal(verifier.as_bytes(), &verifier_aad(&hash), rng)
        .map_err(|e| FederationError::Sealing(e.to_string()))?;
    let mut url = url::Url::parse(&metadata.authorization_endpoint)
        .map_err(|_| FederationError::Invalid("the authorization endpoint is not a URL".into()))?;
    let scopes = provider.config.scopes.clone().unwrap_or_default().join(" ");
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &provider.config.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", &scopes)
            .append_pair("state", &state)
            .append_pair("code_challenge", &pkce::challenge_of(&verifier))
            .append_pair("code_challenge_method", pkce::S256);
        if provider.kind().is_oidc() {
            query.append_pair("nonce", &nonce);
        }
    }
    Ok(Started {
        authorization_url: url.into(),
        state: FederationState {
            state_hash: hash,
            provider: provider.id().to_owned(),
            browser_hash,
            nonce: nonce.to_string(),
            code_verifier: sealed,
            return_to,
            link_user_id,
            created_at: now,
            expires_at: now + STATE_TTL,
        },
    })
}

/// Checks the provider's answer to the sign-in `pending` (already taken from the store and
/// matched to the browser by the caller) and returns who signed in, with the provider's
/// tokens. Every failure is an error; nothing is written here.
pub async fn complete(
    provider: &Provider,
    sealer: &Sealer,
    pending: &FederationState,
    params: &CallbackParams,
    redirect_uri: &str,
    now: OffsetDateTime,
) -> Result<ProviderIdentity, FederationError> {
    if pending.provider != provider.id() {
        return Err(FederationError::BadState);
    }
    let metadata = provider.metadata(now.unix_timestamp()).await?;
    check_iss_parameter(provider, &metadata, params.iss.as_deref())?;
    if let Some(error) = &params.error {
        return Err(FederationError::Denied {
            error: printable(error),
            description: params.error_description.as_deref().map(printable),
        });
    }
    let code = params
        .code
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| FederationError::Invalid("the callback has no code".into()))?;
    let verifier = sealer
        .open(&pending.code_verifier, &verifier_aad(&pending.state_hash))
        .map_err(|e| FederationError::Sealing(e.to_string()))?;
    let verifier = std::str::from_utf8(&verifier)
        .map_err(|_| FederationError::Sealing("the verifier is not text".into()))?;
    let answer = token_request(
        provider,
        &metadata,
        &[
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", redirect_uri.to_owned()),
            ("code_verifier", verifier.to_owned()),
        ],
    )
    .await?;
    let tokens = tokens_of(&answer, now)?;
    let identity = match provider.kind() {
        ProviderKind::Github => github_identity(provider, tokens, now).await?,
        _ => oidc_identity(provider, &metadata, pending, &answer, tokens, now).await?,
    };
    check_email_domain(provider, &identity)?;
    Ok(identity)
}

/// Provider text shown on an error page: printable ASCII, at most 200 characters.
fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(200)
        .collect()
}

/// RFC 9207 §2.4: a provider that says it sends `iss` must send its issuer; any `iss` that is
/// sent must be the issuer (the defence against mix-up attacks).
fn check_iss_parameter(
    provider: &Provider,
    metadata: &ProviderMetadata,
    iss: Option<&str>,
) -> Result<(), FederationError> {
    if provider.kind() == ProviderKind::Github {
        return Ok(());
    }
    match iss {
        Some(iss)
            if provider.config.entra_multi_tenant()
                && entra_tenant_of(&metadata.issuer, iss).is_none() =>
        {
            return Err(FederationError::Invalid(format!(
                "the authorization response's iss {:?} is not this provider's",
                printable(iss)
            )));
        }
        Some(_) if provider.config.entra_multi_tenant() => {}
        Some(iss) if iss != metadata.issuer => {
            return Err(FederationError::Invalid(format!(
                "the authorization response's iss {:?} is not this provider's (mix-up)",
                printable(iss)
            )));
        }
        None if metadata.iss_parameter_supported => {
            return Err(FederationError::Invalid(
                "the authorization response has no iss, which this provider always sends".into(),
            ));
        }
        _ => {}
    }
    Ok(())
}

/// The directory id in `iss` when it fits a multi-tenant Entra template
/// (`https://login.microsoftonline.com/{tenantid}/v2.0`): a GUID between the template's
/// prefix and suffix.
fn entra_tenant_of<'a>(template: &str, iss: &'a str) -> Option<&'a str> {
    let (prefix, suffix) = template.split_once("{tenantid}")?;
    let middle = iss.strip_prefix(prefix)?.strip_suffix(suffix)?;
    let guid = middle.len() == 36
        && middle.bytes().enumerate().all(|(i, b)| {
            if [8, 13, 18, 23].contains(&i) {
                b == b'-'
            } else {
                b.is_ascii_hexdigit()
            }
        });
    guid.then_some(middle)
}

/// POSTs `form` to the token endpoint with the client's credentials and returns the JSON
/// object it answered, or the error it gave.
pub(super) async fn token_request(
    provider: &Provider,
    metadata: &ProviderMetadata,
    form: &[(&'static str, String)],
) -> Result<Map<String, Value>, FederationError> {
    let mut request = provider.request(&metadata.token_endpoint);
    request.method = FetchMethod::PostForm;
    request.max_body_bytes = Some(MAX_ANSWER_BYTES);
    request.headers = vec![("accept", "application/json".to_owned())];
    request.form = form.to_vec();
    if metadata.basic_auth {
        // RFC 6749 §2.3.1: both parts form-urlencoded before Base64.
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let pair = format!(
            "{}:{}",
            encode(&provider.config.client_id),
            encode(provider.client_secret())
        );
        request.headers.push((
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            ),
        ));
    } else {
        request
            .form
            .push(("client_id", provider.config.client_id.clone()));
        request
            .form
            .push(("client_secret", provider.client_secret().to_owned()));
    }
    let response = provider
        .fetch()
        .fetch(request)
        .await
        .map_err(|e| FederationError::Unavailable(format!("token endpoint: {e}")))?;
    if response.status >= 500 {
        return Err(FederationError::Unavailable(format!(
            "the token endpoint answered HTTP {}",
            response.status
        )));
    }
    let body: Map<String, Value> = serde_json::from_slice(&response.body).map_err(|_| {
        FederationError::Invalid(format!(
            "the token endpoint answered HTTP {} without a JSON object",
            response.status
        ))
    })?;
    // GitHub answers errors with 200 and an `error` member.
    if let Some(error) = body.get("error").and_then(Value::as_str) {
        return Err(FederationError::Invalid(format!(
            "the token endpoint refused the request: {}",
            printable(error)
        )));
    }
    if response.status != 200 {
        return Err(FederationError::Invalid(format!(
            "the token endpoint answered HTTP {}",
            response.status
        )));
    }
    Ok(body)
}

/// The tokens of a token response.
pub(super) fn tokens_of(
    answer: &Map<String, Value>,
    now: OffsetDateTime,
) -> Result<ProviderTokens, FederationError> {
    let access_token = answer
        .get("access_token")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| FederationError::Invalid("the token response has no access_token".into()))?;
    let token_type = answer.get("token_type").and_then(Value::as_str);
    if token_type.is_some_and(|t| !t.eq_ignore_ascii_case("bearer")) {
        return Err(FederationError::Invalid(
            "the token response's token_type is not Bearer".into(),
        ));
    }
    let expires_at = answer
        .get("expires_in")
        .and_then(|v| {
            v.as_i64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
        .filter(|s| *s > 0)
        .map(|s| now.unix_timestamp().saturating_add(s));
    Ok(ProviderTokens {
        access_token: access_token.to_owned(),
        refresh_token: answer
            .get("refresh_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_owned),
        expires_at,
    })
}

/// A JSON boolean `true`; the string `"true"` is not one (reference F4).
fn is_true(value: Option<&Value>) -> bool {
    value == Some(&Value::Bool(true))
}

fn string_claim(claims: &Claims, name: &str) -> Result<Option<String>, FederationError> {
    claims
        .string(name)
        .map(|v| v.filter(|s| !s.is_empty()).map(str::to_owned))
        .map_err(|e| FederationError::Invalid(format!("ID token: {e}")))
}

async fn oidc_identity(
    provider: &Provider,
    metadata: &ProviderMetadata,
    pending: &FederationState,
    answer: &Map<String, Value>,
    tokens: ProviderTokens,
    now: OffsetDateTime,
) -> Result<ProviderIdentity, FederationError> {
    let id_token = answer
        .get("id_token")
        .and_then(Value::as_str)
        .ok_or_else(|| FederationError::Invalid("the token response has no id_token".into()))?;
    let claims = verify_id_token(provider, metadata, id_token, now).await?;
    // OpenID Connect Core §3.1.3.7: the nonce sent must come back.
    if claims.string("nonce").ok().flatten() != Some(pending.nonce.as_str()) {
        return Err(FederationError::Invalid(
            "the ID token's nonce is not the one sent (a replayed or injected response)".into(),
        ));
    }
    let subject = string_claim(&claims, "sub")?
        .filter(|s| s.len() <= 255)
        .ok_or_else(|| FederationError::Invalid("the ID token has no usable sub".into()))?;
    let config = &provider.config;
    let email_claim = config.email_claim.as_deref().unwrap_or("email");
    let name_claim = config.name_claim.as_deref().unwrap_or("name");
    let mut email = string_claim(&claims, email_claim)?;
    let mut email_verified = email.is_some() && is_true(claims.get("email_verified"));
    if provider.kind() == ProviderKind::Entra {
        // Entra's `email` is whatever the directory holds, unverified, unless the directory's
        // owner verified the domain (`xms_edov`); `email_verified` is not sent at all.
        email_verified = email.is_some() && is_true(claims.get("xms_edov"));
    }
    let mut name = string_claim(&claims, name_claim)?;
    let login = string_claim(&claims, "preferred_username")?;
    let groups = match &config.groups_claim {
        Some(claim) => claims
            .strings(claim)
            .map_err(|e| FederationError::Invalid(format!("ID token: {e}")))?,
        None => Vec::new(),
    };
    let tenant = match &config.tenant_claim {
        Some(claim) => string_claim(&claims, claim)?,
        None => None,
    };
    let amr = claims.strings("amr").unwrap_or_default();
    if provider.kind() == ProviderKind::Google {
        let allowed = config.hosted_domains.as_deref().unwrap_or_default();
        if !allowed.is_empty() {
            let hd = string_claim(&claims, "hd")?;
            if !hd.is_some_and(|hd| allowed.iter().any(|a| a.eq_ignore_ascii_case(&hd))) {
                return Err(FederationError::NotAllowed(
                    "This Google account is not in a domain allowed to sign in here.".into(),
                ));
            }
        }
    }
    if config.userinfo == Some(true) {
        let endpoint = metadata.userinfo_endpoint.as_deref().ok_or_else(|| {
            FederationError::Invalid("userinfo is asked for but the provider has none".into())
        })?;
        let info = userinfo(provider, endpoint, &tokens.access_token).await?;
        // OpenID Connect Core §5.3.2: the userinfo `sub` must be the ID token's.
        if info.get("sub").and_then(Value::as_str) != Some(subject.as_str()) {
            return Err(FederationError::Invalid(
                "the userinfo sub is not the ID token's".into(),
            ));
        }
        if email.is_none()
            && let Some(e) = info.get(email_claim).and_then(Value::as_str)
        {
            email = Some(e.to_owned());
            email_verified =
                provider.kind() != ProviderKind::Entra && is_true(info.get("email_verified"));
        }
        if name.is_none() {
            name = info
                .get(name_claim)
                .and_then(Value::as_str)
                .map(str::to_owned);
        }
    }
    Ok(ProviderIdentity {
        provider: provider.id().to_owned(),
        subject,
        email,
        email_verified,
        name,
        login,
        groups,
        tenant,
        amr,
        tokens,
    })
}

/// Verifies an ID token: signature with the provider's keys (the algorithm pinned by the key),
/// `iss`, `aud` containing our client id, `azp` (when present, or when there are several
/// audiences) equal to it, `exp`, `iat` and `nbf`.
async fn verify_id_token(
    provider: &Provider,
    metadata: &ProviderMetadata,
    id_token: &str,
    now: OffsetDateTime,
) -> Result<Claims, FederationError> {
    let invalid = |e: &dyn std::fmt::Display| FederationError::Invalid(format!("ID token: {e}"));
    let jws = Jws::parse(id_token).map_err(|e| invalid(&e))?;
    let expected_issuer: String = if provider.config.entra_multi_tenant() {
        // The document's issuer has `{tenantid}`; the token's names the person's directory,
        // which must then be its `tid` too.
        let iss = jws.unverified_issuer().unwrap_or_default();
        let tenant = entra_tenant_of(&metadata.issuer, iss).ok_or_else(|| {
            FederationError::Invalid("ID token: iss is not this provider's".into())
        })?;
        if jws.unverified_claim("tid").and_then(Value::as_str) != Some(tenant) {
            return Err(FederationError::Invalid(
                "ID token: tid is not the directory in iss".into(),
            ));
        }
        iss.to_owned()
    } else {
        metadata.issuer.clone()
    };
    let jwks_uri = metadata
        .jwks_uri
        .as_deref()
        .ok_or_else(|| FederationError::Invalid("the provider publishes no keys".into()))?;
    let keys = provider
        .keys(jwks_uri)
        .keys(jws.kid(), now.unix_timestamp())
        .await
        .map_err(|e| match e {
            Rejection::Unavailable(why) => FederationError::Unavailable(why),
            other => invalid(&other),
        })?;
    let types = TokenTypes::AbsentOr(vec!["jwt".to_owned()]);
    let client_id = provider.config.client_id.as_str();
    let claims = jws
        .verify(
            &keys,
            &Expected {
                issuers: &[expected_issuer.as_str()],
                audiences: &[client_id],
                token_types: &types,
                now: now.unix_timestamp(),
            },
        )
        .map_err(|e| invalid(&e))?;
    let audiences = claims
        .string_or_strings("aud")
        .ok()
        .flatten()
        .unwrap_or_default();
    let azp = claims.string("azp").ok().flatten();
    if (audiences.len() > 1 || azp.is_some()) && azp != Some(client_id) {
        return Err(FederationError::Invalid(
            "ID token: azp is not this client".into(),
        ));
    }
    if claims.number("iat").ok().flatten().is_none() {
        return Err(FederationError::Invalid("ID token: iat is required".into()));
    }
    if claims
        .number("iat")
        .ok()
        .flatten()
        .is_some_and(|iat| iat > now.unix_timestamp() + LEEWAY_SECS)
    {
        return Err(FederationError::Invalid(
            "ID token: issued in the future".into(),
        ));
    }
    Ok(claims)
}

async fn userinfo(
    provider: &Provider,
    endpoint: &str,
    access_token: &str,
) -> Result<Map<String, Value>, FederationError> {
    let mut request = provider.request(endpoint);
    request.max_body_bytes = Some(MAX_ANSWER_BYTES);
    request.headers = vec![
        ("authorization", format!("Bearer {access_token}")),
        ("accept", "application/json".to_owned()),
    ];
    let response = provider
        .fetch()
        .fetch(request)
        .await
        .map_err(|e| FederationError::Unavailable(format!("userinfo: {e}")))?;
    if response.status != 200 {
        return Err(FederationError::Unavailable(format!(
            "userinfo answered HTTP {}",
            response.status
        )));
    }
    serde_json::from_slice(&response.body)
        .map_err(|_| FederationError::Invalid("userinfo is not a JSON object".into()))
}

async fn github_identity(
    provider: &Provider,
    tokens: ProviderTokens,
    now: OffsetDateTime,
) -> Result<ProviderIdentity, FederationError> {
    let check = provider
        .github()
        .ok_or_else(|| FederationError::Invalid("the GitHub check is missing".into()))?;
    let principal = check
        .validate(
            Credential::Bearer(&tokens.access_token),
            Context {
                resource: "",
                now: now.unix_timestamp(),
            },
        )
        .await
        .map_err(|e| match e {
            Rejection::Unavailable(why) => FederationError::Unavailable(why),
            Rejection::NotApplicable => {
                FederationError::Invalid("GitHub gave a token of an unknown shape".into())
            }
            Rejection::Invalid(why) if why.contains("allowlist") => FederationError::NotAllowed(
                "This GitHub account is not allowed to sign in here.".into(),
            ),
            other => FederationError::Invalid(other.to_string()),
        })?;
    let subject = principal
        .subject
        .strip_prefix(&format!("{}:", provider.id()))
        .unwrap_or(&principal.subject)
        .to_owned();
    Ok(ProviderIdentity {
        provider: provider.id().to_owned(),
        subject,
        email: principal.email,
        email_verified: principal.email_verified,
        // The username of a new account comes from the login, never the display name.
        login: principal.login.or_else(|| principal.name.clone()),
        name: principal.name,
        groups: principal.groups,
        tenant: principal.tenant,
        amr: Vec::new(),
        tokens,
    })
}

/// `allowed_email_domains`: the address must be verified and in one of the domains.
fn check_email_domain(
    provider: &Provider,
    identity: &ProviderIdentity,
) -> Result<(), FederationError> {
    let allowed = &provider.config.allowed_email_domains;
    if allowed.is_empty() {
        return Ok(());
    }
    let domain = identity
        .email
        .as_deref()
        .filter(|_| identity.email_verified)
        .and_then(|e| e.rsplit_once('@'))
        .map(|(_, d)| d.to_ascii_lowercase());
    if domain.is_some_and(|d| allowed.contains(&d)) {
        Ok(())
    } else {
        Err(FederationError::NotAllowed(
            "Only people with a verified email address in an allowed domain may sign in here."
                .into(),
        ))
    }
}
