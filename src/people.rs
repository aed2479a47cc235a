//! The people the server knows (`GET /users`), read through the query cache (`QueryKey::Users`):
//! kept for the signed-in person and stored for offline like their cases, so the assignee
//! pickers list people and history and notes put names on ids even after an offline start.

use crate::query::use_users;
use casedesk_model::Person;
use leptos::prelude::*;
use uuid::Uuid;

/// The directory, from context: a `Copy` handle on the people query, which the person's
/// scope observes for as long as it lasts (so the cache never collects it).
#[derive(Clone, Copy)]
pub struct PeopleDirectory {
    list: Memo<Vec<Person>>,
}

/// Observes the people for the signed-in person and provides the directory. Needs the
/// person's query client in context.
pub fn provide_people() -> PeopleDirectory {
    let people = use_users();
    let list = Memo::new(move |_| people.data.get().unwrap_or_default());
    let directory = PeopleDirectory { list };
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
/// first options: "Unassigned", "Me", "Anyone").
#[component]
pub fn PersonOptions(
    /// The people to list.
    people: Signal<Vec<Person>>,
) -> impl IntoView {
    move || {
        people
            .get()
            .into_iter()
            .map(|p| view! { <option value=p.id.to_string()>{p.name}</option> })
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
}
