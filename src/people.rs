//! The people the server knows (`GET /users`), read through the query cache (`QueryKey::Users`):
//! kept for the signed-in person and stored for offline like their cases, so the assignee
//! pickers list people and history and notes put names on ids even after an offline start.
//! Managing people (an admin's: adding, roles, deactivating, setup codes) goes to the server
//! at once, never through the queue, and reads the people again when it worked.

use crate::api::{ApiError, Checked};
use crate::query::{use_query_client, use_users, QueryClient};
use casedesk_core::{Failure, KeyScope, QueryKey};
use casedesk_model::{NewPerson, Person, PersonPatch, SetupCodeIssued};
use leptos::prelude::*;
use uuid::Uuid;

/// The directory, from context: a `Copy` handle on the people query, which the person's
/// scope observes for as long as it lasts (so the cache never collects it).
#[derive(Clone, Copy)]
pub struct PeopleDirectory {
    list: Memo<Vec<Person>>,
    client: QueryClient,
}

/// Observes the people for the signed-in person and provides the directory. Needs the
/// person's query client in context.
pub fn provide_people() -> PeopleDirectory {
    let people = use_users();
    let list = Memo::new(move |_| people.data.get().unwrap_or_default());
    let directory = PeopleDirectory {
        list,
        client: use_query_client(),
    };
    provide_context(directory);
    directory
}

/// The directory from context, if a person's scope provides one.
pub fn use_people() -> Option<PeopleDirectory> {
    use_context::<PeopleDirectory>()
}

/// Everyone a case can be assigned to, from the directory in context; none outside a
/// person's scope (tests that mount one page alone, a server without people).
pub fn people_list() -> Signal<Vec<Person>> {
    use_people().map_or_else(|| Signal::stored(Vec::new()), |p| p.list())
}

/// One `<option>` per person, valued by id, for the assignee selects (which add their own
/// first options: "Unassigned", "Me", "Anyone"). A deactivated person is named so; where a
/// case is being assigned they cannot be picked, yet a case already theirs still shows them.
#[component]
pub fn PersonOptions(
    /// The people to list.
    people: Signal<Vec<Person>>,
    /// The select assigns a case (rather than filters by assignee).
    #[prop(optional)]
    assigning: bool,
) -> impl IntoView {
    move || {
        people
            .get()
            .into_iter()
            .map(|p| {
                let name = if p.active {
                    p.name
                } else {
                    format!("{} (deactivated)", p.name)
                };
                view! { <option value=p.id.to_string() disabled=assigning && !p.active>{name}</option> }
            })
            .collect_view()
    }
}

impl PeopleDirectory {
    /// Everyone a case can be assigned to, by name (empty until known, and on a server
    /// without people that lists none).
    pub fn list(&self) -> Signal<Vec<Person>> {
        self.list.into()
    }

    /// The name of person `id`, if known.
    pub fn name_of(&self, id: Uuid) -> Option<String> {
        self.list
            .with(|people| people.iter().find(|p| p.id == id).map(|p| p.name.clone()))
    }

    /// `POST /users`: adds a person; the answer holds their one-time setup code.
    pub async fn add(&self, person: &NewPerson) -> Result<Checked<SetupCodeIssued>, ApiError> {
        let answer = self.api()?.add_person(person).await.result;
        self.changed(answer)
    }

    /// `PATCH /users/{id}`: a new role, or deactivated or reactivated.
    pub async fn change(&self, id: Uuid, patch: &PersonPatch) -> Result<Checked<Person>, ApiError> {
        let answer = self.api()?.update_person(id, patch).await.result;
        self.changed(answer)
    }

    /// `POST /users/{id}/setup-code`: a new code for the person (the old one stops working).
    pub async fn issue_setup_code(&self, id: Uuid) -> Result<SetupCodeIssued, ApiError> {
        self.api()?.issue_setup_code(id).await.result
    }

    fn api(&self) -> Result<crate::api::ApiClient, ApiError> {
        self.client.api().ok_or_else(|| {
            ApiError::Failed(Failure::Network {
                message: "this page has no server to ask".to_owned(),
            })
        })
    }

    /// After a change the server accepted, the people are read again (everyone's pages
    /// show the new names, roles and who is active).
    fn changed<T>(&self, answer: Result<Checked<T>, ApiError>) -> Result<Checked<T>, ApiError> {
        if matches!(answer, Ok(Ok(_))) {
            self.client.invalidate(KeyScope::Key(QueryKey::Users));
        }
        answer
    }
}
