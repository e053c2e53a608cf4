//! Request rules applied before async-graphql executes a document: the size
//! limit (checked on the text, before any parsing), graphql-js's
//! single-root-field rule for subscriptions (checked on the parsed document,
//! which the request keeps, so it is parsed once), and at most one upstream
//! call per operation (a schema extension, so it holds for every document
//! the schema runs, over HTTP and both socket protocols alike).
//!
//! Each answers with a `ServerError` carrying `extensions.code` (the HTTP
//! API's codes), ready for an `errors` array or a socket's `error` payload.

use std::collections::HashSet;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{
    Directive, ExecutableDocument, FragmentDefinition, OperationDefinition, OperationType,
    Selection,
};
use async_graphql::{
    ErrorExtensionValues, Name, Pos, Positioned, Request, ServerError, ServerResult, Value,
    Variables,
};

/// The mutations whose resolver starts an upstream (Bedrock) call.
pub const UPSTREAM_MUTATIONS: &[&str] = &["startStream"];

/// Refuse a document (`query` text) longer than `max_bytes`, before it is parsed.
pub fn check_document(query: &str, max_bytes: usize) -> Result<(), ServerError> {
    if query.len() > max_bytes {
        return Err(coded(
            "payload_too_large",
            format!("the GraphQL document is larger than {max_bytes} bytes"),
            None,
        ));
    }
    Ok(())
}

/// graphql-js's `SingleFieldSubscriptionsRule` on the request's document:
/// every subscription operation in it selects exactly one root field, and
/// not an introspection one (`__typename` included). The parse is cached in
/// `req`, so executing it afterwards does not parse again; a document that
/// does not parse is refused with the parser's error.
///
/// Call `check_document` first: this parses.
pub fn check_subscription(req: &mut Request) -> Result<(), ServerError> {
    single_root_field(req.parsed_query()?)
}

/// The rule on a parsed document. Like graphql-js, it checks every
/// subscription in the document, not only the one `operationName` picks.
pub fn single_root_field(doc: &ExecutableDocument) -> Result<(), ServerError> {
    let mut subscriptions: Vec<(Option<&Name>, &OperationDefinition)> = doc
        .operations
        .iter()
        .filter(|(_, op)| op.node.ty == OperationType::Subscription)
        .map(|(name, op)| (name, &op.node))
        .collect();
    // Named operations come from a map: a stable order makes a stable answer.
    subscriptions.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, op) in subscriptions {
        let what = match name {
            Some(name) => format!("Subscription \"{name}\""),
            None => "Anonymous Subscription".to_owned(),
        };
        let fields = root_fields(doc, op, 2, |_| true);
        if let Some(extra) = fields.get(1) {
            return Err(coded(
                "bad_request",
                format!("{what} must select only one top level field."),
                Some(extra.pos),
            ));
        }
        if let Some(field) = fields.first().filter(|f| f.name.starts_with("__")) {
            return Err(coded(
                "bad_request",
                format!("{what} must not select an introspection top level field."),
                Some(field.pos),
            ));
        }
    }
    Ok(())
}

/// One upstream call per operation: every mutation operation of the
/// document selects at most one field of [`UPSTREAM_MUTATIONS`]. Aliases
/// make more calls (`a: startStream(…) b: startStream(…)` starts two), so
/// they count apart; one response key written twice is one call, as GraphQL
/// merges it. Without this, one request (counted once by the per-address
/// rate limit) could start hundreds of streams. Like the subscription rule,
/// every mutation of the document is checked, whichever one is picked.
pub fn one_upstream_call(doc: &ExecutableDocument) -> Result<(), ServerError> {
    let mut mutations: Vec<(Option<&Name>, &OperationDefinition)> = doc
        .operations
        .iter()
        .filter(|(_, op)| op.node.ty == OperationType::Mutation)
        .map(|(name, op)| (name, &op.node))
        .collect();
    mutations.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, op) in mutations {
        let calls = root_fields(doc, op, 2, |f| UPSTREAM_MUTATIONS.contains(&f.as_str()));
        if let Some(extra) = calls.get(1) {
            let what = match name {
                Some(name) => format!("Mutation \"{name}\""),
                None => "Anonymous Mutation".to_owned(),
            };
            return Err(coded(
                "bad_request",
                format!(
                    "{what} must start at most one stream: select one of {} once per operation \
                     (send one request per stream)",
                    UPSTREAM_MUTATIONS.join(", ")
                ),
                Some(extra.pos),
            ));
        }
    }
    Ok(())
}

/// [`one_upstream_call`] on every document the schema executes, as soon as
/// it is parsed: nothing of a refused operation runs.
pub struct OneUpstreamCall;

impl ExtensionFactory for OneUpstreamCall {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OneUpstreamCall)
    }
}

#[async_trait::async_trait]
impl Extension for OneUpstreamCall {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        one_upstream_call(&doc)?;
        Ok(doc)
    }
}

/// A root field as graphql-js's `collectFields` groups them: by response key.
struct RootField<'a> {
    key: &'a Name,
    name: &'a Name,
    pos: Pos,
}

/// The first `limit` distinct root fields of `op` whose name `keep` takes,
/// in document order, through fragment spreads (each fragment once, so
/// cycles end) and inline fragments. Iterative, so deep nesting cannot
/// exhaust the stack.
///
/// `@skip` / `@include` with a literal `if` are honoured; with a variable the
/// selection counts (graphql-js evaluates them with no variables at all).
/// Type conditions are not looked at: a fragment on another type is an error
/// validation reports later anyway.
fn root_fields<'a>(
    doc: &'a ExecutableDocument,
    op: &'a OperationDefinition,
    limit: usize,
    keep: impl Fn(&Name) -> bool,
) -> Vec<RootField<'a>> {
    let mut fields: Vec<RootField<'a>> = Vec::new();
    let mut visited: HashSet<&'a Name> = HashSet::new();
    let mut stack = vec![op.selection_set.node.items.iter()];
    while let Some(items) = stack.last_mut() {
        let Some(item) = items.next() else {
            stack.pop();
            continue;
        };
        if !included(item.node.directives()) {
            continue;
        }
        match &item.node {
            Selection::Field(f) => {
                let key = &f.node.response_key().node;
                if keep(&f.node.name.node) && fields.iter().all(|seen| seen.key != key) {
                    fields.push(RootField {
                        key,
                        name: &f.node.name.node,
                        pos: f.pos,
                    });
                    if fields.len() >= limit {
                        break;
                    }
                }
            }
            Selection::InlineFragment(inline) => {
                stack.push(inline.node.selection_set.node.items.iter());
            }
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                if visited.insert(name)
                    && let Some(Positioned {
                        node: FragmentDefinition { selection_set, .. },
                        ..
                    }) = doc.fragments.get(name)
                {
                    stack.push(selection_set.node.items.iter());
                }
            }
        }
    }
    fields
}

/// False only for `@skip(if: true)` or `@include(if: false)` written as literals.
fn included(directives: &[Positioned<Directive>]) -> bool {
    let literal_if = |d: &Directive| {
        d.arguments
            .iter()
            .find(|(name, _)| name.node == "if")
            .and_then(|(_, v)| {
                [true, false]
                    .into_iter()
                    .find(|b| v.node == Value::Boolean(*b).into_value())
            })
    };
    directives.iter().all(|d| match d.node.name.node.as_str() {
        "skip" => literal_if(&d.node) != Some(true),
        "include" => literal_if(&d.node) != Some(false),
        _ => true,
    })
}

pub(super) fn coded(code: &'static str, message: String, pos: Option<Pos>) -> ServerError {
    let mut err = ServerError::new(message, pos);
    let mut ext = ErrorExtensionValues::default();
    ext.set("code", code);
    err.extensions = Some(ext);
    err
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUB: &str = "onTokenReceived(sessionId: \"s\") { seq }";

    fn check(query: &str) -> Result<(), ServerError> {
        check_subscription(&mut Request::new(query))
    }

    fn check_op(query: &str, op: &str) -> Result<(), ServerError> {
        check_subscription(&mut Request::new(query).operation_name(op))
    }

    fn refused(r: Result<(), ServerError>) -> String {
        let e = r.expect_err("refused");
        assert_eq!(
            e.extensions.as_ref().and_then(|x| x.get("code")),
            Some(&Value::from("bad_request")),
            "{e:?}"
        );
        e.message
    }

    #[test]
    fn documents_over_the_limit_are_refused_by_length_alone() {
        assert!(check_document("{ models }", 10).is_ok());
        let e = check_document("{ models }", 9).unwrap_err();
        assert_eq!(
            e.extensions.as_ref().and_then(|x| x.get("code")),
            Some(&Value::from("payload_too_large"))
        );
        assert!(e.message.contains("9 bytes"), "{}", e.message);
        // Bytes, not characters; and no parsing (this is not GraphQL).
        assert!(check_document("ééé", 6).is_ok());
        assert!(check_document("ééé", 5).is_err());
        assert!(check_document(&"{".repeat(100), 100).is_ok());
    }

    #[test]
    fn one_root_field_passes() {
        for q in [
            format!("subscription {{ {SUB} }}"),
            format!("subscription S {{ a: {SUB} }}"),
            // One response key, written twice: graphql-js merges them.
            format!("subscription {{ a: {SUB} a: {SUB} }}"),
            format!("subscription {{ ...F }} fragment F on Subscription {{ {SUB} }}"),
            format!("subscription {{ ... {{ {SUB} }} }}"),
            format!(
                "subscription {{ {SUB} ... on Subscription {{ {SUB} }} ...F }} fragment F on Subscription {{ {SUB} }}"
            ),
            // Literal skip / include are honoured.
            format!("subscription {{ {SUB} __typename @skip(if: true) }}"),
            format!(
                "subscription {{ {SUB} b: onTokenReceived(sessionId: \"s\") @include(if: false) {{ seq }} }}"
            ),
            format!("subscription {{ {SUB} ... @skip(if: true) {{ b: {SUB} }} }}"),
            // Queries and mutations may select many root fields.
            "{ models a: models __typename }".to_owned(),
            "mutation { a: cancelStream(sessionId: \"x\") b: cancelStream(sessionId: \"y\") }"
                .to_owned(),
        ] {
            assert!(check(&q).is_ok(), "{q}: {:?}", check(&q));
        }
    }

    #[test]
    fn aliases_make_more_root_fields() {
        let q = format!("subscription {{ a: {SUB} b: {SUB} }}");
        assert_eq!(
            refused(check(&q)),
            "Anonymous Subscription must select only one top level field."
        );
        let many: String = (0..200).map(|i| format!("a{i}: {SUB} ")).collect();
        refused(check(&format!("subscription {{ {many} }}")));
    }

    #[test]
    fn typename_counts_and_alone_is_introspection() {
        refused(check(&format!("subscription {{ {SUB} __typename }}")));
        refused(check(&format!("subscription {{ __typename {SUB} }}")));
        assert_eq!(
            refused(check("subscription S { __typename }")),
            "Subscription \"S\" must not select an introspection top level field."
        );
        // A directive with a variable may select it: it counts.
        refused(check(&format!(
            "subscription($x: Boolean!) {{ {SUB} __typename @include(if: $x) }}"
        )));
    }

    #[test]
    fn fragments_and_inline_fragments_are_followed() {
        for q in [
            format!("subscription {{ {SUB} ...F }} fragment F on Subscription {{ b: {SUB} }}"),
            format!(
                "subscription {{ ...F }} fragment F on Subscription {{ a: {SUB} ...G }} fragment G on Subscription {{ b: {SUB} }}"
            ),
            format!("subscription {{ ... on Subscription {{ a: {SUB} }} ... {{ b: {SUB} }} }}"),
            format!("subscription {{ ... {{ ... {{ ... {{ a: {SUB} }} }} }} b: {SUB} }}"),
            format!("subscription {{ ...F }} fragment F on Subscription {{ __typename {SUB} }}"),
        ] {
            refused(check(&q));
        }
        let e = check(&format!(
            "subscription {{ {SUB} ...F }}\nfragment F on Subscription {{\n  b: {SUB} }}"
        ))
        .unwrap_err();
        assert_eq!(e.locations, [Pos { line: 3, column: 3 }], "the extra field");
    }

    #[test]
    fn fragment_cycles_and_unknown_fragments_end() {
        // Left to validation; the rule itself must just finish.
        assert!(
            check(&format!(
                "subscription {{ ...A }} fragment A on Subscription {{ {SUB} ...B }} fragment B on Subscription {{ ...A }}"
            ))
            .is_ok()
        );
        assert!(check("subscription { ...Nope }").is_ok());
        // A long chain of fragments (the parser caps nesting at 64, not this)
        // is walked without recursion, to its far end.
        let chain = |last: &str| {
            let mut q = "subscription { ...F0 }".to_owned();
            for i in 0..2000 {
                q.push_str(&format!(
                    " fragment F{i} on Subscription {{ ...F{} }}",
                    i + 1
                ));
            }
            q + &format!(" fragment F2000 on Subscription {{ {last} }}")
        };
        assert!(check(&chain(SUB)).is_ok());
        refused(check(&chain(&format!("{SUB} __typename"))));
    }

    #[test]
    fn every_subscription_of_the_document_is_checked() {
        let doc = format!(
            "query Q {{ models }} subscription Good {{ {SUB} }} subscription Bad {{ a: {SUB} b: {SUB} }}"
        );
        // graphql-js validates the whole document, whichever operation is picked.
        for op in ["Q", "Good", "Bad"] {
            assert_eq!(
                refused(check_op(&doc, op)),
                "Subscription \"Bad\" must select only one top level field.",
                "{op}"
            );
        }
        let doc = format!(
            "query Q {{ models a: models }} subscription One {{ {SUB} }} subscription Two {{ x: {SUB} }}"
        );
        for op in ["Q", "One", "Two"] {
            assert!(check_op(&doc, op).is_ok(), "{op}");
        }
    }

    fn upstream_calls(query: &str) -> Result<(), ServerError> {
        one_upstream_call(&async_graphql::parser::parse_query(query).unwrap())
    }

    const START: &str = "startStream(prompt: \"p\") { sessionId }";

    #[test]
    fn one_upstream_call_per_mutation_passes() {
        for q in [
            format!("mutation {{ {START} }}"),
            format!("mutation M {{ a: {START} }}"),
            // One response key written twice is one call.
            format!("mutation {{ a: {START} a: {START} }}"),
            // Other mutations beside it.
            format!(
                "mutation {{ {START} cancelStream(sessionId: \"x\") {{ status }} __typename }}"
            ),
            format!(
                "mutation {{ {START} b: startStream(prompt: \"p\") @skip(if: true) {{ sessionId }} }}"
            ),
            // One per operation; one operation runs per request.
            format!("mutation A {{ {START} }} mutation B {{ {START} }}"),
            // Queries and subscriptions are not looked at.
            "{ models a: models }".to_owned(),
        ] {
            assert!(upstream_calls(&q).is_ok(), "{q}: {:?}", upstream_calls(&q));
        }
    }

    #[test]
    fn aliased_upstream_calls_are_refused_before_anything_runs() {
        let many: String = (0..240).map(|i| format!("a{i}: {START} ")).collect();
        for q in [
            format!("mutation {{ a: {START} b: {START} }}"),
            format!("mutation {{ {many} }}"),
            format!("mutation {{ {START} ...F }} fragment F on Mutation {{ b: {START} }}"),
            format!("mutation {{ ... {{ a: {START} }} ... on Mutation {{ b: {START} }} }}"),
            // A variable may skip it: it counts.
            format!(
                "mutation($x: Boolean!) {{ {START} b: startStream(prompt: \"p\") @skip(if: $x) {{ sessionId }} }}"
            ),
        ] {
            let e = upstream_calls(&q).expect_err(&q);
            assert_eq!(
                e.extensions.as_ref().and_then(|x| x.get("code")),
                Some(&Value::from("bad_request")),
                "{e:?}"
            );
            assert!(
                e.message
                    .starts_with("Anonymous Mutation must start at most one stream")
            );
        }
        let e = upstream_calls(&format!(
            "mutation Ok {{ {START} }} mutation Two {{ a: {START}\n b: {START} }}"
        ))
        .unwrap_err();
        assert!(e.message.starts_with("Mutation \"Two\""), "{}", e.message);
        assert_eq!(e.locations, [Pos { line: 2, column: 2 }], "the extra call");
    }

    #[tokio::test]
    async fn the_schema_refuses_two_upstream_calls_without_running_either() {
        // No `AppState` in the request data: a resolver that ran would
        // answer `internal`, not the rule's `bad_request`.
        let schema = crate::transport::graphql::build_schema();
        let r = schema
            .execute(format!("mutation {{ a: {START} b: {START} }}"))
            .await;
        assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
        assert!(
            r.errors[0].message.contains("at most one stream"),
            "{:?}",
            r.errors
        );
        assert_eq!(r.data, Value::Null);
    }

    #[test]
    fn a_document_that_does_not_parse_is_refused_with_the_parser_error() {
        let e = check("subscription { onTokenReceived(").unwrap_err();
        assert!(e.extensions.is_none(), "the parser's own error: {e:?}");
        assert!(!e.locations.is_empty(), "{e:?}");
    }
}
