//! The client's three parts depend one way only: the app (`src/cli`) on
//! the outputs (`src/output`), the outputs on the engine (`src/trace`).
//! Read from the sources: the engine uses none of the app's or the
//! outputs' libraries and imports nothing from either part; the outputs
//! import nothing from the app outside their tests.

use std::path::{Path, PathBuf};

/// Libraries only the app or the outputs may use.
const NOT_IN_THE_ENGINE: [&str; 5] = [
    "clap",
    "graphviz_rust",
    "hickory_resolver",
    "toml_edit",
    "base64",
];

/// The `.rs` files under `dir`, recursively.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("a source folder") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn part(name: &str) -> Vec<(PathBuf, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(name);
    let files: Vec<(PathBuf, String)> = sources(&dir)
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("a readable source");
            (path, text)
        })
        .collect();
    assert!(files.len() > 5, "{name}: only {} files", files.len());
    files
}

/// `text` without comments (line comments and doc comments; the sources
/// have no block comments).
fn code(text: &str) -> String {
    text.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `use` declarations of `code`, each flattened to the paths it
/// imports (`use a::{b, c::{d}};` gives `a::b` and `a::c::d`).
fn imports(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(start) = find_use(rest) {
        let after = &rest[start..];
        let end = after.find(';').expect("a use declaration ends");
        let tree: String = after[..end]
            .split_whitespace()
            .collect::<String>()
            .trim_start_matches("pub(crate)")
            .trim_start_matches("pub")
            .trim_start_matches("use")
            .to_owned();
        flatten("", &tree, &mut paths);
        rest = &after[end..];
    }
    paths
}

/// Where the next `use` declaration starts (after optional visibility).
fn find_use(code: &str) -> Option<usize> {
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let keyword = ["use ", "pub use ", "pub(crate) use "]
            .iter()
            .any(|start| trimmed.starts_with(start));
        if keyword {
            return Some(offset + line.len() - trimmed.len());
        }
        offset += line.len();
    }
    None
}

/// Adds the paths of the use tree `tree` under `prefix` to `paths`.
fn flatten(prefix: &str, tree: &str, paths: &mut Vec<String>) {
    let Some(open) = tree.find('{') else {
        paths.push(format!("{prefix}{tree}"));
        return;
    };
    let head = format!("{prefix}{}", &tree[..open]);
    let inner = &tree[open + 1..tree.len() - 1];
    let mut depth = 0;
    let mut start = 0;
    for (index, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                flatten(&head, &inner[start..index], paths);
                start = index + 1;
            }
            _ => {}
        }
    }
    if start < inner.len() {
        flatten(&head, &inner[start..], paths);
    }
}

#[test]
fn use_trees_flatten() {
    let code = "use std::io;\npub(crate) use crate::{\n    a::{B, c::D},\n    e,\n};\n";
    assert_eq!(
        imports(code),
        ["std::io", "crate::a::B", "crate::a::c::D", "crate::e"]
    );
}

#[test]
fn the_engine_knows_neither_the_app_nor_the_outputs() {
    for (path, text) in part("trace") {
        let code = code(&text);
        for library in NOT_IN_THE_ENGINE {
            let named = code
                .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .any(|word| word == library || word.starts_with(&format!("{library}::")));
            assert!(!named, "{} uses {library}", path.display());
        }
        for import in imports(&code) {
            for other in ["crate::cli", "crate::output", "super::super::super"] {
                assert!(
                    !import.starts_with(other),
                    "{} imports {import}",
                    path.display()
                );
            }
        }
        for other in ["crate::cli::", "crate::output::"] {
            assert!(!code.contains(other), "{} names {other}", path.display());
        }
    }
}

#[test]
fn the_outputs_do_not_know_the_app() {
    for (path, text) in part("output") {
        // Tests may build their configurations from a command line.
        let code = code(text.split("#[cfg(test)]\nmod tests").next().unwrap_or(""));
        for import in imports(&code) {
            assert!(
                !import.starts_with("crate::cli"),
                "{} imports {import}",
                path.display()
            );
        }
        assert!(
            !code.contains("crate::cli::"),
            "{} names the app",
            path.display()
        );
    }
}
