//! Reading the audit log: listing, exporting page by page, and verifying the whole chain.

use portcullis_store::audit::{ChainBreak, check_link};
use portcullis_store::{AuditQuery, AuditRecord, Store};
use time::OffsetDateTime;

use super::AdminError;

/// How many records one store call reads while exporting or verifying.
const PAGE: u32 = 1000;

/// The newest `limit` records at or after `since` (all of them when `since` is `None`), oldest
/// first.
pub async fn list(
    store: &dyn Store,
    since: Option<OffsetDateTime>,
    limit: u32,
) -> Result<Vec<AuditRecord>, AdminError> {
    Ok(store
        .audit_list(&AuditQuery {
            since,
            limit,
            newest: true,
            ..AuditQuery::default()
        })
        .await?)
}

/// Up to a page of records at or after `since` with a sequence number after `after_seq`,
/// oldest first: an export a page at a time (empty when there is no more).
pub async fn page(
    store: &dyn Store,
    since: Option<OffsetDateTime>,
    after_seq: i64,
) -> Result<Vec<AuditRecord>, AdminError> {
    Ok(store
        .audit_list(&AuditQuery {
            after_seq,
            since,
            limit: PAGE,
            newest: false,
        })
        .await?)
}

/// Every record at or after `since`, oldest first, handed to `each` a page at a time so that an
/// export of a long log never sits in memory whole.
pub async fn export(
    store: &dyn Store,
    since: Option<OffsetDateTime>,
    mut each: impl FnMut(&[AuditRecord]) -> std::io::Result<()>,
) -> Result<u64, AdminError> {
    let mut after_seq = 0;
    let mut count = 0;
    loop {
        let page = page(store, since, after_seq).await?;
        let Some(last) = page.last() else {
            return Ok(count);
        };
        after_seq = last.seq;
        count += page.len() as u64;
        each(&page).map_err(|e| AdminError::Invalid(format!("could not write the export: {e}")))?;
    }
}

/// What a walk of the whole chain found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// Every record links to the one before: `count` records, the last with `head` as its hash.
    Intact { count: u64, head: Option<[u8; 32]> },
    /// The chain breaks at a record (the first one found, walking from the first record); the
    /// records before it were intact.
    Broken { checked: u64, at: ChainBreak },
}

/// Walks the whole log from its first record, checking each link ([`check_link`]).
pub async fn verify(store: &dyn Store) -> Result<Verification, AdminError> {
    let mut previous: Option<AuditRecord> = None;
    let mut checked = 0;
    loop {
        let page = store
            .audit_list(&AuditQuery {
                after_seq: previous.as_ref().map_or(0, |r| r.seq),
                limit: PAGE,
                ..AuditQuery::default()
            })
            .await?;
        if page.is_empty() {
            return Ok(Verification::Intact {
                count: checked,
                head: previous.map(|r| r.hash),
            });
        }
        for record in page {
            if let Err(at) = check_link(previous.as_ref(), &record) {
                return Ok(Verification::Broken { checked, at });
            }
            checked += 1;
            previous = Some(record);
        }
    }
}

#[cfg(test)]
mod tests {
    use portcullis_store::{AuditEvent, MemoryStore};

    use super::*;

    fn event(i: i64) -> AuditEvent {
        AuditEvent {
            time: OffsetDateTime::from_unix_timestamp(1_800_000_000 + i).unwrap(),
            actor: Some("cli:root".into()),
            tenant: None,
            client: None,
            action: "user.create".into(),
            target: Some(format!("user{i}")),
            decision: "success".into(),
            reason: None,
            request_id: None,
            source: None,
        }
    }

    async fn store_with(n: i64) -> MemoryStore {
        let store = MemoryStore::new();
        let events: Vec<AuditEvent> = (0..n).map(event).collect();
        store.audit_append(&events).await.unwrap();
        store
    }

    #[tokio::test]
    async fn an_intact_chain_verifies_across_pages() {
        let store = store_with(2500).await;
        let Verification::Intact { count, head } = verify(&store).await.unwrap() else {
            panic!("intact");
        };
        assert_eq!(count, 2500);
        assert_eq!(head, store.audit_log_mut().last().map(|r| r.hash));
        assert_eq!(
            verify(&MemoryStore::new()).await.unwrap(),
            Verification::Intact {
                count: 0,
                head: None
            }
        );
    }

    #[tokio::test]
    async fn verify_names_the_first_broken_record() {
        // (what is done to the log, the break expected)
        type Tamper = fn(&mut Vec<AuditRecord>);
        let cases: [(Tamper, ChainBreak); 4] = [
            (
                |log| log[1200].event.target = Some("someone else".into()),
                ChainBreak::Hash { seq: 1201 },
            ),
            (
                |log| drop(log.remove(6)),
                ChainBreak::Gap {
                    seq: 8,
                    previous: 6,
                },
            ),
            (
                // A record rewritten with a fresh hash still breaks the next link.
                |log| {
                    log[9].event.decision = "failure".into();
                    log[9].hash = log[9].compute_hash();
                },
                ChainBreak::PrevHash { seq: 11 },
            ),
            (
                |log| log[0].prev_hash = [9; 32],
                ChainBreak::PrevHash { seq: 1 },
            ),
        ];
        for (tamper, expected) in cases {
            let store = store_with(1500).await;
            tamper(&mut store.audit_log_mut());
            match verify(&store).await.unwrap() {
                Verification::Broken { at, checked } => {
                    assert_eq!(at, expected);
                    let intact_before = match expected {
                        ChainBreak::Gap { previous, .. } => previous,
                        other => other.seq() - 1,
                    };
                    assert_eq!(checked, u64::try_from(intact_before).unwrap());
                }
                other => panic!("{expected:?}: {other:?}"),
            }
        }
    }

    /// Every administrative change is recorded with the operator, the action and its target, and
    /// no record holds a secret the operation showed.
    #[tokio::test]
    async fn every_administrative_change_is_recorded_without_secrets() {
        use rand::SeedableRng;

        use crate::accounts::{InlineHashing, PasswordPolicy};
        use crate::admin::{api_keys, clients, roles, users};
        use crate::audit::AuditContext;

        let store = MemoryStore::new();
        let cli = AuditContext::cli("root", true);
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let config = crate::config::Config::default();
        let policy = PasswordPolicy { min_length: 12 };
        let new_user = users::NewUser {
            username: "alice",
            email: "alice@example.com",
            display_name: None,
            tenant: Some("acme"),
            password: users::InitialPassword::Generate,
        };
        let mut secrets = Vec::new();
        let alice = users::create(
            &store,
            &cli,
            &InlineHashing,
            &policy,
            new_user,
            now,
            &mut rng,
        )
        .await
        .unwrap();
        secrets.extend(alice.one_time_password.map(|p| p.as_str().to_owned()));
        let reset = users::reset_password(&store, &cli, &InlineHashing, "alice", now, &mut rng)
            .await
            .unwrap();
        secrets.extend(reset.one_time_password.map(|p| p.as_str().to_owned()));
        users::reset_mfa(&store, &cli, "alice", now).await.unwrap();
        let grantee = roles::Grantee::User("alice");
        roles::put(
            &store,
            &cli,
            &config,
            "notes",
            vec![],
            vec!["mcp.tools.call:notes/*".into()],
            None,
            now,
        )
        .await
        .unwrap();
        roles::grant(
            &store,
            &cli,
            &config,
            &grantee,
            "notes",
            roles::Where::default(),
            now,
            &mut rng,
        )
        .await
        .unwrap();
        roles::revoke(
            &store,
            &cli,
            &config,
            &grantee,
            "notes",
            roles::Where::default(),
            now,
        )
        .await
        .unwrap();
        roles::delete(&store, &cli, &config, "notes", now)
            .await
            .unwrap();
        let key = api_keys::NewKey {
            subject: "service:ci",
            name: "ci",
            scopes: "",
            expires_at: None,
            service_token: false,
        };
        let key = api_keys::create(&store, &cli, key, now, &mut rng)
            .await
            .unwrap();
        secrets.push(key.secret.clone());
        api_keys::revoke(&store, &cli, &key.key.id, now)
            .await
            .unwrap();
        let redirect = ["http://127.0.0.1:9999/cb".to_owned()];
        let client = clients::NewClient {
            name: "CI",
            redirect_uris: &redirect,
            confidential: true,
            grant_types: &[],
            scope: None,
        };
        let client = clients::create(&store, &cli, client, now, &mut rng)
            .await
            .unwrap();
        secrets.extend(client.secret.clone());
        let id = client.client.client_id.clone();
        let rotated = clients::rotate_secret(&store, &cli, &id, now, &mut rng)
            .await
            .unwrap();
        secrets.extend(rotated.secret);
        clients::delete(&store, &cli, &id, now).await.unwrap();
        users::set_status(
            &store,
            &cli,
            "alice",
            portcullis_store::UserStatus::Disabled,
            now,
        )
        .await
        .unwrap();
        users::set_status(
            &store,
            &cli,
            "alice",
            portcullis_store::UserStatus::Active,
            now,
        )
        .await
        .unwrap();
        users::delete(&store, &cli, "alice", now).await.unwrap();

        let records = list(&store, None, 100).await.unwrap();
        let actions: Vec<&str> = records.iter().map(|r| r.event.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "user.create",
                "user.reset_password",
                "user.reset_mfa",
                "role.put",
                "role.grant",
                "role.revoke",
                "role.delete",
                "api_key.create",
                "api_key.revoke",
                "client.create",
                "client.rotate_secret",
                "client.delete",
                "user.disable",
                "user.enable",
                "user.delete",
            ]
        );
        let user = format!("alice ({})", alice.user.id);
        for record in &records {
            assert_eq!(record.event.actor.as_deref(), Some("cli:root"));
            assert_eq!(record.event.decision, "success");
            let target = record.event.target.as_deref().unwrap_or_default();
            if record.event.action.starts_with("user.") {
                assert_eq!(target, user);
            }
            if record.event.action.starts_with("client.") {
                assert_eq!(target, id);
            }
            let text = format!("{:?}", record.event);
            for secret in &secrets {
                assert!(!text.contains(secret.as_str()), "{text} holds a secret");
            }
        }
        assert!(matches!(
            verify(&store).await.unwrap(),
            Verification::Intact { count: 15, .. }
        ));
        // Off, nothing is recorded.
        api_keys::revoke(&store, &AuditContext::off(), &key.key.id, now)
            .await
            .unwrap();
        users::create_first_admin(
            &store,
            &AuditContext::off(),
            &InlineHashing,
            &policy,
            now,
            &mut rng,
        )
        .await
        .unwrap();
        assert_eq!(list(&store, None, 100).await.unwrap().len(), 15);
    }

    #[tokio::test]
    async fn list_gives_the_newest_and_export_everything_since() {
        let store = store_with(30).await;
        let newest = list(&store, None, 5).await.unwrap();
        let seqs: Vec<i64> = newest.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [26, 27, 28, 29, 30]);
        let since = OffsetDateTime::from_unix_timestamp(1_800_000_010).unwrap();
        let mut exported = Vec::new();
        let count = export(&store, Some(since), |page| {
            exported.extend(page.iter().map(|r| r.seq));
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(count, 20);
        assert_eq!(exported, (11..=30).collect::<Vec<_>>());
    }
}
