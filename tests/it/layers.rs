//! The house rules that a test can keep: the module layers of ARCHITECTURE.md hold for
//! every `crate::` path in `src/`, and CONTRIBUTING.md names files that exist.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The level of each top-level module, from ARCHITECTURE.md's `| level | modules |` table.
fn levels() -> BTreeMap<String, u32> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let mut out = BTreeMap::new();
    let mut in_table = false;
    for line in text.lines() {
        if line.starts_with("| level | modules |") {
            in_table = true;
            continue;
        }
        if !in_table || line.starts_with("|---") {
            continue;
        }
        let Some(row) = line.strip_prefix('|') else {
            break;
        };
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let level: u32 = cells[0].parse().unwrap();
        for m in cells[1].split(',') {
            out.insert(m.trim().to_string(), level);
        }
    }
    assert!(
        !out.is_empty(),
        "ARCHITECTURE.md has no `| level | modules |` table"
    );
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules a file names as `crate::m` or in `use crate::{m, ...}`, tests
/// at the end of the file left out (as modgraph.py does).
fn used_modules(text: &str) -> Vec<String> {
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    let mut out = Vec::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut start = 0;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        out.push(ident_at(group[start..].trim_start()).to_string());
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(ident_at(group[start..].trim_start()).to_string());
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident_at(rest).to_string());
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

#[test]
fn every_import_goes_down_the_layers_of_architecture_md() {
    let levels = levels();
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let first = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let me = first.trim_end_matches(".rs").to_string();
        // The binary (main.rs, cli/) stands above the library and names it `snapdiff::`;
        // lib.rs declares the modules.
        if me == "main" || me == "cli" || me == "lib" {
            continue;
        }
        let mine = *levels
            .get(&me)
            .unwrap_or_else(|| panic!("module `{me}` has no level in ARCHITECTURE.md"));
        let text = std::fs::read_to_string(&f).unwrap();
        for used in used_modules(&text) {
            if used == me {
                continue;
            }
            match levels.get(&used) {
                Some(l) if *l < mine => {}
                Some(l) => wrong.push(format!(
                    "{} (`{me}`, level {mine}) uses `crate::{used}` (level {l})",
                    rel.display()
                )),
                None => wrong.push(format!("{}: `crate::{used}` has no level", rel.display())),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn contributing_md_names_files_that_exist() {
    let text = std::fs::read_to_string(root().join("CONTRIBUTING.md")).unwrap();
    let mut named = 0;
    for part in text.split('`').skip(1).step_by(2) {
        let looks_like_path = (part.starts_with("src/")
            || part.starts_with("tests/")
            || part.starts_with("docs/")
            || part.starts_with("queries/"))
            && !part.contains(['<', '*', ' ']);
        if looks_like_path {
            named += 1;
            assert!(
                root().join(part).exists(),
                "CONTRIBUTING.md names `{part}`, which does not exist"
            );
        }
    }
    assert!(named >= 20, "CONTRIBUTING.md names only {named} files");
}
