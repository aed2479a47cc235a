//! The typed API client against the real reference server: every call, conditional GETs,
//! idempotent replays, conflicts, validation, and answers that are not what they should be.

#![cfg(target_arch = "wasm32")]

pub mod support;

use casedesk::api::{ApiError, Fetched};
use casedesk::words::Describe;
use casedesk_core::{Failure, FailureClass};
use casedesk_model::{CaseListQuery, CasePatch, CaseStatus, NewCase, NewNote, Priority};
use support::{api, clear_chaos, set_chaos};
use uuid::Uuid;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The id of Dana Reyes, a demo person of every new server database.
const DANA: &str = "01900000-0000-7000-8000-00000000d001";

fn new_case(title: &str) -> NewCase {
    NewCase {
        id: Uuid::now_v7(),
        title: title.to_owned(),
        description: "made by tests/api.rs".to_owned(),
        status: CaseStatus::Open,
        priority: Priority::High,
        // Dana Reyes, a demo person (people are on: the assignee is a person's id).
        assignee: Some(DANA.to_owned()),
        tags: vec!["test".to_owned()],
    }
}

#[wasm_bindgen_test]
async fn create_read_update_note_delete_round_trip() {
    let api = api();
    let draft = new_case("Round trip printer");
    let created = api
        .create_case(&draft, Uuid::new_v4())
        .await
        .result
        .unwrap();
    assert_eq!(created.id, draft.id);
    assert_eq!(created.version, 1);

    let Fetched::Fresh {
        data,
        etag,
        size_bytes,
    } = api.get_case(draft.id, None, None).await.result.unwrap()
    else {
        panic!("first read must carry data");
    };
    assert_eq!(data, created);
    assert_eq!(etag.as_deref(), Some("\"1\""));
    assert!(size_bytes > 100);

    let patch = CasePatch {
        status: Some(CaseStatus::InProgress),
        ..CasePatch::default()
    };
    let updated = api
        .update_case(draft.id, &patch, 1, Uuid::new_v4())
        .await
        .result
        .unwrap();
    assert_eq!(
        (updated.status, updated.version),
        (CaseStatus::InProgress, 2)
    );

    let note = NewNote {
        id: Uuid::now_v7(),
        body: "Replaced the fuser".to_owned(),
        author: Some("dana".to_owned()),
    };
    let added = api
        .add_note(draft.id, &note, Uuid::new_v4())
        .await
        .result
        .unwrap();
    let Fetched::Fresh { data: notes, .. } =
        api.list_notes(draft.id, None, None).await.result.unwrap()
    else {
        panic!("notes must carry data");
    };
    assert_eq!(notes, vec![added]);

    api.delete_case(draft.id, Uuid::new_v4())
        .await
        .result
        .unwrap();
    let gone = api.get_case(draft.id, None, None).await.result.unwrap_err();
    match gone {
        ApiError::Failed(Failure::Http { status: 404, .. }) => {}
        other => panic!("expected 404, got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn a_revalidation_with_the_etag_is_answered_304() {
    let api = api();
    let draft = new_case("ETag check");
    api.create_case(&draft, Uuid::new_v4())
        .await
        .result
        .unwrap();
    let first = api.get_case(draft.id, None, None).await.result.unwrap();
    let Fetched::Fresh {
        etag: Some(etag), ..
    } = first
    else {
        panic!("expected data with an ETag");
    };
    let again = api
        .get_case(draft.id, Some(&etag), None)
        .await
        .result
        .unwrap();
    assert_eq!(again, Fetched::NotModified);

    let query = CaseListQuery {
        q: Some("ETag check".to_owned()),
        ..CaseListQuery::default()
    };
    let Fetched::Fresh {
        data: list,
        etag: Some(list_etag),
        ..
    } = api.list_cases(&query, None, None).await.result.unwrap()
    else {
        panic!("expected a list with an ETag");
    };
    assert!(list.items.iter().any(|c| c.id == draft.id));
    let again = api
        .list_cases(&query, Some(&list_etag), None)
        .await
        .result
        .unwrap();
    assert_eq!(again, Fetched::NotModified);
}

#[wasm_bindgen_test]
async fn a_replayed_create_returns_the_first_answer_and_creates_once() {
    let api = api();
    let draft = new_case("Idempotent create");
    let key = Uuid::new_v4();
    let first = api.create_case(&draft, key).await.result.unwrap();
    let second = api.create_case(&draft, key).await.result.unwrap();
    assert_eq!(first, second);
    let query = CaseListQuery {
        q: Some("Idempotent create".to_owned()),
        ..CaseListQuery::default()
    };
    let Fetched::Fresh { data, .. } = api.list_cases(&query, None, None).await.result.unwrap()
    else {
        panic!("expected data");
    };
    assert_eq!(data.items.iter().filter(|c| c.id == draft.id).count(), 1);
}

#[wasm_bindgen_test]
async fn an_edit_on_an_old_version_is_a_conflict_with_the_current_case() {
    let api = api();
    let draft = new_case("Conflict check");
    api.create_case(&draft, Uuid::new_v4())
        .await
        .result
        .unwrap();
    let theirs = CasePatch {
        priority: Some(Priority::Low),
        ..CasePatch::default()
    };
    api.update_case(draft.id, &theirs, 1, Uuid::new_v4())
        .await
        .result
        .unwrap();
    let mine = CasePatch {
        status: Some(CaseStatus::Resolved),
        ..CasePatch::default()
    };
    match api
        .update_case(draft.id, &mine, 1, Uuid::new_v4())
        .await
        .result
    {
        Err(ApiError::Conflict { failure, current }) => {
            assert_eq!(failure.class(), FailureClass::Conflict);
            assert_eq!((current.version, current.priority), (2, Priority::Low));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn invalid_input_is_refused_with_the_field_named() {
    let api = api();
    let mut draft = new_case("x");
    draft.title = "   ".to_owned();
    match api.create_case(&draft, Uuid::new_v4()).await.result {
        Err(ApiError::Failed(failure @ Failure::Http { status: 422, .. })) => {
            assert_eq!(failure.class(), FailureClass::Permanent);
            assert!(
                failure.describe().contains("Title"),
                "{}",
                failure.describe()
            );
        }
        other => panic!("expected 422, got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn hostile_answers_become_typed_failures_not_panics() {
    let api = api();
    let draft = new_case("Hostile target");
    api.create_case(&draft, Uuid::new_v4())
        .await
        .result
        .unwrap();
    for (kind, expect_class) in [
        ("invalid_json", FailureClass::Permanent),
        ("wrong_types", FailureClass::Permanent),
        ("html_error_page", FailureClass::Transient),
        ("truncated_body", FailureClass::Permanent),
        ("empty_200", FailureClass::Permanent),
        ("huge_body", FailureClass::Permanent),
    ] {
        set_chaos(&format!(r#"{{"corrupt":"{kind}","corrupt_rate":1}}"#)).await;
        let result = api.get_case(draft.id, None, None).await.result;
        let failure = match &result {
            Err(ApiError::Failed(failure)) => failure.clone(),
            other => panic!("{kind}: expected a failure, got {other:?}"),
        };
        assert!(!failure.describe().is_empty());
        // A truncated body may surface as a network error while reading; either way it is
        // a failure the person is told about, never data.
        if kind != "truncated_body" {
            assert_eq!(failure.class(), expect_class, "{kind}: {failure:?}");
        }
    }
    set_chaos(r#"{"corrupt":"wrong_content_type","corrupt_rate":1}"#).await;
    let labelled_wrong = api.get_case(draft.id, None, None).await.result;
    clear_chaos().await;
    assert!(
        matches!(labelled_wrong, Ok(Fetched::Fresh { ref data, .. }) if data.id == draft.id),
        "a correct body with the wrong label is still read: {labelled_wrong:?}"
    );
}

#[wasm_bindgen_test]
async fn server_faults_are_transient_and_carry_retry_after() {
    let api = api();
    set_chaos(r#"{"fail_rate":1}"#).await;
    let result = api.metrics(None, None).await.result;
    clear_chaos().await;
    match result {
        Err(ApiError::Failed(failure @ Failure::Http { status: 503, .. })) => {
            assert_eq!(failure.class(), FailureClass::Transient);
            assert!(failure.retry_after().is_some());
        }
        other => panic!("expected 503, got {other:?}"),
    }
}

#[wasm_bindgen_test]
async fn a_cancelled_request_reports_cancelled() {
    let api = api();
    set_chaos(r#"{"latency_ms":[2000,2000]}"#).await;
    let controller = web_sys::AbortController::new().unwrap();
    let signal = controller.signal();
    let request = api.metrics(None, Some(&signal));
    let abort_soon = async {
        gloo_timers::future::TimeoutFuture::new(50).await;
        controller.abort();
    };
    let (exchange, ()) = futures_join(request, abort_soon).await;
    clear_chaos().await;
    assert_eq!(exchange.result, Err(ApiError::Cancelled));
}

/// Runs two futures to completion side by side.
async fn futures_join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    futures::join!(a, b)
}
