//! The conflict panel: someone changed a case on the server while this person's edit waited.
//! For each field both sides changed it shows what it was, their version and the server's,
//! and offers "Keep mine" and "Use theirs" for all of them, or, when several fields clash, a
//! choice per field applied with "Apply these choices".

use casedesk_core::merge::{CaseField, ConflictChoice, FieldConflict, Side};
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
    /// Called with the person's choice: one side for every field, or one per field.
    #[prop(into)]
    on_choose: Callback<ConflictChoice>,
    /// True while a choice is being applied: the buttons are disabled.
    #[prop(into, default = Signal::stored(false))]
    busy: Signal<bool>,
) -> impl IntoView {
    // The sides the person picked; a field not picked keeps "mine": they made these edits
    // on purpose, and the server's version is on screen next to each.
    let picked = RwSignal::new(Vec::<(CaseField, Side)>::new());
    let several = move || conflicts.with(|c| c.len() > 1);
    let side_of = move |field: CaseField| {
        picked.with(|choices| {
            choices
                .iter()
                .find(|(f, _)| *f == field)
                .map_or(Side::Mine, |(_, side)| *side)
        })
    };
    let pick = move |field: CaseField, side: Side| {
        picked.update(|choices| {
            choices.retain(|(f, _)| *f != field);
            choices.push((field, side));
        });
    };
    // A choice for every field in conflict now, whatever was picked for others before.
    let per_field = move || {
        conflicts.with(|c| {
            c.iter()
                .map(|conflict| (conflict.field, side_of(conflict.field)))
                .collect::<Vec<_>>()
        })
    };
    let choice_cell = move |field: CaseField| {
        let label = field.label();
        let group = format!("conflict-keep-{}", label.to_lowercase().replace(' ', "-"));
        let option = move |side: Side, text: &'static str| {
            view! {
                <label class="conflict-option">
                    <input
                        type="radio"
                        name=group.clone()
                        aria-label=format!("{label}: {}", text.to_lowercase())
                        prop:checked=move || side_of(field) == side
                        on:change=move |_| pick(field, side)
                    />
                    {text}
                </label>
            }
        };
        view! { <td class="conflict-choice">{option(Side::Mine, "Keep mine")} {option(Side::Theirs, "Use theirs")}</td> }
    };
    let rows = move || {
        let several = several();
        conflicts
            .get()
            .into_iter()
            .map(|conflict| {
                let field = conflict.field.label();
                let choice = several.then(|| choice_cell(conflict.field));
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
                        {choice}
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
                {move || several().then_some(" Pick per field below, or keep one side for all.")}
            </p>
            // It may scroll sideways on a narrow screen: a focusable region, so a keyboard
            // can scroll it too.
            <div class="table-wrap" tabindex="0" role="region" aria-label="Your version and theirs, field by field">
                <table class="conflict-table">
                    <thead>
                        <tr>
                            <th scope="col">"Field"</th>
                            <th scope="col">"Your version"</th>
                            <th scope="col">"Their version"</th>
                            <th scope="col">"Before"</th>
                            {move || several().then(|| view! { <th scope="col">"Keep"</th> })}
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
                    on:click=move |_| on_choose.run(ConflictChoice::All(Side::Mine))
                >
                    "Keep mine"
                </button>
                <button
                    type="button"
                    class="button"
                    disabled=move || busy.get()
                    on:click=move |_| on_choose.run(ConflictChoice::All(Side::Theirs))
                >
                    "Use theirs"
                </button>
                {move || {
                    several()
                        .then(|| {
                            view! {
                                <button
                                    type="button"
                                    class="button"
                                    disabled=move || busy.get()
                                    on:click=move |_| {
                                        on_choose.run(ConflictChoice::PerField(per_field()))
                                    }
                                >
                                    "Apply these choices"
                                </button>
                            }
                        })
                }}
            </div>
        </section>
    }
}
