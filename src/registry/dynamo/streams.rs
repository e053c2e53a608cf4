//! Stream slots: the fleet-wide cap on one user's concurrent streams
//! (`SPILLWAY_MAX_STREAMS_PER_USER`), in two kinds of item under
//! `USER#{user}`:
//!
//! - the counter `STREAMS`: `n` slots taken, and `v`, a version every
//!   change of `n` bumps;
//! - one lease `STREAM#{session}` per stream, naming the node that runs it,
//!   so that the slots of a node that died come back.
//!
//! A stream is admitted by the counter's conditional increment (`n < max`).
//! When that fails, the counter is *reconciled*: set to the number of live
//! leases, which frees the slots of dead nodes. The order of the writes keeps
//! `n` at or above the number of admitted streams at every moment, whatever
//! runs at the same time on any node, so a burst never passes the cap:
//!
//! - acquire writes its lease *before* it increments: a reconcile in between
//!   counts the lease of the stream about to be admitted;
//! - release claims its lease (marks it), decrements, and only then deletes
//!   the lease: a reconcile never sees `n` count a stream whose lease is
//!   already gone;
//! - reconcile reads the counter and its version *before* it counts the
//!   leases, and sets `n` only if the version is still the one it read: an
//!   acquire or release in between (each bumps `v`) makes it change nothing.
//!
//! What can go wrong errs on the safe side: `n` above the streams (a lease
//! counted while its acquire was about to be refused, a write lost to a
//! network error) refuses a stream too many until the next reconcile, which
//! every refused request runs.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::table::{PK, SK, TTL_ATTRIBUTE};
use super::{DynamoRegistry, INCARNATION, LEASE_TTL, applied, get_n, get_s, n, s, unavailable};
use crate::registry::{LimitError, RegistryError, now_secs};

/// The counter's sort key.
const COUNTER: &str = "STREAMS";

/// How long a lease marked as being released still counts: long enough for
/// its release to decrement the counter and delete it (a lease whose delete
/// failed stops counting then).
const RELEASING_TTL: u64 = 60;

fn user_key(user: &str) -> String {
    format!("USER#{user}")
}

fn lease_key(session: &str) -> String {
    format!("STREAM#{session}")
}

impl DynamoRegistry {
    /// Take one of `max` stream slots of `user` for `session`, streamed by `node`.
    pub(super) async fn take_stream_slot(
        &self,
        user: &str,
        session: &str,
        node: &str,
        max: u64,
    ) -> Result<(), LimitError> {
        self.put_lease(user, session, node).await?;
        let admitted = async {
            if self.bump_streams(user, max).await? {
                return Ok(true);
            }
            Ok::<_, RegistryError>(
                self.reconcile_streams(user, session).await?
                    && self.bump_streams(user, max).await?,
            )
        }
        .await;
        if !matches!(admitted, Ok(true)) {
            // Never counted: the lease goes as it came.
            if let Err(e) = self.delete_lease(user, session).await {
                tracing::warn!(user, session, error = %e, "could not delete the lease of a refused stream");
            }
        }
        match admitted {
            Ok(true) => Ok(()),
            Ok(false) => Err(LimitError::Exceeded {
                what: format!("at most {max} concurrent streams per user"),
                retry_after_secs: 1,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Give `session`'s slot back (once: a second call, or a lease that a
    /// reconcile already removed, changes nothing).
    pub(super) async fn give_stream_slot_back(
        &self,
        user: &str,
        session: &str,
    ) -> Result<(), RegistryError> {
        // Claim the lease: only one release decrements for it.
        let claimed = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(user_key(user)))
            .key(SK, s(lease_key(session)))
            .update_expression("SET #rel = :t, #ttl = :exp")
            .condition_expression("attribute_exists(#pk) AND attribute_not_exists(#rel)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#rel", "releasing")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":exp", n(now_secs() + RELEASING_TTL))
            .send()
            .await;
        if !applied(claimed)? {
            return Ok(()); // already released (or reconciled away)
        }
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(user_key(user)))
            .key(SK, s(COUNTER))
            .update_expression("ADD #n :minus, #v :one")
            .condition_expression("#n > :zero")
            .expression_attribute_names("#n", "n")
            .expression_attribute_names("#v", "v")
            .expression_attribute_values(":minus", AttributeValue::N("-1".into()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        // A failed condition (counter gone, or at zero) is not an error here.
        applied(r)?;
        self.delete_lease(user, session).await
    }

    async fn put_lease(&self, user: &str, session: &str, node: &str) -> Result<(), RegistryError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .item(PK, s(user_key(user)))
            .item(SK, s(lease_key(session)))
            .item("node", s(node))
            .item(INCARNATION, s(&self.incarnation))
            .item(TTL_ATTRIBUTE, n(now_secs() + LEASE_TTL))
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }

    async fn delete_lease(&self, user: &str, session: &str) -> Result<(), RegistryError> {
        self.delete_item(user_key(user), lease_key(session))
            .await
            .map(|_| ())
    }

    /// Add one to the counter, refusing to pass `max`.
    async fn bump_streams(&self, user: &str, max: u64) -> Result<bool, RegistryError> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(user_key(user)))
            .key(SK, s(COUNTER))
            .update_expression("ADD #n :one, #v :one SET #ttl = :exp")
            .condition_expression("attribute_not_exists(#n) OR #n < :max")
            .expression_attribute_names("#n", "n")
            .expression_attribute_names("#v", "v")
            .expression_attribute_names("#ttl", TTL_ATTRIBUTE)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max))
            .expression_attribute_values(":exp", n(now_secs() + LEASE_TTL))
            .send()
            .await;
        applied(r)
    }

    /// Lower the counter to the number of live leases other than `asking`'s
    /// (the request that runs this, not admitted yet), so that the slots of
    /// dead nodes come back; leases of dead nodes are deleted. Returns
    /// whether the counter was lowered.
    async fn reconcile_streams(&self, user: &str, asking: &str) -> Result<bool, RegistryError> {
        let pk = user_key(user);
        // The counter first, then the leases: see the module's comment.
        let counter = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(PK, s(&pk))
            .key(SK, s(COUNTER))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?
            .item;
        let Some(counter) = counter else {
            return Ok(false);
        };
        let current = get_n(&counter, "n");
        let version = counter.get("v").map(|_| get_n(&counter, "v"));
        if current == 0 {
            return Ok(false);
        }
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :p)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":p", s("STREAM#"))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send();
        let own = lease_key(asking);
        let mut nodes = HashMap::new();
        let mut alive = 0u64;
        while let Some(item) = pages.next().await {
            let item = item.map_err(|e| unavailable(e.into_service_error()))?;
            let sk = get_s(&item, SK);
            if sk == own {
                continue;
            }
            if self.lease_alive(&item, &mut nodes).await? {
                alive += 1;
            } else {
                let _ = self.delete_item(pk.clone(), sk).await;
            }
        }
        if alive >= current {
            return Ok(false);
        }
        let unchanged = match version {
            Some(v) => ("#n = :cur AND #v = :ver", Some(v)),
            None => ("#n = :cur AND attribute_not_exists(#v)", None),
        };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(PK, s(pk))
            .key(SK, s(COUNTER))
            .update_expression("SET #n = :alive ADD #v :one")
            .condition_expression(unchanged.0)
            .expression_attribute_names("#n", "n")
            .expression_attribute_names("#v", "v")
            .expression_attribute_values(":alive", n(alive))
            .expression_attribute_values(":cur", n(current))
            .expression_attribute_values(":one", n(1));
        if let Some(v) = unchanged.1 {
            update = update.expression_attribute_values(":ver", n(v));
        }
        applied(update.send().await)
    }
}
