//! HTML-only mail made readable for operators. mail-parser's own converter keeps only
//! `<br>` and `</p>` as line breaks, which runs `<div>`-based mail (Outlook, Gmail)
//! together; this one keeps paragraphs, list items and table rows apart.

use mail_parser::decoders::html::add_html_token;

/// Plain text of an HTML document: tags stripped, entities decoded, paragraphs kept.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    // Content of these elements is never shown to a reader.
    let mut hidden: Option<&'static str> = None;
    let mut pre = 0usize;

    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |end| &after[end + 3..]);
            continue;
        }
        if rest.starts_with('<') {
            let end = tag_end(rest);
            let tag = match rest[..end].strip_suffix('>') {
                Some(t) => &t[1..],
                None => &rest[1..end],
            };
            rest = &rest[end..];
            let (closing, name) = tag_name(tag);
            if let Some(h) = hidden {
                if closing && name == h {
                    hidden = None;
                }
                continue;
            }
            match name.as_str() {
                "head" | "style" | "script" | "title" | "template" if !closing => {
                    hidden = Some(match name.as_str() {
                        "head" => "head",
                        "style" => "style",
                        "script" => "script",
                        "title" => "title",
                        _ => "template",
                    });
                }
                "br" => out.push('\n'),
                "p" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "blockquote" | "table" | "ul"
                | "ol" | "pre" | "hr" => {
                    if name == "pre" {
                        pre = if closing {
                            pre.saturating_sub(1)
                        } else {
                            pre + 1
                        };
                    }
                    out.push_str("\n\n");
                }
                "div" | "tr" | "section" | "article" | "header" | "footer" | "address" | "dd"
                | "dt" => out.push('\n'),
                "li" if !closing => out.push_str("\n- "),
                "td" | "th" if !closing => out.push(' '),
                _ => {}
            }
            continue;
        }
        let next = rest.find('<').unwrap_or(rest.len());
        let text = &rest[..next];
        rest = &rest[next..];
        if hidden.is_none() {
            push_text(&mut out, text, pre > 0);
        }
    }
    tidy(&out)
}

/// Index just past the `>` that closes the tag at the start of `s`, skipping quoted
/// attribute values (`title="a > b"`).
fn tag_end(s: &str) -> usize {
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices().skip(1) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '>') => return i + 1,
            _ => {}
        }
    }
    s.len()
}

fn tag_name(tag: &str) -> (bool, String) {
    let tag = tag.trim_start();
    let (closing, tag) = match tag.strip_prefix('/') {
        Some(t) => (true, t),
        None => (false, tag),
    };
    let name = tag
        .split(|c: char| c.is_whitespace() || c == '/' || c == '>')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    (closing, name)
}

fn push_text(out: &mut String, text: &str, keep_spaces: bool) {
    let mut decoded = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        decoded.push_str(&rest[..amp]);
        let tail = &rest[amp..];
        // Entities are short; a lone `&` in text stays as it is.
        match tail
            .find(';')
            .filter(|&semi| semi <= 32 && !tail[1..semi].contains(char::is_whitespace))
        {
            Some(semi) => {
                add_html_token(&mut decoded, &tail.as_bytes()[..=semi], false);
                rest = &tail[semi + 1..];
            }
            None => {
                decoded.push('&');
                rest = &tail[1..];
            }
        }
    }
    decoded.push_str(rest);

    if keep_spaces {
        out.push_str(&decoded.replace('\u{00A0}', " "));
        return;
    }
    for c in decoded.chars() {
        let c = if c == '\u{00A0}' { ' ' } else { c };
        if c.is_whitespace() {
            if !out.ends_with([' ', '\n']) && !out.is_empty() {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
}

/// Trim each line, and collapse runs of blank lines to one.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::html_to_text;

    #[test]
    fn paragraphs_breaks_and_entities() {
        let html = "<html><head><title>t</title><style>p{}</style></head><body>\
                    <p>Добрый&nbsp;день,</p><div>строка&nbsp;1<br>строка 2</div>\
                    <!-- comment --><ul><li>a &amp; b</li><li>&laquo;c&raquo; &#1179;</li></ul>\
                    <script>alert(1)</script><p title=\"x > y\">конец</p></body></html>";
        assert_eq!(
            html_to_text(html),
            "Добрый день,\n\nстрока 1\nстрока 2\n\n- a & b\n- «c» қ\n\nконец"
        );
    }

    #[test]
    fn lone_ampersand_and_unclosed_tag_survive() {
        assert_eq!(html_to_text("A & B <b"), "A & B");
        assert_eq!(html_to_text("Tom &amp Jerry"), "Tom &amp Jerry");
    }
}
