//! Where the app goes after a sign-in: the `?next=` the sign-in page was given, when it is a
//! path of this app, else the dashboard. A link is anyone's to make, so `next` is refused
//! unless no browser could read it as another site: the browser's URL parser drops tabs and
//! newlines, reads `\` as `/`, and takes `//host` for another host, so a `next` holding any of
//! them (raw or percent-encoded) is refused as a whole, never repaired.

/// The longest `next` followed: a path of this app is far shorter, and a long one is a sign
/// of something else.
const MAX_LEN: usize = 2_048;

/// A path of this app (with its query and fragment), safe to navigate to after signing in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnPath(String);

impl ReturnPath {
    /// The dashboard: where a sign-in without a usable `next` goes.
    pub fn dashboard() -> Self {
        Self("/".to_owned())
    }

    /// `next` when it is a path of this app, else the dashboard. The sign-in page itself is
    /// never a destination (it would only show itself again).
    pub fn after_sign_in(next: Option<&str>) -> Self {
        next.and_then(Self::parse).unwrap_or_else(Self::dashboard)
    }

    /// `next` as a path of this app, or `None` when any browser might leave the app for it.
    pub fn parse(next: &str) -> Option<Self> {
        if next.len() > MAX_LEN || !is_local_as_given(next) {
            return None;
        }
        // What it becomes once its percent-encoding is undone, layer by layer (a `%2F` may
        // come as `%252F`), must still be local: `/%2F/evil.example` or `/%09/evil.example`
        // is refused, although a browser would not decode it today, because the next hop (a
        // proxy, a router) might. Each layer is shorter than the one before, so this ends.
        let mut layer = next.to_owned();
        loop {
            let decoded = percent_decoded(&layer)?;
            if decoded == layer {
                break;
            }
            if !is_local(&decoded) {
                return None;
            }
            layer = decoded;
        }
        let path_end = next.find(['?', '#']).unwrap_or(next.len());
        let path = &next[..path_end];
        if path == "/sign-in" || path.starts_with("/sign-in/") {
            return None;
        }
        Some(Self(next.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Starts with one `/` and holds nothing a URL parser drops or reads as a separator: no
/// control characters (tab, newline, NUL, DEL) and no backslash in the path. (Once decoded,
/// a query may hold spaces: a search for "printer jam".)
fn is_local(text: &str) -> bool {
    let mut chars = text.chars();
    if chars.next() != Some('/') || matches!(chars.next(), Some('/' | '\\')) {
        return false;
    }
    let path_end = text.find(['?', '#']).unwrap_or(text.len());
    !text.chars().any(char::is_control) && !text[..path_end].contains('\\')
}

/// As it came in the address: also no whitespace and no backslash anywhere (an address the
/// app made has them percent-encoded).
fn is_local_as_given(text: &str) -> bool {
    is_local(text) && !text.chars().any(|c| c.is_whitespace() || c == '\\')
}

/// `text` with each `%XX` replaced by its byte; `None` when the bytes are not UTF-8 (no path
/// of this app is). A `%` not followed by two hex digits stays as it is.
fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let escaped = (byte == b'%')
            .then(|| Some((hex(*bytes.get(i + 1)?)?, hex(*bytes.get(i + 2)?)?)))
            .flatten();
        match escaped {
            Some((high, low)) => {
                out.push(high << 4 | low);
                i += 3;
            }
            None => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn paths_of_this_app_are_followed_with_their_query_and_fragment() {
        for next in [
            "/",
            "/cases",
            "/cases/0190a1b2-0000-7000-8000-000000000001",
            "/cases?status=open&q=printer%20jam",
            "/cases?q=50%25%20off",
            "/sync#held",
            "/settings",
        ] {
            assert_eq!(
                ReturnPath::after_sign_in(Some(next)).as_str(),
                next,
                "{next:?}"
            );
        }
    }

    #[test]
    fn anything_that_could_leave_the_app_goes_to_the_dashboard() {
        let refused = [
            // As the browser decodes `?next=%2F%09%2Fevil.example`: the tab is dropped by
            // the URL parser, leaving `//evil.example`.
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r\n/evil.example",
            "/\0/evil.example",
            "/\u{7f}/evil.example",
            " /evil.example",
            "/ /evil.example",
            // Protocol-relative, and the backslash spellings browsers read as slashes.
            "//evil.example",
            "//evil.example/cases",
            "/\\evil.example",
            "\\\\evil.example",
            "\\/evil.example",
            "/cases\\..\\..\\evil",
            // Encoded once more (what `?next=%252F%252F…` decodes to), or the separators
            // encoded inside a path.
            "%2F%2Fevil.example",
            "/%2F/evil.example",
            "/%2f/evil.example",
            "/%5Cevil.example",
            "/%09/evil.example",
            "/%0a/evil.example",
            "/%0D%0A/evil.example",
            "/%00",
            "/%252F/evil.example",
            "/%25252F/evil.example",
            // Other schemes and absolute URLs.
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "https://evil.example/",
            "http://evil.example",
            "https:evil.example",
            "evil.example",
            "",
            // The sign-in page itself would only show itself again.
            "/sign-in",
            "/sign-in?next=%2Fcases",
            // Not UTF-8 once decoded.
            "/%ff",
        ];
        for next in refused {
            assert_eq!(
                ReturnPath::after_sign_in(Some(next)),
                ReturnPath::dashboard(),
                "{next:?} must not be followed"
            );
        }
        assert_eq!(ReturnPath::after_sign_in(None), ReturnPath::dashboard());
        assert_eq!(
            ReturnPath::after_sign_in(Some(&format!("/{}", "a".repeat(MAX_LEN)))),
            ReturnPath::dashboard()
        );
    }

    proptest! {
        /// Whatever `next` holds, what is followed starts with one `/`, and neither it nor
        /// any decoding of it holds a character a URL parser drops or reads as a slash.
        #[test]
        fn what_is_followed_never_names_another_host(next in "[/\\\\%0-9a-fA-F\t\n .:a-z?#]{0,24}") {
            let path = ReturnPath::after_sign_in(Some(&next));
            let mut layer = path.as_str().to_owned();
            loop {
                prop_assert!(is_local(&layer), "{:?} from {:?}", layer, next);
                match percent_decoded(&layer) {
                    Some(decoded) if decoded != layer => layer = decoded,
                    _ => break,
                }
            }
        }
    }
}
