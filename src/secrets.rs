//! Keeping passwords out of everything snapdiff writes.
//!
//! Passwords arrive in source URLs, in `PGPASSWORD`/`MYSQL_PWD`, or through `${VAR}` in a
//! spec. Each one is registered here the moment it is read; [`scrub`] then replaces every
//! registered secret with `***` in any text, and is applied to every error message,
//! warning and progress line. URLs written to manifests are built with [`redact_url`],
//! which drops the password altogether.

use std::sync::{Mutex, OnceLock};

fn registry() -> &'static Mutex<Vec<String>> {
    static SECRETS: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| Mutex::new(Vec::new()))
}

/// Remember `secret` (and its percent-encoded form) so that [`scrub`] hides it.
/// Empty and one-character strings are ignored: hiding them would mangle all output.
pub fn register(secret: &str) {
    if secret.chars().count() < 2 {
        return;
    }
    let mut reg = registry().lock().unwrap_or_else(|p| p.into_inner());
    let encoded = percent_encode(secret);
    for s in [secret.to_string(), encoded] {
        if !reg.contains(&s) {
            reg.push(s);
        }
    }
    // Longest first, so a secret that contains another is replaced whole.
    reg.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// `text` with every registered secret replaced by `***`.
pub fn scrub(text: &str) -> String {
    let reg = registry().lock().unwrap_or_else(|p| p.into_inner());
    let mut out = text.to_string();
    for s in reg.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

/// `url` with its password removed (`postgresql://app:pw@h/db` → `postgresql://app@h/db`),
/// also removing `password=` query parameters. Text that is not a URL is returned as is.
///
/// The user info ends at the *last* `@`: a password holding `/`, `?`, `#` or `@` (which a
/// URL should percent-encode, but people write anyway) is still removed whole.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let (scheme, rest) = url.split_at(scheme_end + 3);
    let rest = match rest.rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!("{user}{}", &rest[at..])
        }
        None => rest.to_string(),
    };
    match rest.find('?') {
        Some(q) => {
            let (path, query) = rest.split_at(q);
            let kept: Vec<&str> = query[1..]
                .split('&')
                .filter(|kv| {
                    let k = kv.split('=').next().unwrap_or("").to_ascii_lowercase();
                    // password, sslpassword, pwd, passwd, secret, token, api_token, ...
                    !["pass", "pwd", "secret", "token"]
                        .iter()
                        .any(|s| k.contains(s))
                })
                .collect();
            if kept.is_empty() {
                format!("{scheme}{path}")
            } else {
                format!("{scheme}{path}?{}", kept.join("&"))
            }
        }
        None => format!("{scheme}{rest}"),
    }
}

/// Register the password a URL holds, if it holds one, before anything else reads the
/// URL (so that even a URL too broken to parse cannot leak it).
pub fn register_url_password(url: &str) {
    let Some(scheme_end) = url.find("://") else {
        return;
    };
    let rest = &url[scheme_end + 3..];
    let Some(at) = rest.rfind('@') else { return };
    if let Some((_, pw)) = rest[..at].split_once(':') {
        register(pw);
        register(&percent_decode(pw));
    }
}

/// `%XX` escapes decoded (invalid UTF-8 replaced).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_in_userinfo_and_query() {
        assert_eq!(
            redact_url(
                "postgresql://app:s3cr%40t@db.internal:5432/school?sslmode=require&password=x"
            ),
            "postgresql://app@db.internal:5432/school?sslmode=require"
        );
        assert_eq!(
            redact_url("mysql://root@127.0.0.1:3306/test"),
            "mysql://root@127.0.0.1:3306/test"
        );
        assert_eq!(
            redact_url("sqlite://data/legacy.db"),
            "sqlite://data/legacy.db"
        );
        assert_eq!(redact_url("data/orders.parquet"), "data/orders.parquet");
        // Any query parameter that names a password, a secret or a token.
        assert_eq!(
            redact_url("postgresql://app@db/x?sslmode=verify-full&sslpassword=k3y&api_token=t0k&client_secret=s"),
            "postgresql://app@db/x?sslmode=verify-full"
        );
        // Unencoded `#`, `/`, `?` and `@` in a password.
        assert_eq!(
            redact_url("postgresql://app:s3#c/r?e@t@db:5432/x"),
            "postgresql://app@db:5432/x"
        );
        assert_eq!(
            redact_url("mysql://root@127.0.0.1:3306/test"),
            "mysql://root@127.0.0.1:3306/test"
        );
    }

    #[test]
    fn passwords_are_registered_before_the_url_is_parsed() {
        register_url_password("postgresql://app:br#ken/pw-unit@db/x");
        assert_eq!(scrub("echo br#ken/pw-unit"), "echo ***");
    }

    #[test]
    fn scrub_hides_registered_secrets_plain_and_encoded() {
        register("pa ss@word-unit-test");
        let text = "login failed for pa ss@word-unit-test (pa%20ss%40word-unit-test)";
        assert_eq!(scrub(text), "login failed for *** (***)");
    }
}
