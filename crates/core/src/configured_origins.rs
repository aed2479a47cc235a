//! Which of the API origins `config.json` lists the app may use (docs/api.md §5). Every
//! request carries the person's token to the origin in use, so an origin is used only when
//! the token cannot be read on its way there: `https`, or `http` to this machine (loopback)
//! or to the page's own origin (which served the app over that same connection). Anything
//! else is left out with the reason, for the app to report; it is never used.

/// Why a listed origin is not used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OriginRefusal {
    /// Not `scheme://host[:port]`: a path, a query, credentials, an empty or garbled entry.
    NotAnOrigin,
    /// A scheme other than `https` or `http`.
    Scheme(String),
    /// Plain `http` to another machine: the token would cross the network readable.
    Unencrypted,
}

/// A listed origin left out, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefusedOrigin {
    pub listed: String,
    pub reason: OriginRefusal,
}

/// `config.json`'s list, sorted into what is used and what is not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VettedOrigins {
    /// The origins to use, in the listed order, as `scheme://host[:port]` without a
    /// trailing slash.
    pub usable: Vec<String>,
    pub refused: Vec<RefusedOrigin>,
}

/// Sorts `listed` for a page served from `page_origin` (`location.origin`).
pub fn vet_api_origins(listed: &[String], page_origin: &str) -> VettedOrigins {
    let page = Origin::parse(page_origin).ok();
    let mut vetted = VettedOrigins::default();
    for entry in listed {
        match Origin::parse(entry).and_then(|origin| origin.allowed_from(page.as_ref())) {
            Ok(origin) => {
                let text = origin.to_string();
                if !vetted.usable.contains(&text) {
                    vetted.usable.push(text);
                }
            }
            Err(reason) => vetted.refused.push(RefusedOrigin {
                listed: entry.clone(),
                reason,
            }),
        }
    }
    vetted
}

/// `scheme://host[:port]`, lower-cased, the scheme's default port left out.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl Origin {
    fn parse(text: &str) -> Result<Self, OriginRefusal> {
        let text = text.strip_suffix('/').unwrap_or(text);
        let (scheme, rest) = text.split_once("://").ok_or(OriginRefusal::NotAnOrigin)?;
        let scheme = scheme.to_ascii_lowercase();
        let valid_scheme = scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !valid_scheme {
            return Err(OriginRefusal::NotAnOrigin);
        }
        if scheme != "https" && scheme != "http" {
            return Err(OriginRefusal::Scheme(scheme));
        }
        // Nothing but the host and port: a path, query, fragment, credentials or a character
        // a URL parser would drop or read as a separator is not an origin.
        let clean = !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
        if !clean {
            return Err(OriginRefusal::NotAnOrigin);
        }
        let (host, port) = split_host_port(rest).ok_or(OriginRefusal::NotAnOrigin)?;
        let default_port = if scheme == "https" { 443 } else { 80 };
        Ok(Self {
            scheme,
            host: host.to_ascii_lowercase(),
            port: port.filter(|p| *p != default_port),
        })
    }

    fn allowed_from(self, page: Option<&Self>) -> Result<Self, OriginRefusal> {
        if self.scheme == "https" || self.is_loopback() || page == Some(&self) {
            Ok(self)
        } else {
            Err(OriginRefusal::Unencrypted)
        }
    }

    /// This machine: `localhost` (and names under it, which browsers resolve to loopback),
    /// 127.0.0.0/8, `[::1]`.
    fn is_loopback(&self) -> bool {
        let host = self.host.as_str();
        if host == "localhost" || host.ends_with(".localhost") || host == "[::1]" {
            return true;
        }
        let octets: Vec<&str> = host.split('.').collect();
        octets.len() == 4
            && octets.first() == Some(&"127")
            && octets.iter().all(|o| o.parse::<u8>().is_ok())
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}", self.scheme, self.host)?;
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

/// `host[:port]` or `[v6][:port]`; `None` when the host is empty or the port not a number.
fn split_host_port(text: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if text.starts_with('[') {
        let end = text.find(']')?;
        let (host, after) = text.split_at(end + 1);
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let bracket_inside = host.len() > 2 && host[1..host.len() - 1].contains(['[', ']']);
    let stray_bracket = !host.starts_with('[') && host.contains(['[', ']']);
    if host.is_empty() || host == "[]" || bracket_inside || stray_bracket {
        return None;
    }
    let port = match port {
        Some(digits) if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) => {
            Some(digits.parse::<u16>().ok()?)
        }
        Some(_) => return None,
        None => None,
    };
    Some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "http://casedesk.internal:8080";

    fn vet(listed: &[&str]) -> VettedOrigins {
        let listed: Vec<String> = listed.iter().map(|s| (*s).to_owned()).collect();
        vet_api_origins(&listed, PAGE)
    }

    #[test]
    fn https_loopback_and_the_pages_own_origin_are_used_in_order() {
        let vetted = vet(&[
            "https://a.example",
            "https://B.Example:8443/",
            "https://a.example:443",
            "http://127.0.0.1:3001",
            "http://127.8.9.10",
            "http://localhost:3000",
            "http://api.localhost",
            "http://[::1]:3000",
            "http://casedesk.internal:8080/",
        ]);
        assert_eq!(
            vetted.usable,
            vec![
                "https://a.example",
                "https://b.example:8443",
                "http://127.0.0.1:3001",
                "http://127.8.9.10",
                "http://localhost:3000",
                "http://api.localhost",
                "http://[::1]:3000",
                "http://casedesk.internal:8080",
            ],
            "a repeated origin (the default port spelt out) is used once"
        );
        assert!(vetted.refused.is_empty(), "{:?}", vetted.refused);
    }

    #[test]
    fn unencrypted_other_hosts_other_schemes_and_non_origins_are_refused_with_the_reason() {
        let cases: &[(&str, OriginRefusal)] = &[
            ("http://api.example", OriginRefusal::Unencrypted),
            ("http://casedesk.internal", OriginRefusal::Unencrypted),
            ("http://casedesk.internal:8081", OriginRefusal::Unencrypted),
            ("http://10.0.0.7:3000", OriginRefusal::Unencrypted),
            ("http://127.0.0.1.evil.example", OriginRefusal::Unencrypted),
            ("http://localhost.evil.example", OriginRefusal::Unencrypted),
            ("http://128.0.0.1", OriginRefusal::Unencrypted),
            ("ws://127.0.0.1:3000", OriginRefusal::Scheme("ws".into())),
            (
                "javascript://alert(1)",
                OriginRefusal::Scheme("javascript".into()),
            ),
            ("file:///etc", OriginRefusal::Scheme("file".into())),
            ("https://a.example/api", OriginRefusal::NotAnOrigin),
            ("https://a.example?x=1", OriginRefusal::NotAnOrigin),
            ("https://a.example#x", OriginRefusal::NotAnOrigin),
            ("https://user:pw@a.example", OriginRefusal::NotAnOrigin),
            ("https://a.example\t", OriginRefusal::NotAnOrigin),
            ("https://a.example\\", OriginRefusal::NotAnOrigin),
            ("https://a.example:99999", OriginRefusal::NotAnOrigin),
            ("https://a.example:", OriginRefusal::NotAnOrigin),
            ("https://a.example:x", OriginRefusal::NotAnOrigin),
            ("https://", OriginRefusal::NotAnOrigin),
            ("https://[::1", OriginRefusal::NotAnOrigin),
            ("https://a]b", OriginRefusal::NotAnOrigin),
            ("//a.example", OriginRefusal::NotAnOrigin),
            ("a.example", OriginRefusal::NotAnOrigin),
            ("", OriginRefusal::NotAnOrigin),
            ("https:/a.example", OriginRefusal::NotAnOrigin),
        ];
        for (listed, reason) in cases {
            let vetted = vet(&[listed]);
            assert!(vetted.usable.is_empty(), "{listed:?} must not be used");
            assert_eq!(
                vetted.refused,
                vec![RefusedOrigin {
                    listed: (*listed).to_owned(),
                    reason: reason.clone()
                }],
                "{listed:?}"
            );
        }
    }

    #[test]
    fn a_refused_origin_leaves_the_others_in_use() {
        let vetted = vet(&["http://evil.example", "https://b.example"]);
        assert_eq!(vetted.usable, vec!["https://b.example"]);
        assert_eq!(vetted.refused.len(), 1);
    }

    #[test]
    fn an_https_page_never_vouches_for_plain_http_to_its_own_host() {
        let listed = vec!["http://casedesk.example".to_owned()];
        let vetted = vet_api_origins(&listed, "https://casedesk.example");
        assert!(vetted.usable.is_empty());
    }
}
