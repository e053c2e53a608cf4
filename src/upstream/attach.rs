//! Attachments as Bedrock takes them: decoded bytes, and document names of
//! the characters Converse allows.

use std::collections::HashSet;

use crate::parts::attachment;

/// Longest document name Converse takes.
const MAX_NAME: usize = 200;

/// The bytes of an attachment's base64 `data` (already checked before any
/// upstream call; an error here is a request that skipped the checks).
pub(crate) fn bytes(data: &str, what: &str) -> Result<Vec<u8>, String> {
    attachment::decode(data, what)
}

/// Document names for one request: each made of what Converse allows
/// (ASCII letters and digits, single spaces, hyphens, parentheses, square brackets;
/// 1–200 characters), and unique within the request (Bedrock refuses two
/// documents of one name).
#[derive(Debug, Default)]
pub(crate) struct DocumentNames {
    seen: HashSet<String>,
}

impl DocumentNames {
    /// `name` made acceptable: other characters become spaces (`report.final_v2.pdf`
    /// → `report final v2 pdf`), runs of spaces one, and a name already given in
    /// this request gets ` (2)`, ` (3)`, … appended.
    pub(crate) fn name(&mut self, name: &str) -> String {
        let base = sanitise(name);
        let mut candidate = base.clone();
        let mut n = 2u32;
        while self.seen.contains(&candidate) {
            let suffix = format!(" ({n})");
            let room = MAX_NAME.saturating_sub(suffix.len());
            candidate = format!("{}{suffix}", truncate(&base, room).trim_end());
            n += 1;
        }
        self.seen.insert(candidate.clone());
        candidate
    }
}

fn sanitise(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let keep = c.is_ascii_alphanumeric() || matches!(c, '-' | '(' | ')' | '[' | ']');
        if keep {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
    }
    let out = truncate(out.trim_end(), MAX_NAME).trim_end().to_owned();
    if out.is_empty() {
        "document".to_owned()
    } else {
        out
    }
}

/// The longest prefix of `s` of at most `max` bytes, cut at a char boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_only_what_converse_allows() {
        let mut names = DocumentNames::default();
        assert_eq!(
            names.name("report.final_v2 (draft) [x].pdf"),
            "report final v2 (draft) [x] pdf"
        );
        assert_eq!(names.name("  a\t\tb  "), "a b");
        assert_eq!(names.name("..."), "document");
        assert_eq!(names.name("Grüße-2024"), "Gr e-2024");
    }

    #[test]
    fn names_are_unique_within_a_request() {
        let mut names = DocumentNames::default();
        assert_eq!(names.name("a.txt"), "a txt");
        assert_eq!(names.name("a_txt"), "a txt (2)");
        assert_eq!(names.name("a txt"), "a txt (3)");
        let long = "x".repeat(300);
        assert_eq!(names.name(&long).len(), MAX_NAME);
        let second = names.name(&long);
        assert!(
            second.ends_with(" (2)") && second.len() == MAX_NAME,
            "{second}"
        );
    }
}
