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

/// A string field's rule as the OpenAPI document states it (`minLength`, `maxLength` in
/// characters, and a `pattern`): the checks below read their limits from these, and the
/// document is given the same values, so a value the document accepts is never refused for
/// its form, and one it refuses never gets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub min_length: usize,
    pub max_length: usize,
    /// An ECMA-262 regular expression, as JSON Schema reads it (it matches anywhere unless
    /// anchored).
    pub pattern: Option<&'static str>,
}

/// Unicode's White_Space, which `str::trim` and `char::is_whitespace` go by (`\s` differs
/// between regex dialects, so it is spelled out).
macro_rules! white_space {
    () => {
        r"\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    };
}

/// `char::is_control` (the C0 and C1 control codes and DEL).
macro_rules! control {
    () => {
        r"\x00-\x1f\x7f-\x9f"
    };
}

/// A character that is neither white space nor a control code.
macro_rules! visible {
    () => {
        concat!("[^", white_space!(), control!(), "]")
    };
}

pub const EMAIL: Rule = Rule {
    min_length: 3,
    max_length: 254,
    // Surrounding white space is trimmed before the shape is checked.
    pattern: Some(concat!(
        "^[",
        white_space!(),
        "]*[^@",
        white_space!(),
        control!(),
        "]{1,64}@[^@.",
        white_space!(),
        control!(),
        "][^@",
        white_space!(),
        control!(),
        r"]*\.[^@",
        white_space!(),
        control!(),
        "]*[^@.",
        white_space!(),
        control!(),
        "][",
        white_space!(),
        "]*$"
    )),
};
/// The longest local part (before the `@`) of an e-mail address.
const EMAIL_LOCAL_MAX: usize = 64;

pub const PASSWORD_MIN: usize = 12;
pub const PASSWORD_MAX: usize = 128;
pub const PASSWORD: Rule = Rule {
    min_length: PASSWORD_MIN,
    max_length: PASSWORD_MAX,
    pattern: Some(NOT_ONLY_SPACE),
};

/// Some character besides white space (`str::trim` leaves something).
const NOT_ONLY_SPACE: &str = concat!("[^", white_space!(), "]");
/// A sign-in's password: only present; the rules of the day are not revealed.
pub const LOGIN_PASSWORD: Rule = Rule {
    min_length: 1,
    max_length: usize::MAX,
    pattern: None,
};

pub const DISPLAY_NAME: Rule = Rule {
    min_length: 1,
    max_length: 100,
    pattern: Some(concat!(
        "^[^",
        control!(),
        "]*",
        visible!(),
        "[^",
        control!(),
        "]*$"
    )),
};

pub const SLUG: Rule = Rule {
    min_length: 2,
    max_length: 64,
    pattern: Some("^[a-z][a-z0-9]*(-[a-z0-9]+)*$"),
};

pub const EXTERNAL_NAME: Rule = Rule {
    min_length: 1,
    max_length: 100,
    pattern: Some("^[A-Za-z0-9._-]+$"),
};

pub const REPOSITORY_URL: Rule = Rule {
    min_length: 1,
    max_length: 500,
    pattern: Some(concat!("^(https?://|ssh://|git@)", visible!(), "+$")),
};

/// `git check-ref-format`'s rules, as one expression.
const GIT_REF_PATTERN: &str = concat!(
    // `[\s\S]`, not `.`: ECMA's dot stops at line separators, which a ref may contain.
    r"^(?!@$)(?![-/.])(?![\s\S]*(\.\.|@\{|//|/\.|\.lock/|\.lock$|[./]$))",
    r"[^\x00-\x20~^:?*\[\\\x7f]+$"
);

pub const BRANCH: Rule = Rule {
    min_length: 1,
    max_length: 255,
    pattern: Some(GIT_REF_PATTERN),
};

pub const TAG: Rule = Rule {
    min_length: 1,
    max_length: 128,
    pattern: Some(GIT_REF_PATTERN),
};

pub const COMMIT_SHA: Rule = Rule {
    min_length: 7,
    max_length: 40,
    pattern: Some("^[0-9a-fA-F]+$"),
};

/// Free text (a changelog, a chat message): something besides white space, up to `max_length`.
pub const fn text(max_length: usize) -> Rule {
    Rule {
        min_length: 1,
        max_length,
        pattern: Some(NOT_ONLY_SPACE),
    }
}

fn length(value: &str, rule: &Rule) -> Option<String> {
    let n = value.chars().count();
    if n < rule.min_length {
        Some(if rule.min_length == 1 {
            "must not be empty".to_owned()
        } else {
            format!("must be at least {} characters", rule.min_length)
        })
    } else if n > rule.max_length {
        Some(format!("must be at most {} characters", rule.max_length))
    } else {
        None
    }
}

/// A value whose length and `rule` agree; `shape` checks what the pattern says.
fn checked(value: &str, rule: &Rule, shape: impl FnOnce(&str) -> Option<String>) -> Option<String> {
    length(value, rule).or_else(|| shape(value))
}

/// An e-mail address; white space around it is ignored (and trimmed where it is stored).
pub fn email(value: &str) -> Option<String> {
    checked(value, &EMAIL, |value| {
        let value = value.trim();
        let valid = match value.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && local.chars().count() <= EMAIL_LOCAL_MAX
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !value.chars().any(|c| c.is_whitespace() || c.is_control())
            }
            None => false,
        };
        (!valid).then(|| "must be an email address such as ada@example.com".to_owned())
    })
}

fn not_only_spaces(value: &str) -> Option<String> {
    value
        .trim()
        .is_empty()
        .then(|| "must not be only spaces".to_owned())
}

pub fn password(value: &str) -> Option<String> {
    checked(value, &PASSWORD, not_only_spaces)
}

/// A sign-in's password: present, nothing more.
pub fn login_password(value: &str) -> Option<String> {
    length(value, &LOGIN_PASSWORD)
}

/// A person's, a project's or an organization's display name.
pub fn display_name(value: &str) -> Option<String> {
    checked(value, &DISPLAY_NAME, |value| {
        if value.trim().is_empty() {
            Some("must not be empty".to_owned())
        } else {
            value
                .chars()
                .any(char::is_control)
                .then(|| "must not contain control characters".to_owned())
        }
    })
}

/// Organization and project slugs and environment names: they appear in URLs.
pub fn slug(value: &str) -> Option<String> {
    checked(value, &SLUG, |value| {
        let chars_ok = value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        let shape_ok = value.starts_with(|c: char| c.is_ascii_lowercase())
            && !value.ends_with('-')
            && !value.contains("--");
        (!(chars_ok && shape_ok)).then(|| {
            "must be lowercase letters, digits and single hyphens, starting with a letter"
                .to_owned()
        })
    })
}

/// Names of SleakOps projects and environments.
pub fn external_name(value: &str) -> Option<String> {
    checked(value, &EXTERNAL_NAME, |value| {
        (!value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .then(|| "must be letters, digits, '-', '_' or '.'".to_owned())
    })
}

pub fn repository_url(value: &str) -> Option<String> {
    checked(value, &REPOSITORY_URL, |value| {
        let scheme_ok = ["https://", "http://", "ssh://", "git@"]
            .iter()
            .any(|p| value.starts_with(p) && value.len() > p.len());
        let clean = !value.chars().any(|c| c.is_whitespace() || c.is_control());
        (!(scheme_ok && clean)).then(|| {
            "must be a repository URL such as https://github.com/acme/shop or git@github.com:acme/shop.git"
                .to_owned()
        })
    })
}

/// Git's reference-name rules (`git check-ref-format`), for branches and tags.
fn git_ref(value: &str, rule: &Rule) -> Option<String> {
    checked(value, rule, git_ref_shape)
}

fn git_ref_shape(value: &str) -> Option<String> {
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
    git_ref(value, &BRANCH)
}

pub fn tag(value: &str) -> Option<String> {
    git_ref(value, &TAG)
}

pub fn commit_sha(value: &str) -> Option<String> {
    let ok = length(value, &COMMIT_SHA).is_none() && value.chars().all(|c| c.is_ascii_hexdigit());
    (!ok).then(|| {
        format!(
            "must be {} to {} hexadecimal characters",
            COMMIT_SHA.min_length, COMMIT_SHA.max_length
        )
    })
}

/// Free text (a changelog, a chat message) under `rule` ([`text`]).
pub fn free_text(value: &str, rule: &Rule) -> Option<String> {
    if value.trim().is_empty() {
        Some("must not be empty".to_owned())
    } else {
        length(value, rule)
    }
}

/// A value of printable ASCII without spaces (a key, a token) under `rule`.
pub fn printable_ascii(value: &str, rule: &Rule) -> Option<String> {
    checked(value, rule, |value| {
        (!value.chars().all(|c| c.is_ascii_graphic()))
            .then(|| "must be printable ASCII without spaces".to_owned())
    })
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
        assert_eq!(slug("shop-api"), None);
        for bad in ["a", "Shop", "1shop", "shop-", "sh--op", "shop_api", "shöp"] {
            assert!(slug(bad).is_some(), "{bad}");
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
