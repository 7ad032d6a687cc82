//! Running one of the repository's `.ci/*-env.sh` scripts from a test: the tests prepare
//! what they need beyond cargo themselves (a Python virtualenv, the npm OpenID provider,
//! `redis-server`). Each script prints the path of what it prepared on its last line.
//!
//! Included by path from each test crate that needs it:
//!
//! ```ignore
//! #[path = "support/setup.rs"]
//! mod setup;
//! ```

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository's root: the first directory above this crate's manifest holding `.ci/`.
pub fn repo_root() -> &'static Path {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().find(|dir| dir.join(".ci").is_dir()).unwrap_or(manifest)
}

/// Runs `.ci/<script>` from the repository's root and returns the path it printed last,
/// which must be a file; `what` names that file in the error.
pub fn run_env_script(script: &str, what: &str) -> Result<PathBuf, String> {
    let script = repo_root().join(".ci").join(script);
    let output = Command::new("bash")
        .arg(&script)
        .current_dir(repo_root())
        .output()
        .map_err(|error| format!("could not run bash {}: {error}", script.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed ({}):\n{}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let path = PathBuf::from(stdout.lines().last().unwrap_or_default().trim());
    if !path.is_file() {
        return Err(format!("{} printed no {what} (got {stdout:?})", script.display()));
    }
    Ok(path)
}
