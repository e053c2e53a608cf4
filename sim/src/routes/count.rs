//! `POST /model/{modelId}/count-tokens` (Bedrock's CountTokens): the input
//! tokens an InvokeModel body (`{"input": {"invokeModel": {"body": <base64>}}}`)
//! or a Converse request (`{"input": {"converse": {"messages", "system",
//! "toolConfig"}}}`) would use, counted as the answer's `usage` counts them.
//! Bedrock counts for Claude models only; any other is a `ValidationException`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use serde_json::{Value, json};

use crate::body::{as_object, as_str, parse_object, required};
use crate::converse;
use crate::families;
use crate::model::{Family, Model};
use crate::wire::SimError;

pub(crate) async fn count_tokens(
    model_id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Json<Value>, SimError> {
    let invalid_model = || SimError::validation("The provided model identifier is invalid.");
    let Path(model_id) = model_id.map_err(|_| invalid_model())?;
    let model = Model::recognise(&model_id).ok_or_else(invalid_model)?;
    if model.family != Family::Claude {
        return Err(SimError::validation(format!(
            "The provided model {model_id} doesn't support counting tokens."
        )));
    }
    let body = parse_object(&body)?;
    let input = as_object(required(&body, "input", "#")?, "#/input")?;
    let prompt = match (input.get("invokeModel"), input.get("converse")) {
        (Some(invoke), None) => {
            let invoke = as_object(invoke, "#/input/invokeModel")?;
            let encoded = as_str(
                required(invoke, "body", "#/input/invokeModel")?,
                "#/input/invokeModel/body",
            )?;
            let raw = aws_smithy_types::base64::decode(encoded)
                .map_err(|_| SimError::validation("#/input/invokeModel/body: not base64"))?;
            families::parse(&model, &parse_object(&raw)?)?
        }
        (None, Some(request)) => {
            converse::parse(as_object(request, "#/input/converse")?, &model.base)?
        }
        _ => {
            return Err(SimError::validation(
                "input must hold exactly one of invokeModel and converse",
            ));
        }
    };
    Ok(Json(json!({"inputTokens": prompt.input_tokens()})))
}
