//! Tests of the key rule: which source wins, and what each failure says.

use std::collections::HashMap;
use std::io;

use super::*;

const KEY_A: &str = "q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=";
const KEY_B: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

/// The inputs of one resolution.
struct Case {
    keys: KeysConfig,
    env: Vec<(&'static str, &'static [u8])>,
    files: HashMap<PathBuf, Result<String, io::ErrorKind>>,
}

impl Case {
    fn new() -> Self {
        Case {
            keys: KeysConfig::default(),
            env: Vec::new(),
            files: HashMap::new(),
        }
    }

    fn env(mut self, var: &'static str, value: &'static [u8]) -> Self {
        self.env.push((var, value));
        self
    }

    fn file(mut self, path: &str, contents: Result<&str, io::ErrorKind>) -> Self {
        self.files
            .insert(PathBuf::from(path), contents.map(str::to_owned));
        self
    }

    fn key_file(mut self, path: &str) -> Self {
        self.keys.encryption_key_file = Some(path.to_owned());
        self
    }

    fn resolve(&self, store: StoreLocation<'_>) -> Result<EncryptionKeys, ConfigError> {
        let env = |var: &str| {
            self.env
                .iter()
                .find(|(name, _)| *name == var)
                .map(|(_, value)| value.to_vec())
        };
        let read = |path: &Path| match self.files.get(path) {
            None => Ok(None),
            Some(Ok(text)) => Ok(Some(text.clone())),
            Some(Err(kind)) => Err(io::Error::from(*kind)),
        };
        resolve_encryption_keys(&self.keys, store, &env, &read)
    }
}

const DB: &str = "/srv/portcullis-data/portcullis.db";

fn found(result: Result<EncryptionKeys, ConfigError>) -> (usize, KeyOrigin) {
    match result {
        Ok(EncryptionKeys::Found { sealer, origin }) => (sealer.key_ids().len(), origin),
        other => panic!("expected keys, got {other:?}"),
    }
}

fn refused(result: Result<EncryptionKeys, ConfigError>) -> (String, String) {
    match result {
        Err(err) => {
            let [p] = err.problems.as_slice() else {
                panic!("expected one problem, got {err:?}");
            };
            (p.key.clone(), p.problem.clone())
        }
        Ok(other) => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn the_variable_wins_over_the_file_and_the_embedded_default() {
    let case = Case::new()
        .env(
            "PORTCULLIS_ENCRYPTION_KEY",
            b"q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=,AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
        )
        .key_file("/run/secrets/k")
        .file("/run/secrets/k", Ok(KEY_B))
        .file("/srv/portcullis-data/encryption.key", Ok(KEY_B));
    for store in [
        StoreLocation::EmbeddedFile(Path::new(DB)),
        StoreLocation::InMemory,
        StoreLocation::Shared,
    ] {
        assert_eq!(
            found(case.resolve(store)),
            (2, KeyOrigin::Env("PORTCULLIS_ENCRYPTION_KEY".to_owned())),
            "{store:?}"
        );
    }
}

#[test]
fn the_variable_name_is_configurable() {
    let mut case = Case::new()
        .env("PORTCULLIS_ENCRYPTION_KEY", b"ignored")
        .env("ACME_KEYS", KEY_A.as_bytes());
    case.keys.encryption_key_env = "ACME_KEYS".to_owned();
    assert_eq!(
        found(case.resolve(StoreLocation::Shared)),
        (1, KeyOrigin::Env("ACME_KEYS".to_owned()))
    );
}

#[test]
fn the_file_is_used_when_the_variable_is_unset() {
    let case = Case::new().key_file("/run/secrets/k").file(
        "/run/secrets/k",
        Ok("q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=\n"),
    );
    for store in [
        StoreLocation::EmbeddedFile(Path::new(DB)),
        StoreLocation::Shared,
    ] {
        assert_eq!(
            found(case.resolve(store)),
            (1, KeyOrigin::File(PathBuf::from("/run/secrets/k")))
        );
    }
}

#[test]
fn an_embedded_store_uses_or_creates_the_key_file_beside_the_database() {
    let path = PathBuf::from("/srv/portcullis-data/encryption.key");
    let missing = Case::new();
    match missing.resolve(StoreLocation::EmbeddedFile(Path::new(DB))) {
        Ok(EncryptionKeys::CreateFile { path: create }) => assert_eq!(create, path),
        other => panic!("expected CreateFile, got {other:?}"),
    }
    let present = Case::new().file("/srv/portcullis-data/encryption.key", Ok(KEY_A));
    assert_eq!(
        found(present.resolve(StoreLocation::EmbeddedFile(Path::new(DB)))),
        (1, KeyOrigin::EmbeddedFile(path))
    );
    // A relative database path keeps its directory; a bare file name means the working directory.
    match missing.resolve(StoreLocation::EmbeddedFile(Path::new("portcullis.db"))) {
        Ok(EncryptionKeys::CreateFile { path }) => {
            assert_eq!(path, PathBuf::from("encryption.key"));
        }
        other => panic!("expected CreateFile, got {other:?}"),
    }
}

#[test]
fn an_in_memory_store_gets_a_key_for_the_process() {
    assert!(matches!(
        Case::new().resolve(StoreLocation::InMemory),
        Ok(EncryptionKeys::Ephemeral)
    ));
}

#[test]
fn a_shared_store_without_keys_refuses_to_start_naming_the_key() {
    let (key, problem) = refused(Case::new().resolve(StoreLocation::Shared));
    assert_eq!(key, "keys.encryption_key_env");
    assert!(
        problem.contains("PORTCULLIS_ENCRYPTION_KEY is not set") && problem.contains("replicas"),
        "{problem}"
    );
    // A key file beside some database is no excuse: PostgreSQL never looks for one.
    let with_stray_file = Case::new().file("/srv/portcullis-data/encryption.key", Ok(KEY_A));
    assert_eq!(
        refused(with_stray_file.resolve(StoreLocation::Shared)).0,
        "keys.encryption_key_env"
    );
}

#[test]
fn bad_sources_are_reported_without_their_contents() {
    let secret_looking = "q83vEjRWeJq83vEjRWeJq83vEjRW";
    let cases: Vec<(Case, StoreLocation<'static>, &str, &str)> = vec![
        (
            Case::new().env("PORTCULLIS_ENCRYPTION_KEY", b""),
            StoreLocation::Shared,
            "keys.encryption_key_env",
            "set but empty",
        ),
        (
            Case::new().env("PORTCULLIS_ENCRYPTION_KEY", b" \n"),
            StoreLocation::Shared,
            "keys.encryption_key_env",
            "set but empty",
        ),
        (
            Case::new().env("PORTCULLIS_ENCRYPTION_KEY", b"\xff\xfe"),
            StoreLocation::Shared,
            "keys.encryption_key_env",
            "not valid UTF-8",
        ),
        (
            Case::new().env("PORTCULLIS_ENCRYPTION_KEY", secret_looking.as_bytes()),
            StoreLocation::Shared,
            "keys.encryption_key_env",
            "key 1 of the list is 21 bytes long",
        ),
        (
            Case::new().key_file("/run/secrets/k"),
            StoreLocation::Shared,
            "keys.encryption_key_file",
            "/run/secrets/k does not exist",
        ),
        (
            Case::new()
                .key_file("/run/secrets/k")
                .file("/run/secrets/k", Err(io::ErrorKind::PermissionDenied)),
            StoreLocation::Shared,
            "keys.encryption_key_file",
            "cannot read /run/secrets/k",
        ),
        (
            Case::new()
                .key_file("/run/secrets/k")
                .file("/run/secrets/k", Ok(secret_looking)),
            StoreLocation::Shared,
            "keys.encryption_key_file",
            "is not a key list",
        ),
        (
            Case::new().file("/srv/portcullis-data/encryption.key", Ok(secret_looking)),
            StoreLocation::EmbeddedFile(Path::new(DB)),
            "keys.encryption_key_env",
            "key file /srv/portcullis-data/encryption.key is not a key list",
        ),
        (
            Case::new().file(
                "/srv/portcullis-data/encryption.key",
                Err(io::ErrorKind::PermissionDenied),
            ),
            StoreLocation::EmbeddedFile(Path::new(DB)),
            "keys.encryption_key_env",
            "cannot be read",
        ),
    ];
    for (case, store, key, needle) in cases {
        let (found_key, found) = refused(case.resolve(store));
        assert_eq!(found_key, key, "{found}");
        assert!(found.contains(needle), "expected …{needle}… in {found}");
        assert!(!found.contains(secret_looking), "{found}");
    }
}
