//! People, roles and accounts in the app (docs/api.md §4) against the real reference server:
//! the People page an admin manages people on, the account page, signing in with a setup
//! code, and what each role is offered on the case pages. The admin here is the service
//! token's "Service"; other people are added through `POST /users` and sign in with their
//! setup code, so every test has people of its own.

#![cfg(target_arch = "wasm32")]

pub mod support;

use casedesk::api::{ApiClient, ApiError, Fetched};
use casedesk::App;
use casedesk_core::Failure;
use casedesk_model::{NewPerson, Person, Role, SetupSignIn};
use leptos::prelude::*;
use support::dom::*;
use support::{anonymous_api, api, api_origin, create_case, wait_until};
use uuid::Uuid;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// Dana Reyes: the demo admin, and the only active one on the test server.
const DANA: &str = "01900000-0000-7000-8000-00000000d001";

/// A password good enough for the server's rules.
const PASSWORD: &str = "a long enough passphrase";

/// An email no other test uses.
fn unique_email(who: &str) -> String {
    format!(
        "{who}-{}@example.com",
        &Uuid::new_v4().simple().to_string()[..10]
    )
}

/// Adds a person with `role` (as the service account, an admin) and signs them in with
/// their setup code: the person, and a client signed in as them.
async fn person_with_role(name: &str, role: Role) -> (Person, ApiClient) {
    let email = unique_email(&name.to_lowercase());
    let issued = api()
        .add_person(&NewPerson {
            email: email.clone(),
            name: name.to_owned(),
            role,
        })
        .await
        .result
        .expect("POST /users answered")
        .expect("POST /users took the person");
    let session = anonymous_api()
        .sign_in_with_setup_code(&SetupSignIn {
            email,
            setup_code: issued.setup_code,
            password: PASSWORD.to_owned(),
        })
        .await
        .result
        .expect("POST /session/setup signed in");
    let client = ApiClient::new(&api_origin()).with_token(Some(session.token));
    (session.user, client)
}

/// Mounts the whole app at `path`, acting through `client`, with storage of its own; waits
/// until it shows the page for whoever `client` is.
async fn mount_as(client: ApiClient, path: &str) -> Mounted {
    let config = support::app_config(client, format!("people-{}", Uuid::new_v4()));
    let app = mount_app_at(path, move || view! { <App config=config /> }).await;
    wait_until("the app shows the page for its person", 10, || {
        app.exists("[data-testid='current-user']") && !app.exists("main .opening")
    })
    .await;
    app
}

async fn everyone() -> Vec<Person> {
    match api().users(None, None).await.result.unwrap() {
        Fetched::Fresh { data, .. } => data,
        Fetched::NotModified => panic!("an unconditional GET answered 304"),
    }
}

async fn server_person(id: Uuid) -> Person {
    everyone()
        .await
        .into_iter()
        .find(|p| p.id == id)
        .unwrap_or_else(|| panic!("the server lists no person {id}"))
}

fn choose(select: &web_sys::Element, value: &str) {
    select
        .unchecked_ref::<web_sys::HtmlSelectElement>()
        .set_value(value);
    fire(select, "change");
}

fn value_of(control: &web_sys::Element) -> String {
    control
        .unchecked_ref::<web_sys::HtmlSelectElement>()
        .value()
}

/// Whether `selector` matches a control of `app` that can be used (not disabled).
fn enabled(app: &Mounted, selector: &str) -> Vec<String> {
    app.all(selector)
        .into_iter()
        .filter(|e| !e.matches(":disabled").unwrap())
        .map(|e| e.outer_html().chars().take(120).collect())
        .collect()
}

fn row_selector(id: Uuid) -> String {
    format!("[data-testid='person-row'][data-person-id='{id}']")
}

/// The button named `name` in the row of person `id`.
fn row_button(app: &Mounted, id: Uuid, name: &str) -> Option<web_sys::HtmlElement> {
    let row = app.query(&row_selector(id))?;
    let list = row.query_selector_all("button").unwrap();
    (0..list.length())
        .filter_map(|i| list.item(i))
        .map(|n| n.unchecked_into::<web_sys::HtmlElement>())
        .find(|b| b.text_content().unwrap_or_default().trim() == name)
}

fn row_role_select(app: &Mounted, id: Uuid) -> web_sys::Element {
    app.find(&format!("{} select", row_selector(id)))
}

#[wasm_bindgen_test]
async fn an_admin_adds_a_person_who_gets_a_setup_code_then_changes_their_role_and_deactivates_them()
{
    let app = mount_as(api(), "/people").await;
    wait_until("the People page lists Dana", 10, || {
        app.text("main h1") == "People" && app.exists(&row_selector(DANA.parse().unwrap()))
    })
    .await;

    // A field the server would refuse is refused beside it, and nothing is sent.
    type_into(&app.find("#new-person-email"), "not an email");
    type_into(&app.find("#new-person-name"), "Ada Lovelace");
    app.button("Add person").unwrap().click();
    wait_until("the email's message shows beside it", 5, || {
        app.text("#new-person-email-error")
            .contains("name@example.com")
    })
    .await;
    assert!(!app.exists("[data-testid='setup-code']"));

    let email = unique_email("ada");
    type_into(&app.find("#new-person-email"), &email);
    choose(&app.find("#new-person-role"), "viewer");
    app.button("Add person").unwrap().click();
    wait_until("the setup code shows", 10, || {
        app.exists("[data-testid='setup-code']")
    })
    .await;
    let code = app.text("[data-testid='setup-code']");
    assert!(code.len() >= 8, "a setup code: {code}");
    let ada = everyone()
        .await
        .into_iter()
        .find(|p| p.email == email)
        .expect("the server has Ada");
    assert_eq!((ada.role, ada.active), (Role::Viewer, true));
    wait_until("Ada's row shows", 10, || app.exists(&row_selector(ada.id))).await;
    assert_eq!(value_of(&row_role_select(&app, ada.id)), "viewer");

    // The code works once: Ada sets her password with it.
    let setup = |code: String| SetupSignIn {
        email: email.clone(),
        setup_code: code,
        password: PASSWORD.to_owned(),
    };
    let first = anonymous_api()
        .sign_in_with_setup_code(&setup(code.clone()))
        .await;
    assert!(first.result.is_ok(), "the code signs Ada in: {first:?}");
    let again = anonymous_api().sign_in_with_setup_code(&setup(code)).await;
    assert!(
        matches!(
            again.result,
            Err(ApiError::Failed(Failure::Http { status: 401, .. }))
        ),
        "a used code is refused: {again:?}"
    );

    // "New setup code" shows a new one, once.
    app.button("Done").unwrap().click();
    wait_until("the code is gone", 5, || {
        !app.exists("[data-testid='setup-code']")
    })
    .await;
    row_button(&app, ada.id, "New setup code").unwrap().click();
    wait_until("a new code shows", 10, || {
        app.exists("[data-testid='setup-code']")
    })
    .await;
    let renewed = app.text("[data-testid='setup-code']");
    assert!(anonymous_api()
        .sign_in_with_setup_code(&setup(renewed))
        .await
        .result
        .is_ok());

    // A new role, at once on the server.
    choose(&row_role_select(&app, ada.id), "agent");
    let mut role = Role::Viewer;
    for _ in 0..100 {
        role = server_person(ada.id).await.role;
        if role == Role::Agent {
            break;
        }
        gloo_timers::future::TimeoutFuture::new(50).await;
    }
    assert_eq!(role, Role::Agent);

    // Deactivated, then reactivated.
    wait_until("Ada's row offers Deactivate", 10, || {
        row_button(&app, ada.id, "Deactivate").is_some_and(|b| !b.matches(":disabled").unwrap())
    })
    .await;
    row_button(&app, ada.id, "Deactivate").unwrap().click();
    wait_until("Ada's row offers Reactivate", 10, || {
        row_button(&app, ada.id, "Reactivate").is_some()
    })
    .await;
    assert!(!server_person(ada.id).await.active);
    row_button(&app, ada.id, "Reactivate").unwrap().click();
    wait_until("Ada's row offers Deactivate again", 10, || {
        row_button(&app, ada.id, "Deactivate").is_some()
    })
    .await;
    assert!(server_person(ada.id).await.active);
}

#[wasm_bindgen_test]
async fn the_last_active_admin_is_kept_and_the_app_says_why() {
    let dana: Uuid = DANA.parse().unwrap();
    let admins: Vec<String> = everyone()
        .await
        .into_iter()
        .filter(|p| p.active && p.role == Role::Admin)
        .map(|p| p.name)
        .collect();
    // Demoting Dana must be refused: were someone else an admin, it would not be, and the
    // other tests that sign in as Dana would lose their admin.
    assert_eq!(admins, ["Dana Reyes"], "Dana is the only active admin");

    let app = mount_as(api(), "/people").await;
    wait_until("Dana's row", 10, || app.exists(&row_selector(dana))).await;
    choose(&row_role_select(&app, dana), "agent");
    wait_until("the refusal is announced", 10, || {
        app.text("[role='alert']")
            .contains("There must always be an active admin")
    })
    .await;
    wait_until("the menu is back on Admin", 5, || {
        value_of(&row_role_select(&app, dana)) == "admin"
    })
    .await;
    assert_eq!(server_person(dana).await.role, Role::Admin);
}

#[wasm_bindgen_test]
async fn people_is_refused_to_an_agent_and_the_nav_shows_it_only_to_admins() {
    let (_, sam) = person_with_role("Agentsam", Role::Agent).await;
    let app = mount_as(sam, "/people").await;
    wait_until("a plain refusal", 10, || {
        app.exists("[data-testid='people-refused']")
    })
    .await;
    assert!(!app.exists("[data-testid='person-row']"));
    assert!(app.button("Add person").is_none());
    assert!(app.link("People").is_none(), "no People link for an agent");
    drop(app);

    let admin = mount_as(api(), "/").await;
    wait_until("the People link for an admin", 10, || {
        admin.link("People").is_some()
    })
    .await;
}

#[wasm_bindgen_test]
async fn a_viewer_is_offered_nothing_that_changes_data_and_an_agent_no_delete() {
    let case = create_case(&format!(
        "zq{} role test",
        &Uuid::new_v4().simple().to_string()[..10]
    ))
    .await;
    let (_, viewer) = person_with_role("Viewervi", Role::Viewer).await;

    let app = mount_as(viewer.clone(), "/cases").await;
    wait_until("the list shows cases", 10, || {
        app.text("main h1") == "Cases" && app.exists("[data-testid='case-row']")
    })
    .await;
    assert!(app.link("New case").is_none(), "no New case for a viewer");
    assert!(
        enabled(
            &app,
            "[data-testid='case-row'] select, [data-testid='case-row'] input"
        )
        .is_empty(),
        "no row control a viewer could change a case with"
    );
    assert!(!app.exists(".bulk-bar"), "no bulk bar");
    drop(app);

    let app = mount_as(viewer.clone(), &format!("/cases/{}", case.id)).await;
    wait_until("the case page", 10, || app.text("main h1") == case.title).await;
    assert_eq!(
        enabled(&app, "main input, main select, main textarea"),
        Vec::<String>::new(),
        "no editable field for a viewer"
    );
    for name in ["Add note", "Edit title", "Delete case"] {
        assert!(app.button(name).is_none(), "no {name} for a viewer");
    }
    drop(app);

    let app = mount_as(viewer, "/cases/new").await;
    wait_until("a refusal instead of the form", 10, || {
        app.exists("[data-testid='new-case-refused']")
    })
    .await;
    assert!(app.button("Create case").is_none());
    drop(app);

    let (_, agent) = person_with_role("Agentag", Role::Agent).await;
    let app = mount_as(agent, &format!("/cases/{}", case.id)).await;
    wait_until("the case page", 10, || app.text("main h1") == case.title).await;
    assert!(app.button("Add note").is_some(), "an agent adds notes");
    assert!(!app.find("#case-status").matches(":disabled").unwrap());
    assert!(app.button("Delete case").is_none(), "only an admin deletes");
    drop(app);

    let app = mount_as(api(), &format!("/cases/{}", case.id)).await;
    wait_until("the case page", 10, || app.text("main h1") == case.title).await;
    assert!(app.button("Delete case").is_some(), "an admin deletes");
}

#[wasm_bindgen_test]
async fn the_account_page_changes_the_password_and_signs_out_everywhere_else() {
    let (me, client) = person_with_role("Accountant", Role::Agent).await;
    // Another session of the same person, as on another device.
    let elsewhere = anonymous_api()
        .sign_in(&casedesk_model::SignIn {
            email: me.email.clone(),
            password: PASSWORD.to_owned(),
        })
        .await
        .result
        .unwrap();
    let other = ApiClient::new(&api_origin()).with_token(Some(elsewhere.token));

    let app = mount_as(client.clone(), "/").await;
    app.find("[data-testid='current-user']")
        .unchecked_into::<web_sys::HtmlElement>()
        .click();
    wait_until("the account page", 10, || app.text("main h1") == "Account").await;

    // A wrong current password is refused beside the field; this session stays.
    type_into(&app.labelled("Current password"), "not my password at all");
    type_into(&app.labelled("New password"), "another long passphrase");
    app.button("Change password").unwrap().click();
    wait_until("the refusal beside Current password", 10, || {
        app.text("#password-current-error").contains("wrong")
    })
    .await;
    assert!(
        app.exists("[data-testid='current-user']"),
        "still signed in"
    );

    type_into(&app.labelled("Current password"), PASSWORD);
    app.button("Change password").unwrap().click();
    wait_until("the change is confirmed", 10, || {
        app.text("main").contains("Password changed.")
    })
    .await;
    // The other session ended; this one goes on; the new password signs in.
    assert!(matches!(
        other.me(None).await.result,
        Err(ApiError::Failed(Failure::Http { status: 401, .. }))
    ));
    assert!(client.me(None).await.result.is_ok());
    assert!(anonymous_api()
        .sign_in(&casedesk_model::SignIn {
            email: me.email.clone(),
            password: "another long passphrase".to_owned(),
        })
        .await
        .result
        .is_ok());

    // "Sign out everywhere" ends every other session, not this one.
    let third = anonymous_api()
        .sign_in(&casedesk_model::SignIn {
            email: me.email.clone(),
            password: "another long passphrase".to_owned(),
        })
        .await
        .result
        .unwrap();
    let third = ApiClient::new(&api_origin()).with_token(Some(third.token));
    app.button("Sign out everywhere").unwrap().click();
    wait_until("the sign-out is confirmed", 10, || {
        app.text("main").contains("Every other session has ended")
    })
    .await;
    assert!(matches!(
        third.me(None).await.result,
        Err(ApiError::Failed(Failure::Http { status: 401, .. }))
    ));
    assert!(client.me(None).await.result.is_ok());
    assert!(app.exists("[data-testid='current-user']"));
}

#[wasm_bindgen_test]
async fn a_setup_code_signs_a_new_person_in_from_the_sign_in_page() {
    let email = unique_email("grace");
    let issued = api()
        .add_person(&NewPerson {
            email: email.clone(),
            name: "Grace Hopper".to_owned(),
            role: Role::Agent,
        })
        .await
        .result
        .unwrap()
        .unwrap();
    let config = support::app_config(anonymous_api(), format!("people-{}", Uuid::new_v4()));
    let app = mount_app_at("/cases", move || view! { <App config=config /> }).await;
    wait_until(
        "the sign-in page, remembering where the person was",
        10,
        || {
            app.text("main h1") == "Sign in"
                && app.link("Use a setup code").is_some()
                && window().location().search().unwrap() == "?next=%2Fcases"
        },
    )
    .await;
    app.link("Use a setup code").unwrap().click();
    wait_until("the setup-code form", 10, || {
        app.button("Set password").is_some()
    })
    .await;
    // Where the person was is kept for after.
    assert_eq!(
        window().location().search().unwrap(),
        "?setup=1&next=%2Fcases"
    );
    type_into(&app.labelled("Email"), &email);
    type_into(&app.labelled("Setup code"), &issued.setup_code);
    // A password the server would refuse is refused here first, beside the field.
    type_into(&app.labelled("New password"), "short");
    app.button("Set password").unwrap().click();
    wait_until("the rule beside New password", 5, || {
        app.text("#setup-password-error").contains("at least 10")
    })
    .await;
    type_into(&app.labelled("New password"), PASSWORD);
    app.button("Set password").unwrap().click();
    wait_until("Grace is signed in, on the case list", 15, || {
        app.text("[data-testid='current-user']") == "Grace Hopper" && app.text("main h1") == "Cases"
    })
    .await;
    // Her password works from now on; the code does not, twice.
    assert!(anonymous_api()
        .sign_in(&casedesk_model::SignIn {
            email,
            password: PASSWORD.to_owned(),
        })
        .await
        .result
        .is_ok());
}

#[wasm_bindgen_test]
async fn a_deactivated_person_cannot_be_assigned_but_a_case_of_theirs_still_names_them() {
    let (gone, _) = person_with_role("Gone", Role::Agent).await;
    let case = casedesk_model::NewCase {
        assignee: Some(gone.id.to_string()),
        ..support::new_case(&format!(
            "zq{} assigned to Gone",
            &Uuid::new_v4().simple().to_string()[..10]
        ))
    };
    let case = api()
        .create_case(&case, Uuid::new_v4())
        .await
        .result
        .unwrap();
    let off = api()
        .update_person(
            gone.id,
            &casedesk_model::PersonPatch {
                active: Some(false),
                ..Default::default()
            },
        )
        .await
        .result;
    assert!(matches!(off, Ok(Ok(_))), "deactivated: {off:?}");

    let app = mount_as(api(), &format!("/cases/{}", case.id)).await;
    let option = format!("#case-assignee option[value='{}']", gone.id);
    wait_until("the assignee menu lists Gone", 10, || app.exists(&option)).await;
    let listed = app.find(&option);
    assert_eq!(listed.text_content().unwrap(), "Gone (deactivated)");
    assert!(listed.matches(":disabled").unwrap(), "not to be picked");
    assert_eq!(value_of(&app.find("#case-assignee")), gone.id.to_string());
}
