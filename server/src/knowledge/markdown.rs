//! Markdown (and plain text, which is Markdown without markup) to a [`Document`]: headings make
//! the heading path, paragraphs, list items, quotes, code blocks and table cells make blocks, and
//! markup is dropped (a link keeps its text).

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use super::document::{Blocks, Document, collapse};

/// Reads a document given as `title` and Markdown `body`.
pub fn document(url: Option<String>, title: &str, body: &str) -> Document {
    let mut blocks = Blocks::default();
    let mut heading: Option<(u8, String)> = None;
    for event in Parser::new_ext(body, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                heading = Some((depth(level), String::new()))
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, text)) = heading.take() {
                    blocks.heading(level, &text);
                }
            }
            Event::Text(text) | Event::Code(text) => match &mut heading {
                Some((_, heading)) => heading.push_str(&text),
                None => blocks.text(&text),
            },
            Event::SoftBreak | Event::HardBreak => match &mut heading {
                Some((_, heading)) => heading.push(' '),
                None => blocks.text(" "),
            },
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Item
                | TagEnd::CodeBlock
                | TagEnd::BlockQuote(_)
                | TagEnd::TableCell,
            ) => blocks.end_block(),
            Event::Start(Tag::Item | Tag::TableCell) => blocks.end_block(),
            _ => {}
        }
    }
    let blocks = blocks.finish();
    let mut title = collapse(title);
    if title.is_empty() {
        title = blocks
            .first()
            .and_then(|block| block.headings.first())
            .cloned()
            .unwrap_or_default();
    }
    Document { url, title, blocks }
}

fn depth(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::document::Block;

    fn block(headings: &[&str], text: &str) -> Block {
        Block {
            headings: headings.iter().map(|h| h.to_string()).collect(),
            text: text.to_string(),
        }
    }

    #[test]
    fn headings_nest_and_markup_goes() {
        let body = "Intro with a [link](https://x.example) and **bold**.\n\n\
                    # Shipping\n\nWe ship\nworldwide.\n\n\
                    ## Changing an address\n\n- Open `Orders`\n- Choose *Change address*\n\n\
                    # Returns\n\n> Within 30 days.\n";
        let doc = document(None, " Help  center ", body);
        assert_eq!(doc.title, "Help center");
        assert_eq!(
            doc.blocks,
            vec![
                block(&[], "Intro with a link and bold."),
                block(&["Shipping"], "We ship worldwide."),
                block(&["Shipping", "Changing an address"], "Open Orders"),
                block(
                    &["Shipping", "Changing an address"],
                    "Choose Change address"
                ),
                block(&["Returns"], "Within 30 days."),
            ]
        );
    }

    #[test]
    fn an_untitled_document_takes_its_first_heading() {
        let doc = document(None, "", "# Pricing plans\n\nThree plans.");
        assert_eq!(doc.title, "Pricing plans");
    }
}
