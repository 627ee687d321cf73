//! Conformance checks of the authorization server's tables: codes redeemed once and atomically,
//! refresh-token rotation with its one retry and family revocation, revocation lists, consents
//! and the purge.

use time::{Duration, OffsetDateTime};

use super::{PURGE_LOCK, Scope, base_plus};
use crate::{
    AuthorizationCode, CodeRedemption, Consent, Grant, RefreshRotation, RefreshToken,
    RevokedAccessToken, Store, StoreError,
};

/// Where the purge check's rows live: 1930-01-01T00:00:00Z, before every other check's times
/// (including the relay-session purge range), so its purge deletes nothing of theirs.
const PURGE_BASE_UNIX: i64 = -1_262_304_000;

pub async fn run_all_in(store: &dyn Store, scope: &Scope) {
    codes_round_trip_and_conflict(store, scope).await;
    a_code_is_redeemed_once_and_a_replay_revokes_its_grant(store, scope).await;
    expired_and_unknown_codes_change_nothing(store, scope).await;
    concurrent_redemptions_let_exactly_one_win(store, scope).await;
    refresh_tokens_rotate_and_reuse_revokes_the_family(store, scope).await;
    a_lost_rotation_can_be_retried_once_within_the_grace(store, scope).await;
    refresh_fails_for_expired_tokens_and_revoked_grants(store, scope).await;
    revocation_lists_are_idempotent_and_ordered(store, scope).await;
    consents_are_replaced_by_key(store, scope).await;
    authorization_purge_deletes_exactly_the_expired(store, scope).await;
}

pub(super) fn code(scope: &Scope, seed: u8, at: OffsetDateTime) -> AuthorizationCode {
    AuthorizationCode {
        code_hash: scope.secret_hash(seed),
        client_id: scope.name("client"),
        subject: scope.name("alice"),
        redirect_uri: "http://127.0.0.1:43117/callback?x=1".to_owned(),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned(),
        scope: "files:read files:write".to_owned(),
        resource: "https://gw.example/servers/files/mcp".to_owned(),
        nonce: Some("n-0S6_WzA2Mj".to_owned()),
        auth_time: at - Duration::seconds(5),
        amr: "pwd otp".to_owned(),
        created_at: at,
        expires_at: at + Duration::seconds(60),
        consumed_at: None,
        grant_id: None,
    }
}

pub(super) fn grant(scope: &Scope, name: &str, at: OffsetDateTime) -> Grant {
    Grant {
        id: scope.name(name),
        client_id: scope.name("client"),
        subject: scope.name("alice"),
        scope: "files:read".to_owned(),
        resource: "https://gw.example/servers/files/mcp".to_owned(),
        auth_time: at - Duration::seconds(5),
        amr: "pwd".to_owned(),
        created_at: at,
        expires_at: at + Duration::days(90),
        revoked_at: None,
    }
}

pub(super) fn refresh(scope: &Scope, seed: u8, grant_id: &str, at: OffsetDateTime) -> RefreshToken {
    RefreshToken {
        token_hash: scope.secret_hash(seed),
        grant_id: grant_id.to_owned(),
        created_at: at,
        expires_at: at + Duration::days(14),
        used_at: None,
        successor_hash: None,
        retried_at: None,
    }
}

fn backend_error(store: &dyn Store, what: &str, e: StoreError) -> ! {
    panic!("{}: {what}: {e}", store.backend())
}

async fn redeem(
    store: &dyn Store,
    hash: &[u8; 32],
    now: OffsetDateTime,
    grant: &Grant,
    refresh: Option<&RefreshToken>,
) -> CodeRedemption {
    store
        .code_redeem(hash, now, grant, refresh)
        .await
        .unwrap_or_else(|e| backend_error(store, "code_redeem", e))
}

async fn rotate(
    store: &dyn Store,
    hash: &[u8; 32],
    now: OffsetDateTime,
    successor: &RefreshToken,
) -> RefreshRotation {
    store
        .refresh_rotate(hash, now, successor, Duration::seconds(60))
        .await
        .unwrap_or_else(|e| backend_error(store, "refresh_rotate", e))
}

async fn grant_of(store: &dyn Store, id: &str) -> Grant {
    store
        .grant_get(id)
        .await
        .unwrap_or_else(|e| backend_error(store, "grant_get", e))
        .unwrap_or_else(|| panic!("{}: grant {id} missing", store.backend()))
}

pub async fn codes_round_trip_and_conflict(store: &dyn Store, scope: &Scope) {
    let row = code(scope, 1, base_plus(0));
    store.code_insert(&row).await.unwrap();
    assert_eq!(
        store.code_get(&row.code_hash).await.unwrap(),
        Some(row.clone()),
        "{}: code round trip",
        store.backend()
    );
    let no_nonce = AuthorizationCode {
        nonce: None,
        ..code(scope, 2, base_plus(0))
    };
    store.code_insert(&no_nonce).await.unwrap();
    assert_eq!(
        store.code_get(&no_nonce.code_hash).await.unwrap(),
        Some(no_nonce)
    );
    assert!(
        matches!(store.code_insert(&row).await, Err(StoreError::Conflict(_))),
        "{}: duplicate code",
        store.backend()
    );
    assert_eq!(store.code_get(&scope.secret_hash(3)).await.unwrap(), None);
}

pub async fn a_code_is_redeemed_once_and_a_replay_revokes_its_grant(
    store: &dyn Store,
    scope: &Scope,
) {
    let issued = base_plus(1_000_000);
    let row = code(scope, 10, issued);
    store.code_insert(&row).await.unwrap();
    let g = grant(scope, "grant-once", issued + Duration::seconds(1));
    let r = refresh(scope, 11, &g.id, issued + Duration::seconds(1));
    let now = issued + Duration::seconds(1);
    assert_eq!(
        redeem(store, &row.code_hash, now, &g, Some(&r)).await,
        CodeRedemption::Redeemed,
        "{}: first redemption",
        store.backend()
    );
    let consumed = store.code_get(&row.code_hash).await.unwrap().unwrap();
    assert_eq!(consumed.consumed_at, Some(now));
    assert_eq!(consumed.grant_id.as_deref(), Some(g.id.as_str()));
    assert_eq!(grant_of(store, &g.id).await, g);
    assert_eq!(
        store.refresh_get(&r.token_hash).await.unwrap(),
        Some((r.clone(), g.clone()))
    );

    // A second, valid presentation: the grant of the first is revoked; nothing new is stored.
    let other = grant(scope, "grant-replay", issued + Duration::seconds(2));
    let replay_at = issued + Duration::seconds(2);
    assert_eq!(
        redeem(store, &row.code_hash, replay_at, &other, None).await,
        CodeRedemption::Replayed {
            grant_id: Some(g.id.clone())
        },
        "{}: replay",
        store.backend()
    );
    assert_eq!(grant_of(store, &g.id).await.revoked_at, Some(replay_at));
    assert_eq!(store.grant_get(&other.id).await.unwrap(), None);
    // The family is dead: its refresh token no longer rotates.
    let successor = refresh(scope, 12, &g.id, replay_at);
    assert_eq!(
        rotate(store, &r.token_hash, replay_at, &successor).await,
        RefreshRotation::Invalid
    );
}

pub async fn expired_and_unknown_codes_change_nothing(store: &dyn Store, scope: &Scope) {
    let issued = base_plus(2_000_000);
    let row = code(scope, 20, issued);
    store.code_insert(&row).await.unwrap();
    let g = grant(scope, "grant-expired", issued);
    assert_eq!(
        redeem(store, &row.code_hash, row.expires_at, &g, None).await,
        CodeRedemption::Expired,
        "{}: a code at its expiry",
        store.backend()
    );
    assert_eq!(store.code_get(&row.code_hash).await.unwrap(), Some(row));
    assert_eq!(store.grant_get(&g.id).await.unwrap(), None);
    assert_eq!(
        redeem(store, &scope.secret_hash(21), issued, &g, None).await,
        CodeRedemption::Unknown
    );
    assert_eq!(store.grant_get(&g.id).await.unwrap(), None);
}

pub async fn concurrent_redemptions_let_exactly_one_win(store: &dyn Store, scope: &Scope) {
    let issued = base_plus(3_000_000);
    let row = code(scope, 30, issued);
    store.code_insert(&row).await.unwrap();
    let now = issued + Duration::seconds(1);
    let [g0, g1, g2, g3] = [0, 1, 2, 3].map(|i| grant(scope, &format!("grant-race-{i}"), now));
    let (a, b, c, d) = tokio::join!(
        store.code_redeem(&row.code_hash, now, &g0, None),
        store.code_redeem(&row.code_hash, now, &g1, None),
        store.code_redeem(&row.code_hash, now, &g2, None),
        store.code_redeem(&row.code_hash, now, &g3, None),
    );
    let outcomes = [a, b, c, d];
    let redeemed = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(CodeRedemption::Redeemed)))
        .count();
    assert_eq!(
        redeemed,
        1,
        "{}: exactly one of four racing redemptions wins: {outcomes:?}",
        store.backend()
    );
    for outcome in &outcomes {
        assert!(
            matches!(
                outcome,
                Ok(CodeRedemption::Redeemed | CodeRedemption::Replayed { .. })
            ),
            "{}: {outcome:?}",
            store.backend()
        );
    }
}

pub(super) async fn start_family(
    store: &dyn Store,
    scope: &Scope,
    code_seed: u8,
    token_seed: u8,
    name: &str,
    at: OffsetDateTime,
) -> (Grant, RefreshToken) {
    let row = code(scope, code_seed, at);
    store.code_insert(&row).await.unwrap();
    let g = grant(scope, name, at);
    let r = refresh(scope, token_seed, &g.id, at);
    assert_eq!(
        redeem(store, &row.code_hash, at, &g, Some(&r)).await,
        CodeRedemption::Redeemed
    );
    (g, r)
}

pub async fn refresh_tokens_rotate_and_reuse_revokes_the_family(store: &dyn Store, scope: &Scope) {
    let at = base_plus(4_000_000);
    let (g, t0) = start_family(store, scope, 40, 41, "grant-rotate", at).await;
    let t1 = refresh(scope, 42, &g.id, at + Duration::minutes(10));
    assert_eq!(
        rotate(store, &t0.token_hash, t1.created_at, &t1).await,
        RefreshRotation::Rotated(g.clone()),
        "{}: rotation",
        store.backend()
    );
    let (used, _) = store.refresh_get(&t0.token_hash).await.unwrap().unwrap();
    assert_eq!(used.used_at, Some(t1.created_at));
    assert_eq!(used.successor_hash, Some(t1.token_hash));
    let t2 = refresh(scope, 43, &g.id, at + Duration::minutes(20));
    assert_eq!(
        rotate(store, &t1.token_hash, t2.created_at, &t2).await,
        RefreshRotation::Rotated(g.clone())
    );
    // t0 again, long after its rotation, while the family has moved on: reuse.
    let t3 = refresh(scope, 44, &g.id, at + Duration::minutes(30));
    assert_eq!(
        rotate(store, &t0.token_hash, t3.created_at, &t3).await,
        RefreshRotation::Reused {
            grant_id: g.id.clone()
        },
        "{}: reuse",
        store.backend()
    );
    assert_eq!(grant_of(store, &g.id).await.revoked_at, Some(t3.created_at));
    assert_eq!(store.refresh_get(&t3.token_hash).await.unwrap(), None);
    // The newest token of the family is dead too.
    assert_eq!(
        rotate(store, &t2.token_hash, t3.created_at, &t3).await,
        RefreshRotation::Invalid
    );
    assert_eq!(
        rotate(store, &scope.secret_hash(45), t3.created_at, &t3).await,
        RefreshRotation::Unknown
    );
}

pub async fn a_lost_rotation_can_be_retried_once_within_the_grace(
    store: &dyn Store,
    scope: &Scope,
) {
    let at = base_plus(5_000_000);
    let (g, t0) = start_family(store, scope, 50, 51, "grant-retry", at).await;
    let lost = refresh(scope, 52, &g.id, at + Duration::seconds(1));
    assert_eq!(
        rotate(store, &t0.token_hash, lost.created_at, &lost).await,
        RefreshRotation::Rotated(g.clone())
    );
    // The response was lost: the client presents t0 again 30 s later.
    let retried = refresh(scope, 53, &g.id, at + Duration::seconds(31));
    assert_eq!(
        rotate(store, &t0.token_hash, retried.created_at, &retried).await,
        RefreshRotation::Retried(g.clone()),
        "{}: retry within the grace",
        store.backend()
    );
    // The lost successor is withdrawn; the new one works.
    assert_eq!(store.refresh_get(&lost.token_hash).await.unwrap(), None);
    let next = refresh(scope, 54, &g.id, at + Duration::seconds(40));
    assert_eq!(
        rotate(store, &retried.token_hash, next.created_at, &next).await,
        RefreshRotation::Rotated(g.clone())
    );
    // A second retry of t0 is reuse, even within the grace.
    let again = refresh(scope, 55, &g.id, at + Duration::seconds(45));
    assert_eq!(
        rotate(store, &t0.token_hash, again.created_at, &again).await,
        RefreshRotation::Reused {
            grant_id: g.id.clone()
        },
        "{}: a second retry",
        store.backend()
    );

    // Past the grace, a retry is reuse too.
    let (g2, u0) = start_family(store, scope, 56, 57, "grant-late-retry", at).await;
    let u1 = refresh(scope, 58, &g2.id, at + Duration::seconds(1));
    rotate(store, &u0.token_hash, u1.created_at, &u1).await;
    let late = refresh(scope, 59, &g2.id, at + Duration::seconds(62));
    assert_eq!(
        rotate(store, &u0.token_hash, late.created_at, &late).await,
        RefreshRotation::Reused {
            grant_id: g2.id.clone()
        },
        "{}: a retry after the grace",
        store.backend()
    );

    // And so is a retry once the successor has been used.
    let (g3, v0) = start_family(store, scope, 60, 61, "grant-used-successor", at).await;
    let v1 = refresh(scope, 62, &g3.id, at + Duration::seconds(1));
    rotate(store, &v0.token_hash, v1.created_at, &v1).await;
    let v2 = refresh(scope, 63, &g3.id, at + Duration::seconds(2));
    rotate(store, &v1.token_hash, v2.created_at, &v2).await;
    let v3 = refresh(scope, 64, &g3.id, at + Duration::seconds(3));
    assert_eq!(
        rotate(store, &v0.token_hash, v3.created_at, &v3).await,
        RefreshRotation::Reused {
            grant_id: g3.id.clone()
        },
        "{}: a retry after the successor was used",
        store.backend()
    );
}

pub async fn refresh_fails_for_expired_tokens_and_revoked_grants(store: &dyn Store, scope: &Scope) {
    let at = base_plus(6_000_000);
    let (g, t0) = start_family(store, scope, 70, 71, "grant-idle", at).await;
    let late = refresh(scope, 72, &g.id, t0.expires_at);
    assert_eq!(
        rotate(store, &t0.token_hash, t0.expires_at, &late).await,
        RefreshRotation::Invalid,
        "{}: idle expiry",
        store.backend()
    );
    let (g2, u0) = start_family(store, scope, 73, 74, "grant-absolute", at).await;
    let u1 = refresh(scope, 75, &g2.id, g2.expires_at);
    assert_eq!(
        rotate(store, &u0.token_hash, g2.expires_at, &u1).await,
        RefreshRotation::Invalid,
        "{}: absolute expiry",
        store.backend()
    );
    let (g3, v0) = start_family(store, scope, 76, 77, "grant-revoked", at).await;
    let revoked_at = at + Duration::minutes(1);
    assert!(store.grant_revoke(&g3.id, revoked_at).await.unwrap());
    let v1 = refresh(scope, 78, &g3.id, at + Duration::minutes(2));
    assert_eq!(
        rotate(store, &v0.token_hash, v1.created_at, &v1).await,
        RefreshRotation::Invalid
    );
    assert_eq!(store.refresh_get(&v1.token_hash).await.unwrap(), None);
}

pub async fn revocation_lists_are_idempotent_and_ordered(store: &dyn Store, scope: &Scope) {
    let at = base_plus(7_000_000);
    let cut = at + Duration::seconds(10);
    let (early, _) = start_family(store, scope, 80, 81, "grant-revoked-early", at).await;
    let (late, _) = start_family(store, scope, 82, 83, "grant-revoked-late", at).await;
    assert!(
        store
            .grant_revoke(&early.id, cut - Duration::microseconds(1))
            .await
            .unwrap()
    );
    assert!(store.grant_revoke(&late.id, cut).await.unwrap());
    assert!(
        !store
            .grant_revoke(&late.id, cut + Duration::seconds(5))
            .await
            .unwrap(),
        "{}: a second revocation",
        store.backend()
    );
    assert_eq!(grant_of(store, &late.id).await.revoked_at, Some(cut));
    assert!(
        !store
            .grant_revoke(&scope.name("no-grant"), cut)
            .await
            .unwrap()
    );
    let ours: Vec<String> = store
        .grants_revoked_since(cut)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.id)
        .filter(|id| id == &early.id || id == &late.id)
        .collect();
    assert_eq!(
        ours,
        vec![late.id.clone()],
        "{}: grants revoked since",
        store.backend()
    );

    let first = RevokedAccessToken {
        jti: scope.name("jti-1"),
        expires_at: at + Duration::minutes(10),
        revoked_at: cut,
    };
    let second = RevokedAccessToken {
        jti: scope.name("jti-2"),
        expires_at: at + Duration::minutes(10),
        revoked_at: cut + Duration::seconds(1),
    };
    store.access_token_revoke(&second).await.unwrap();
    store.access_token_revoke(&first).await.unwrap();
    // Idempotent: the first revocation is kept.
    store
        .access_token_revoke(&RevokedAccessToken {
            revoked_at: cut + Duration::seconds(30),
            ..first.clone()
        })
        .await
        .unwrap();
    let listed: Vec<RevokedAccessToken> = store
        .access_tokens_revoked_since(cut)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.jti == first.jti || t.jti == second.jti)
        .collect();
    assert_eq!(
        listed,
        vec![first, second],
        "{}: access tokens revoked since",
        store.backend()
    );
}

pub async fn consents_are_replaced_by_key(store: &dyn Store, scope: &Scope) {
    let at = base_plus(8_000_000);
    let consent = Consent {
        subject: scope.name("alice"),
        client_id: scope.name("client"),
        redirect_uri: "http://127.0.0.1/cb".to_owned(),
        resource: "https://gw.example/servers/files/mcp".to_owned(),
        scope: "files:read".to_owned(),
        created_at: at,
    };
    store.consent_put(&consent).await.unwrap();
    let get = |redirect_uri: &'static str, resource: &'static str| {
        store.consent_get(&consent.subject, &consent.client_id, redirect_uri, resource)
    };
    assert_eq!(
        get(
            "http://127.0.0.1/cb",
            "https://gw.example/servers/files/mcp"
        )
        .await
        .unwrap(),
        Some(consent.clone())
    );
    assert_eq!(
        get(
            "http://127.0.0.1/other",
            "https://gw.example/servers/files/mcp"
        )
        .await
        .unwrap(),
        None
    );
    assert_eq!(
        get("http://127.0.0.1/cb", "https://gw.example/servers/mail/mcp")
            .await
            .unwrap(),
        None
    );
    let wider = Consent {
        scope: "files:read files:write".to_owned(),
        created_at: at + Duration::seconds(1),
        ..consent.clone()
    };
    store.consent_put(&wider).await.unwrap();
    assert_eq!(
        get(
            "http://127.0.0.1/cb",
            "https://gw.example/servers/files/mcp"
        )
        .await
        .unwrap(),
        Some(wider),
        "{}: consent replaced",
        store.backend()
    );
}

pub async fn authorization_purge_deletes_exactly_the_expired(store: &dyn Store, scope: &Scope) {
    let _serialised = PURGE_LOCK.lock().await;
    let base = OffsetDateTime::from_unix_timestamp(PURGE_BASE_UNIX).expect("in range");
    let cutoff = base + Duration::days(200);
    // Leftovers of an earlier failed run go first.
    store.authorization_purge(cutoff).await.unwrap();

    // An expired code, and one still valid at the cut-off.
    let old_code = AuthorizationCode {
        expires_at: cutoff - Duration::seconds(1),
        ..code(scope, 90, base)
    };
    let live_code = AuthorizationCode {
        expires_at: cutoff + Duration::seconds(1),
        ..code(scope, 91, base)
    };
    store.code_insert(&old_code).await.unwrap();
    store.code_insert(&live_code).await.unwrap();
    // A grant past its absolute lifetime (with its token), and a live one with an idle-expired
    // token and a live token.
    let (dead, dead_token) = start_family(store, scope, 92, 93, "grant-dead", base).await;
    assert!(dead.expires_at < cutoff);
    let live_grant = Grant {
        expires_at: cutoff + Duration::days(1),
        ..grant(scope, "grant-live", base)
    };
    let idle = RefreshToken {
        expires_at: cutoff - Duration::seconds(1),
        ..refresh(scope, 94, &live_grant.id, base)
    };
    let live_code_for_grant = AuthorizationCode {
        expires_at: cutoff + Duration::days(1),
        ..code(scope, 95, base)
    };
    store.code_insert(&live_code_for_grant).await.unwrap();
    assert_eq!(
        redeem(
            store,
            &live_code_for_grant.code_hash,
            base,
            &live_grant,
            Some(&idle)
        )
        .await,
        CodeRedemption::Redeemed
    );
    let revoked_old = RevokedAccessToken {
        jti: scope.name("purge-jti-old"),
        expires_at: cutoff - Duration::seconds(1),
        revoked_at: base,
    };
    let revoked_live = RevokedAccessToken {
        jti: scope.name("purge-jti-live"),
        expires_at: cutoff + Duration::seconds(1),
        revoked_at: base,
    };
    store.access_token_revoke(&revoked_old).await.unwrap();
    store.access_token_revoke(&revoked_live).await.unwrap();

    // Deleted: the code the family came from (92, expired at base + 60 s), old_code, the dead
    // grant and its token, the idle token, the old revocation.
    let purged = store.authorization_purge(cutoff).await.unwrap();
    assert_eq!(purged, 6, "{}: purged rows", store.backend());
    assert_eq!(store.code_get(&old_code.code_hash).await.unwrap(), None);
    assert!(
        store
            .code_get(&live_code.code_hash)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.grant_get(&dead.id).await.unwrap(), None);
    assert_eq!(
        store.refresh_get(&dead_token.token_hash).await.unwrap(),
        None
    );
    assert_eq!(store.refresh_get(&idle.token_hash).await.unwrap(), None);
    assert!(store.grant_get(&live_grant.id).await.unwrap().is_some());
    let remaining: Vec<String> = store
        .access_tokens_revoked_since(base)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.jti)
        .filter(|jti| jti == &revoked_old.jti || jti == &revoked_live.jti)
        .collect();
    assert_eq!(remaining, vec![revoked_live.jti.clone()]);
    // Clean up the rest of this check's rows.
    store
        .authorization_purge(cutoff + Duration::days(2))
        .await
        .unwrap();
}
