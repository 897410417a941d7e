//! A document as the indexer sees it, whatever it came from (an HTML page, a Markdown text): a
//! title, an address, and blocks of text, each under the path of headings it sits in.

/// A run of text under its headings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The headings above the block, outermost first (`["Shipping", "Changing an address"]`).
    pub headings: Vec<String>,
    pub text: String,
}

/// One page or uploaded document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub url: Option<String>,
    pub title: String,
    pub blocks: Vec<Block>,
}

/// Builds blocks while a parser walks a document: headings change the path, text accumulates
/// until a block ends.
#[derive(Default)]
pub(crate) struct Blocks {
    /// `(level, heading)`, outermost first.
    path: Vec<(u8, String)>,
    text: String,
    done: Vec<Block>,
}

impl Blocks {
    /// A heading of `level` (1 for the top) replaces every heading at its level or below.
    pub fn heading(&mut self, level: u8, heading: &str) {
        self.end_block();
        let heading = collapse(heading);
        self.path.retain(|(outer, _)| *outer < level);
        if !heading.is_empty() {
            self.path.push((level, heading));
        }
    }

    pub fn text(&mut self, text: &str) {
        self.text.push_str(text);
    }

    pub fn end_block(&mut self) {
        let text = collapse(&self.text);
        self.text.clear();
        if !text.is_empty() {
            self.done.push(Block {
                headings: self.path.iter().map(|(_, h)| h.clone()).collect(),
                text,
            });
        }
    }

    pub fn finish(mut self) -> Vec<Block> {
        self.end_block();
        self.done
    }
}

/// Whitespace runs as single spaces, trimmed.
pub(crate) fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
