//! The storage stack works in the test browser: a round trip through IndexedDB with
//! indexed_db_futures, in a fresh database deleted afterwards.

#![cfg(target_arch = "wasm32")]

use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::TransactionMode;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn a_value_written_to_indexeddb_reads_back_after_reopening() {
    let name = format!("casedesk-test-{}", js_sys::Math::random());
    let open = || {
        Database::open(&name)
            .with_version(1u8)
            .with_on_upgrade_needed(|_event, db| {
                db.create_object_store("kv").build()?;
                Ok(())
            })
    };

    let db = open().await.unwrap();
    let tx = db
        .transaction("kv")
        .with_mode(TransactionMode::Readwrite)
        .build()
        .unwrap();
    let store = tx.object_store("kv").unwrap();
    store
        .put("{\"title\":\"Printer jams\"}")
        .with_key("case-1")
        .primitive()
        .unwrap()
        .await
        .unwrap();
    tx.commit().await.unwrap();
    db.close();

    let db = open().await.unwrap();
    let tx = db.transaction("kv").build().unwrap();
    let store = tx.object_store("kv").unwrap();
    let read: Option<String> = store.get("case-1").primitive().unwrap().await.unwrap();
    let missing: Option<String> = store.get("case-2").primitive().unwrap().await.unwrap();
    drop(store);
    drop(tx);
    db.close();
    assert_eq!(read.as_deref(), Some("{\"title\":\"Printer jams\"}"));
    assert_eq!(missing, None);

    Database::delete_by_name(&name).unwrap().await.unwrap();
}
