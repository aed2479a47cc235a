//! Reading an HTTP answer into data or a typed [`Failure`], whatever the server (or a proxy in
//! between) sent: our error body, an HTML error page, an empty or truncated body, the wrong
//! shape. Pure, so every hostile answer is tested natively; the HTTP adapter only moves bytes.

use crate::clock::{DurationMs, Millis};
use crate::failure::Failure;
use casedesk_model::{Case, ErrorBody};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

/// Largest body the app will try to decode. Real answers are far smaller (a page of 200
/// cases is about 150 KB); anything bigger is a misbehaving server, not data.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// An answer as the HTTP adapter received it.
#[derive(Clone, Copy, Debug)]
pub struct RawResponse<'a> {
    pub status: u16,
    pub content_type: Option<&'a str>,
    pub body: &'a str,
    pub request_id: Option<&'a str>,
    pub retry_after: Option<&'a str>,
    /// The answer's `Date` header: the server's own clock, against which a `Retry-After`
    /// date is measured (so a device whose clock is off still waits as long as asked).
    pub date: Option<&'a str>,
    /// When the answer arrived, by the device's clock: used when there is no `Date`.
    pub received_at: Millis,
}

/// A refused request: the failure, and on a 412 the case as the server holds it now.
#[derive(Clone, Debug, PartialEq)]
pub struct Refusal {
    pub failure: Failure,
    pub current: Option<Case>,
}

/// Reads a success answer's body as `T`.
pub fn decode_body<T: DeserializeOwned>(raw: &RawResponse<'_>) -> Result<T, Failure> {
    let request_id = raw.request_id.map(str::to_owned);
    let decode_failure = |message: String| Failure::Decode {
        message,
        request_id: request_id.clone(),
    };
    if raw.body.len() > MAX_BODY_BYTES {
        return Err(decode_failure(format!(
            "the answer is {} MB, more than the {} MB the app accepts",
            raw.body.len() / (1024 * 1024),
            MAX_BODY_BYTES / (1024 * 1024)
        )));
    }
    let trimmed = raw.body.trim_start();
    if trimmed.is_empty() {
        return Err(decode_failure("the server sent an empty answer".to_owned()));
    }
    if looks_like_html(raw.content_type, trimmed) {
        return Err(decode_failure(
            "the server sent a web page instead of data (a proxy or sign-in page may be in the way)"
                .to_owned(),
        ));
    }
    // serde's own words ("invalid type: null, expected struct Case at line 1 column 4")
    // name the app's types and mean nothing to a person; the request id finds the answer
    // in the server's log.
    serde_json::from_str(raw.body).map_err(|e| {
        decode_failure(
            match e.classify() {
                Category::Eof => "the answer was cut off before its end",
                Category::Syntax | Category::Io => "the answer is not valid JSON",
                Category::Data => "the answer does not have the expected shape",
            }
            .to_owned(),
        )
    })
}

/// Reads an error answer (status ≥ 400) into a failure, using our error body when it is one.
pub fn decode_refusal(raw: &RawResponse<'_>) -> Refusal {
    let retry_after = raw
        .retry_after
        .and_then(|value| parse_retry_after_at(value, raw.date, raw.received_at));
    match serde_json::from_str::<ErrorBody>(raw.body) {
        Ok(body) => {
            let mut message = body.error.message;
            if let Some(fields) = &body.error.fields {
                let details: Vec<String> = fields.iter().map(|(_, m)| m.clone()).collect();
                if !details.is_empty() {
                    message = format!("{message} {}", details.join(" "));
                }
            }
            let code = serde_json::to_value(body.error.code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned));
            Refusal {
                failure: Failure::Http {
                    status: raw.status,
                    code,
                    message,
                    request_id: Some(body.error.request_id)
                        .filter(|id| !id.is_empty())
                        .or_else(|| raw.request_id.map(str::to_owned)),
                    retry_after,
                },
                current: body.current,
            }
        }
        Err(_) => match serde_json::from_str::<LooseErrorBody>(raw.body) {
            // Our error shape with a code this app does not know (a newer server's, or a
            // sign-in layer's `session_expired`): its message is still meant for people.
            Ok(LooseErrorBody {
                error:
                    LooseErrorDetail {
                        code,
                        message: Some(message),
                        request_id,
                    },
            }) if !message.trim().is_empty() => Refusal {
                failure: Failure::Http {
                    status: raw.status,
                    code,
                    message,
                    request_id: request_id
                        .filter(|id| !id.is_empty())
                        .or_else(|| raw.request_id.map(str::to_owned)),
                    retry_after,
                },
                current: None,
            },
            _ => Refusal {
                failure: Failure::Http {
                    status: raw.status,
                    code: None,
                    message: describe_foreign_error(raw),
                    request_id: raw.request_id.map(str::to_owned),
                    retry_after,
                },
                current: None,
            },
        },
    }
}

/// An error body read leniently: every field optional, any code.
#[derive(serde::Deserialize)]
struct LooseErrorBody {
    error: LooseErrorDetail,
}

#[derive(serde::Deserialize)]
struct LooseErrorDetail {
    code: Option<String>,
    message: Option<String>,
    request_id: Option<String>,
}

/// The longest wait a `Retry-After` is believed for. A server (or a proxy) asking for more
/// would silence the queue for days; past this the app asks again, still far below any
/// pace that could hurt a server.
pub const MAX_RETRY_AFTER: DurationMs = DurationMs(10 * 60 * 1_000);

/// Reads `Retry-After` as whole seconds (the form our server sends), at most
/// [`MAX_RETRY_AFTER`]; anything else gives `None`, which means "use the normal backoff".
fn parse_retry_after(value: &str) -> Option<DurationMs> {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .map(|secs| DurationMs(secs.saturating_mul(1_000).min(MAX_RETRY_AFTER.0)))
}

/// Reads `Retry-After` in either form HTTP allows: whole seconds, or an HTTP date
/// (`Sun, 06 Nov 1994 08:49:37 GMT`). A date is measured from the answer's `Date` header
/// when it has a readable one (both are the server's clock), else from `received_at`; a
/// date already past means "now". At most [`MAX_RETRY_AFTER`].
pub fn parse_retry_after_at(
    value: &str,
    date: Option<&str>,
    received_at: Millis,
) -> Option<DurationMs> {
    if let Some(seconds) = parse_retry_after(value) {
        return Some(seconds);
    }
    let until = parse_http_date(value)?;
    let from = date.and_then(parse_http_date).unwrap_or(received_at.0);
    Some(DurationMs(
        until.saturating_sub(from).min(MAX_RETRY_AFTER.0),
    ))
}

/// Reads an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, the form HTTP/1.1 senders must
/// use) as milliseconds since the Unix epoch.
pub fn parse_http_date(value: &str) -> Option<u64> {
    let rest = value.trim().split_once(", ")?.1;
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: u64 = parts.next()?.parse().ok()?;
    let mut clock = parts.next()?.split(':');
    let hour: u64 = clock.next()?.parse().ok()?;
    let minute: u64 = clock.next()?.parse().ok()?;
    let second: u64 = clock.next()?.parse().ok()?;
    if parts.next()? != "GMT"
        || parts.next().is_some()
        || clock.next().is_some()
        || !(1970..=9999).contains(&year)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_since_epoch(year, month, day);
    Some((((days * 24 + hour) * 60 + minute) * 60 + second) * 1_000)
}

/// Days from 1970-01-01 to the given civil date (years ≥ 1970), by the well-known
/// era-based conversion (Howard Hinnant's `days_from_civil`).
fn days_since_epoch(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    (era * 146_097 + day_of_era).saturating_sub(719_468)
}

fn looks_like_html(content_type: Option<&str>, trimmed_body: &str) -> bool {
    content_type.is_some_and(|ct| ct.to_ascii_lowercase().contains("text/html"))
        || trimmed_body.starts_with('<')
}

fn describe_foreign_error(raw: &RawResponse<'_>) -> String {
    let reason = reason_phrase(raw.status);
    let trimmed = raw.body.trim_start();
    if trimmed.is_empty() {
        format!("{reason}, with no explanation")
    } else if looks_like_html(raw.content_type, trimmed) {
        format!("{reason} (a web page, probably from a proxy)")
    } else {
        format!("{reason} (an answer not from the casedesk API)")
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad request",
        401 => "Not signed in",
        403 => "Forbidden",
        404 => "Not found",
        408 => "Request timed out",
        409 => "Conflict",
        412 => "Changed by someone else",
        413 => "Too large",
        422 => "Invalid",
        429 => "Too many requests",
        500 => "Server error",
        502 => "Bad gateway",
        503 => "Service unavailable",
        504 => "Gateway timed out",
        s if s >= 500 => "Server error",
        _ => "Request refused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use casedesk_model::CaseList;

    fn raw(
        status: u16,
        content_type: Option<&'static str>,
        body: &'static str,
    ) -> RawResponse<'static> {
        RawResponse {
            status,
            content_type,
            body,
            request_id: Some("req-1"),
            retry_after: None,
            date: None,
            received_at: Millis(0),
        }
    }

    fn decode_message(r: RawResponse<'_>) -> String {
        match decode_body::<CaseList>(&r) {
            Err(Failure::Decode {
                message,
                request_id,
            }) => {
                assert_eq!(request_id.as_deref(), Some("req-1"));
                message
            }
            other => panic!("expected a decode failure, got {other:?}"),
        }
    }

    #[test]
    fn a_good_body_decodes_whatever_its_content_type() {
        let body = r#"{"items":[],"total":0,"page":1,"per_page":50}"#;
        let list: CaseList = decode_body(&RawResponse {
            content_type: Some("text/plain"),
            ..raw(200, None, body)
        })
        .unwrap();
        assert_eq!(list.total, 0);
    }

    #[test]
    fn hostile_bodies_become_plain_decode_failures() {
        assert!(decode_message(raw(200, Some("application/json"), "")).contains("empty"));
        assert!(decode_message(raw(200, Some("application/json"), "  \n")).contains("empty"));
        assert!(
            decode_message(raw(200, Some("text/html"), "<!doctype html><p>Bad gateway"))
                .contains("web page")
        );
        assert!(decode_message(raw(200, None, "<html>")).contains("web page"));
        assert!(decode_message(raw(200, None, r#"{"items":[{"id":"#)).contains("cut off"));
        assert!(decode_message(raw(200, None, "{items: nope}")).contains("not valid JSON"));
        let shape = decode_message(raw(
            200,
            None,
            r#"{"items":"many","total":"x","page":1,"per_page":1}"#,
        ));
        assert!(shape.contains("expected shape"), "{shape}");
    }

    #[test]
    fn an_oversized_body_is_refused_before_parsing() {
        let huge = format!("[{}]", "1,".repeat(MAX_BODY_BYTES / 2) + "1");
        let r = RawResponse {
            status: 200,
            content_type: None,
            body: &huge,
            request_id: None,
            retry_after: None,
            date: None,
            received_at: Millis(0),
        };
        match decode_body::<Vec<u8>>(&r) {
            Err(Failure::Decode { message, .. }) => assert!(message.contains("MB")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn our_error_body_keeps_code_message_fields_and_current() {
        let body = r#"{"error":{"code":"validation_failed","message":"Some fields are invalid.",
            "request_id":"srv-9","fields":{"title":"Title is required."}}}"#;
        let refusal = decode_refusal(&RawResponse {
            retry_after: Some("3"),
            ..raw(422, Some("application/json"), body)
        });
        assert_eq!(refusal.current, None);
        match refusal.failure {
            Failure::Http {
                status,
                code,
                message,
                request_id,
                retry_after,
            } => {
                assert_eq!(status, 422);
                assert_eq!(code.as_deref(), Some("validation_failed"));
                assert!(message.contains("Title is required."));
                assert_eq!(request_id.as_deref(), Some("srv-9"));
                assert_eq!(retry_after, Some(DurationMs(3_000)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_error_body_with_a_code_we_do_not_know_keeps_its_message() {
        let body = r#"{"error":{"code":"session_expired","message":"Your session has expired: sign in again.","request_id":"srv-2"}}"#;
        match decode_refusal(&raw(401, Some("application/json"), body)).failure {
            Failure::Http {
                status: 401,
                code,
                message,
                request_id,
                ..
            } => {
                assert_eq!(code.as_deref(), Some("session_expired"));
                assert_eq!(message, "Your session has expired: sign in again.");
                assert_eq!(request_id.as_deref(), Some("srv-2"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn decode_failures_do_not_quote_the_parser() {
        for body in [
            "null",
            r#"{"items":[],"total":"x","page":1,"per_page":1}"#,
            "{\0<<",
        ] {
            let message = decode_message(raw(200, None, body));
            for jargon in ["struct", "invalid type", "line 1", "control character"] {
                assert!(!message.contains(jargon), "{message}");
            }
        }
    }

    #[test]
    fn a_412_carries_the_servers_case() {
        let body = r#"{"error":{"code":"version_conflict","message":"Changed.","request_id":"r"},
            "current":{"id":"0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e44","title":"T","status":"open",
            "priority":"low","created_at":"2026-11-20T09:12:03Z","updated_at":"2026-11-20T09:12:03Z","version":4}}"#;
        let refusal = decode_refusal(&raw(412, Some("application/json"), body));
        assert_eq!(refusal.current.map(|c| c.version), Some(4));
        assert_eq!(refusal.failure.class(), crate::FailureClass::Conflict);
    }

    #[test]
    fn foreign_error_pages_are_described_not_shown() {
        let refusal = decode_refusal(&raw(
            502,
            Some("text/html"),
            "<html><body>nginx</body></html>",
        ));
        match refusal.failure {
            Failure::Http {
                message,
                request_id,
                ..
            } => {
                assert_eq!(message, "Bad gateway (a web page, probably from a proxy)");
                assert_eq!(request_id.as_deref(), Some("req-1"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(refusal_class(503, ""), crate::FailureClass::Transient);
    }

    fn refusal_class(status: u16, body: &'static str) -> crate::FailureClass {
        decode_refusal(&raw(status, None, body)).failure.class()
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        assert_eq!(parse_retry_after(" 12 "), Some(DurationMs(12_000)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn http_dates_are_read_exactly() {
        assert_eq!(parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777_000)
        );
        // A leap day, and the end of a leap year.
        assert_eq!(
            parse_http_date("Mon, 29 Feb 2016 12:00:00 GMT"),
            Some(1_456_747_200_000)
        );
        assert_eq!(
            parse_http_date("Thu, 31 Dec 2026 23:59:59 GMT"),
            Some(1_798_761_599_000)
        );
        for bad in [
            "",
            "06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 PST",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 32 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_retry_after_date_is_measured_on_the_servers_clock() {
        let date = "Sun, 06 Nov 1994 08:49:37 GMT";
        let later = "Sun, 06 Nov 1994 08:50:07 GMT";
        // The device's clock is a day off; the server's own Date header decides.
        let device = Millis(784_111_777_000 + 86_400_000);
        assert_eq!(
            parse_retry_after_at(later, Some(date), device),
            Some(DurationMs(30_000))
        );
        // Without a Date header, the device's clock.
        assert_eq!(
            parse_retry_after_at(later, None, Millis(784_111_777_000)),
            Some(DurationMs(30_000))
        );
        // Already past: now. Seconds still work, and a date far ahead is capped.
        assert_eq!(
            parse_retry_after_at(date, Some(later), device),
            Some(DurationMs::ZERO)
        );
        assert_eq!(
            parse_retry_after_at("7", Some(date), device),
            Some(DurationMs(7_000))
        );
        assert_eq!(
            parse_retry_after_at("Fri, 31 Dec 9999 23:59:59 GMT", Some(date), device),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after_at("soon", Some(date), device), None);
    }

    #[test]
    fn a_refusal_reads_a_retry_after_date() {
        let refusal = decode_refusal(&RawResponse {
            retry_after: Some("Sun, 06 Nov 1994 08:49:47 GMT"),
            date: Some("Sun, 06 Nov 1994 08:49:37 GMT"),
            ..raw(503, None, "")
        });
        assert_eq!(refusal.failure.retry_after(), Some(DurationMs(10_000)));
    }

    #[test]
    fn a_huge_retry_after_is_believed_only_up_to_the_cap() {
        assert_eq!(parse_retry_after("99999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("18446744073709551615"),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(parse_retry_after("600"), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("599"), Some(DurationMs(599_000)));
    }
}
