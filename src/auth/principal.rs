//! `Principal`: who a verified token says the caller is.

/// The caller, as established from a verified JWT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's `sub`: owner of the sessions this caller creates.
    pub sub: String,
    /// `cognito:username` or `username`, falling back to `sub`.
    pub username: String,
    /// `cognito:groups`.
    pub groups: Vec<String>,
    /// The token's `exp` (seconds since the Unix epoch).
    pub expires_at: u64,
}

impl Principal {
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}
