//! What DeepSeek is told. Only the facts a task needs: the release's project, environment,
//! branch, commit, tag, status and failure, its timeline's messages, and what the user typed.

use faro_deepseek::Message;
use faro_types::{Release, TimelineEvent};

/// Timeline events quoted in a prompt, newest last.
pub const TIMELINE_EVENTS: usize = 40;

fn facts(release: &Release) -> String {
    let mut facts = format!(
        "Project: {}\nEnvironment: {}{}\nBranch: {}\nCommit: {}\n",
        release.project,
        release.environment,
        if release.production {
            " (production)"
        } else {
            ""
        },
        release.branch,
        release.commit_sha,
    );
    if let Some(tag) = &release.tag {
        facts.push_str(&format!("Tag: {tag}\n"));
    }
    facts.push_str(&format!("Status: {}\n", release.status.as_str()));
    if let Some(reason) = &release.failure_reason {
        facts.push_str(&format!("Failure: {reason}\n"));
    }
    facts
}

fn timeline(events: &[TimelineEvent]) -> String {
    let start = events.len().saturating_sub(TIMELINE_EVENTS);
    events[start..]
        .iter()
        .map(|e| {
            format!(
                "{} [{}] {}",
                e.at.format("%Y-%m-%d %H:%M:%S"),
                e.kind.as_str(),
                e.message
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn notes(release: &Release, changelog: &str) -> Vec<Message> {
    vec![
        Message::system(
            "You write release notes for a software team. Use Markdown: one summary sentence, \
             then the sections Features, Fixes and Other as bullet lists, leaving out empty \
             sections. Use only the changes given; never invent any. Be concise.",
        ),
        Message::user(format!(
            "{}\nChangelog:\n{}",
            facts(release),
            changelog.trim()
        )),
    ]
}

/// The marker before the list of fixes in an explanation.
pub const FIXES_MARKER: &str = "Suggested fixes:";

pub fn explain(release: &Release, events: &[TimelineEvent]) -> Vec<Message> {
    vec![
        Message::system(format!(
            "You help engineers understand why a build or deployment on SleakOps failed. \
             Explain the most likely cause in one short paragraph, citing the errors. Then \
             write a line `{FIXES_MARKER}` followed by one concrete fix per line, each starting \
             with `- `."
        )),
        Message::user(format!(
            "{}\nTimeline:\n{}",
            facts(release),
            timeline(events)
        )),
    ]
}

/// Splits an explanation into its text and its fixes.
pub fn parse_explanation(answer: &str) -> (String, Vec<String>) {
    let lower = answer.to_lowercase();
    let Some(at) = lower.rfind(&FIXES_MARKER.to_lowercase()) else {
        return (answer.trim().to_owned(), Vec::new());
    };
    let explanation = answer[..at].trim().to_owned();
    let fixes = answer[at + FIXES_MARKER.len()..]
        .lines()
        .map(str::trim)
        .filter_map(|line| {
            line.strip_prefix("- ")
                .or_else(|| line.strip_prefix("* "))
                .or_else(|| {
                    let (number, rest) = line.split_once(". ")?;
                    number.bytes().all(|b| b.is_ascii_digit()).then_some(rest)
                })
        })
        .map(|fix| fix.trim().to_owned())
        .filter(|fix| !fix.is_empty())
        .collect();
    (explanation, fixes)
}

/// The conversation so far (oldest first) and the new message, after the release's context.
pub fn chat(
    release: &Release,
    events: &[TimelineEvent],
    history: Vec<Message>,
    message: &str,
) -> Vec<Message> {
    let mut messages = vec![Message::system(format!(
        "You are Faro's assistant for one release on SleakOps. Answer questions about it \
         briefly and concretely, from these facts; say so when they do not tell.\n\n{}\n\
         Timeline:\n{}",
        facts(release),
        timeline(events)
    ))];
    messages.extend(history);
    messages.push(Message::user(message));
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explanations_split_into_text_and_fixes() {
        let (text, fixes) = parse_explanation(
            "The build failed compiling.\n\nSuggested fixes:\n- Pin the toolchain\n* Clear the cache\n3. Retry\nThanks",
        );
        assert_eq!(text, "The build failed compiling.");
        assert_eq!(fixes, ["Pin the toolchain", "Clear the cache", "Retry"]);
        let (text, fixes) = parse_explanation("  No structure here. ");
        assert_eq!(text, "No structure here.");
        assert!(fixes.is_empty());
    }
}
