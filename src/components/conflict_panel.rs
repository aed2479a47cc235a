//! The conflict panel: someone changed a case on the server while this person's edit waited.
//! For each field both sides changed it shows what it was, their version and the server's,
//! and offers "Keep mine" and "Use theirs".

use casedesk_core::merge::{FieldConflict, Side};
use leptos::prelude::*;

/// Both versions of every conflicting field, and the two ways out.
#[component]
pub fn ConflictPanel(
    /// The fields both sides changed to different values.
    #[prop(into)]
    conflicts: Signal<Vec<FieldConflict>>,
    /// Names of the fields that merged on their own (shown as a reassurance), if any.
    #[prop(into, default = Signal::stored(Vec::new()))]
    merged: Signal<Vec<String>>,
    /// Called with the side the person chose for every conflicting field.
    #[prop(into)]
    on_choose: Callback<Side>,
    /// True while a choice is being applied: the buttons are disabled.
    #[prop(into, default = Signal::stored(false))]
    busy: Signal<bool>,
) -> impl IntoView {
    let rows = move || {
        conflicts
            .get()
            .into_iter()
            .map(|conflict| {
                let field = conflict.field.label();
                view! {
                    <tr data-field=field>
                        <th scope="row">{field}</th>
                        <td class="conflict-mine">
                            <span class="conflict-value">{conflict.mine.display()}</span>
                        </td>
                        <td class="conflict-theirs">
                            <span class="conflict-value">{conflict.theirs.display()}</span>
                        </td>
                        <td class="conflict-base">
                            <span class="conflict-value">{conflict.base.display()}</span>
                        </td>
                    </tr>
                }
            })
            .collect_view()
    };
    let merged_note = move || {
        let merged = merged.get();
        (!merged.is_empty()).then(|| {
            view! {
                <p class="field-hint">
                    "Your other changes merged on their own: " {merged.join(", ")} "."
                </p>
            }
        })
    };
    view! {
        <section class="card conflict-panel" data-testid="conflict-panel" aria-labelledby="conflict-heading">
            <h2 id="conflict-heading">"This case changed while your edit was waiting"</h2>
            <p>
                "Someone else changed the same fields. Choose which version to keep; "
                "the other one is discarded."
            </p>
            <div class="table-wrap">
                <table class="conflict-table">
                    <thead>
                        <tr>
                            <th scope="col">"Field"</th>
                            <th scope="col">"Your version"</th>
                            <th scope="col">"Their version"</th>
                            <th scope="col">"Before"</th>
                        </tr>
                    </thead>
                    <tbody>{rows}</tbody>
                </table>
            </div>
            {merged_note}
            <div class="form-actions">
                <button
                    type="button"
                    class="button primary"
                    disabled=move || busy.get()
                    on:click=move |_| on_choose.run(Side::Mine)
                >
                    "Keep mine"
                </button>
                <button
                    type="button"
                    class="button"
                    disabled=move || busy.get()
                    on:click=move |_| on_choose.run(Side::Theirs)
                >
                    "Use theirs"
                </button>
            </div>
        </section>
    }
}
