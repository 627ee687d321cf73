//! Finding the `mock-stdio-mcp` binary from any crate's tests.
//!
//! Cargo only builds a package's binaries for that package's own tests
//! (`env!("CARGO_BIN_EXE_mock-stdio-mcp")`); a test in another crate that depends on the
//! testkit does not get them. [`mock_stdio_mcp_path`] therefore looks next to the running
//! test executable, in the same target directory and profile, and builds the binary there
//! with `cargo build -p portcullis-testkit --bin mock-stdio-mcp` when it is missing.

use std::env;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The binary's name, as in `[[bin]]`.
pub const MOCK_STDIO_MCP: &str = "mock-stdio-mcp";

/// An environment variable that, when set, names the binary to use and skips the search.
pub const MOCK_STDIO_MCP_ENV: &str = "PORTCULLIS_MOCK_STDIO_MCP";

/// The path of the `mock-stdio-mcp` binary, building it once per process if needed.
///
/// Order: the path in `PORTCULLIS_MOCK_STDIO_MCP`; else `mock-stdio-mcp` in the
/// profile directory of the current executable (`target/debug/` for
/// `target/debug/deps/<test>-<hash>`); else the result of running
/// `cargo build -p portcullis-testkit --bin mock-stdio-mcp` into that same target
/// directory and profile. An existing binary is used as it is, so after changing the
/// mock's sources run `cargo build -p portcullis-testkit --bin mock-stdio-mcp` (or any
/// `cargo test` that includes the testkit) to refresh it.
pub fn mock_stdio_mcp_path() -> io::Result<PathBuf> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| locate_or_build().map_err(|e| e.to_string()))
        .clone()
        .map_err(io::Error::other)
}

fn locate_or_build() -> io::Result<PathBuf> {
    if let Some(path) = env::var_os(MOCK_STDIO_MCP_ENV) {
        return Ok(PathBuf::from(path));
    }
    let exe = env::current_exe()?;
    let profile_dir = profile_dir(&exe).ok_or_else(|| {
        io::Error::other(format!(
            "cannot tell the target directory from {}",
            exe.display()
        ))
    })?;
    let binary = profile_dir.join(format!("{MOCK_STDIO_MCP}{}", env::consts::EXE_SUFFIX));
    if binary.is_file() {
        return Ok(binary);
    }
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| io::Error::other("the profile directory has no parent"))?;
    let mut command = Command::new(env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")));
    command
        .args([
            "build",
            "--quiet",
            "-p",
            "portcullis-testkit",
            "--bin",
            MOCK_STDIO_MCP,
        ])
        .arg("--target-dir")
        .arg(target_dir)
        // The testkit's own directory, so cargo finds this workspace wherever the
        // caller's tests run from.
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            command.arg("--release");
        }
        Some(profile) => {
            command.args(["--profile", profile]);
        }
    }
    let status = command.status()?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "`cargo build -p portcullis-testkit --bin {MOCK_STDIO_MCP}` failed: {status}"
        )));
    }
    if binary.is_file() {
        Ok(binary)
    } else {
        Err(io::Error::other(format!(
            "cargo built the mock but {} does not exist",
            binary.display()
        )))
    }
}

/// `target/<profile>` for a test executable in `target/<profile>/deps/` or a binary in
/// `target/<profile>/`.
fn profile_dir(exe: &Path) -> Option<PathBuf> {
    let dir = exe.parent()?;
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().map(Path::to_path_buf)
    } else {
        Some(dir.to_path_buf())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unit tests run without the package's binaries being built (`cargo test --lib`), so
    /// this exercises the build-on-demand path from inside a running `cargo test`.
    #[test]
    fn finds_or_builds_the_binary() {
        let path = mock_stdio_mcp_path().unwrap();
        assert!(path.is_file(), "{}", path.display());
        assert!(path.ends_with(format!("{MOCK_STDIO_MCP}{}", env::consts::EXE_SUFFIX)));
    }

    #[test]
    fn profile_dir_of_test_and_binary_paths() {
        assert_eq!(
            profile_dir(Path::new("/w/target/debug/deps/gateway-0123abcd")),
            Some(PathBuf::from("/w/target/debug"))
        );
        assert_eq!(
            profile_dir(Path::new("/w/target/release/portcullis")),
            Some(PathBuf::from("/w/target/release"))
        );
    }
}
