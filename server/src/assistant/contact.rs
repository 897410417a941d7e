//! Contact details in what a user writes: email, phone, name and company. Each is looked for
//! with patterns that favour missing a detail over inventing one: a name or company must follow
//! words that introduce it ("my name is", "I work at") and start with a capital letter; a phone
//! number must start with `+`, be written with separators, or follow a word such as "phone".

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use hoverbot_api::ContactFields;

/// What a conversation knows about how to reach its user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub name: Option<String>,
    pub company: Option<String>,
}

impl Contact {
    /// The details found in one message.
    pub fn find(text: &str) -> Self {
        let value = |found: Option<Found>| found.map(|(value, _)| value);
        Self {
            email: value(email(text)),
            phone: value(phone(text)),
            name: value(name(text)),
            company: value(company(text)),
        }
    }

    /// `text` without the contact details written in it (each cut where it was found, as it was
    /// written, however it is normalised).
    pub fn removed_from(text: &str) -> String {
        let mut spans: Vec<Range<usize>> = [email(text), phone(text), name(text), company(text)]
            .into_iter()
            .flatten()
            .map(|(_, span)| span)
            .collect();
        spans.sort_by_key(|span| span.start);
        let mut kept = String::with_capacity(text.len());
        let mut from = 0;
        for span in spans {
            if span.start >= from {
                kept.push_str(&text[from..span.start]);
                kept.push(' ');
            }
            from = from.max(span.end);
        }
        kept.push_str(&text[from..]);
        kept
    }

    /// `self` with what `newer` found: a detail given again (a corrected email, say) replaces
    /// the earlier one.
    pub fn merge(self, newer: Self) -> Self {
        Self {
            email: newer.email.or(self.email),
            phone: newer.phone.or(self.phone),
            name: newer.name.or(self.name),
            company: newer.company.or(self.company),
        }
    }
}

impl From<Contact> for ContactFields {
    fn from(contact: Contact) -> Self {
        Self {
            email: contact.email,
            phone: contact.phone,
            name: contact.name,
            company: contact.company,
        }
    }
}

/// A detail as it is kept, and where it is written in the text.
type Found = (String, Range<usize>);

fn email(text: &str) -> Option<Found> {
    static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
            .expect("a valid pattern")
    });
    EMAIL
        .find(text)
        .map(|found| (found.as_str().to_lowercase(), found.range()))
}

fn phone(text: &str) -> Option<Found> {
    static PHONE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\+?\(?\d[\d\s().-]{5,20}\d").expect("a valid pattern"));
    static CUE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?i)\b(?:phone|call|mobile|cell|tel|whatsapp|reach me)\b")
            .expect("a valid pattern")
    });
    PHONE.find_iter(text).find_map(|found| {
        let written = found.as_str().trim();
        let digits: String = written.chars().filter(char::is_ascii_digit).collect();
        if !(7..=15).contains(&digits.len()) {
            return None;
        }
        let international = written.starts_with('+');
        let separated = written.chars().any(|c| " ().-".contains(c));
        let value = if international {
            // E.164: the digits after the plus.
            format!("+{digits}")
        } else if separated || CUE.is_match(text) {
            written.to_string()
        } else {
            return None;
        };
        Some((value, found.range()))
    })
}

/// One to three capitalised words.
const PROPER_NAME: &str = r"([A-Z][\p{L}'’-]+(?:[ \t]+[A-Z][\p{L}'’-]+){0,2})";

/// Capitalised words that follow "I'm" without being a name ("I'm Looking for…").
const NOT_NAMES: &[&str] = &[
    "Interested",
    "Looking",
    "Not",
    "Just",
    "Trying",
    "Having",
    "Here",
    "Sorry",
    "Happy",
    "Glad",
    "Still",
    "Also",
    "So",
    "Very",
    "From",
    "With",
    "At",
    "Writing",
    "Calling",
    "Contacting",
    "Reaching",
    "Wondering",
];

fn name(text: &str) -> Option<Found> {
    static NAME: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(&format!(
            r"(?:\b[Mm]y name is|\b[Ii]['’]m|\b[Ii] am|\b[Tt]his is|\b[Cc]all me)[ \t]+{PROPER_NAME}"
        ))
        .expect("a valid pattern")
    });
    static WORD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\S+").expect("a valid pattern"));
    NAME.captures_iter(text).find_map(|captures| {
        let written = captures.get(1)?;
        let words: Vec<regex::Match> = WORD
            .find_iter(written.as_str())
            .take_while(|word| !NOT_NAMES.contains(&word.as_str()))
            .collect();
        let last = words.last()?;
        let name: Vec<&str> = words.iter().map(regex::Match::as_str).collect();
        Some((
            name.join(" "),
            written.start()..written.start() + last.end(),
        ))
    })
}

fn company(text: &str) -> Option<Found> {
    static COMPANY: LazyLock<Regex> = LazyLock::new(|| {
        let introduced = [
            r"\b(?:[Ww]ork(?:ing)?|[Ii]['’]m|[Ii] am)[ \t]+(?:at|for)",
            r"\b(?:[Mm]y|[Oo]ur)[ \t]+(?:company|business|organi[sz]ation)(?:['’]s name| name)?[ \t]+is",
            r"\b[Cc]ompany(?: name)?:",
            r"\b[Rr]epresenting",
            r"\bon behalf of",
            // "I'm Jane Doe from Northwind Traders"
            r"(?:\b[Ii]['’]m|\b[Ii] am|\b[Tt]his is|\b[Mm]y name is)[ \t]+[A-Z]\p{L}+(?:[ \t]+[A-Z]\p{L}+)?[ \t]+(?:from|at|with)",
        ]
        .join("|");
        Regex::new(&format!(
            r"(?:{introduced})[ \t]+([A-Z0-9][\w&'’-]*(?:[ \t]+(?:[A-Z0-9][\w&'’-]*|&)){{0,3}})"
        ))
        .expect("a valid pattern")
    });
    let written = COMPANY.captures(text)?.get(1)?;
    let company = written
        .as_str()
        .trim_end_matches(['&', '\'', '’', '-'])
        .trim_end();
    Some((
        company.to_string(),
        written.start()..written.start() + company.len(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_detail_of_a_full_introduction() {
        let found = Contact::find(
            "Hi, I'm Jane Doe from Northwind Traders. Reach me at Jane.Doe@Northwind.example \
             or +1 (415) 555-0123.",
        );
        assert_eq!(
            found,
            Contact {
                email: Some("jane.doe@northwind.example".to_string()),
                phone: Some("+14155550123".to_string()),
                name: Some("Jane Doe".to_string()),
                company: Some("Northwind Traders".to_string()),
            }
        );
    }

    #[test]
    fn removes_each_detail_as_it_was_written() {
        let text = "Hi, I'm Jane Doe from Northwind Traders. Reach me at Jane.Doe@Northwind.example \
                    or +1 (415) 555-0123. Is Northwind Analytics supported?";
        let kept = Contact::removed_from(text);
        for detail in ["Jane", "Doe", "Traders", "Jane.Doe", "415", "555", "0123"] {
            assert!(!kept.contains(detail), "{detail} in {kept}");
        }
        assert!(
            kept.ends_with("Is Northwind Analytics supported?"),
            "{kept}"
        );
        assert_eq!(
            Contact::removed_from("Can I book a demo?"),
            "Can I book a demo?"
        );
    }

    #[test]
    fn finds_details_introduced_in_other_words() {
        let found =
            Contact::find("My name is Ana Lima and I work at Acme & Sons, call 020 7946 0958");
        assert_eq!(found.name.as_deref(), Some("Ana Lima"));
        assert_eq!(found.company.as_deref(), Some("Acme & Sons"));
        assert_eq!(found.phone.as_deref(), Some("020 7946 0958"));
    }

    #[test]
    fn invents_nothing_from_ordinary_sentences() {
        for text in [
            "I'm interested in your pricing",
            "I'm Looking for the returns page",
            "My order 12345678 has not arrived",
            "Can I change my shipping address?",
            "I'm writing from Germany",
        ] {
            assert_eq!(Contact::find(text), Contact::default(), "{text}");
        }
    }

    #[test]
    fn a_detail_given_again_replaces_the_earlier_one() {
        let first = Contact::find("I'm Jane, jane@old.example");
        let merged = first.merge(Contact::find("sorry, it is jane@new.example"));
        assert_eq!(merged.email.as_deref(), Some("jane@new.example"));
        assert_eq!(merged.name.as_deref(), Some("Jane"));
    }
}
