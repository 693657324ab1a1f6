//! `gateway generate --check`: whether the committed entities, registration file and names file
//! still match the live database — for a team's CI, to catch a migration that forgot to
//! regenerate. It generates into a scratch directory beside the project (so `rustfmt` reads the
//! project's own `rustfmt.toml`), from a copy of the names file, and compares file by file;
//! nothing of the project is written.

use super::{GENERATED, GenerateError, Options};
use std::path::{Path, PathBuf};

/// One file that would change.
#[derive(Debug, PartialEq, Eq)]
pub struct Drift {
    pub path: PathBuf,
    /// Lines only in the committed file (`-`) and only in the generated one (`+`), first ones.
    pub lines: Vec<String>,
}

/// The most differing lines shown per file.
const SHOWN: usize = 12;

/// The lines of `old` and `new` that the other does not have (as multisets), `-`/`+` prefixed.
fn differing(old: &str, new: &str) -> Vec<String> {
    let mut only_old: Vec<&str> = old.lines().collect();
    let mut only_new = Vec::new();
    for line in new.lines() {
        match only_old.iter().position(|candidate| *candidate == line) {
            Some(index) => {
                only_old.remove(index);
            }
            None => only_new.push(line),
        }
    }
    only_old
        .into_iter()
        .map(|line| format!("- {line}"))
        .chain(only_new.into_iter().map(|line| format!("+ {line}")))
        .take(SHOWN)
        .collect()
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// What `gateway generate` with `options` would change (empty: nothing).
pub async fn check(options: &Options) -> Result<Vec<Drift>, GenerateError> {
    let base = options
        .registry
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let scratch = tempfile::Builder::new()
        .prefix(".gateway-check-")
        .tempdir_in(base)
        .map_err(|source| GenerateError::Write {
            path: base.to_owned(),
            source,
        })?;
    let names = scratch.path().join("gateway-names.toml");
    if let Some(text) = read(&options.names) {
        std::fs::write(&names, text).map_err(|source| GenerateError::Write {
            path: names.clone(),
            source,
        })?;
    }
    let generated = Options {
        entities: scratch.path().join("entity"),
        registry: scratch.path().join("registry.rs"),
        names,
        ..options.clone()
    };
    super::run(&generated).await?;
    let mut drifts = Vec::new();
    let mut compare = |committed: &Path, generated: &Path| {
        let old = read(committed).unwrap_or_default();
        let new = read(generated).unwrap_or_default();
        if old != new {
            drifts.push(Drift {
                path: committed.to_owned(),
                lines: differing(&old, &new),
            });
        }
    };
    let files = super::listing(&generated.entities);
    for file in &files {
        let name = file.file_name().unwrap_or_default();
        compare(&options.entities.join(name), file);
    }
    // A generated module no table needs any more would be removed.
    for path in super::listing(&options.entities) {
        let stale = !files.iter().any(|file| file.file_name() == path.file_name())
            && read(&path).is_some_and(|text| text.contains(GENERATED));
        if stale {
            compare(&path, Path::new(""));
        }
    }
    compare(&options.registry, &generated.registry);
    compare(&options.names, &generated.names);
    Ok(drifts)
}

#[cfg(test)]
mod tests {
    use super::differing;

    #[test]
    fn only_the_lines_that_differ_are_shown() {
        assert_eq!(
            differing("a\nb\nc\n", "a\nc\nd\n"),
            ["- b".to_owned(), "+ d".to_owned()]
        );
        assert!(differing("same\n", "same\n").is_empty());
    }
}
