//! Sitemaps (sitemaps.org protocol), read with `quick-xml`: a `urlset` lists pages, a
//! `sitemapindex` lists more sitemaps. Gzip-compressed files are inflated, up to the protocol's
//! 50 MB.

use std::io::Read;

use quick_xml::Reader;
use quick_xml::events::Event;

/// The most addresses the protocol allows in one sitemap file.
const MAX_LOCS: usize = 50_000;
/// The largest (uncompressed) sitemap the protocol allows.
const MAX_BYTES: u64 = 50 * 1024 * 1024;

/// What a sitemap file lists.
#[derive(Debug, PartialEq, Eq)]
pub enum Sitemap {
    /// Pages.
    Pages(Vec<String>),
    /// Other sitemaps.
    Index(Vec<String>),
}

/// Reads a sitemap file, inflating it first when it is gzip-compressed.
pub fn read(body: &[u8]) -> Result<Sitemap, String> {
    if body.starts_with(&[0x1f, 0x8b]) {
        let mut inflated = Vec::new();
        flate2::read::GzDecoder::new(body)
            .take(MAX_BYTES + 1)
            .read_to_end(&mut inflated)
            .map_err(|err| format!("the compressed sitemap does not inflate: {err}"))?;
        if inflated.len() as u64 > MAX_BYTES {
            return Err("the sitemap is larger than 50 MB uncompressed".into());
        }
        return parse(&String::from_utf8_lossy(&inflated));
    }
    parse(&String::from_utf8_lossy(body))
}

fn parse(xml: &str) -> Result<Sitemap, String> {
    let mut reader = Reader::from_str(xml);
    let mut root: Option<Vec<u8>> = None;
    let mut in_loc = false;
    let mut loc = String::new();
    let mut locs = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(element)) => {
                let name = element.local_name().as_ref().to_ascii_lowercase();
                if root.is_none() {
                    root = Some(name);
                } else if name == b"loc" {
                    in_loc = true;
                    loc.clear();
                }
            }
            Ok(Event::Text(text)) if in_loc => {
                let text = text
                    .unescape()
                    .map_err(|err| format!("the sitemap is not valid XML: {err}"))?;
                loc.push_str(&text);
            }
            Ok(Event::CData(text)) if in_loc => {
                loc.push_str(&String::from_utf8_lossy(&text.into_inner()));
            }
            Ok(Event::End(element)) if in_loc && element.local_name().as_ref() == b"loc" => {
                in_loc = false;
                let address = loc.trim();
                if !address.is_empty() && locs.len() < MAX_LOCS {
                    locs.push(address.to_string());
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(err) => return Err(format!("the sitemap is not valid XML: {err}")),
        }
    }
    match root.as_deref() {
        Some(b"urlset") => Ok(Sitemap::Pages(locs)),
        Some(b"sitemapindex") => Ok(Sitemap::Index(locs)),
        _ => Err("not a sitemap: the root element is neither `urlset` nor `sitemapindex`".into()),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn reads_a_urlset_and_an_index() {
        let urlset = br#"<?xml version="1.0" encoding="UTF-8"?>
            <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
              <url><loc> https://help.example.com/a?x=1&amp;y=2 </loc><lastmod>2025-01-01</lastmod></url>
              <url><loc><![CDATA[https://help.example.com/b]]></loc></url>
            </urlset>"#;
        assert_eq!(
            read(urlset).unwrap(),
            Sitemap::Pages(vec![
                "https://help.example.com/a?x=1&y=2".into(),
                "https://help.example.com/b".into()
            ])
        );
        let index = br#"<sm:sitemapindex xmlns:sm="http://www.sitemaps.org/schemas/sitemap/0.9">
              <sm:sitemap><sm:loc>https://help.example.com/s1.xml</sm:loc></sm:sitemap>
            </sm:sitemapindex>"#;
        assert_eq!(
            read(index).unwrap(),
            Sitemap::Index(vec!["https://help.example.com/s1.xml".into()])
        );
    }

    #[test]
    fn inflates_gzip() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"<urlset><url><loc>https://h.example/a</loc></url></urlset>")
            .unwrap();
        assert_eq!(
            read(&gz.finish().unwrap()).unwrap(),
            Sitemap::Pages(vec!["https://h.example/a".into()])
        );
    }

    #[test]
    fn refuses_what_is_not_a_sitemap() {
        assert!(read(b"<html><body>Not found</body></html>").is_err());
        assert!(read(b"<urlset><url><loc>x</url>").is_err());
    }
}
