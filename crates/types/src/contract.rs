//! Which rule each request field is checked by, for the OpenAPI document: the backend writes
//! each rule's limits and pattern into the field's schema, so the document and the checks
//! (`validate()` of each request type, which read the same [`Rule`]s) cannot disagree.
//! A request type's new checked field gets its line here.

use crate::validate::{
    BRANCH, COMMIT_SHA, DISPLAY_NAME, EMAIL, EXTERNAL_NAME, LOGIN_PASSWORD, PASSWORD,
    REPOSITORY_URL, Rule, SLUG, TAG,
};
use crate::{ai, orgs, releases};

/// (schema name, property, rule).
pub const FIELD_RULES: &[(&str, &str, Rule)] = &[
    ("SignupRequest", "email", EMAIL),
    ("SignupRequest", "password", PASSWORD),
    ("SignupRequest", "name", DISPLAY_NAME),
    ("SignupRequest", "organization", DISPLAY_NAME),
    ("SignupRequest", "invitation", orgs::INVITATION_TOKEN),
    ("LoginRequest", "email", EMAIL),
    ("LoginRequest", "password", LOGIN_PASSWORD),
    ("ChangePassword", "current_password", LOGIN_PASSWORD),
    ("ChangePassword", "new_password", PASSWORD),
    ("CreateOrg", "slug", SLUG),
    ("CreateOrg", "name", DISPLAY_NAME),
    ("UpdateOrg", "name", DISPLAY_NAME),
    ("SetSleakopsKey", "api_key", orgs::SLEAKOPS_KEY),
    ("CreateInvitation", "email", EMAIL),
    ("CreateProject", "organization", SLUG),
    ("CreateProject", "slug", SLUG),
    ("CreateProject", "name", DISPLAY_NAME),
    ("CreateProject", "sleakops_project", EXTERNAL_NAME),
    ("CreateProject", "repository_url", REPOSITORY_URL),
    ("CreateProject", "default_branch", BRANCH),
    ("UpdateProject", "name", DISPLAY_NAME),
    ("UpdateProject", "sleakops_project", EXTERNAL_NAME),
    ("UpdateProject", "repository_url", REPOSITORY_URL),
    ("UpdateProject", "default_branch", BRANCH),
    ("CreateEnvironment", "name", SLUG),
    ("CreateEnvironment", "sleakops_environment", EXTERNAL_NAME),
    ("UpdateEnvironment", "sleakops_environment", EXTERNAL_NAME),
    ("AddMember", "email", EMAIL),
    ("CreateRelease", "environment", SLUG),
    ("CreateRelease", "branch", BRANCH),
    ("CreateRelease", "commit_sha", COMMIT_SHA),
    ("CreateRelease", "tag", TAG),
    ("RejectRelease", "reason", releases::REJECTION_REASON),
    ("PromoteRelease", "environment", SLUG),
    ("DraftNotes", "changelog", ai::CHANGELOG),
    ("UpdateRelease", "notes", ai::NOTES),
    ("ChatRequest", "message", ai::CHAT_MESSAGE),
    ("ChatRequest", "conversation_id", ai::CONVERSATION_ID),
];

/// The rule of `schema`'s `property`, if it has one.
pub fn rule(schema: &str, property: &str) -> Option<&'static Rule> {
    FIELD_RULES
        .iter()
        .find(|(s, p, _)| *s == schema && *p == property)
        .map(|(_, _, rule)| rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_field_has_one_rule() {
        for (i, (schema, property, _)) in FIELD_RULES.iter().enumerate() {
            assert!(
                FIELD_RULES[..i]
                    .iter()
                    .all(|(s, p, _)| (s, p) != (schema, property)),
                "{schema}.{property} is listed twice"
            );
        }
        assert_eq!(rule("CreateProject", "slug"), Some(&SLUG));
    }
}
