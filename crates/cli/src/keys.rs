//! Portcullis's own keys at start-up: the I/O that core's key rule leaves to the edge (reading the
//! environment and key files, creating the embedded store's key file) and the first signing key.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use portcullis_core::config::Config;
use portcullis_core::crypto::seal::new_key_text;
use portcullis_core::crypto::{
    EncryptionKeys, KeyText, Sealer, StoreLocation, resolve_encryption_keys,
};
use portcullis_core::signing::KeyRing;
use portcullis_store::Store;
use time::OffsetDateTime;

/// Where the configured store lives, owned (core's [`StoreLocation`] borrows the path).
enum Location {
    EmbeddedFile(PathBuf),
    InMemory,
    Shared,
}

impl Location {
    fn of(config: &Config) -> anyhow::Result<Location> {
        let url = &config.store.url;
        if !url.starts_with("sqlite:") {
            return Ok(Location::Shared);
        }
        Ok(
            match portcullis_store_sqlite::database_file(url).context("store.url")? {
                Some(file) => Location::EmbeddedFile(file),
                None => Location::InMemory,
            },
        )
    }

    fn borrow(&self) -> StoreLocation<'_> {
        match self {
            Location::EmbeddedFile(file) => StoreLocation::EmbeddedFile(file),
            Location::InMemory => StoreLocation::InMemory,
            Location::Shared => StoreLocation::Shared,
        }
    }
}

/// A file's contents, or `None` when it does not exist.
fn read_file(path: &Path) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err),
    }
}

/// Applies the key rule without creating anything: what `config check` reports.
pub(crate) fn check(config: &Config) -> Result<(), String> {
    let location = Location::of(config).map_err(|e| format!("{e:#}"))?;
    resolve_encryption_keys(
        &config.keys,
        location.borrow(),
        &crate::env_bytes,
        &read_file,
    )
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// The encryption key list, found by the key rule (creating the embedded store's key file on
/// first start).
pub(crate) fn encryption_keys(config: &Config) -> anyhow::Result<Sealer> {
    let location = Location::of(config)?;
    let resolved = resolve_encryption_keys(
        &config.keys,
        location.borrow(),
        &crate::env_bytes,
        &read_file,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let sealer = match resolved {
        EncryptionKeys::Found { sealer, origin } => {
            tracing::info!(%origin, key_ids = ?sealer.key_ids(), "encryption keys loaded");
            sealer
        }
        EncryptionKeys::CreateFile { path } => create_key_file(&path)?,
        EncryptionKeys::Ephemeral => {
            tracing::info!("in-memory store: encryption key made for this process only");
            Sealer::generate(&mut rand::rng())?
        }
    };
    Ok(sealer)
}

/// Creates the embedded store's key file with a new key, readable by its owner only. The file
/// appears whole or not at all: the key is written to a temporary file that is then linked into
/// place, which fails (leaving the first) if another process created the file meanwhile.
fn create_key_file(path: &Path) -> anyhow::Result<Sealer> {
    let text = new_key_text(&mut rand::rng());
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let temporary = path.with_extension(format!("key.{}.tmp", std::process::id()));
    let written = (|| -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(text.expose().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()
    })();
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, path));
    // The temporary name is removed whatever happened; a leftover would only be clutter.
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => {
            tracing::warn!(
                path = %path.display(),
                "created the encryption key file: back it up with the database, which cannot be \
                 used without it"
            );
            Ok(Sealer::parse(&text)?)
        }
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {
            // Another process (a `migrate` next to this `serve`) made it first: use theirs.
            let theirs = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Sealer::parse(&KeyText::new(theirs))
                .with_context(|| format!("{} is not a key list", path.display()))
        }
        Err(err) => Err(err).with_context(|| format!("creating {}", path.display())),
    }
}

/// The signing keys, a first one created if none may sign.
pub(crate) async fn signing_keys(
    config: &Config,
    store: &dyn Store,
    sealer: &Sealer,
) -> anyhow::Result<KeyRing> {
    let ring = KeyRing::ensure(
        store,
        sealer,
        config.tokens.signing_alg,
        OffsetDateTime::now_utc(),
        &mut rand::rng(),
    )
    .await
    .context("loading the signing keys")?;
    let kids: Vec<&str> = ring.keys().iter().map(|key| key.kid()).collect();
    tracing::info!(?kids, "signing keys loaded");
    Ok(ring)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_key_file_is_created_once_owner_only_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data/encryption.key");
        let created = create_key_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            Sealer::parse(&KeyText::new(text.clone()))
                .unwrap()
                .key_ids(),
            created.key_ids()
        );

        // A second creation finds the first file and keeps it.
        let second = create_key_file(&path).unwrap();
        assert_eq!(second.key_ids(), created.key_ids());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("data"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("encryption.key")]);
    }
}
