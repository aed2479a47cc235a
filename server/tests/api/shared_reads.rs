//! Counts, searches and the dashboard are shared between reads of unchanged data
//! (`db::read_cache`): every change must still be seen by the very next read.

use crate::support::Server;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

async fn open_cases_on_the_dashboard(server: &Server) -> u64 {
    let response = server
        .get("/api/v1/dashboard/metrics")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let metrics: Value = response.json().await.unwrap();
    metrics["by_status"]["open"].as_u64().unwrap()
}

/// Reads each list twice (so the second read is answered from what the first shared) and
/// returns the totals.
async fn totals(server: &Server, queries: &[&str]) -> Vec<u64> {
    let mut totals = Vec::new();
    for query in queries {
        let first = server.list(query).await;
        let again = server.list(query).await;
        assert_eq!(first, again, "{query}: two reads of unchanged data");
        totals.push(first["total"].as_u64().unwrap());
    }
    totals
}

#[tokio::test]
async fn every_change_is_seen_by_the_next_count_search_and_dashboard() {
    let server = Server::start(&[]);
    let lists = [
        "",
        "status=open",
        "q=zebra",
        "q=crossing&status=open",
        "q=ze",
    ];
    server
        .create(json!({"id": Uuid::now_v7(), "title": "Printer jams"}))
        .await;
    assert_eq!(totals(&server, &lists).await, [1, 1, 0, 0, 0]);
    assert_eq!(open_cases_on_the_dashboard(&server).await, 1);

    let id = Uuid::now_v7().to_string();
    server
        .create(json!({"id": id, "title": "Zebra crossing faded"}))
        .await;
    assert_eq!(totals(&server, &lists).await, [2, 2, 1, 1, 1]);
    let found = server.list("q=zebra").await;
    assert_eq!(found["items"][0]["id"], id.as_str());
    assert_eq!(open_cases_on_the_dashboard(&server).await, 2);

    let response = server
        .patch(&id, 1, json!({"title": "Crossing faded"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(totals(&server, &lists).await, [2, 2, 0, 1, 0]);

    let response = server.patch(&id, 2, json!({"status": "resolved"})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(totals(&server, &lists).await, [2, 1, 0, 0, 0]);
    assert_eq!(open_cases_on_the_dashboard(&server).await, 1);

    let response = server
        .request(Method::DELETE, &format!("/api/v1/cases/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(totals(&server, &lists).await, [1, 1, 0, 0, 0]);
    assert_eq!(server.list("q=crossing").await["total"], 0);
}

#[tokio::test]
async fn every_page_of_a_search_agrees_with_its_total() {
    let server = Server::start(&[]);
    for n in 0..7 {
        server
            .create(json!({"id": Uuid::now_v7(), "title": format!("Printer {n}")}))
            .await;
    }
    server
        .create(json!({"id": Uuid::now_v7(), "title": "VPN down"}))
        .await;
    let mut seen = Vec::new();
    for page in 1..=4 {
        let list = server
            .list(&format!("q=printer&per_page=2&page={page}&sort=created_at"))
            .await;
        assert_eq!(list["total"], 7);
        for item in list["items"].as_array().unwrap() {
            seen.push(item["title"].as_str().unwrap().to_owned());
        }
    }
    let expected: Vec<String> = (0..7).map(|n| format!("Printer {n}")).collect();
    assert_eq!(seen, expected);
    assert_eq!(
        server.list("q=printer&page=5&per_page=2").await["items"],
        json!([])
    );
}
