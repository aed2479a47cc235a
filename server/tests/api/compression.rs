//! Compressed answers (docs/api.md §7): over 1 KiB, `br` or `gzip` by `Accept-Encoding`;
//! small answers, 304s and the events socket as they were. The bytes are read as they come
//! off the wire (the test client decodes nothing by itself).

use crate::support::{new_case, Server};
use casedesk_model::ChangeEvent;
use futures_util::StreamExt;
use reqwest::header::HeaderMap;
use std::io::Read;
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const TOKEN: &str = "compression-test-service-token-0123456789";

/// `GET path` with `Accept-Encoding: encoding` (none if empty): the headers and the raw body.
async fn raw_get(server: &Server, path: &str, encoding: &str) -> (u16, HeaderMap, Vec<u8>) {
    let mut request = server.get(path).bearer_auth(TOKEN);
    if !encoding.is_empty() {
        request = request.header("Accept-Encoding", encoding);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

fn content_encoding(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .expect("valid brotli");
    out
}

fn ungzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

#[tokio::test]
async fn a_page_of_fifty_cases_is_four_times_smaller_in_brotli_and_decodes_to_the_same_json() {
    let server = Server::start_demo(60, &["--auth-token", TOKEN]);
    let page = "/api/v1/cases?per_page=50";
    let (status, headers, plain) = raw_get(&server, page, "").await;
    assert_eq!(status, 200);
    assert_eq!(
        content_encoding(&headers),
        None,
        "nothing asked, nothing compressed"
    );
    let list: serde_json::Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(50));

    let (status, headers, br) = raw_get(&server, page, "gzip, deflate, br").await;
    assert_eq!(status, 200);
    assert_eq!(content_encoding(&headers), Some("br"));
    assert!(headers["vary"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase()
        .contains("accept-encoding"));
    assert!(headers.get("etag").is_some(), "the tag stays");
    assert_eq!(unbrotli(&br), plain, "the same JSON, byte for byte");

    let (_, headers, gzip) = raw_get(&server, page, "gzip").await;
    assert_eq!(content_encoding(&headers), Some("gzip"));
    assert_eq!(ungzip(&gzip), plain);

    eprintln!(
        "a list page of 50 cases on the wire: {} B plain, {} B gzip ({:.1}x), {} B br ({:.1}x)",
        plain.len(),
        gzip.len(),
        plain.len() as f64 / gzip.len() as f64,
        br.len(),
        plain.len() as f64 / br.len() as f64,
    );
    assert!(
        plain.len() >= 4 * br.len(),
        "{} B plain is not 4x {} B br",
        plain.len(),
        br.len()
    );
}

#[tokio::test]
async fn small_answers_and_not_modified_are_not_compressed() {
    let server = Server::start(&["--auth-token", TOKEN]);
    let case = server
        .post_json("/api/v1/cases", &new_case("Small"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(case.status().as_u16(), 201);
    let case: serde_json::Value = case.json().await.unwrap();
    let path = format!("/api/v1/cases/{}", case["id"].as_str().unwrap());
    let (status, headers, body) = raw_get(&server, &path, "br, gzip").await;
    assert_eq!(status, 200);
    assert!(body.len() < 1024, "a case of {} B", body.len());
    assert_eq!(content_encoding(&headers), None);
    let fetched: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(fetched["title"], "Small");

    // A list big enough to compress, asked again with its tag: 304, no body, no encoding.
    for n in 0..12 {
        let response = server
            .post_json("/api/v1/cases", &new_case(&format!("Filler {n}")))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
    }
    let (_, headers, _) = raw_get(&server, "/api/v1/cases", "br").await;
    assert_eq!(content_encoding(&headers), Some("br"));
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let response = server
        .get("/api/v1/cases")
        .bearer_auth(TOKEN)
        .header("Accept-Encoding", "br")
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 304);
    assert!(response.headers().get("content-encoding").is_none());
    assert!(response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_events_socket_opens_for_a_client_that_accepts_compression() {
    let server = Server::start(&[]);
    let mut request = server
        .ws_url("/api/v1/events")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("Accept-Encoding", "gzip, deflate, br".parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the socket opens");
    assert_eq!(response.status().as_u16(), 101);
    assert!(response.headers().get("content-encoding").is_none());
    let created = server.create(new_case("Heard uncompressed")).await;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("an event in time")
            .expect("the socket is open")
            .expect("a message");
        let Message::Text(text) = message else {
            continue;
        };
        match serde_json::from_str::<ChangeEvent>(&text).expect("plain JSON text") {
            ChangeEvent::Ping => continue,
            ChangeEvent::CaseCreated { id, .. } => {
                assert_eq!(id.to_string(), created["id"].as_str().unwrap());
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}
