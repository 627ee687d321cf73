//! The protocol as plain functions over a store, a clock and configuration.
//!
//! Today this crate holds the configuration model (`config`): the versioned TOML file, its
//! environment overrides, its validation and the key reference that the docs are generated from;
//! and authentication (`auth`): the validators of `[[validators]]`, which check external
//! credentials with the time and the network passed in. It never depends on an HTTP framework,
//! a database driver or a template engine.

pub mod admin;
pub mod auth;
pub mod config;
pub mod crypto;
