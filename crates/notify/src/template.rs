//! A tiny template language for the texts an administrator can change (email subject and bodies,
//! the SMS text, the SMS gateway's URL, headers and body): literal text with `{{ name }}` or
//! `{{ name | filter }}` placeholders. Filters: `html` (escape for HTML), `json` (escape inside a JSON
//! string), `url` (percent-encode). Templates are parsed once, when Parley starts, so an unknown name
//! or filter is reported then rather than when a message arrives.

use std::collections::BTreeMap;

/// A template that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{{` without `}}`.
    #[error("a {{{{ at byte {0} is never closed with }}}}")]
    Unclosed(usize),
    /// A name that is not one of the variables.
    #[error("unknown variable {name:?} (known: {known})")]
    UnknownVariable {
        /// The name used.
        name: String,
        /// The names that exist.
        known: String,
    },
    /// A filter that does not exist.
    #[error("unknown filter {0:?} (html, json or url)")]
    UnknownFilter(String),
}

/// How a value is escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// As is.
    Raw,
    /// `&<>"'` as HTML entities.
    Html,
    /// The inside of a JSON string (quotes, backslashes and control characters escaped).
    Json,
    /// Percent-encoded (everything but unreserved characters).
    Url,
}

impl Filter {
    fn apply(self, v: &str, out: &mut String) {
        match self {
            Filter::Raw => out.push_str(v),
            Filter::Html => {
                for c in v.chars() {
                    match c {
                        '&' => out.push_str("&amp;"),
                        '<' => out.push_str("&lt;"),
                        '>' => out.push_str("&gt;"),
                        '"' => out.push_str("&quot;"),
                        '\'' => out.push_str("&#39;"),
                        c => out.push(c),
                    }
                }
            }
            Filter::Json => {
                let quoted = serde_json::Value::String(v.to_string()).to_string();
                out.push_str(&quoted[1..quoted.len() - 1]);
            }
            Filter::Url => {
                const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
                    .remove(b'-')
                    .remove(b'.')
                    .remove(b'_')
                    .remove(b'~');
                out.extend(percent_encoding::utf8_percent_encode(v, SET));
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(String, Option<Filter>),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

/// Values by variable name.
pub type Vars = BTreeMap<&'static str, String>;

impl Template {
    /// Parse `src`, accepting only the variable names in `known`.
    pub fn parse(src: &str, known: &[&str]) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = src;
        let mut offset = 0;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or(TemplateError::Unclosed(offset + start))?;
            let inner = &after[..end];
            let (name, filter) = match inner.split_once('|') {
                Some((n, f)) => (n.trim(), Some(f.trim())),
                None => (inner.trim(), None),
            };
            if !known.contains(&name) {
                return Err(TemplateError::UnknownVariable {
                    name: name.to_string(),
                    known: known.join(", "),
                });
            }
            let filter = match filter {
                None => None,
                Some("html") => Some(Filter::Html),
                Some("json") => Some(Filter::Json),
                Some("url") => Some(Filter::Url),
                Some("raw") => Some(Filter::Raw),
                Some(other) => return Err(TemplateError::UnknownFilter(other.to_string())),
            };
            parts.push(Part::Var(name.to_string(), filter));
            let consumed = start + 2 + end + 2;
            offset += consumed;
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// Fill in `vars`; a placeholder without a filter is escaped with `default` (HTML bodies escape
    /// by default, plain texts do not). A variable without a value renders empty.
    pub fn render(&self, vars: &Vars, default: Filter) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Var(name, f) => {
                    let v = vars.get(name.as_str()).map(String::as_str).unwrap_or("");
                    f.unwrap_or(default).apply(v, &mut out);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        let mut v = Vars::new();
        v.insert("caller", "Tom & \"Jerry\" <100>".into());
        v.insert("to", "+1 555/0100".into());
        v
    }

    #[test]
    fn placeholders_are_filled_and_escaped_by_filter_or_default() {
        let t = Template::parse("From {{caller}}; {{ caller | json }}", &["caller"]).unwrap();
        assert_eq!(
            t.render(&vars(), Filter::Raw),
            "From Tom & \"Jerry\" <100>; Tom & \\\"Jerry\\\" <100>"
        );
        assert_eq!(
            t.render(&vars(), Filter::Html),
            "From Tom &amp; &quot;Jerry&quot; &lt;100&gt;; Tom & \\\"Jerry\\\" <100>"
        );
        let u = Template::parse("https://gw/send?to={{to|url}}", &["to"]).unwrap();
        assert_eq!(
            u.render(&vars(), Filter::Raw),
            "https://gw/send?to=%2B1%20555%2F0100"
        );
        let plain = Template::parse("no placeholders {", &[]).unwrap();
        assert_eq!(plain.render(&vars(), Filter::Raw), "no placeholders {");
    }

    #[test]
    fn mistakes_are_reported_when_parsing() {
        assert_eq!(
            Template::parse("a {{caller", &["caller"]),
            Err(TemplateError::Unclosed(2))
        );
        let e = Template::parse("{{calller}}", &["caller", "to"]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown variable \"calller\" (known: caller, to)"
        );
        assert_eq!(
            Template::parse("{{caller|upper}}", &["caller"]),
            Err(TemplateError::UnknownFilter("upper".into()))
        );
    }
}
