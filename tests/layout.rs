//! The maps stay true: every module under `src/` is named in the map that
//! opens `src/lib.rs`, every link of the README and `docs/` points at a
//! file and heading that exist, and the README stays a short front door.
//! No services needed.

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

/// The headings' anchors of a Markdown page, outside code blocks.
fn anchors(page: &str) -> Vec<String> {
    let mut in_code = false;
    page.lines()
        .filter(|line| {
            in_code ^= line.starts_with("```");
            !in_code
        })
        .filter_map(|line| line.strip_prefix('#'))
        .map(|heading| anchor(heading.trim_start_matches('#')))
        .collect()
}

/// The README and every page in `docs/`.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![Path::new(ROOT).join("README.md")];
    for entry in std::fs::read_dir(Path::new(ROOT).join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    pages
}

/// Every link from the README or a page of `docs/` to a file of the
/// repository points at a file that exists, and at one of its headings
/// when it names one.
#[test]
fn every_link_in_the_docs_points_at_a_file_and_heading() {
    let mut broken = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for target in text
            .split("](")
            .skip(1)
            .filter_map(|rest| rest.split_once(')'))
        {
            let target = target.0;
            if target.contains("://") {
                continue;
            }
            let (file, heading) = target.split_once('#').unwrap_or((target, ""));
            let linked = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            let found = std::fs::read_to_string(&linked).ok();
            let fine = match found {
                None => linked.exists(),
                Some(linked) => heading.is_empty() || anchors(&linked).iter().any(|a| a == heading),
            };
            if !fine {
                broken.push(format!("{}: {target}", page.display()));
            }
        }
    }
    assert!(broken.is_empty(), "links to no file or heading: {broken:?}");
}

/// The README is a front door: short, and it links to every page of
/// `docs/`.
#[test]
fn the_readme_is_short_and_links_every_page() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    assert!(
        readme.lines().count() <= 200,
        "README has {} lines",
        readme.lines().count()
    );
    for page in pages().iter().skip(1) {
        let name = page.file_name().unwrap().to_string_lossy();
        assert!(
            readme.contains(&format!("](docs/{name}")),
            "README does not link docs/{name}"
        );
    }
}
