//! Input rules shared by the backend (authoritative) and the frontend (instant feedback).
//! Each check returns the message to show next to the field, or `None` when the value is fine.

use crate::FieldError;

/// Collects field errors; `finish` turns them into a result.
#[derive(Debug, Default)]
pub struct Errors(Vec<FieldError>);

impl Errors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn check(&mut self, field: &str, message: Option<String>) -> &mut Self {
        if let Some(message) = message {
            self.0.push(FieldError {
                field: field.to_owned(),
                message,
            });
        }
        self
    }

    pub fn finish(&mut self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(std::mem::take(&mut self.0))
        }
    }
}

fn length(value: &str, min: usize, max: usize) -> Option<String> {
    let n = value.chars().count();
    if n < min {
        Some(if min == 1 {
            "must not be empty".to_owned()
        } else {
            format!("must be at least {min} characters")
        })
    } else if n > max {
        Some(format!("must be at most {max} characters"))
    } else {
        None
    }
}

pub const PASSWORD_MIN: usize = 12;
pub const PASSWORD_MAX: usize = 128;

pub fn email(value: &str) -> Option<String> {
    if let Some(m) = length(value, 3, 254) {
        return Some(m);
    }
    let valid = match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && local.len() <= 64
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    (!valid).then(|| "must be an email address such as ada@example.com".to_owned())
}

pub fn password(value: &str) -> Option<String> {
    length(value, PASSWORD_MIN, PASSWORD_MAX).or_else(|| {
        value
            .trim()
            .is_empty()
            .then(|| "must not be only spaces".to_owned())
    })
}

/// A person's or a project's display name.
pub fn display_name(value: &str) -> Option<String> {
    length(value.trim(), 1, 100).or_else(|| {
        value
            .chars()
            .any(char::is_control)
            .then(|| "must not contain control characters".to_owned())
    })
}

/// Project slugs and environment names: they appear in URLs.
pub fn slug(value: &str, max: usize) -> Option<String> {
    if let Some(m) = length(value, 2, max) {
        return Some(m);
    }
    let chars_ok = value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let shape_ok = value.starts_with(|c: char| c.is_ascii_lowercase())
        && !value.ends_with('-')
        && !value.contains("--");
    (!(chars_ok && shape_ok)).then(|| {
        "must be lowercase letters, digits and single hyphens, starting with a letter".to_owned()
    })
}

/// Names of SleakOps projects and environments.
pub fn external_name(value: &str) -> Option<String> {
    length(value, 1, 100).or_else(|| {
        (!value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .then(|| "must be letters, digits, '-', '_' or '.'".to_owned())
    })
}

pub fn repository_url(value: &str) -> Option<String> {
    if let Some(m) = length(value, 1, 500) {
        return Some(m);
    }
    let scheme_ok = ["https://", "http://", "ssh://", "git@"]
        .iter()
        .any(|p| value.starts_with(p) && value.len() > p.len());
    let clean = !value.chars().any(|c| c.is_whitespace() || c.is_control());
    (!(scheme_ok && clean)).then(|| {
        "must be a repository URL such as https://github.com/acme/shop or git@github.com:acme/shop.git"
            .to_owned()
    })
}

/// Git's reference-name rules (`git check-ref-format`), for branches and tags.
pub fn git_ref(value: &str, max: usize) -> Option<String> {
    if let Some(m) = length(value, 1, max) {
        return Some(m);
    }
    let bad_char = value.chars().find(|c| {
        c.is_ascii_control()
            || matches!(c, ' ' | '~' | '^' | ':' | '?' | '*' | '[' | '\\' | '\u{7f}')
    });
    if let Some(c) = bad_char {
        return Some(format!("must not contain {c:?}"));
    }
    let reason = if value == "@" {
        Some("must not be \"@\"")
    } else if value.contains("..") {
        Some("must not contain \"..\"")
    } else if value.contains("@{") {
        Some("must not contain \"@{\"")
    } else if value.starts_with('-') {
        Some("must not start with '-'")
    } else if value.starts_with('/') || value.ends_with('/') || value.contains("//") {
        Some("must not start or end with '/' or contain \"//\"")
    } else if value.ends_with('.') {
        Some("must not end with '.'")
    } else if value
        .split('/')
        .any(|part| part.starts_with('.') || part.ends_with(".lock"))
    {
        Some("no part may start with '.' or end with \".lock\"")
    } else {
        None
    };
    reason.map(str::to_owned)
}

pub fn branch(value: &str) -> Option<String> {
    git_ref(value, 255)
}

pub fn tag(value: &str) -> Option<String> {
    git_ref(value, 128)
}

pub fn commit_sha(value: &str) -> Option<String> {
    let ok = (7..=40).contains(&value.len()) && value.chars().all(|c| c.is_ascii_hexdigit());
    (!ok).then(|| "must be 7 to 40 hexadecimal characters".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(email("ada@example.com"), None);
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "a@b@c.d",
        ] {
            assert!(email(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert_eq!(password("correct horse battery"), None);
        assert!(password("short").is_some());
        assert!(password(&" ".repeat(20)).is_some());
        assert!(password(&"x".repeat(129)).is_some());
        // Length counts characters, not bytes.
        assert_eq!(password(&"é".repeat(12)), None);
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("shop-api", 64), None);
        for bad in ["a", "Shop", "1shop", "shop-", "sh--op", "shop_api", "shöp"] {
            assert!(slug(bad, 64).is_some(), "{bad}");
        }
    }

    #[test]
    fn git_refs_follow_check_ref_format() {
        for good in [
            "main",
            "feature/login-form",
            "release-1.2",
            "v1.0.0",
            "user@host",
        ] {
            assert_eq!(branch(good), None, "{good}");
        }
        for bad in [
            "", "a b", "a..b", "-x", "/x", "x/", "a//b", "x.", ".hidden", "a/.b", "x.lock", "a~1",
            "a^", "a:b", "a?", "a*", "a[b", "a\\b", "@", "a@{1}", "tab\t",
        ] {
            assert!(branch(bad).is_some(), "{bad:?}");
        }
        assert!(tag(&"v".repeat(129)).is_some());
    }

    #[test]
    fn shas() {
        assert_eq!(commit_sha("abc1234"), None);
        assert_eq!(commit_sha(&"0123456789abcdef".repeat(2)[..32]), None);
        assert_eq!(commit_sha("ABCDEF0123"), None);
        for bad in ["abc123", "xyz1234", &"a".repeat(41)] {
            assert!(commit_sha(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn repository_urls() {
        assert_eq!(repository_url("https://github.com/acme/shop"), None);
        assert_eq!(repository_url("git@github.com:acme/shop.git"), None);
        assert!(repository_url("ftp://x").is_some());
        assert!(repository_url("https://").is_some());
        assert!(repository_url("https://a b").is_some());
    }

    #[test]
    fn errors_collect_every_field() {
        let result = Errors::new()
            .check("a", Some("bad".into()))
            .check("b", None)
            .check("c", Some("worse".into()))
            .finish();
        let errors = result.expect_err("two errors");
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[1].field, "c");
    }
}
