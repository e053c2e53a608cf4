//! The one table: its key design and definition, shared by
//! `SPILLWAY_DYNAMODB_CREATE_TABLE` and `infra/` (a test keeps them equal).
//!
//! | item | pk | sk | gsi1pk / gsi1sk |
//! |---|---|---|---|
//! | connection | `CONN#{id}` | `CONN` | `USER#{user}` / `CONN#{id}` |
//! | session | `SESSION#{id}` | `SESSION` | |
//! | node | `NODE#{id}` | `NODE` | |
//! | stream slot counter | `USER#{user}` | `STREAMS` | |
//! | stream slot lease | `USER#{user}` | `STREAM#{session}` | |
//! | tokens per day | `USER#{user}` | `TOKENS#{YYYY-MM-DD}` | |
//! | chat → latest session | `CHAT#{owner}#{chat}` | `CHAT` | |
//!
//! Every item carries `expiresAt` (the TTL attribute, seconds since the
//! epoch); reads also check it, since DynamoDB deletes expired items late.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
pub const TTL_ATTRIBUTE: &str = "expiresAt";

/// The table definition in CloudFormation's `AWS::DynamoDB::Table` property names.
pub fn cloudformation_properties() -> serde_json::Value {
    serde_json::json!({
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": PK, "AttributeType": "S"},
            {"AttributeName": SK, "AttributeType": "S"},
            {"AttributeName": GSI1_PK, "AttributeType": "S"},
            {"AttributeName": GSI1_SK, "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": PK, "KeyType": "HASH"},
            {"AttributeName": SK, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [{
            "IndexName": GSI1,
            "KeySchema": [
                {"AttributeName": GSI1_PK, "KeyType": "HASH"},
                {"AttributeName": GSI1_SK, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }],
        "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": true},
    })
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error(
        "DynamoDB table {0} does not exist (set SPILLWAY_DYNAMODB_CREATE_TABLE=true to create it, or deploy infra/)"
    )]
    Missing(String),
    #[error("DynamoDB: {0}")]
    Sdk(String),
}

fn attr(name: &str) -> Result<AttributeDefinition, TableError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| TableError::Sdk(e.to_string()))
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, TableError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(|e| TableError::Sdk(e.to_string()))
}

/// Check the table exists; create it (and enable TTL) when `create` is set.
pub async fn ensure(client: &Client, table: &str, create: bool) -> Result<(), TableError> {
    let sdk = |e: String| TableError::Sdk(e);
    match client.describe_table().table_name(table).send().await {
        Ok(_) => return Ok(()),
        Err(e) => {
            let svc = e.into_service_error();
            if !svc.is_resource_not_found_exception() {
                return Err(sdk(svc.to_string()));
            }
        }
    }
    if !create {
        return Err(TableError::Missing(table.to_owned()));
    }
    let gsi = GlobalSecondaryIndex::builder()
        .index_name(GSI1)
        .key_schema(key(GSI1_PK, KeyType::Hash)?)
        .key_schema(key(GSI1_SK, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(|e| sdk(e.to_string()))?;
    let created = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr(PK)?)
        .attribute_definitions(attr(SK)?)
        .attribute_definitions(attr(GSI1_PK)?)
        .attribute_definitions(attr(GSI1_SK)?)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .global_secondary_indexes(gsi)
        .send()
        .await;
    if let Err(e) = created {
        let svc = e.into_service_error();
        // Another node may have created it at the same moment.
        if !svc.is_resource_in_use_exception() {
            return Err(sdk(svc.to_string()));
        }
    }
    client
        .wait_until_table_exists()
        .table_name(table)
        .wait(std::time::Duration::from_secs(60))
        .await
        .map_err(|e| sdk(e.to_string()))?;
    let ttl = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(TTL_ATTRIBUTE)
        .build()
        .map_err(|e| sdk(e.to_string()))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(ttl)
        .send()
        .await
        .map_err(|e| sdk(e.into_service_error().to_string()))?;
    tracing::info!(table, "created the DynamoDB table");
    Ok(())
}
