//! One stream's decoder: a family's chunk decoding, plus what must carry
//! from chunk to chunk (DeepSeek R1's reasoning, closed by `</think>`).

use super::think::ThinkSplit;
use super::{DecodeError, ModelFamily};
use crate::upstream::request::Delta;

/// Decodes the chunks of one `InvokeModelWithResponseStream` stream, in order.
#[derive(Debug)]
pub struct Decoder {
    family: ModelFamily,
    think: Option<ThinkSplit>,
}

impl Decoder {
    pub(super) fn new(family: ModelFamily) -> Self {
        Self {
            family,
            think: (family == ModelFamily::DeepSeek).then(ThinkSplit::default),
        }
    }

    /// The deltas of the next chunk (possibly none: text held back, or a
    /// frame with nothing to show).
    pub fn decode(&mut self, chunk: &[u8]) -> Result<Vec<Delta>, DecodeError> {
        let deltas = self.family.decode_chunk(chunk)?;
        Ok(match &mut self.think {
            Some(split) => split.split(deltas),
            None => deltas,
        })
    }

    /// The stream ended cleanly: what was held back.
    pub fn finish(&mut self) -> Vec<Delta> {
        self.think
            .as_mut()
            .map(ThinkSplit::finish)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deepseek_streams_split_reasoning_others_pass_through() {
        let mut d = ModelFamily::DeepSeek.decoder();
        let chunk =
            |t: &str| serde_json::json!({"choices":[{"text":t,"stop_reason":null}]}).to_string();
        assert!(d.decode(chunk("Think").as_bytes()).unwrap().is_empty());
        assert_eq!(
            d.decode(chunk(" more.\n</thi").as_bytes()).unwrap(),
            vec![],
            "a split tag is still held"
        );
        assert_eq!(
            d.decode(chunk("nk>\n\nAnswer").as_bytes()).unwrap(),
            vec![
                Delta::Reasoning("Think".into()),
                Delta::Reasoning(" more.".into()),
                Delta::BlockEnd,
                Delta::Text("Answer".into())
            ]
        );
        assert!(d.finish().is_empty());

        let mut d = ModelFamily::MetaLlama.decoder();
        assert_eq!(
            d.decode(br#"{"generation":"Hi"}"#).unwrap(),
            vec![Delta::Text("Hi".into())]
        );
        assert!(d.finish().is_empty());
        assert!(d.decode(b"nope").is_err());
    }
}
