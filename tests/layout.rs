//! The maps stay true: every module under `src/` is named in the map that
//! opens `src/lib.rs`, and every link inside the README points at one of
//! its headings. No services needed.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The module path of a source file: `src/process/offsets.rs` is
/// `process::offsets`, `src/status/mod.rs` is `status`.
fn module(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .filter(|part| part != "mod")
        .collect();
    parts.join("::")
}

#[test]
fn every_module_is_on_the_map_in_lib_rs() {
    let src = Path::new(ROOT).join("src");
    let map = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let missing: Vec<String> = sources(&src)
        .iter()
        .map(|file| module(&src, file))
        .filter(|module| module != "lib" && module != "main")
        .filter(|module| !map.contains(&format!("`{module}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "modules missing from the map in src/lib.rs: {missing:?}"
    );
}

/// A heading's anchor as GitHub makes it: lower case, spaces to hyphens,
/// punctuation other than `-` and `_` dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[test]
fn every_link_in_the_readme_points_at_a_heading() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let mut in_code = false;
    let anchors: Vec<String> = readme
        .lines()
        .filter(|line| {
            in_code ^= line.starts_with("```");
            !in_code
        })
        .filter_map(|line| line.strip_prefix('#'))
        .map(|heading| anchor(heading.trim_start_matches('#')))
        .collect();
    let broken: Vec<&str> = readme
        .split("](#")
        .skip(1)
        .filter_map(|rest| rest.split_once(')').map(|(target, _)| target))
        .filter(|target| !anchors.iter().any(|a| a == target))
        .collect();
    assert!(broken.is_empty(), "README links to no heading: {broken:?}");
    assert!(
        anchors.contains(&"delivery-semantics".to_string()),
        "{anchors:?}"
    );
}
