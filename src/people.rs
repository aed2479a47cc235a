//! The people the server knows (`GET /users`), as this tab last heard of them: the assignee
//! pickers list them and history and notes put names on their ids. Fetched when a person's
//! scope starts and again when asked (a picker opening with none, the network coming back).

use crate::api::{ApiClient, Fetched};
use casedesk_model::Person;
use leptos::prelude::*;
use uuid::Uuid;

/// The directory, from context: a `Copy` handle.
#[derive(Clone, Copy)]
pub struct PeopleDirectory {
    people: RwSignal<Vec<Person>>,
    loading: RwSignal<bool>,
    api: StoredValue<ApiClient>,
}

/// Starts the directory for the signed-in person and provides it.
pub fn provide_people(api: &ApiClient) -> PeopleDirectory {
    let directory = PeopleDirectory {
        people: RwSignal::new(Vec::new()),
        loading: RwSignal::new(false),
        api: StoredValue::new(api.clone()),
    };
    provide_context(directory);
    directory.refresh();
    directory
}

/// The directory from context, if a person's scope provides one.
pub fn use_people() -> Option<PeopleDirectory> {
    use_context::<PeopleDirectory>()
}

impl PeopleDirectory {
    /// Everyone a case can be assigned to, by name (empty until fetched, and on a server
    /// without people that lists none).
    pub fn list(&self) -> Signal<Vec<Person>> {
        self.people.into()
    }

    /// The name of person `id`, if known.
    pub fn name_of(&self, id: Uuid) -> Option<String> {
        self.people
            .with(|people| people.iter().find(|p| p.id == id).map(|p| p.name.clone()))
    }

    /// Asks the server again (one request at a time); a failure keeps what is known.
    pub fn refresh(&self) {
        if self.loading.get_untracked() {
            return;
        }
        self.loading.set(true);
        let (people, loading, api) = (self.people, self.loading, self.api.get_value());
        leptos::task::spawn_local(async move {
            if let Ok(Fetched::Fresh { data, .. }) = api.users(None, None).await.result {
                let _ = people.try_set(data);
            }
            let _ = loading.try_set(false);
        });
    }
}
