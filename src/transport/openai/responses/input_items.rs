//! `GET /v1/responses/{id}/input_items`: the items a response was asked
//! ([`super::turn_items`]), a page at a time as OpenAI lists them:
//! `{"object":"list","data","first_id","last_id","has_more"}`. The query:
//! `order` (`desc`, the default, newest first; or `asc`), `limit` (1 to
//! 100, 20 by default), `after` (an item id of the list: the page starts
//! past it, which is how the SDKs page on) and `include`
//! (`message.input_image.image_url`, `reasoning.encrypted_content`; other
//! values add nothing here). Like `GET /v1/responses/{id}`: the caller's
//! own response while it is retained, from any node; `404` otherwise.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use serde_json::{Value, json};

use super::super::error::{OpenAiError, OpenAiPath, bad_param};
use super::find_response;
use super::turn_items::{self, Include};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// Most items a page may hold (`limit`), and how many it holds by default.
const MAX_LIMIT: usize = 100;
const DEFAULT_LIMIT: usize = 20;

/// A page's place in the list.
#[derive(Debug, PartialEq, Eq)]
struct Page {
    after: Option<String>,
    limit: usize,
    /// Newest first (`desc`).
    newest_first: bool,
    include: Include,
}

/// `GET /v1/responses/{id}/input_items`.
pub(super) async fn list(
    State(state): State<AppState>,
    principal: Principal,
    OpenAiPath(id): OpenAiPath<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, OpenAiError> {
    let Query(query) = query.map_err(|e| OpenAiError::from(ApiError::BadRequest(e.body_text())))?;
    let page = read_query(query)?;
    let session = find_response(&state, &principal, &id).await?;
    // A session another API started has no Responses input.
    let (kept, _) = state
        .hub
        .kept(&session)
        .await
        .ok_or_else(|| OpenAiError::from(ApiError::NotFound))?;
    let items = turn_items::items(session.id(), &kept, page.include);
    page.of(items).map(Json)
}

/// The query's pairs (`include[]=…` is how the SDKs send a list).
fn read_query(pairs: Vec<(String, String)>) -> Result<Page, OpenAiError> {
    let mut page = Page {
        after: None,
        limit: DEFAULT_LIMIT,
        newest_first: true,
        include: Include::default(),
    };
    for (key, value) in pairs {
        match key.as_str() {
            "after" => page.after = Some(value),
            "limit" => {
                page.limit = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        bad_param(
                            "limit",
                            format!("limit must be from 1 to {MAX_LIMIT}, not '{value}'"),
                        )
                    })?;
            }
            "order" => {
                page.newest_first = match value.as_str() {
                    "desc" => true,
                    "asc" => false,
                    other => {
                        return Err(bad_param(
                            "order",
                            format!("order must be \"asc\" or \"desc\", not '{other}'"),
                        ));
                    }
                };
            }
            "include" | "include[]" => match value.as_str() {
                "message.input_image.image_url" => page.include.image_urls = true,
                "reasoning.encrypted_content" => page.include.encrypted_content = true,
                _ => {}
            },
            _ => {}
        }
    }
    Ok(page)
}

impl Page {
    /// This page of `items` (oldest first), as OpenAI's list.
    fn of(&self, mut items: Vec<Value>) -> Result<Value, OpenAiError> {
        if self.newest_first {
            items.reverse();
        }
        let start = match &self.after {
            None => 0,
            Some(after) => {
                items
                    .iter()
                    .position(|i| i["id"].as_str() == Some(after.as_str()))
                    .ok_or_else(|| {
                        bad_param(
                            "after",
                            format!("after: '{after}' is not an item of this response's input"),
                        )
                    })?
                    + 1
            }
        };
        let end = items.len().min(start + self.limit);
        let has_more = end < items.len();
        let data: Vec<Value> = items.drain(start..end).collect();
        Ok(json!({
            "object": "list",
            "first_id": data.first().map(|i| i["id"].clone()),
            "last_id": data.last().map(|i| i["id"].clone()),
            "has_more": has_more,
            "data": data,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(q: &str) -> Result<Page, OpenAiError> {
        let uri: axum::http::Uri = format!("/x?{q}").parse().unwrap();
        read_query(Query::try_from_uri(&uri).unwrap().0)
    }

    fn ids(list: &Value) -> Vec<&str> {
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn the_query_as_the_sdks_send_it() {
        let page = query(
            "after=msg_s_in3&limit=2&order=asc&include[]=reasoning.encrypted_content&include[]=file_search_call.results",
        )
        .unwrap();
        assert_eq!(
            page,
            Page {
                after: Some("msg_s_in3".into()),
                limit: 2,
                newest_first: false,
                include: Include {
                    image_urls: false,
                    encrypted_content: true
                },
            }
        );
        let default = query("").unwrap();
        assert_eq!((default.limit, default.newest_first), (20, true));
        for (q, param) in [
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=x", "limit"),
            ("order=up", "order"),
        ] {
            let Err(e) = query(q) else {
                panic!("{q} should be refused")
            };
            assert_eq!(e.param, Some(param), "{q}");
        }
    }

    #[test]
    fn pages_follow_the_order_and_the_cursor() {
        let items: Vec<Value> = (0..5).map(|n| json!({"id": format!("i{n}")})).collect();
        let page = |q: &str| query(q).unwrap().of(items.clone()).unwrap();
        let first = page("limit=2");
        assert_eq!(ids(&first), ["i4", "i3"]);
        assert_eq!(
            (&first["first_id"], &first["last_id"], &first["has_more"]),
            (&json!("i4"), &json!("i3"), &json!(true))
        );
        assert_eq!(ids(&page("limit=2&after=i3")), ["i2", "i1"]);
        let last = page("limit=2&after=i1");
        assert_eq!(ids(&last), ["i0"]);
        assert_eq!(last["has_more"], false);
        assert_eq!(ids(&page("order=asc&after=i1")), ["i2", "i3", "i4"]);
        let empty = page("order=asc&after=i4");
        assert_eq!(
            (&empty["data"], &empty["first_id"], &empty["has_more"]),
            (&json!([]), &Value::Null, &json!(false))
        );
        let Err(e) = query("after=nope").unwrap().of(items.clone()) else {
            panic!("an unknown cursor")
        };
        assert_eq!(e.param, Some("after"));
    }
}
