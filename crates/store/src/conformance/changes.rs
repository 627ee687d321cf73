//! Conformance checks of change announcements: a backend built with an [`Announce`] tells it
//! after each committed role, grant or revocation change, and only then.

use std::sync::Mutex;

use async_trait::async_trait;
use time::Duration;

use super::authorization::{code, grant, refresh, start_family};
use super::authorization_model::{grant as role_grant, role};
use super::{Scope, api_key, base_plus};
use crate::{
    Announce, Change, GrantScopeKind, RefreshRotation, RevokedAccessToken, Store, StoreError,
};

/// An [`Announce`] that remembers what it was told.
#[derive(Debug, Default)]
pub struct Recorder(Mutex<Vec<Change>>);

impl Recorder {
    /// What was announced since the last call.
    pub fn take(&self) -> Vec<Change> {
        std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

#[async_trait]
impl Announce for Recorder {
    async fn announce(&self, change: Change) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(change);
    }
}

fn told(store: &dyn Store, recorder: &Recorder, what: &str, expected: &[Change]) {
    assert_eq!(
        recorder.take(),
        expected,
        "{}: announcements after {what}",
        store.backend()
    );
}

/// `store` must have been built with `recorder` as its announcer, and `scope` be fresh.
pub async fn changes_are_announced_after_commit(
    store: &dyn Store,
    scope: &Scope,
    recorder: &Recorder,
) {
    use Change::{Authorization, Revocation};
    recorder.take();

    let custom = role(scope, "announced", 1);
    store.role_put(&custom).await.unwrap();
    told(store, recorder, "role_put", &[Authorization]);
    let g = role_grant(
        scope,
        "announced-grant",
        &custom.name,
        GrantScopeKind::All,
        2,
    );
    store.role_grant_insert(&g).await.unwrap();
    told(store, recorder, "role_grant_insert", &[Authorization]);
    assert!(matches!(
        store.role_grant_insert(&g).await,
        Err(StoreError::Conflict(_))
    ));
    told(store, recorder, "a refused role_grant_insert", &[]);
    assert!(store.role_grant_delete(&g.id).await.unwrap());
    told(store, recorder, "role_grant_delete", &[Authorization]);
    assert!(store.role_delete(&custom.name).await.unwrap());
    told(store, recorder, "role_delete", &[Authorization]);

    let at = base_plus(9_100_000);
    let key = api_key(scope, "announced-key", 201, at);
    store.api_key_insert(&key).await.unwrap();
    told(store, recorder, "api_key_insert", &[]);
    assert!(store.api_key_revoke(&key.id, at).await.unwrap());
    told(store, recorder, "api_key_revoke", &[Revocation]);

    let (family, t0) = start_family(store, scope, 202, 203, "announced-family", at).await;
    told(store, recorder, "a code redeemed", &[]);
    let t1 = refresh(scope, 204, &family.id, at + Duration::minutes(1));
    assert_eq!(
        store
            .refresh_rotate(&t0.token_hash, t1.created_at, &t1, Duration::seconds(60))
            .await
            .unwrap(),
        RefreshRotation::Rotated(family.clone())
    );
    told(store, recorder, "a refresh rotation", &[]);
    let t2 = refresh(scope, 205, &family.id, at + Duration::minutes(5));
    assert!(matches!(
        store
            .refresh_rotate(&t0.token_hash, t2.created_at, &t2, Duration::seconds(60))
            .await
            .unwrap(),
        RefreshRotation::Reused { .. }
    ));
    told(store, recorder, "a refresh token reused", &[Revocation]);

    let other = grant(scope, "announced-grant-revoked", at);
    let row = code(scope, 206, at);
    store.code_insert(&row).await.unwrap();
    store
        .code_redeem(&row.code_hash, at, &other, None)
        .await
        .unwrap();
    recorder.take();
    assert!(store.grant_revoke(&other.id, at).await.unwrap());
    told(store, recorder, "grant_revoke", &[Revocation]);

    store
        .access_token_revoke(&RevokedAccessToken {
            jti: scope.name("announced-jti"),
            expires_at: at + Duration::minutes(10),
            revoked_at: at,
        })
        .await
        .unwrap();
    told(store, recorder, "access_token_revoke", &[Revocation]);
}
