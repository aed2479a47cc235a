//! Reading request bodies ourselves, so every bad body gets the contract's error: over
//! 64 KiB → 413, not JSON → 415, malformed JSON → 400, a field of the wrong type or an
//! unknown enum value → 422 naming the field, never axum's plain-text rejections.

use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};
use casedesk_model::FieldErrors;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

pub(crate) use crate::error::MAX_BODY_BYTES;

/// Reads the whole body, refusing more than [`MAX_BODY_BYTES`].
pub(crate) async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    read_body_up_to(body, MAX_BODY_BYTES).await
}

/// Reads the whole body, refusing more than `limit` bytes (at most [`MAX_BODY_BYTES`]
/// arrive: the API's body limit is outside).
pub(crate) async fn read_body_up_to(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        if is_length_limit(&error) {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::BadRequest(format!("Could not read the request body: {error}."))
        }
    })
}

fn is_length_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// The SHA-256 of a body, which an idempotency key is bound to.
pub(crate) fn body_hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Decodes a JSON object body of type `T`, checking the content type first.
pub(crate) fn decode_json<T: DeserializeOwned>(
    headers: &HeaderMap,
    bytes: &[u8],
) -> Result<T, ApiError> {
    check_content_type(headers)?;
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|error| {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            ApiError::BadRequest("The request body is empty; a JSON object is required.".into())
        } else {
            ApiError::BadRequest(format!("The request body is not valid JSON: {error}."))
        }
    })?;
    if !value.is_object() {
        return Err(ApiError::BadRequest(
            "The request body must be a JSON object.".into(),
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner().to_string();
        let (field, message) = if path == "." || path.is_empty() {
            // A missing field is reported at the root; serde names it in the message.
            (
                missing_field_name(&inner).unwrap_or_else(|| "body".to_owned()),
                inner,
            )
        } else {
            // `tags[1]` or `a.b` → the top-level field the form shows.
            let top = path.split(['[', '.']).next().unwrap_or(&path).to_owned();
            let message = format!("{inner} (at `{path}`)");
            (top, message)
        };
        let mut fields = FieldErrors::new();
        fields.insert(&field, sentence(&message));
        ApiError::Validation {
            message: format!("The field `{field}` is invalid: {message}."),
            fields,
        }
    })
}

/// Requires `Content-Type: application/json` (parameters allowed) or a `+json` type.
fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::UnsupportedMediaType(
            "The request needs `Content-Type: application/json`.".into(),
        ));
    };
    let essence = value
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
    {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType(format!(
            "The body must be `application/json`, not `{essence}`."
        )))
    }
}

/// `missing field `title`` → `title`.
fn missing_field_name(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_owned())
}

fn sentence(message: &str) -> String {
    let mut text = message.to_owned();
    if let Some(first) = text.get(..1) {
        let upper = first.to_ascii_uppercase();
        text.replace_range(..1, &upper);
    }
    if !text.ends_with('.') {
        text.push('.');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use casedesk_model::NewCase;

    fn json_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        headers
    }

    fn code(result: Result<NewCase, ApiError>) -> u16 {
        result.unwrap_err().code().http_status()
    }

    #[test]
    fn each_kind_of_bad_body_has_its_status() {
        let h = json_headers();
        assert_eq!(code(decode_json(&h, b"{\"id\":")), 400);
        assert_eq!(code(decode_json(&h, b"")), 400);
        assert_eq!(code(decode_json(&h, b"[1,2]")), 400);
        assert_eq!(code(decode_json(&HeaderMap::new(), b"{}")), 415);
        let mut text = HeaderMap::new();
        text.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert_eq!(code(decode_json(&text, b"{}")), 415);
    }

    #[test]
    fn wrong_types_and_unknown_enums_name_the_field() {
        let h = json_headers();
        let id = "0191c7a2-5b7e-7c3a-9f10-2f6d3c1b9e44";
        let err = decode_json::<NewCase>(
            &h,
            format!(r#"{{"id":"{id}","title":"x","status":"pending"}}"#).as_bytes(),
        )
        .unwrap_err();
        let ApiError::Validation { fields, .. } = err else {
            panic!("not a validation error: {err:?}");
        };
        assert!(fields.get("status").unwrap().contains("nknown variant"));

        let err = decode_json::<NewCase>(&h, br#"{"title":"x"}"#).unwrap_err();
        let ApiError::Validation { fields, .. } = err else {
            panic!("not a validation error: {err:?}");
        };
        assert!(fields.get("id").is_some());

        let err = decode_json::<NewCase>(
            &h,
            format!(r#"{{"id":"{id}","title":"x","tags":["a",3]}}"#).as_bytes(),
        )
        .unwrap_err();
        let ApiError::Validation { fields, .. } = err else {
            panic!("not a validation error: {err:?}");
        };
        assert!(
            fields.get("tags").unwrap().contains("tags[1]"),
            "{fields:?}"
        );
    }

    #[test]
    fn plus_json_types_are_json() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/merge-patch+json"),
        );
        assert!(check_content_type(&h).is_ok());
    }
}
