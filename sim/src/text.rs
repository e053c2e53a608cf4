//! Deterministic English prose, split into tokens the way LLM tokenizers split it.

use std::collections::VecDeque;

/// The sentences the simulator speaks, grouped loosely by theme; the
/// generator walks them in order with occasional jumps.
const SENTENCES: &[&str] = &[
    "A river is a slow argument between water and stone, and the water usually wins.",
    "Near its source the channel is narrow and steep, so the current moves quickly and carries gravel downhill.",
    "Farther down the valley the slope eases, the water spreads out, and fine silt settles on the inside of each bend.",
    "Over centuries those bends drift sideways, which is why old maps of the same river rarely agree.",
    "Floodplains look empty for most of the year, but they are the river's spare capacity, held in reserve for the wettest weeks.",
    "When people build on that spare capacity, the next flood simply finds another place to go.",
    "A spillway is the honest part of a dam: it admits that some water will always arrive faster than the turbines can use it.",
    "Engineers size a spillway for the largest flood they can reasonably imagine, and then they add a margin for the one they cannot.",
    "The concrete chute ends in a stilling basin, where baffle blocks and a hydraulic jump turn fast, shallow water into slow, deep water.",
    "Without that basin, the released energy would scour the riverbed and undermine the dam it was meant to protect.",
    "Good engineering is mostly about deciding where the excess goes before anyone has to ask.",
    "Every structure has a load it was designed for and a load it will eventually meet, and the two are rarely the same.",
    "Bridges are inspected on a schedule, because small cracks are cheap to fix and large ones are not.",
    "A gauge that reads the river level every fifteen minutes is worth more than a perfect model that nobody updates.",
    "Measurement comes first; the clever part can wait until the numbers are trustworthy.",
    "Streaming systems face the same problem as rivers: data arrives in surges, and something has to absorb the difference.",
    "A producer that writes faster than its consumer reads will fill any buffer, however generous it seems at first.",
    "Backpressure is the polite way to say slow down, and a well designed pipeline passes that message all the way upstream.",
    "When a reader disconnects, the work it asked for should stop, or somebody pays for tokens that nobody will ever see.",
    "Each event carries a sequence number, so a client that reconnects can say exactly where it left off.",
    "Losing an event is worse than delaying one, because a delay is visible and a gap often is not.",
    "A bounded queue turns a memory problem into a latency problem, which is usually the better trade.",
    "Heartbeats keep idle connections alive through proxies that would otherwise decide the stream had ended.",
    "The first token matters most to a person watching the screen, since it proves that the system is listening.",
    "After that, a steady rhythm feels faster than bursts, even when the total time is the same.",
    "Retries belong before the first byte is sent; after that point, repeating the request would repeat the answer.",
    "Timeouts are not a sign of pessimism but a promise that no request will wait forever.",
    "Fan-out lets one upstream call feed many readers, as a single channel can water a whole row of fields.",
    "A slow reader should fall behind on its own, without holding back the readers that keep up.",
    "Logs that carry a request id turn a vague complaint into a short search.",
    "Metrics tell you that something changed; traces tell you where; logs tell you why.",
    "In spring the snowmelt arrives all at once, and reservoirs that looked half empty in winter fill within weeks.",
    "Operators lower the reservoir ahead of the melt, trading a little stored water for a lot of safety.",
    "Salmon still climb some rivers by way of fish ladders, a series of small pools that turn one tall barrier into many short steps.",
    "Sediment that once reached the sea now settles behind dams, and deltas slowly shrink without it.",
    "Restoring a river often means giving back room: moving levees outward and letting wetlands flood again.",
    "Canals taught early engineers to think about locks, which move boats between levels by filling and emptying a chamber.",
    "A lock is a lesson in patience, because the water will only move as fast as the valves allow.",
    "Pipelines in software borrow the same vocabulary of sources, sinks, and flow, and for good reason.",
    "The cheapest reliability is the kind you design in, rather than the kind you bolt on after an outage.",
    "Load tests are rehearsals: they show where the system bends before real users find out where it breaks.",
    "Graceful shutdown means finishing the work in hand, refusing new work, and closing every connection with a clear reason.",
    "A simulator that behaves like the real service lets the whole system be tested on a single laptop.",
    "Determinism makes failures repeatable, and a repeatable failure is already half fixed.",
    "By evening the river runs quieter, the gauges settle, and the spillway gates close one by one.",
];

/// Sentences per paragraph, inclusive range.
const PARAGRAPH_MIN: usize = 3;
const PARAGRAPH_MAX: usize = 5;

/// A stable 64-bit FNV-1a hash, used to seed the generator from the prompt.
pub(crate) fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// An endless, deterministic stream of text tokens for one prompt.
pub(crate) struct Tokens {
    rng: fastrand::Rng,
    queue: VecDeque<String>,
    next_sentence: usize,
    left_in_paragraph: usize,
    at_paragraph_start: bool,
}

impl Tokens {
    /// The token stream for `prompt`: the same prompt always gives the same tokens.
    pub(crate) fn for_prompt(prompt: &str) -> Self {
        let mut rng = fastrand::Rng::with_seed(stable_hash(prompt));
        let next_sentence = rng.usize(..SENTENCES.len());
        let left_in_paragraph = rng.usize(PARAGRAPH_MIN..=PARAGRAPH_MAX);
        Self {
            rng,
            queue: VecDeque::new(),
            next_sentence,
            left_in_paragraph,
            at_paragraph_start: true,
        }
    }

    fn refill(&mut self) {
        if self.left_in_paragraph == 0 {
            self.queue.push_back("\n\n".to_owned());
            self.left_in_paragraph = self.rng.usize(PARAGRAPH_MIN..=PARAGRAPH_MAX);
            self.at_paragraph_start = true;
        }
        let sentence = SENTENCES
            .get(self.next_sentence)
            .copied()
            .unwrap_or(SENTENCES[0]);
        // Mostly walk forward; now and then jump, as a writer changes subject.
        self.next_sentence = if self.rng.u8(..5) == 0 {
            self.rng.usize(..SENTENCES.len())
        } else {
            (self.next_sentence + 1) % SENTENCES.len()
        };
        self.left_in_paragraph -= 1;
        let mut first = self.at_paragraph_start;
        self.at_paragraph_start = false;
        for word in sentence.split_whitespace() {
            let leading = if first { "" } else { " " };
            first = false;
            split_word(word, leading, &mut self.rng, &mut self.queue);
        }
    }
}

impl Iterator for Tokens {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        while self.queue.is_empty() {
            self.refill();
        }
        self.queue.pop_front()
    }
}

/// Splits one whitespace-delimited word into tokens: the word (with its
/// leading space, sometimes cut into two pieces), an `'s`-style suffix, and
/// each trailing punctuation mark on its own.
fn split_word(word: &str, leading: &str, rng: &mut fastrand::Rng, out: &mut VecDeque<String>) {
    let core_end = word
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_punctuation() && *c != '\'')
        .last()
        .map_or(word.len(), |(i, _)| i);
    let (core, punctuation) = word.split_at(core_end);
    let (stem, suffix) = match core.find('\'') {
        Some(at) if at > 0 => core.split_at(at),
        _ => (core, ""),
    };
    if !stem.is_empty() {
        let chars = stem.chars().count();
        if chars >= 8 && rng.u8(..3) == 0 {
            let cut = rng.usize(3..=chars - 3);
            let at = stem.char_indices().nth(cut).map_or(stem.len(), |(i, _)| i);
            out.push_back(format!("{leading}{}", &stem[..at]));
            out.push_back(stem[at..].to_owned());
        } else {
            out.push_back(format!("{leading}{stem}"));
        }
    } else if !leading.is_empty() && !punctuation.is_empty() {
        out.push_back(leading.to_owned());
    }
    if !suffix.is_empty() {
        out.push_back(suffix.to_owned());
    }
    for mark in punctuation.chars() {
        out.push_back(mark.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(prompt: &str, n: usize) -> Vec<String> {
        Tokens::for_prompt(prompt).take(n).collect()
    }

    #[test]
    fn same_prompt_gives_same_tokens() {
        assert_eq!(take("rivers please", 300), take("rivers please", 300));
    }

    #[test]
    fn different_prompts_usually_differ() {
        let a = take("prompt one", 50);
        let b = take("prompt two", 50);
        let c = take("prompt three", 50);
        assert!(a != b || b != c);
    }

    #[test]
    fn tokens_look_like_llm_tokens() {
        let tokens = take("shape check", 2000);
        assert_eq!(tokens.len(), 2000);
        assert!(tokens.iter().all(|t| !t.is_empty()));
        // The first token starts a paragraph: no leading space.
        assert!(!tokens[0].starts_with(' '));
        // Most tokens are words with a leading space; punctuation stands alone.
        let spaced = tokens.iter().filter(|t| t.starts_with(' ')).count();
        assert!(spaced > tokens.len() / 2, "{spaced}");
        assert!(tokens.iter().any(|t| t == "."));
        assert!(tokens.iter().any(|t| t == ","));
        assert!(tokens.iter().any(|t| t == "\n\n"));
        // Some words are split into pieces (a piece with no leading space that is a letter run).
        assert!(
            tokens
                .iter()
                .any(|t| t.len() > 1 && t.chars().all(|c| c.is_ascii_lowercase()))
        );
        // Joined, it reads as prose: every sentence we know appears intact somewhere.
        let text: String = tokens.concat();
        assert!(SENTENCES.iter().any(|s| text.contains(s)));
    }

    #[test]
    fn hash_is_stable() {
        assert_eq!(stable_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(stable_hash("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn split_word_handles_punctuation_and_apostrophes() {
        let mut rng = fastrand::Rng::with_seed(1);
        let mut out = VecDeque::new();
        split_word("river's", " ", &mut rng, &mut out);
        split_word("on.", " ", &mut rng, &mut out);
        split_word("fields;", "", &mut rng, &mut out);
        assert_eq!(out, [" river", "'s", " on", ".", "fields", ";"]);
    }
}
