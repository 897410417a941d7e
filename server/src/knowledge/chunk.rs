//! Documents to chunks, the units that are indexed, retrieved and cited. A chunk holds the blocks
//! of one section (one heading path) up to [`MAX_CHARS`]; a longer section is split between
//! sentences, and the next chunk repeats the last sentence of the one before, so that a fact that
//! straddles the cut is still found whole in one of them.

use unicode_segmentation::UnicodeSegmentation;

use super::document::Document;

/// The most characters of text in a chunk (a few paragraphs: enough context to answer from,
/// little enough that one chunk is about one thing).
pub const MAX_CHARS: usize = 1200;
/// A sentence longer than this is not repeated in the next chunk.
const MAX_OVERLAP_CHARS: usize = MAX_CHARS / 4;

/// A piece of a document, with what a citation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub headings: Vec<String>,
    pub text: String,
}

/// What a chunk is embedded as: its page's title and its headings lead its text, as they lead a
/// reader to it, so that a chunk deep in a page about refunds still means refunds.
pub fn meaning(title: &str, headings: &[String], text: &str) -> String {
    let mut meaning = String::with_capacity(title.len() + text.len() + 64);
    meaning.push_str(title);
    for heading in headings {
        if heading != title {
            meaning.push_str(" > ");
            meaning.push_str(heading);
        }
    }
    meaning.push('\n');
    meaning.push_str(text);
    meaning
}

/// The document's chunks, in document order.
pub fn chunks(document: &Document) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut current: Option<Building> = None;
    for block in &document.blocks {
        if current
            .as_ref()
            .is_some_and(|building| building.headings != block.headings)
        {
            out.extend(current.take().map(Building::finish));
        }
        let building = current.get_or_insert_with(|| Building::new(block.headings.clone()));
        // A block starts a new line of thought: keep it apart from the one before.
        building.paragraph_break();
        for sentence in pieces(&block.text) {
            if building.len + sentence.len() + 1 > MAX_CHARS && !building.text.is_empty() {
                let overlap = building.last_sentence.clone();
                let full = std::mem::replace(building, Building::new(block.headings.clone()));
                out.push(full.finish());
                if overlap.len() <= MAX_OVERLAP_CHARS && overlap.len() + sentence.len() < MAX_CHARS
                {
                    building.push(&overlap);
                }
            }
            building.push(sentence);
        }
    }
    out.extend(current.map(Building::finish));
    out
}

struct Building {
    headings: Vec<String>,
    text: String,
    len: usize,
    last_sentence: String,
}

impl Building {
    fn new(headings: Vec<String>) -> Self {
        Self {
            headings,
            text: String::new(),
            len: 0,
            last_sentence: String::new(),
        }
    }

    fn paragraph_break(&mut self) {
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.text.push('\n');
            self.len += 1;
        }
    }

    fn push(&mut self, sentence: &str) {
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.text.push(' ');
            self.len += 1;
        }
        self.text.push_str(sentence);
        self.len += sentence.len();
        self.last_sentence = sentence.to_string();
    }

    fn finish(self) -> Chunk {
        Chunk {
            headings: self.headings,
            text: self.text,
        }
    }
}

/// The text's sentences (Unicode sentence boundaries), a sentence too long for a chunk cut between
/// words, a word too long cut between characters.
fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for sentence in text.unicode_sentences().map(str::trim) {
        if sentence.len() <= MAX_CHARS {
            out.push(sentence);
            continue;
        }
        let mut start = 0;
        let mut end = 0;
        for (at, word) in sentence.split_word_bound_indices() {
            if at + word.len() - start > MAX_CHARS && end > start {
                out.push(sentence[start..end].trim());
                start = end;
            }
            end = at + word.len();
            while end - start > MAX_CHARS {
                let mut cut = start + MAX_CHARS;
                while !sentence.is_char_boundary(cut) {
                    cut -= 1;
                }
                out.push(&sentence[start..cut]);
                start = cut;
            }
        }
        if end > start {
            out.push(sentence[start..end].trim());
        }
    }
    out.retain(|piece| !piece.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::knowledge::document::Block;

    fn doc(blocks: Vec<(Vec<&str>, String)>) -> Document {
        Document {
            url: None,
            title: "t".to_string(),
            blocks: blocks
                .into_iter()
                .map(|(headings, text)| Block {
                    headings: headings.into_iter().map(String::from).collect(),
                    text,
                })
                .collect(),
        }
    }

    #[test]
    fn a_section_is_one_chunk_and_sections_do_not_mix() {
        let chunks = chunks(&doc(vec![
            (vec!["Shipping"], "We ship worldwide.".to_string()),
            (vec!["Shipping"], "Orders leave in two days.".to_string()),
            (vec!["Returns"], "Returns are free.".to_string()),
        ]));
        assert_eq!(chunks.len(), 2);
        assert_eq!(
            chunks[0].text,
            "We ship worldwide.\nOrders leave in two days."
        );
        assert_eq!(chunks[1].headings, ["Returns"]);
    }

    #[test]
    fn a_long_section_is_cut_between_sentences_with_one_sentence_of_overlap() {
        let sentences: Vec<String> = (0..60)
            .map(|i| format!("Sentence number {i} says something useful about shipping."))
            .collect();
        let chunks = chunks(&doc(vec![(vec!["Shipping"], sentences.join(" "))]));
        assert!(chunks.len() > 1);
        for pair in chunks.windows(2) {
            let last = pair[0].text.rsplit(". ").next().unwrap();
            assert!(
                pair[1].text.starts_with(last),
                "{last:?} / {:?}",
                pair[1].text
            );
        }
        for sentence in &sentences {
            assert!(
                chunks
                    .iter()
                    .any(|chunk| chunk.text.contains(sentence.as_str()))
            );
        }
    }

    proptest! {
        #[test]
        fn chunks_are_bounded_and_lose_no_word(words in proptest::collection::vec("[a-z]{1,30}[.]?", 0..600)) {
            let text = words.join(" ");
            let chunks = chunks(&doc(vec![(vec!["H"], text.clone())]));
            for chunk in &chunks {
                prop_assert!(chunk.text.len() <= MAX_CHARS, "{}", chunk.text.len());
            }
            let joined: String = chunks.iter().map(|c| c.text.as_str()).collect::<Vec<_>>().join(" ");
            for word in text.split_whitespace() {
                prop_assert!(joined.contains(word.trim_end_matches('.')));
            }
        }
    }
}
