//! The records a registry holds.

/// One WebSocket connection, as other nodes and the `@connections` API see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRecord {
    pub id: String,
    /// The owner's `sub`.
    pub user: String,
    /// The node holding the socket.
    pub node: String,
    /// RFC 3339.
    pub connected_at: String,
    /// RFC 3339.
    pub last_active_at: String,
    pub source_ip: String,
    pub user_agent: String,
}

/// Who owns a session and where it streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: String,
    pub owner: String,
    pub node: String,
    pub model: String,
    /// `streaming`, `complete`, `failed` or `cancelled`.
    pub status: String,
    pub created_at: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// An AI SDK chat's latest answer: its session, and how it renders, so a
/// resume on any node names the same message and sends the same metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRecord {
    pub session: String,
    pub answer: ChatAnswer,
}

/// How a chat's answer renders, as its request asked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatAnswer {
    /// The UI message it continues (an assistant message the client sent
    /// back with tool outputs); a new message's id is the session id.
    pub continues: Option<String>,
    /// Usage and model go out as the message's metadata.
    pub metadata: bool,
}

/// A gateway node and how other nodes reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    pub id: String,
    /// `SPILLWAY_ADVERTISE_URL`.
    pub url: String,
    /// Alive until then (seconds since the epoch); refreshed by its heartbeat.
    pub expires_at: u64,
}

impl NodeRecord {
    pub fn is_alive(&self) -> bool {
        self.expires_at > super::now_secs()
    }
}
