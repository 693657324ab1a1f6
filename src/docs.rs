//! The maintainers' documents name code (`server/pipeline.rs::run`, `plan::write::InsertPresets`,
//! `Bounds::admit`); this test fails when a name they mention no longer exists, so a rename or a
//! move cannot leave ARCHITECTURE.md or CONTRIBUTING.md pointing at nothing.

use std::path::{Path, PathBuf};

const DOCUMENTS: [&str; 2] = ["ARCHITECTURE.md", "CONTRIBUTING.md"];

/// Crates and std paths the documents may name, which are not ours to check.
const FOREIGN: [&str; 9] = [
    "async_graphql",
    "sea_orm",
    "sea_query",
    "sqlx",
    "std",
    "tokio",
    "axum",
    "metrics",
    "serde_json",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every Rust source file of the gateway (src/) and of its tests.
fn sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|extension| extension == "rs") {
                found.push(path);
            }
        }
    }
    let mut found = Vec::new();
    walk(&root().join("src"), &mut found);
    walk(&root().join("tests"), &mut found);
    found
}

/// The backticked spans of `text`.
fn spans(text: &str) -> impl Iterator<Item = &str> {
    text.split('`').skip(1).step_by(2).filter(|span| !span.contains('\n'))
}

/// Whether `name` is defined in `source`: an item, a variant or a field of that name, or a name
/// it re-exports (`pub use field::{DocumentField, …}`). A name the document shortened
/// (`serving_a_database_…`) is matched by its beginning.
fn defines(source: &str, name: &str) -> bool {
    let (name, shortened) = match name.strip_suffix('…') {
        Some(start) => (start, true),
        None => (name, false),
    };
    let continues_name = |rest: &str| !shortened && continues_name(rest);
    let keywords = [
        "fn ", "struct ", "enum ", "trait ", "type ", "const ", "static ", "mod ",
    ];
    let reexports = |line: &str| {
        line.starts_with("use ")
            && line
                .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                .any(|word| word == name)
    };
    source.lines().any(|line| {
        let line = line
            .trim_start()
            .trim_start_matches("pub(crate) ")
            .trim_start_matches("pub(super) ");
        let line = line.trim_start_matches("pub ").trim_start_matches("async ");
        let item = keywords.iter().any(|keyword| {
            line.strip_prefix(keyword)
                .is_some_and(|rest| rest.starts_with(name) && !continues_name(&rest[name.len()..]))
        });
        // A variant (`KeyIn(…)`, `KeyIn {`, `KeyIn,`) or a field (`bounds: …`).
        let member = line.starts_with(name)
            && matches!(
                line[name.len()..].trim_start().chars().next(),
                Some('(' | '{' | ',' | ':')
            )
            && !line[name.len()..].starts_with("::");
        item || member || reexports(line)
    })
}

fn continues_name(rest: &str) -> bool {
    rest.chars().next().is_some_and(|c| c.is_alphanumeric() || c == '_')
}

/// The files a documented path may mean: relative to the repository, to src/, or (a bare file
/// name) any source file of that name.
fn files(path: &str, sources: &[PathBuf]) -> Vec<PathBuf> {
    let direct = [root().join(path), root().join("src").join(path)];
    let found: Vec<PathBuf> = direct.into_iter().filter(|candidate| candidate.exists()).collect();
    if !found.is_empty() || path.contains('/') {
        return found;
    }
    sources
        .iter()
        .filter(|source| source.file_name().is_some_and(|name| name == path))
        .cloned()
        .collect()
}

/// The source files of module path `segments` (`plan::write` → src/plan/write.rs), or of a
/// module named like its first segment anywhere (`stream` → src/operation/stream.rs).
fn module_files(segments: &[&str], sources: &[PathBuf]) -> Vec<PathBuf> {
    let joined = segments.join("/");
    let candidates = [format!("src/{joined}.rs"), format!("src/{joined}/mod.rs")];
    let found: Vec<PathBuf> = candidates
        .iter()
        .map(|candidate| root().join(candidate))
        .filter(|path| path.exists())
        .collect();
    if !found.is_empty() {
        return found;
    }
    let last = segments.last().copied().unwrap_or_default();
    sources
        .iter()
        .filter(|source| {
            source.file_stem().is_some_and(|stem| stem == last)
                || (source.file_name().is_some_and(|name| name == "mod.rs")
                    && source
                        .parent()
                        .and_then(Path::file_name)
                        .is_some_and(|directory| directory == last))
        })
        .cloned()
        .collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Why `span` names nothing, or `None` when it names something that exists (or is not a name
/// of ours).
fn missing(span: &str, sources: &[PathBuf], everything: &str) -> Option<String> {
    let span = span.trim_end_matches("()");
    let is_name = |part: &str| !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '…');
    // `file.rs::Type::name`, `dir/file.rs`, `dir/`.
    if let Some((path, items)) = span
        .split_once(".rs::")
        .map(|(path, items)| (format!("{path}.rs"), Some(items)))
        .or_else(|| (span.ends_with(".rs") || (span.ends_with('/') && span.len() > 1)).then(|| (span.to_owned(), None)))
    {
        if !path.chars().all(|c| c.is_alphanumeric() || "_./-".contains(c)) {
            return None;
        }
        let files = files(&path, sources);
        if files.is_empty() {
            return Some(format!("`{span}`: no file {path}"));
        }
        let items = items?;
        let source: String = files.iter().map(|file| read(file)).collect();
        let name = items.rsplit("::").next().unwrap_or(items);
        return (!defines(&source, name)).then(|| format!("`{span}`: {path} defines no `{name}`"));
    }
    // `module::path::Name`, `Type::member`.
    let segments: Vec<&str> = span.split("::").collect();
    if segments.len() < 2 || !segments.iter().all(|segment| is_name(segment)) || FOREIGN.contains(&segments[0]) {
        return None;
    }
    let name = segments[segments.len() - 1];
    let modules: Vec<&str> = segments
        .iter()
        .take_while(|segment| segment.starts_with(|c: char| c.is_lowercase()))
        .copied()
        .collect();
    let types = &segments[modules.len()..];
    if modules.is_empty() {
        // `Type::member`: the type and the member exist.
        return (!defines(everything, segments[0]) || !defines(everything, name))
            .then(|| format!("`{span}`: no `{}` with a `{name}`", segments[0]));
    }
    // The longest module prefix that is a file; the rest are items in it.
    for cut in (1..=modules.len()).rev() {
        let files = module_files(&modules[..cut], sources);
        if files.is_empty() {
            continue;
        }
        if cut == modules.len() && types.is_empty() {
            return None;
        }
        let source: String = files.iter().map(|file| read(file)).collect();
        let first = modules.get(cut).copied().or(types.first().copied()).unwrap_or(name);
        let found = defines(&source, first) && (first == name || defines(everything, name));
        return (!found).then(|| format!("`{span}`: {} defines no `{first}`", modules[..cut].join("::")));
    }
    Some(format!("`{span}`: no module {}", modules.join("::")))
}

#[test]
fn every_name_the_maintainers_documents_mention_exists() {
    let sources = sources();
    let everything: String = sources.iter().map(|file| read(file)).collect();
    let mut problems = Vec::new();
    let mut checked = 0;
    for document in DOCUMENTS {
        let text = read(&root().join(document));
        assert!(!text.is_empty(), "{document} is missing");
        for span in spans(&text) {
            checked += 1;
            if let Some(problem) = missing(span, &sources, &everything) {
                problems.push(format!("{document}: {problem}"));
            }
        }
    }
    assert!(checked > 100, "only {checked} spans read: is the parser broken?");
    assert!(
        problems.is_empty(),
        "names that no longer exist:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_check_notices_a_name_that_does_not_exist() {
    let sources = sources();
    let everything: String = sources.iter().map(|file| read(file)).collect();
    for real in [
        "server/pipeline.rs::run",
        "plan::write::InsertPresets",
        "Bounds::admit",
        "database/write/",
        "changes::untracked",
    ] {
        assert_eq!(missing(real, &sources, &everything), None, "{real}");
    }
    for gone in [
        "server/pipeline.rs::no_such_stage",
        "plan::write::NoSuchType",
        "Bounds::no_such_method",
        "sql/write/",
        "sql::execute_read",
        "changes::no_such_function",
    ] {
        assert!(missing(gone, &sources, &everything).is_some(), "{gone} was accepted");
    }
}
