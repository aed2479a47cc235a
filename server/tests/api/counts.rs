//! The totals of lists and the dashboard's counts come from counts the database keeps in
//! every write's transaction (`case_counts`): after creates, changes of status, priority
//! and assignee, and deletions, every filter's `total` is the number of cases it lists.

use crate::support::{sign_in, Server};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::HashSet;
use uuid::Uuid;

const STATUSES: [&str; 4] = ["open", "in_progress", "resolved", "closed"];
const PRIORITIES: [&str; 4] = ["low", "medium", "high", "critical"];

struct Desk {
    server: Server,
    token: String,
}

impl Desk {
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        version: Option<u64>,
    ) -> Value {
        let mut request = self
            .server
            .request(method, &format!("/api/v1{path}"))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(version) = version {
            request = request.header("If-Match", format!("\"{version}\""));
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        assert!(status.is_success(), "{path}: {status}");
        if status == StatusCode::NO_CONTENT {
            return Value::Null;
        }
        response.json().await.unwrap()
    }

    async fn get(&self, path: &str) -> Value {
        self.send(Method::GET, path, None, None).await
    }

    /// Every page of `filter` (7 a page): the ids listed, and each page's `total`.
    async fn walk(&self, filter: &str) -> (Vec<String>, HashSet<u64>) {
        let mut ids = Vec::new();
        let mut totals = HashSet::new();
        for page in 1.. {
            let list = self
                .get(&format!("/cases?per_page=7&page={page}{filter}"))
                .await;
            totals.insert(list["total"].as_u64().unwrap());
            let items = list["items"].as_array().unwrap();
            ids.extend(items.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
            if items.len() < 7 {
                break;
            }
        }
        (ids, totals)
    }
}

#[tokio::test]
async fn every_filter_total_equals_the_cases_listed_after_creates_changes_and_deletions() {
    let server = Server::start_demo(12, &[]);
    let session = sign_in(&server, "dana@example.com", "casedesk-demo").await;
    let desk = Desk {
        token: session["token"].as_str().unwrap().to_owned(),
        server,
    };
    let people: Vec<String> = desk
        .get("/users")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .take(3)
        .collect();
    let assignee = |i: usize| match i % 4 {
        3 => Value::Null,
        n => json!(people[n % people.len()]),
    };

    let (demo, _) = desk.walk("").await;
    let mut cases = Vec::new();
    for i in 0..30usize {
        let case = desk
            .send(
                Method::POST,
                "/cases",
                Some(json!({"id": Uuid::now_v7(), "title": format!("Case {i}"),
                    "status": STATUSES[i % 4], "priority": PRIORITIES[(i / 4) % 4],
                    "assignee": assignee(i / 2)})),
                None,
            )
            .await;
        cases.push(case);
    }
    // Changes of each counted field, alone and together, and of none of them.
    for (i, case) in cases.iter_mut().enumerate().take(24) {
        let body = match i % 4 {
            0 => json!({"status": STATUSES[(i + 1) % 4]}),
            1 => json!({"priority": PRIORITIES[(i + 3) % 4], "assignee": assignee(i + 1)}),
            2 => json!({"status": "resolved", "priority": "critical", "assignee": null}),
            _ => json!({"title": format!("Renamed {i}")}),
        };
        let id = case["id"].as_str().unwrap().to_owned();
        let version = case["version"].as_u64().unwrap();
        *case = desk
            .send(
                Method::PATCH,
                &format!("/cases/{id}"),
                Some(body),
                Some(version),
            )
            .await;
    }
    for case in cases.iter().step_by(5) {
        let id = case["id"].as_str().unwrap();
        desk.send(Method::DELETE, &format!("/cases/{id}"), None, None)
            .await;
    }
    // A deleted case deleted again changes nothing.
    let id = cases[0]["id"].as_str().unwrap();
    desk.send(Method::DELETE, &format!("/cases/{id}"), None, None)
        .await;

    let mut assignees: Vec<String> = vec![
        String::new(),
        "&assignee=none".into(),
        "&assignee=me".into(),
    ];
    assignees.extend(people.iter().map(|p| format!("&assignee={p}")));
    let mut statuses: Vec<String> = vec![String::new()];
    statuses.extend(STATUSES.iter().map(|s| format!("&status={s}")));
    let mut priorities: Vec<String> = vec![String::new()];
    priorities.extend(PRIORITIES.iter().map(|p| format!("&priority={p}")));
    let mut everything = 0;
    for status in &statuses {
        for priority in &priorities {
            for assignee in &assignees {
                let filter = format!("{status}{priority}{assignee}");
                let (ids, totals) = desk.walk(&filter).await;
                let unique: HashSet<&String> = ids.iter().collect();
                assert_eq!(unique.len(), ids.len(), "{filter}: a case listed twice");
                assert_eq!(
                    totals,
                    HashSet::from([ids.len() as u64]),
                    "{filter}: every page's total is the number of cases listed"
                );
                if filter.is_empty() {
                    everything = ids.len();
                }
            }
        }
    }
    assert_eq!(
        everything,
        demo.len() + 30 - 6,
        "the demo's cases and ours, less the deleted"
    );

    // The dashboard counts the same cases.
    let metrics = desk.get("/dashboard/metrics").await;
    for status in STATUSES {
        let (ids, _) = desk.walk(&format!("&status={status}")).await;
        assert_eq!(metrics["by_status"][status], json!(ids.len()), "{status}");
    }
    for priority in PRIORITIES {
        let (ids, _) = desk.walk(&format!("&priority={priority}")).await;
        assert_eq!(
            metrics["by_priority"][priority],
            json!(ids.len()),
            "{priority}"
        );
    }
}
