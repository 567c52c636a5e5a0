//! Output files named after user input (a domain, a brief title, an export name): the name is
//! reduced to one safe file name so that no input can traverse out of the chosen folder, hide a
//! file, hit a device name, or write through a symlink planted in the folder.

use std::path::{Path, PathBuf};
use thiserror::Error;

/// Longest file name produced, in bytes (most file systems allow 255).
const MAX_NAME: usize = 120;

/// Why no safe output path could be made from a name.
#[derive(Debug, Error)]
pub enum PathError {
    /// Nothing usable was left of the name (e.g. `..`, `/`, or only control characters).
    #[error("{input:?} cannot be used as a file name: give a name with letters or digits")]
    Empty { input: String },
    /// The target exists as a symlink; writing through it could land outside the folder.
    #[error(
        "refusing to write {path}: it is a symbolic link; remove it or choose another --out folder"
    )]
    Symlink { path: PathBuf },
    /// The output folder cannot be read.
    #[error("cannot use output folder {dir}: {source}")]
    Dir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// One safe file name from arbitrary text: ASCII letters, digits, `-`, `_` and `.` are kept,
/// everything else (separators, `..`, control and non-ASCII characters, shell and SQL
/// metacharacters) becomes `_`; leading dots and trailing dots/spaces are dropped; the result is
/// at most 120 bytes and never a Windows device name.
pub fn sanitize_file_name(input: &str) -> Result<String, PathError> {
    let mapped: String = input
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Collapse runs of '.' so that no `..` survives anywhere.
    let mut name = String::with_capacity(mapped.len());
    for c in mapped.chars() {
        if !(c == '.' && name.ends_with('.')) {
            name.push(c);
        }
    }
    let mut name = name
        .trim_start_matches(['.', '_'])
        .trim_end_matches(['.', ' '])
        .to_string();
    if name.len() > MAX_NAME {
        name.truncate(MAX_NAME);
        name = name.trim_end_matches('.').to_string();
    }
    if name.is_empty() || name.chars().all(|c| c == '_') {
        return Err(PathError::Empty {
            input: input.chars().take(80).collect(),
        });
    }
    let stem = name.split('.').next().unwrap_or("").to_ascii_uppercase();
    const DEVICES: &[&str] = &["CON", "PRN", "AUX", "NUL"];
    let numbered = (stem.starts_with("COM") || stem.starts_with("LPT"))
        && stem.len() == 4
        && stem.as_bytes()[3].is_ascii_digit();
    if DEVICES.contains(&stem.as_str()) || numbered {
        name.insert(0, '_');
    }
    Ok(name)
}

/// The path of the file for `user_name` inside `dir`: always a direct child of `dir`, never a
/// symlink. `dir` is created if missing.
pub fn safe_output_path(dir: &Path, user_name: &str) -> Result<PathBuf, PathError> {
    let name = sanitize_file_name(user_name)?;
    std::fs::create_dir_all(dir).map_err(|source| PathError::Dir {
        dir: dir.to_path_buf(),
        source,
    })?;
    let path = dir.join(&name);
    // By construction `name` is one normal component; this is the belt to those braces.
    debug_assert_eq!(path.parent(), Some(dir));
    debug_assert_eq!(
        path.file_name().and_then(|n| n.to_str()),
        Some(name.as_str())
    );
    if let Ok(meta) = std::fs::symlink_metadata(&path) {
        if meta.file_type().is_symlink() {
            return Err(PathError::Symlink { path });
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_become_one_plain_component() {
        for (input, want) in [
            ("stripe.com", "stripe.com"),
            ("stripe.com.md", "stripe.com.md"),
            ("../../etc/passwd", "etc_passwd"),
            ("..\\..\\windows\\system32", "windows_system32"),
            ("/etc/shadow", "etc_shadow"),
            ("a/../../b", "a_._._b"),
            (".bashrc", "bashrc"),
            ("x..y", "x.y"),
            ("name\0with\nnul", "name_with_nul"),
            ("'; DROP TABLE snapshots;--", "DROP_TABLE_snapshots_--"),
            ("$(rm -rf ~)`id`", "rm_-rf____id_"),
            ("xn--80ak6aa92e.com", "xn--80ak6aa92e.com"),
            ("аpple.com", "pple.com"),
            ("CON", "_CON"),
            ("nul.txt", "_nul.txt"),
            ("com1", "_com1"),
            ("trailing. . ", "trailing._._"),
        ] {
            let got = sanitize_file_name(input).unwrap();
            assert_eq!(got, want, "{input:?}");
            assert!(!got.contains('/') && !got.contains('\\') && !got.contains(".."));
            assert!(!got.starts_with('.'));
        }
        let long = sanitize_file_name(&"a".repeat(10_000)).unwrap();
        assert_eq!(long.len(), MAX_NAME);
        for empty in ["", "..", "/", "../..", "\u{202e}\u{200b}", "___"] {
            assert!(sanitize_file_name(empty).is_err(), "{empty:?}");
        }
    }

    #[test]
    fn output_paths_stay_in_the_folder_and_refuse_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("briefs");
        let p = safe_output_path(&out, "../../../tmp/evil").unwrap();
        assert_eq!(p.parent(), Some(out.as_path()));
        assert!(out.is_dir(), "folder created");
        std::fs::write(&p, "ok").unwrap();
        #[cfg(unix)]
        {
            let target = dir.path().join("outside.txt");
            std::os::unix::fs::symlink(&target, out.join("victim.md")).unwrap();
            let err = safe_output_path(&out, "victim.md").unwrap_err();
            assert!(err.to_string().contains("symbolic link"), "{err}");
            assert!(!target.exists());
        }
    }
}
