//! `item_reference` input items: `{"type":"item_reference","id"}` names an
//! output item of an earlier response, as the Vercel AI SDK's OpenAI
//! provider sends its earlier assistant messages, reasoning and function
//! calls when responses are stored. An item's id is
//! `<kind>_<session id>_<n>` ([`super::output`]): its response is found as
//! `previous_response_id`'s is ([`super::retained`], the caller's own, on
//! any node), rendered as `GET /v1/responses/{id}` renders it, and the item
//! takes the reference's place, so [`super::input`] reads it as if it had
//! been sent in full. An id that names no such item is a `400` on `input`.

use std::collections::HashMap;

use serde_json::Value;

use super::super::error::{OpenAiError, bad_param};
use super::object::Head;
use super::response_id;
use super::retained::{self, Unavailable};
use crate::auth::Principal;
use crate::hub::Hub;

/// Replace each `item_reference` of `input` (a list of items) by the item it names.
pub(super) async fn resolve(
    hub: &Hub,
    principal: &Principal,
    input: &mut Value,
) -> Result<(), OpenAiError> {
    let Value::Array(items) = input else {
        return Ok(());
    };
    // Each response's output items, rendered once however many references name it.
    let mut outputs: HashMap<String, Vec<Value>> = HashMap::new();
    for (i, item) in items.iter_mut().enumerate() {
        if item.get("type").and_then(Value::as_str) != Some("item_reference") {
            continue;
        }
        let id = item
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| bad_param("input", format!("input[{i}]: `id` must be a string")))?
            .to_owned();
        let not_found = |why: &str| {
            bad_param(
                "input",
                format!("input[{i}]: item '{id}' was not found: {why}"),
            )
        };
        let sid = session_of(&id)
            .ok_or_else(|| not_found("it is not the id of a response's output item"))?;
        if !outputs.contains_key(sid) {
            let output = match retained::finished(hub, principal, sid).await {
                Ok(r) => {
                    let head = Head {
                        id: response_id(r.session.id()),
                        model: r.session.model().to_owned(),
                        echo: r.kept.echo.clone(),
                    };
                    let mut response = head.render(r.events.iter().map(|e| &**e));
                    response["output"].take()
                }
                Err(Unavailable::InProgress) => {
                    return Err(not_found("its response is still in progress"));
                }
                Err(Unavailable::NotFound) => {
                    return Err(not_found("it is not yours, or no longer retained"));
                }
            };
            let Value::Array(output) = output else {
                return Err(not_found("its response has no output"));
            };
            outputs.insert(sid.to_owned(), output);
        }
        let found = outputs
            .get(sid)
            .and_then(|output| output.iter().find(|o| o["id"].as_str() == Some(&id)))
            .ok_or_else(|| not_found("its response has no such item"))?;
        *item = found.clone();
    }
    Ok(())
}

/// The session id in an output item's id, `<kind>_<session id>_<n>`.
fn session_of(item: &str) -> Option<&str> {
    let (kind, rest) = item.split_once('_')?;
    let (sid, n) = rest.rsplit_once('_')?;
    let known = matches!(kind, "msg" | "rs" | "fc");
    (known && !sid.is_empty() && n.parse::<usize>().is_ok()).then_some(sid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_id_names_its_session() {
        let sid = "0b3c2f4e-5d6a-4b7c-8d9e-0f1a2b3c4d5e";
        for kind in ["msg", "rs", "fc"] {
            assert_eq!(session_of(&format!("{kind}_{sid}_12")), Some(sid));
        }
        for bad in [
            "",
            "msg",
            "msg_",
            "msg__0",
            &format!("msg_{sid}"),
            &format!("msg_{sid}_x"),
            &format!("fco_{sid}_0"),
            &format!("resp_{sid}"),
        ] {
            assert_eq!(session_of(bad), None, "{bad}");
        }
    }
}
