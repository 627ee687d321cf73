//! The protocol as plain functions over a store, a clock and configuration.
//!
//! Today this crate holds the configuration model (`config`): the versioned TOML file, its
//! environment overrides, its validation and the key reference that the docs are generated from;
//! authentication (`auth`): the validators of `[[validators]]`, which check external credentials
//! with the time and the network passed in, and the identity token Portcullis signs for
//! upstreams; `crypto`: sealing secrets at rest under the encryption key list; `signing`:
//! Portcullis's own signing keys, their rotation and their JWKS; `accounts`: local accounts,
//! password hashing, the sign-in step and browser sessions; `clients`: the OAuth clients of the
//! authorization server (registry, redirect URIs, metadata documents, registration, client
//! authentication); `oauth`: the authorization server itself; and `federation`: signing in
//! through identity providers. It never depends on an HTTP
//! framework, a database driver or a template engine.

pub mod accounts;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod clients;
pub mod config;
pub mod crypto;
pub mod federation;
pub mod oauth;
pub mod rate_limit;
pub mod signing;
