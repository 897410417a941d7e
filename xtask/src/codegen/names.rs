//! Spec names to Rust names.

/// Splits `externalUserId`, `url-crawl`, `conversations:read`, `Knowledge sources` into lowercase words.
fn words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for ch in name.chars() {
        if !ch.is_ascii_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            previous_lower = false;
            continue;
        }
        if ch.is_ascii_uppercase() && previous_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        previous_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        current.push(ch.to_ascii_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

pub fn pascal(name: &str) -> String {
    words(name)
        .iter()
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

pub fn snake(name: &str) -> String {
    let joined = words(name).join("_");
    if is_keyword(&joined) {
        format!("r#{joined}")
    } else {
        joined
    }
}

fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "as" | "async"
            | "await"
            | "break"
            | "const"
            | "continue"
            | "crate"
            | "dyn"
            | "else"
            | "enum"
            | "extern"
            | "false"
            | "fn"
            | "for"
            | "if"
            | "impl"
            | "in"
            | "let"
            | "loop"
            | "match"
            | "mod"
            | "move"
            | "mut"
            | "pub"
            | "ref"
            | "return"
            | "static"
            | "struct"
            | "super"
            | "trait"
            | "true"
            | "type"
            | "unsafe"
            | "use"
            | "where"
            | "while"
            | "yield"
    )
}

/// A Rust string literal holding `text`.
pub fn literal(text: &str) -> String {
    format!("{text:?}")
}

/// `text` as `///` doc comment lines.
pub fn doc(text: Option<&str>) -> String {
    let Some(text) = text else {
        return String::new();
    };
    text.trim()
        .lines()
        .map(|line| {
            if line.trim().is_empty() {
                "///\n".to_string()
            } else {
                format!("/// {}\n", line.trim_end())
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_spec_names() {
        assert_eq!(pascal("url-crawl"), "UrlCrawl");
        assert_eq!(pascal("conversations:read"), "ConversationsRead");
        assert_eq!(pascal("Knowledge sources"), "KnowledgeSources");
        assert_eq!(pascal("pii_detected"), "PiiDetected");
        assert_eq!(snake("externalUserId"), "external_user_id");
        assert_eq!(snake("Idempotency-Key"), "idempotency_key");
        assert_eq!(snake("type"), "r#type");
        assert_eq!(snake("getHealth"), "get_health");
    }
}
