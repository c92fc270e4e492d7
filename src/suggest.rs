//! "Did you mean …?" for mistyped spec keys.

/// From serde's "unknown field `x`, expected one of `a`, `b`" (or "expected `a` or `b`"),
/// the unknown name and the expected names.
pub fn unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let end = rest.find('`')?;
    let unknown = rest[..end].to_string();
    let expected: Vec<String> = rest[end + 1..]
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s.to_string())
        .collect();
    Some((unknown, expected))
}

/// The candidate nearest to `name` by edit distance, if it is close enough to be a typo.
pub fn nearest(name: &str, candidates: &[String]) -> Option<String> {
    candidates
        .iter()
        .map(|c| (levenshtein(name, c), c))
        .filter(|(d, c)| *d <= (c.len().max(name.len()) / 3).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_serde_messages_and_finds_the_nearest() {
        let (u, exp) =
            unknown_field("unknown field `tabel`, expected one of `side`, `table`, `query`")
                .unwrap();
        assert_eq!(u, "tabel");
        assert_eq!(exp, vec!["side", "table", "query"]);
        assert_eq!(nearest("tabel", &exp), Some("table".to_string()));
        assert_eq!(nearest("zzzzzz", &exp), None);
        let (u, exp) =
            unknown_field("unknown field `legcy`, expected `legacy` or `target`").unwrap();
        assert_eq!((u.as_str(), exp.len()), ("legcy", 2));
    }
}
