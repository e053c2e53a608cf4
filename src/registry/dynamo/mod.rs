//! The fleet registry in one DynamoDB table (see [`table`] for the key design).
//! Conditional writes where races matter; every item has a TTL, and reads
//! check liveness, so a dead node leaves no ghosts behind. Stream slots
//! (the per-user concurrency cap) are [`streams`].

mod streams;
pub mod table;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::{
    ChatAnswer, ChatRecord, ConnectionRecord, ConnectionRegistry, LimitError, NodeDirectory,
    NodeRecord, RegistryError, SessionRecord, SessionStore, UsageLimits, now_secs, utc_day,
};
use table::{GSI1, GSI1_PK, GSI1_SK, PK, SK, TTL_ATTRIBUTE};

/// How long records live without being refreshed.
const CONNECTION_TTL: u64 = 86_400;
const SESSION_TTL: u64 = 7 * 86_400;
const LEASE_TTL: u64 = 86_400;

type Item = HashMap<String, AttributeValue>;
type Fut<'a, T> = BoxFuture<'a, Result<T, RegistryError>>;

pub struct DynamoRegistry {
    client: Client,
    table: String,
    /// This process's life under its node id: written into its node record
    /// and its stream leases, so a node restarted under the same id (a
    /// StatefulSet's pod name) does not keep its previous life's leases
    /// alive by heartbeating the same record.
    incarnation: String,
}

/// The attribute naming a node's life (node records and stream leases).
const INCARNATION: &str = "incarnation";

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s(item: &Item, k: &str) -> String {
    item.get(k)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

fn get_n(item: &Item, k: &str) -> u64 {
    item.get(k)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn live(item: &Item) -> bool {
    get_n(item, TTL_ATTRIBUTE) > now_secs()
}

fn unavailable(e: impl std::fmt::Display) -> RegistryError {
    RegistryError::Unavailable(e.to_string())
}

/// An `UpdateItem` result: `Ok(true)` if applied, `Ok(false)` if its
/// condition did not hold, `Err` for anything else.
fn applied<O>(
    r: Result<O, aws_sdk_dynamodb::error::SdkError<UpdateItemError, HttpResponse>>,
) -> Result<bool, RegistryError> {
    match r {
        Ok(_) => Ok(true),
        Err(e) => {
            let e = e.into_service_error();
            if e.is_conditional_check_failed_exception() {
                Ok(false)
            } else {
                Err(unavailable(e))
            }
        }
    }
}

/// How long a registry call may take: DynamoDB answers in milliseconds, so
/// a table that does not answer (a partition, a black-holed endpoint) is
/// `registry_unavailable` within seconds, as one that refuses is, instead of
/// holding every request until the request timeout. An attempt gets 2 s, a
/// call with its retries 5 s.
fn timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(2))
        .operation_attempt_timeout(std::time::Duration::from_secs(2))
        .operation_timeout(std::time::Duration::from_secs(5))
        .build()
}

impl DynamoRegistry {
    /// A client from the SDK's default chain (`AWS_ENDPOINT_URL_DYNAMODB`
    /// honoured), its calls bounded ([`timeouts`]).
    pub async fn connect(table: String, create: bool) -> Result<Self, table::TableError> {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(timeouts())
            .load()
            .await;
        let client = Client::new(&config);
        table::ensure(&client, &table, create).await?;
        Ok(Self {
            client,
            table,
            incarnation: uuid::Uuid::new_v4().simple().to_string(),
        })
    }

    async fn get_item(&self, pk: String, sk: &str) -> Result<Option<Item>, RegistryError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(out.item.filter(live))
    }

    async fn delete_item(&self, pk: String, sk: String) -> Result<Option<Item>, RegistryError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(sk))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(out.attributes)
    }

    async fn node_alive(
        &self,
        node: &str,
        cache: &mut HashMap<String, Option<String>>,
    ) -> Result<bool, RegistryError> {
        Ok(self.node_life(node, cache).await?.is_some())
    }

    /// The incarnation of node `node` if it is alive (`""` for a record
    /// written before incarnations were).
    async fn node_life(
        &self,
        node: &str,
        cache: &mut HashMap<String, Option<String>>,
    ) -> Result<Option<String>, RegistryError> {
        if let Some(life) = cache.get(node) {
            return Ok(life.clone());
        }
        let life = self
            .get_item(format!("NODE#{node}"), "NODE")
            .await?
            .filter(|i| get_n(i, TTL_ATTRIBUTE) > now_secs())
            .map(|i| get_s(&i, INCARNATION));
        cache.insert(node.to_owned(), life.clone());
        Ok(life)
    }

    /// Whether a stream lease (`item`) belongs to a live node's current
    /// life: one of its node's earlier life (it restarted under the same id)
    /// is not, though its node heartbeats.
    async fn lease_alive(
        &self,
        item: &Item,
        cache: &mut HashMap<String, Option<String>>,
    ) -> Result<bool, RegistryError> {
        if !live(item) {
            return Ok(false);
        }
        let Some(life) = self.node_life(&get_s(item, "node"), cache).await? else {
            return Ok(false);
        };
        let leased = get_s(item, INCARNATION);
        Ok(leased.is_empty() || life.is_empty() || leased == life)
    }
}

impl ConnectionRegistry for DynamoRegistry {
    fn register(&self, r: ConnectionRecord) -> Fut<'_, ()> {
        async move {
            self.client
                .put_item()
                .table_name(&self.table)
                .item(PK, s(format!("CONN#{}", r.id)))
                .item(SK, s("CONN"))
                .item(GSI1_PK, s(format!("USER#{}", r.user)))
                .item(GSI1_SK, s(format!("CONN#{}", r.id)))
                .item("user", s(r.user))
                .item("node", s(r.node))
                .item("connectedAt", s(r.connected_at))
                .item("lastActiveAt", s(r.last_active_at))
                .item("sourceIp", s(r.source_ip))
                .item("userAgent", s(r.user_agent))
                .item(TTL_ATTRIBUTE, n(now_secs() + CONNECTION_TTL))
                .send()
                .await
                .map_err(|e| unavailable(e.into_service_error()))?;
            Ok(())
        }
        .boxed()
    }

    fn touch<'a>(&'a self, id: &'a str, at: &'a str) -> Fut<'a, ()> {
        async move {
            let r = self
                .client
                .update_item()
                .table_name(&self.table)
                .key(PK, s(format!("CONN#{id}")))
                .key(SK, s("CONN"))
                .update_expression("SET lastActiveAt = :at, #ttl = :exp")
                .condition_expression("attribute_exists(#pk)")
                .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
                .expression_attribute_names("#pk", PK)
                .expression_attribute_values(":at", s(at))
                .expression_attribute_values(":exp", n(now_secs() + CONNECTION_TTL))
                .send()
                .await;
            // A failed condition (row gone, counter at zero) is not an error here.
            applied(r).map(|_| ())
        }
        .boxed()
    }

    fn get<'a>(&'a self, id: &'a str) -> Fut<'a, Option<ConnectionRecord>> {
        async move {
            let Some(item) = self.get_item(format!("CONN#{id}"), "CONN").await? else {
                return Ok(None);
            };
            let node = get_s(&item, "node");
            if !self.node_alive(&node, &mut HashMap::new()).await? {
                // A ghost of a dead node: clean it up.
                let _ = self.delete_item(format!("CONN#{id}"), "CONN".into()).await;
                return Ok(None);
            }
            Ok(Some(ConnectionRecord {
                id: id.to_owned(),
                user: get_s(&item, "user"),
                node,
                connected_at: get_s(&item, "connectedAt"),
                last_active_at: get_s(&item, "lastActiveAt"),
                source_ip: get_s(&item, "sourceIp"),
                user_agent: get_s(&item, "userAgent"),
            }))
        }
        .boxed()
    }

    fn remove<'a>(&'a self, id: &'a str) -> Fut<'a, ()> {
        async move {
            self.delete_item(format!("CONN#{id}"), "CONN".into())
                .await?;
            Ok(())
        }
        .boxed()
    }

    fn count_for_user<'a>(&'a self, user: &'a str) -> Fut<'a, usize> {
        async move {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI1)
                .key_condition_expression("#g = :u AND begins_with(#gs, :c)")
                .expression_attribute_names("#g", GSI1_PK)
                .expression_attribute_names("#gs", GSI1_SK)
                .expression_attribute_values(":u", s(format!("USER#{user}")))
                .expression_attribute_values(":c", s("CONN#"))
                .send()
                .await
                .map_err(|e| unavailable(e.into_service_error()))?;
            let mut cache = HashMap::new();
            let mut count = 0;
            for item in out.items() {
                if live(item) && self.node_alive(&get_s(item, "node"), &mut cache).await? {
                    count += 1;
                }
            }
            Ok(count)
        }
        .boxed()
    }
}

impl SessionStore for DynamoRegistry {
    fn put_session(&self, r: SessionRecord) -> Fut<'_, ()> {
        async move {
            self.client
                .put_item()
                .table_name(&self.table)
                .item(PK, s(format!("SESSION#{}", r.id)))
                .item(SK, s("SESSION"))
                .item("owner", s(r.owner))
                .item("node", s(r.node))
                .item("model", s(r.model))
                .item("status", s(r.status))
                .item("createdAt", s(r.created_at))
                .item("inputTokens", n(r.input_tokens))
                .item("outputTokens", n(r.output_tokens))
                .item(TTL_ATTRIBUTE, n(now_secs() + SESSION_TTL))
                .send()
                .await
                .map_err(|e| unavailable(e.into_service_error()))?;
            Ok(())
        }
        .boxed()
    }

    fn finish_session<'a>(
        &'a self,
        id: &'a str,
        status: &'a str,
        input: u64,
        output: u64,
    ) -> Fut<'a, ()> {
        async move {
            self.client
                .update_item()
                .table_name(&self.table)
                .key(PK, s(format!("SESSION#{id}")))
                .key(SK, s("SESSION"))
                .update_expression("SET #st = :s, inputTokens = :i, outputTokens = :o")
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":s", s(status))
                .expression_attribute_values(":i", n(input))
                .expression_attribute_values(":o", n(output))
                .send()
                .await
                .map_err(|e| unavailable(e.into_service_error()))?;
            Ok(())
        }
        .boxed()
    }

    fn get_session<'a>(&'a self, id: &'a str) -> Fut<'a, Option<SessionRecord>> {
        async move {
            Ok(self
                .get_item(format!("SESSION#{id}"), "SESSION")
                .await?
                .map(|i| SessionRecord {
                    id: id.to_owned(),
                    owner: get_s(&i, "owner"),
                    node: get_s(&i, "node"),
                    model: get_s(&i, "model"),
                    status: get_s(&i, "status"),
                    created_at: get_s(&i, "createdAt"),
                    input_tokens: get_n(&i, "inputTokens"),
                    output_tokens: get_n(&i, "outputTokens"),
                }))
        }
        .boxed()
    }

    fn put_chat<'a>(
        &'a self,
        owner: &'a str,
        chat: &'a str,
        latest: &'a ChatRecord,
    ) -> Fut<'a, ()> {
        async move {
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .item(PK, s(Self::chat_key(owner, chat)))
                .item(SK, s("CHAT"))
                .item("session", s(&latest.session))
                .item("metadata", AttributeValue::Bool(latest.answer.metadata))
                .item(TTL_ATTRIBUTE, n(now_secs() + SESSION_TTL));
            if let Some(id) = &latest.answer.continues {
                put = put.item("continues", s(id));
            }
            put.send()
                .await
                .map_err(|e| unavailable(e.into_service_error()))?;
            Ok(())
        }
        .boxed()
    }

    fn get_chat<'a>(&'a self, owner: &'a str, chat: &'a str) -> Fut<'a, Option<ChatRecord>> {
        async move {
            Ok(self
                .get_item(Self::chat_key(owner, chat), "CHAT")
                .await?
                .map(|i| ChatRecord {
                    session: get_s(&i, "session"),
                    answer: ChatAnswer {
                        continues: i.get("continues").and_then(|v| v.as_s().ok()).cloned(),
                        metadata: i
                            .get("metadata")
                            .and_then(|v| v.as_bool().ok())
                            .copied()
                            .unwrap_or(false),
                    },
                }))
        }
        .boxed()
    }
}

impl DynamoRegistry {
    fn chat_key(owner: &str, chat: &str) -> String {
        format!("CHAT#{owner}#{chat}")
    }
}

impl UsageLimits for DynamoRegistry {
    fn acquire_stream<'a>(
        &'a self,
        user: &'a str,
        session: &'a str,
        node: &'a str,
        max: u64,
    ) -> BoxFuture<'a, Result<(), LimitError>> {
        self.take_stream_slot(user, session, node, max).boxed()
    }

    fn release_stream<'a>(&'a self, user: &'a str, session: &'a str) -> Fut<'a, ()> {
        self.give_stream_slot_back(user, session).boxed()
    }

    fn tokens_today<'a>(&'a self, user: &'a str) -> Fut<'a, u64> {
        self.daily_counter(user, "TOKENS").boxed()
    }

    fn add_tokens<'a>(&'a self, user: &'a str, tokens: u64) -> Fut<'a, ()> {
        self.add_to_daily_counter(user, "TOKENS", tokens).boxed()
    }

    fn cost_today<'a>(&'a self, user: &'a str) -> Fut<'a, u64> {
        self.daily_counter(user, "COST").boxed()
    }

    fn add_cost<'a>(&'a self, user: &'a str, nano_usd: u64) -> Fut<'a, ()> {
        self.add_to_daily_counter(user, "COST", nano_usd).boxed()
    }
}

impl DynamoRegistry {
    /// `user`'s counter `KIND#<UTC day>` (0 when absent).
    async fn daily_counter(&self, user: &str, kind: &str) -> Result<u64, RegistryError> {
        let (day, _) = utc_day();
        Ok(self
            .get_item(format!("USER#{user}"), &format!("{kind}#{day}"))
            .await?
            .map_or(0, |i| get_n(&i, "n")))
    }

    /// Add `amount` to `user`'s counter `KIND#<UTC day>` atomically (`ADD`);
    /// the row expires two days later.
    async fn add_to_daily_counter(
        &self,
        user: &str,
        kind: &str,
        amount: u64,
    ) -> Result<(), RegistryError> {
        let (day, _) = utc_day();
        self.client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(format!("USER#{user}")))
            .key(SK, s(format!("{kind}#{day}")))
            .update_expression("ADD #n :t SET #ttl = :exp")
            .expression_attribute_names("#n", "n")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":t", n(amount))
            .expression_attribute_values(":exp", n(now_secs() + 2 * 86_400))
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }
}

impl NodeDirectory for DynamoRegistry {
    fn heartbeat(&self, node: NodeRecord) -> Fut<'_, ()> {
        async move {
            self.client
                .put_item()
                .table_name(&self.table)
                .item(PK, s(format!("NODE#{}", node.id)))
                .item(SK, s("NODE"))
                .item("url", s(node.url))
                .item(INCARNATION, s(&self.incarnation))
                .item(TTL_ATTRIBUTE, n(node.expires_at))
                .send()
                .await
                .map_err(|e| unavailable(e.into_service_error()))?;
            Ok(())
        }
        .boxed()
    }

    fn get_node<'a>(&'a self, id: &'a str) -> Fut<'a, Option<NodeRecord>> {
        async move {
            Ok(self
                .get_item(format!("NODE#{id}"), "NODE")
                .await?
                .map(|i| NodeRecord {
                    id: id.to_owned(),
                    url: get_s(&i, "url"),
                    expires_at: get_n(&i, TTL_ATTRIBUTE),
                }))
        }
        .boxed()
    }
}
