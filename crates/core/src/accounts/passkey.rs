//! Passkeys (WebAuthn) as a second factor: registering one for an account, and checking one at
//! the second-factor step. The cryptography (CBOR, COSE keys, signatures, the client data's
//! challenge and origin, user verification, the signature counter) is `webauthn-rs`'s.
//!
//! A ceremony is two requests: the first makes a challenge (the options the browser hands to
//! `navigator.credentials.create` or `.get`) and keeps the library's state for it in the store
//! ([`WebauthnCeremony`]), never in the browser, which could replay an old state with an old
//! answer. The second takes that state out of the store atomically — only the browser session
//! that started it can, only once, and only within [`CEREMONY_TTL`] — and checks the browser's
//! answer against it. A session has at most one ceremony of each kind at a time (the page it
//! was shown last).
//!
//! Passkeys are registered and asked for with user verification required (a PIN or a
//! biometric on the authenticator), so a passkey sign-in adds `amr` `hwk`, `user` and `mfa`.
//! The stored factor holds the credential as `webauthn-rs` serialises it: the credential id, the
//! public key, the signature counter and the backup flags; nothing in it is secret, so it is not
//! sealed. The counter (and backup state) is written back after every sign-in, and an answer
//! whose counter did not move forward is refused (a cloned authenticator).
//!
//! The relying party is the public URL: its host is the RP id, its origin the only origin
//! accepted. WebAuthn needs a domain name there (an IP address cannot be an RP id), so a public
//! URL such as `http://127.0.0.1:8080` has no passkeys ([`Passkeys::for_public_url`] says why);
//! browsers treat `http://localhost` as a secure context, so plain-HTTP development works there.
//!
//! The library draws its challenges from its own CSPRNG rather than the caller's RNG; ceremony
//! ids and expiry follow the rest of core (RNG and `now` passed in).

use portcullis_store::{
    CeremonyKind, Factor, FactorKind, FactorUse, Store, User, WebauthnCeremony,
};
use rand::CryptoRng;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use webauthn_rs::prelude::{
    CredentialID, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

use super::AccountsError;
use super::mfa::{self, AMR_HWK, AMR_MFA, AMR_USER, Enrolled};

/// How long a ceremony may take, from the page that starts it to the form that finishes it:
/// long enough to find and unlock an authenticator (the WebAuthn default), short enough that a
/// stale page is no use.
pub const CEREMONY_TTL: time::Duration = time::Duration::minutes(5);

/// The prefix of ceremony ids.
pub const CEREMONY_ID_PREFIX: &str = "wac_";

/// The name authenticators show for the relying party.
const RP_NAME: &str = "Portcullis";

/// The longest browser answer looked at: a registration with no attestation is under 2 KB, an
/// assertion under 1 KB; extensions and transports add little.
pub const MAX_CREDENTIAL_BYTES: usize = 16 * 1024;

/// The relying party Portcullis is to authenticators: its id (the public URL's host) and the
/// one origin whose answers it accepts.
#[derive(Debug, Clone)]
pub struct Passkeys {
    webauthn: Webauthn,
    rp_id: String,
}

impl Passkeys {
    /// The relying party of `public_url`. `Err` says why it cannot be one: a host that is an IP
    /// address (WebAuthn RP ids are domain names), or a URL without a host.
    pub fn for_public_url(public_url: &str) -> Result<Self, String> {
        let url =
            Url::parse(public_url).map_err(|e| format!("the public URL does not parse: {e}"))?;
        let Some(rp_id) = url.domain().map(str::to_owned) else {
            return Err(format!(
                "passkeys need a domain name in server.public_url (WebAuthn relying party ids \
                 cannot be IP addresses); {public_url} has none. For local development use \
                 http://localhost:PORT"
            ));
        };
        let origin = Url::parse(&url.origin().ascii_serialization())
            .map_err(|e| format!("the public URL has no origin: {e}"))?;
        let ttl = std::time::Duration::from_secs(
            u64::try_from(CEREMONY_TTL.whole_seconds()).unwrap_or(300),
        );
        let webauthn = WebauthnBuilder::new(&rp_id, &origin)
            .and_then(|builder| builder.rp_name(RP_NAME).timeout(ttl).build())
            .map_err(|e| format!("the public URL cannot be a WebAuthn relying party: {e}"))?;
        Ok(Passkeys { webauthn, rp_id })
    }

    /// The relying party id: the public URL's host.
    pub fn rp_id(&self) -> &str {
        &self.rp_id
    }
}

/// A ceremony started: its id, which the page's form carries back, and the options for the
/// browser (`{"publicKey": {…}}`, binary values in base64url, as
/// `PublicKeyCredential.parseCreationOptionsFromJSON` and `parseRequestOptionsFromJSON` read
/// them).
#[derive(Debug, Clone)]
pub struct Challenge {
    pub ceremony_id: String,
    pub options_json: String,
}

/// The WebAuthn user handle of `user`: stable for the account (an authenticator that keeps
/// discoverable credentials keeps one per account and relying party), derived from the
/// account's random id, so it says nothing about the person.
fn user_handle(user: &User) -> Uuid {
    let digest = Sha256::digest(format!("portcullis/webauthn-user/{}", user.id).as_bytes());
    let mut bytes = [0u8; 16];
    for (byte, value) in bytes.iter_mut().zip(digest.iter()) {
        *byte = *value;
    }
    Uuid::from_bytes(bytes)
}

/// The passkeys among `factors`, each with its factor. A factor whose data does not parse (a
/// damaged row) never matches and is logged.
fn passkeys_of(factors: &[Factor]) -> Vec<(&Factor, Passkey)> {
    factors
        .iter()
        .filter(|f| f.kind == FactorKind::Passkey)
        .filter_map(|f| match serde_json::from_slice::<Passkey>(&f.data) {
            Ok(passkey) => Some((f, passkey)),
            Err(e) => {
                tracing::error!(user = %f.user_id, factor = %f.id, error = %e, "a stored passkey does not parse");
                None
            }
        })
        .collect()
}

/// Whether `user` has a passkey (one that parses).
pub fn has_passkey(factors: &[Factor]) -> bool {
    !passkeys_of(factors).is_empty()
}

/// A ceremony's state as the store keeps it, and its options as the page carries them.
fn serialised(
    state: &impl serde::Serialize,
    options: &impl serde::Serialize,
) -> Result<(Vec<u8>, String), AccountsError> {
    let state = serde_json::to_vec(state)
        .map_err(|e| AccountsError::PasskeyRejected(format!("keeping a ceremony: {e}")))?;
    let options = serde_json::to_string(options)
        .map_err(|e| AccountsError::PasskeyRejected(format!("writing the options: {e}")))?;
    Ok((state, options))
}

async fn put_ceremony(
    store: &dyn Store,
    session_hash: &[u8; 32],
    kind: CeremonyKind,
    state: Vec<u8>,
    now: OffsetDateTime,
    rng: &mut impl CryptoRng,
) -> Result<String, AccountsError> {
    let ceremony = WebauthnCeremony {
        id: mfa::random_id(CEREMONY_ID_PREFIX, rng),
        session_hash: *session_hash,
        kind,
        state,
        expires_at: now + CEREMONY_TTL,
    };
    store.webauthn_ceremony_put(&ceremony).await?;
    Ok(ceremony.id)
}

/// Takes the ceremony `id` of this session and kind, if it is there and unexpired. Taken means
/// gone: an answer gets one check, right or wrong.
async fn take_ceremony(
    store: &dyn Store,
    session_hash: &[u8; 32],
    kind: CeremonyKind,
    id: &str,
    now: OffsetDateTime,
) -> Result<WebauthnCeremony, AccountsError> {
    if !id.starts_with(CEREMONY_ID_PREFIX) || id.len() > 64 {
        return Err(AccountsError::CeremonyOutOfDate);
    }
    match store.webauthn_ceremony_take(id, session_hash, kind).await? {
        Some(ceremony) if ceremony.expires_at > now => Ok(ceremony),
        _ => Err(AccountsError::CeremonyOutOfDate),
    }
}

/// Starts registering a passkey for `user` in the browser session `session_hash`: the
/// authenticator is told to verify the user and not to make a second credential for one it
/// holds already.
pub async fn start_registration(
    passkeys: &Passkeys,
    store: &dyn Store,
    user: &User,
    session_hash: &[u8; 32],
    now: OffsetDateTime,
    rng: &mut impl CryptoRng,
) -> Result<Challenge, AccountsError> {
    let factors = store.factors_of_user(&user.id).await?;
    let exclude: Vec<CredentialID> = passkeys_of(&factors)
        .iter()
        .map(|(_, passkey)| passkey.cred_id().clone())
        .collect();
    let display_name = user.display_name.as_deref().unwrap_or(&user.username);
    let (options, state) = passkeys
        .webauthn
        .start_passkey_registration(
            user_handle(user),
            &user.username,
            display_name,
            Some(exclude),
        )
        .map_err(|e| AccountsError::PasskeyRejected(format!("starting a registration: {e}")))?;
    let (state, options_json) = serialised(&state, &options)?;
    let ceremony_id = put_ceremony(
        store,
        session_hash,
        CeremonyKind::Registration,
        state,
        now,
        rng,
    )
    .await?;
    Ok(Challenge {
        ceremony_id,
        options_json,
    })
}

/// Finishes the registration started in `session_hash` as `ceremony_id` with the browser's
/// answer (`credential.toJSON()`), and records the passkey as a factor named `name`. The name
/// and the room for another factor are checked before the ceremony is taken, so a typo does not
/// spend it.
#[allow(clippy::too_many_arguments)]
pub async fn finish_registration(
    passkeys: &Passkeys,
    store: &dyn Store,
    user: &User,
    session_hash: &[u8; 32],
    ceremony_id: &str,
    credential_json: &str,
    name: &str,
    now: OffsetDateTime,
    rng: &mut impl CryptoRng,
) -> Result<Enrolled, AccountsError> {
    mfa::check_factor_name(name)?;
    let factors = store.factors_of_user(&user.id).await?;
    mfa::check_room(&factors)?;
    let ceremony = take_ceremony(
        store,
        session_hash,
        CeremonyKind::Registration,
        ceremony_id,
        now,
    )
    .await?;
    let state: PasskeyRegistration = serde_json::from_slice(&ceremony.state).map_err(|e| {
        tracing::error!(error = %e, "a stored registration ceremony does not parse");
        AccountsError::CeremonyOutOfDate
    })?;
    if credential_json.len() > MAX_CREDENTIAL_BYTES {
        return Err(AccountsError::PasskeyRejected(
            "answer too large".to_owned(),
        ));
    }
    let answer: RegisterPublicKeyCredential = serde_json::from_str(credential_json)
        .map_err(|e| AccountsError::PasskeyRejected(format!("malformed registration: {e}")))?;
    let passkey = passkeys
        .webauthn
        .finish_passkey_registration(&answer, &state)
        .map_err(|e| AccountsError::PasskeyRejected(format!("registration: {e}")))?;
    // The authenticator was told to exclude these; one that ignored that would give the account
    // the same credential twice.
    if passkeys_of(&factors)
        .iter()
        .any(|(_, known)| known.cred_id() == passkey.cred_id())
    {
        return Err(AccountsError::Policy(
            "This passkey is set up for your account already.".to_owned(),
        ));
    }
    let data = serde_json::to_vec(&passkey)
        .map_err(|e| AccountsError::PasskeyRejected(format!("keeping the passkey: {e}")))?;
    mfa::enroll_passkey(store, user, name, data, now, rng).await
}

/// Starts a passkey sign-in for `user` at the second-factor step, in the browser session
/// `session_hash`. `None` when the account has no passkey.
pub async fn start_sign_in(
    passkeys: &Passkeys,
    store: &dyn Store,
    user: &User,
    session_hash: &[u8; 32],
    now: OffsetDateTime,
    rng: &mut impl CryptoRng,
) -> Result<Option<Challenge>, AccountsError> {
    let factors = store.factors_of_user(&user.id).await?;
    let credentials: Vec<Passkey> = passkeys_of(&factors)
        .into_iter()
        .map(|(_, passkey)| passkey)
        .collect();
    if credentials.is_empty() {
        return Ok(None);
    }
    let (options, state) = passkeys
        .webauthn
        .start_passkey_authentication(&credentials)
        .map_err(|e| AccountsError::PasskeyRejected(format!("starting a sign-in: {e}")))?;
    let (state, options_json) = serialised(&state, &options)?;
    let ceremony_id = put_ceremony(
        store,
        session_hash,
        CeremonyKind::Authentication,
        state,
        now,
        rng,
    )
    .await?;
    Ok(Some(Challenge {
        ceremony_id,
        options_json,
    }))
}

/// A sign-in ceremony taken out of the store: it can be checked once.
#[derive(Debug)]
pub struct SignInCeremony {
    state: PasskeyAuthentication,
}

/// Takes the sign-in ceremony `ceremony_id` of `session_hash` out of the store, once:
/// [`AccountsError::CeremonyOutOfDate`] when this session has no such ceremony (another
/// session's, used, never made) or it expired. Not a guess at a factor, so callers take it
/// before counting the attempt.
pub async fn take_sign_in(
    store: &dyn Store,
    session_hash: &[u8; 32],
    ceremony_id: &str,
    now: OffsetDateTime,
) -> Result<SignInCeremony, AccountsError> {
    let ceremony = take_ceremony(
        store,
        session_hash,
        CeremonyKind::Authentication,
        ceremony_id,
        now,
    )
    .await?;
    let state = serde_json::from_slice(&ceremony.state).map_err(|e| {
        tracing::error!(error = %e, "a stored sign-in ceremony does not parse");
        AccountsError::CeremonyOutOfDate
    })?;
    Ok(SignInCeremony { state })
}

/// Checks the browser's answer (`credential.toJSON()`) to `ceremony`, records the credential's
/// new counter, and returns the `amr` values it adds. A wrong answer is
/// [`AccountsError::PasskeyRejected`]: a failed factor, for the throttle.
pub async fn finish_sign_in(
    passkeys: &Passkeys,
    store: &dyn Store,
    user: &User,
    ceremony: SignInCeremony,
    credential_json: &str,
    now: OffsetDateTime,
) -> Result<Vec<String>, AccountsError> {
    let state = ceremony.state;
    if credential_json.len() > MAX_CREDENTIAL_BYTES {
        return Err(AccountsError::PasskeyRejected(
            "answer too large".to_owned(),
        ));
    }
    let answer: PublicKeyCredential = serde_json::from_str(credential_json)
        .map_err(|e| AccountsError::PasskeyRejected(format!("malformed assertion: {e}")))?;
    let result = passkeys
        .webauthn
        .finish_passkey_authentication(&answer, &state)
        .map_err(|e| AccountsError::PasskeyRejected(format!("assertion: {e}")))?;
    // The state lists the account's passkeys as they were when the page was shown; the one
    // used must still be a factor of the account now (not removed in between).
    let factors = store.factors_of_user(&user.id).await?;
    let Some((factor, mut passkey)) = passkeys_of(&factors)
        .into_iter()
        .find(|(_, passkey)| passkey.cred_id() == result.cred_id())
    else {
        return Err(AccountsError::PasskeyRejected(
            "the credential is not one of the account's passkeys".to_owned(),
        ));
    };
    let data = match passkey.update_credential(&result) {
        Some(true) => Some(
            serde_json::to_vec(&passkey)
                .map_err(|e| AccountsError::PasskeyRejected(format!("keeping the passkey: {e}")))?,
        ),
        _ => None,
    };
    match store
        .factor_use(&user.id, &factor.id, None, data.as_deref(), now)
        .await?
    {
        FactorUse::Used => {}
        FactorUse::Replayed | FactorUse::Unknown => {
            return Err(AccountsError::PasskeyRejected(
                "the passkey was removed during the sign-in".to_owned(),
            ));
        }
    }
    let mut amr = vec![AMR_HWK.to_owned()];
    if result.user_verified() {
        amr.push(AMR_USER.to_owned());
    }
    amr.push(AMR_MFA.to_owned());
    Ok(amr)
}

#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;
