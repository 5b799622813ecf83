//! Which organization the app shows: the one the user last chose, while they still belong to
//! it, else their first; and the words for roles and keys.

use faro_types::{OrgRole, Organization};

/// The organization to show among the caller's: `remembered` (a slug) when it is one of them,
/// else the first; `None` without any.
pub fn current<'a>(orgs: &'a [Organization], remembered: Option<&str>) -> Option<&'a Organization> {
    remembered
        .and_then(|slug| orgs.iter().find(|o| o.slug == slug))
        .or_else(|| orgs.first())
}

/// The name the API gives the organization of someone who signs up without naming one.
pub fn default_name(person: &str) -> String {
    match person.trim() {
        "" => "Your organization".to_owned(),
        name => format!("{name}'s organization"),
    }
}

pub fn role_label(role: OrgRole) -> &'static str {
    match role {
        OrgRole::Member => "Member",
        OrgRole::Admin => "Admin",
        OrgRole::Owner => "Owner",
    }
}

/// A key by its last four characters, never more of it: `••••abcd`.
pub fn masked_key(last4: Option<&str>) -> String {
    format!("••••{}", last4.unwrap_or("????"))
}

/// Whether two e-mail addresses name the same account (the API compares them this way).
pub fn same_email(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

    fn org(slug: &str) -> Organization {
        Organization {
            id: 1,
            slug: slug.into(),
            name: slug.into(),
            role: OrgRole::Member,
            sleakops_key: Default::default(),
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn the_remembered_organization_is_shown_while_the_user_belongs_to_it() {
        let orgs = [org("acme"), org("globex")];
        let shown = |remembered| current(&orgs, remembered).map(|o| o.slug.as_str());
        assert_eq!(shown(Some("globex")), Some("globex"));
        assert_eq!(shown(Some("left-long-ago")), Some("acme"));
        assert_eq!(shown(None), Some("acme"));
        assert_eq!(current(&[], Some("acme")), None);
    }

    #[test]
    fn a_new_organization_is_named_after_its_founder() {
        assert_eq!(default_name(" Ada "), "Ada's organization");
        assert_eq!(default_name(""), "Your organization");
    }

    #[test]
    fn keys_show_only_their_last_four_characters() {
        assert_eq!(masked_key(Some("abcd")), "••••abcd");
        assert_eq!(masked_key(None), "••••????");
    }

    #[test]
    fn e_mails_match_whatever_their_case() {
        assert!(same_email("Ada@Example.com", " ada@example.com"));
        assert!(!same_email("ada@example.com", "grace@example.com"));
    }
}
