//! Property tests: a simulated server confirms, and a simulated queue drops, actions in random
//! interleavings; whatever happens, the overlay of the server's data equals the server's data
//! with the still-pending actions applied by the server's own rules.

use super::fixtures::*;
use super::*;
use casedesk_model::{CasePatch, CaseSort, NewCase, NewNote, Priority};
use proptest::prelude::*;
use std::collections::BTreeMap;

const TITLES: [&str; 4] = [
    "Printer jams",
    "Network down",
    "printer toner",
    "Login fails",
];

/// Everything the server holds: the client knows it all, including what is gone.
struct Complete<'a>(&'a BTreeMap<Uuid, Case>);

impl KnownCases for Complete<'_> {
    fn known_case(&self, id: Uuid) -> Option<&Case> {
        self.0.get(&id)
    }

    fn known_absent(&self, id: Uuid) -> bool {
        !self.0.contains_key(&id)
    }
}

/// A server applying actions by the contract's rules, at the time each action was made (so
/// its timestamps match the provisional ones), keeping its metrics as events arrive.
#[derive(Clone, Debug)]
struct SimServer {
    cases: BTreeMap<Uuid, Case>,
    notes: Vec<Note>,
    metrics: DashboardMetrics,
}

impl SimServer {
    fn new(cases: Vec<Case>) -> Self {
        let metrics = metrics_for(&cases);
        Self {
            cases: cases.into_iter().map(|c| (c.id, c)).collect(),
            notes: Vec::new(),
            metrics,
        }
    }

    fn bump(series: &mut [DayCount], at: u64) {
        let day = ts(at).utc_date();
        if let Some(entry) = series.iter_mut().find(|d| d.date == day) {
            entry.count += 1;
        }
    }

    fn apply(&mut self, action: &Action) {
        let at = action.created_at.0;
        match &action.kind {
            ActionKind::CreateCase { case } => {
                if self.cases.contains_key(&case.id) {
                    return;
                }
                let created = case.clone().into_case(ts(at));
                *self.metrics.by_status.get_mut(created.status) += 1;
                *self.metrics.by_priority.get_mut(created.priority) += 1;
                Self::bump(&mut self.metrics.opened_per_day, at);
                if created.status == CaseStatus::Resolved {
                    Self::bump(&mut self.metrics.resolved_per_day, at);
                }
                self.cases.insert(created.id, created);
            }
            ActionKind::UpdateCase { id, patch, .. } => {
                let Some(current) = self.cases.get_mut(id) else {
                    return;
                };
                let old = current.clone();
                patch.apply_to(current);
                current.updated_at = current.updated_at.max(ts(at));
                current.version += 1;
                if old.status != current.status {
                    *self.metrics.by_status.get_mut(old.status) -= 1;
                    *self.metrics.by_status.get_mut(current.status) += 1;
                    if current.status == CaseStatus::Resolved {
                        Self::bump(&mut self.metrics.resolved_per_day, at);
                    }
                }
                if old.priority != current.priority {
                    *self.metrics.by_priority.get_mut(old.priority) -= 1;
                    *self.metrics.by_priority.get_mut(current.priority) += 1;
                }
            }
            ActionKind::DeleteCase { id, .. } => {
                if let Some(old) = self.cases.remove(id) {
                    *self.metrics.by_status.get_mut(old.status) -= 1;
                    *self.metrics.by_priority.get_mut(old.priority) -= 1;
                }
            }
            ActionKind::AddNote { case_id, note } => {
                if !self.notes.iter().any(|n| n.id == note.id) {
                    self.notes.push(note.clone().into_note(*case_id, ts(at)));
                }
            }
        }
    }

    /// `GET /cases` as the server answers it.
    fn page(&self, query: &CaseListQuery) -> CaseList {
        let mut matching: Vec<Case> = self
            .cases
            .values()
            .filter(|c| query.matches(c))
            .cloned()
            .collect();
        matching.sort_by(|a, b| query.sort.compare(a, b));
        let total = matching.len() as u64;
        let items = matching
            .into_iter()
            .skip(query.offset() as usize)
            .take(query.per_page as usize)
            .collect();
        CaseList {
            items,
            total,
            page: query.page,
            per_page: query.per_page,
        }
    }

    fn notes_of(&self, case_id: Uuid) -> Vec<Note> {
        self.notes
            .iter()
            .filter(|n| n.case_id == case_id)
            .cloned()
            .collect()
    }
}

#[derive(Clone, Debug)]
enum Step {
    Create {
        title: usize,
        status: usize,
        priority: usize,
    },
    Update {
        case: usize,
        title: Option<usize>,
        status: Option<usize>,
        priority: Option<usize>,
    },
    Delete {
        case: usize,
    },
    Note {
        case: usize,
    },
    /// The server confirms the oldest pending action of the case of `pending[pick]`.
    Confirm {
        pick: usize,
    },
    /// `pending[pick]` fails for good and leaves the queue (with its dependents, if it is a
    /// creation).
    Fail {
        pick: usize,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (0..4usize, 0..4usize, 0..4usize)
            .prop_map(|(title, status, priority)| Step::Create { title, status, priority }),
        4 => (any::<usize>(), proptest::option::of(0..4usize), proptest::option::of(0..4usize), proptest::option::of(0..4usize))
            .prop_map(|(case, title, status, priority)| Step::Update { case, title, status, priority }),
        1 => any::<usize>().prop_map(|case| Step::Delete { case }),
        1 => any::<usize>().prop_map(|case| Step::Note { case }),
        3 => any::<usize>().prop_map(|pick| Step::Confirm { pick }),
        2 => any::<usize>().prop_map(|pick| Step::Fail { pick }),
    ]
}

fn initial_case() -> impl Strategy<Value = (usize, usize, usize, u64)> {
    (0..4usize, 0..4usize, 0..4usize, 0..(20 * DAY))
}

/// The world: the server, the queue's live actions, and every case id ever used.
struct World {
    server: SimServer,
    pending: Vec<Action>,
    ids: Vec<Uuid>,
    next: u128,
    clock: u64,
}

impl World {
    fn new(initial: Vec<(usize, usize, usize, u64)>) -> Self {
        let cases: Vec<Case> = initial
            .into_iter()
            .enumerate()
            .map(|(n, (title, status, priority, age))| {
                let mut c = case(
                    n as u128 + 1,
                    CaseStatus::ALL[status],
                    Priority::ALL[priority],
                    T0 - DAY - age,
                );
                c.title = TITLES[title].into();
                c
            })
            .collect();
        let ids = cases.iter().map(|c| c.id).collect();
        Self {
            server: SimServer::new(cases),
            pending: Vec::new(),
            ids,
            next: 1,
            clock: T0,
        }
    }

    fn shown(&self, id: Uuid) -> Option<Case> {
        case_view(id, self.server.cases.get(&id), &self.pending)
    }

    fn enqueue(&mut self, kind: ActionKind) {
        self.next += 1;
        self.clock += 1_000;
        self.pending.push(Action::new(
            action_id(self.next),
            Uuid::from_u128(2_000_000 + self.next),
            kind,
            Millis(self.clock),
        ));
    }

    fn pick_case(&self, pick: usize) -> Option<Uuid> {
        (!self.ids.is_empty()).then(|| self.ids[pick % self.ids.len()])
    }

    fn run(&mut self, step: &Step) {
        match *step {
            Step::Create {
                title,
                status,
                priority,
            } => {
                let id = case_id(10_000 + self.next);
                self.ids.push(id);
                self.enqueue(ActionKind::CreateCase {
                    case: NewCase {
                        id,
                        title: TITLES[title].into(),
                        description: String::new(),
                        status: CaseStatus::ALL[status],
                        priority: Priority::ALL[priority],
                        assignee: None,
                        tags: vec![],
                    },
                });
            }
            Step::Update {
                case,
                title,
                status,
                priority,
            } => {
                let Some(id) = self.pick_case(case) else {
                    return;
                };
                // A person edits what the screen shows.
                let Some(base) = self.shown(id) else {
                    return;
                };
                let patch = CasePatch {
                    title: title.map(|t| TITLES[t].to_owned()),
                    status: status.map(|s| CaseStatus::ALL[s]),
                    priority: priority.map(|p| Priority::ALL[p]),
                    ..CasePatch::default()
                };
                self.enqueue(ActionKind::UpdateCase {
                    id,
                    patch,
                    base_version: base.version,
                    base,
                });
            }
            Step::Delete { case } => {
                let Some(id) = self.pick_case(case) else {
                    return;
                };
                let Some(last_known) = self.shown(id) else {
                    return;
                };
                self.enqueue(ActionKind::DeleteCase {
                    id,
                    last_known: Some(last_known),
                });
            }
            Step::Note { case } => {
                let Some(case_id) = self.pick_case(case) else {
                    return;
                };
                let note = NewNote {
                    id: Uuid::from_u128(3_000_000 + self.next),
                    body: "note".into(),
                    author: None,
                };
                self.enqueue(ActionKind::AddNote { case_id, note });
            }
            Step::Confirm { pick } => {
                if self.pending.is_empty() {
                    return;
                }
                let case = self.pending[pick % self.pending.len()].case_id();
                // Actions on one case reach the server in order.
                if let Some(first) = self.pending.iter().position(|a| a.case_id() == case) {
                    let action = self.pending.remove(first);
                    self.server.apply(&action);
                }
            }
            Step::Fail { pick } => {
                if self.pending.is_empty() {
                    return;
                }
                let failed = self.pending.remove(pick % self.pending.len());
                if matches!(failed.kind, ActionKind::CreateCase { .. }) {
                    let case = failed.case_id();
                    self.pending.retain(|a| a.case_id() != case);
                }
            }
        }
    }

    /// The server once every pending action is applied: what the view must equal.
    fn ideal(&self) -> SimServer {
        let mut ideal = self.server.clone();
        for action in &self.pending {
            ideal.apply(action);
        }
        ideal
    }
}

/// Versions are the server's to assign; the overlay keeps the confirmed one.
fn without_version(mut case: Case) -> Case {
    case.version = 0;
    case
}

fn list_without_versions(mut list: CaseList) -> CaseList {
    list.items = list.items.into_iter().map(without_version).collect();
    list
}

fn queries() -> Vec<CaseListQuery> {
    let all = CaseListQuery {
        per_page: 200,
        ..CaseListQuery::default()
    };
    vec![
        all.clone(),
        CaseListQuery {
            sort: CaseSort::PriorityDesc,
            ..all.clone()
        },
        CaseListQuery {
            status: Some(CaseStatus::Open),
            sort: CaseSort::CreatedAsc,
            ..all.clone()
        },
        CaseListQuery {
            q: Some("PRINTER".into()),
            priority: Some(Priority::High),
            ..all.clone()
        },
        CaseListQuery {
            q: Some("printer".into()),
            sort: CaseSort::UpdatedAsc,
            ..all
        },
    ]
}

fn check_world(world: &World) -> Result<(), TestCaseError> {
    let ideal = world.ideal();
    let known = Complete(&world.server.cases);
    for id in &world.ids {
        prop_assert_eq!(
            world.shown(*id).map(without_version),
            ideal.cases.get(id).cloned().map(without_version),
            "case {}",
            id
        );
        prop_assert_eq!(
            notes_view(&world.server.notes_of(*id), *id, &world.pending),
            ideal.notes_of(*id)
        );
    }
    for query in queries() {
        let shown = case_list_view(&world.server.page(&query), &query, &world.pending, &known);
        prop_assert_eq!(
            list_without_versions(shown),
            list_without_versions(ideal.page(&query)),
            "{:?}",
            query
        );
    }
    prop_assert_eq!(
        metrics_view(&world.server.metrics, &world.pending, &known),
        ideal.metrics
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_view_is_always_the_server_plus_what_is_still_pending(
        initial in proptest::collection::vec(initial_case(), 0..8),
        steps in proptest::collection::vec(step(), 1..60),
    ) {
        let mut world = World::new(initial);
        for step in &steps {
            world.run(step);
            check_world(&world)?;
        }
    }

    #[test]
    fn paged_views_stay_sorted_filtered_and_counted_exactly(
        initial in proptest::collection::vec(initial_case(), 0..30),
        steps in proptest::collection::vec(step(), 1..40),
        page in 1u32..5,
        per_page in 1u32..6,
        sort in 0..6usize,
        status in proptest::option::of(0..4usize),
    ) {
        let mut world = World::new(initial);
        for step in &steps {
            world.run(step);
        }
        let query = CaseListQuery {
            status: status.map(|s| CaseStatus::ALL[s]),
            sort: CaseSort::ALL[sort],
            page,
            per_page,
            ..CaseListQuery::default()
        };
        let known = Complete(&world.server.cases);
        let shown = case_list_view(&world.server.page(&query), &query, &world.pending, &known);
        let ideal = world.ideal().page(&query);
        prop_assert_eq!(shown.total, ideal.total);
        prop_assert!(shown.items.len() <= per_page as usize);
        prop_assert!(shown.items.iter().all(|c| query.matches(c)));
        prop_assert!(shown
            .items
            .windows(2)
            .all(|w| query.sort.compare(&w[0], &w[1]) == Ordering::Less));
        // Every item shown is a case that exists once the pending actions land, as it will be.
        let after = world.ideal();
        for item in &shown.items {
            let expected = after.cases.get(&item.id).cloned().map(without_version);
            prop_assert_eq!(Some(without_version(item.clone())), expected);
        }
    }

    #[test]
    fn rolling_back_one_action_leaves_every_other_case_as_it_was(
        initial in proptest::collection::vec(initial_case(), 1..12),
        steps in proptest::collection::vec(step(), 1..40),
        drop_pick in any::<usize>(),
    ) {
        let mut world = World::new(initial);
        for step in steps.iter().filter(|s| !matches!(s, Step::Fail { .. })) {
            world.run(step);
        }
        prop_assume!(!world.pending.is_empty());
        let dropped = drop_pick % world.pending.len();
        let dropped_case = world.pending[dropped].case_id();
        let mut fewer = world.pending.clone();
        fewer.remove(dropped);
        let known = Complete(&world.server.cases);
        for query in queries() {
            let page = world.server.page(&query);
            let others = |list: CaseList| -> Vec<Case> {
                list.items.into_iter().filter(|c| c.id != dropped_case).collect()
            };
            prop_assert_eq!(
                others(case_list_view(&page, &query, &world.pending, &known)),
                others(case_list_view(&page, &query, &fewer, &known))
            );
        }
        for id in world.ids.iter().filter(|id| **id != dropped_case) {
            prop_assert_eq!(
                case_view(*id, world.server.cases.get(id), &world.pending),
                case_view(*id, world.server.cases.get(id), &fewer)
            );
        }
    }

    #[test]
    fn rolling_back_one_field_keeps_the_other_fields_change(
        first_field in 0..3usize,
        other_field in 1..3usize,
        value in 0..4usize,
        drop_first in any::<bool>(),
    ) {
        let second_field = (first_field + other_field) % 3;
        let server = case(1, CaseStatus::Open, Priority::Low, T0 - DAY);
        let patch_of = |field: usize| match field {
            0 => CasePatch { title: Some(TITLES[value].into()), ..CasePatch::default() },
            1 => CasePatch { status: Some(CaseStatus::ALL[value]), ..CasePatch::default() },
            _ => CasePatch { priority: Some(Priority::ALL[value]), ..CasePatch::default() },
        };
        let first = update_action(1, &server, patch_of(first_field), T0);
        // The second edit was made on a screen that showed the first.
        let seen = case_view(server.id, Some(&server), [&first]).unwrap();
        let second = update_action(2, &seen, patch_of(second_field), T0 + 1);
        let (kept, kept_field) = if drop_first { (&second, second_field) } else { (&first, first_field) };
        let shown = case_view(server.id, Some(&server), [kept]).unwrap();
        let mut expected = server.with_patch(&patch_of(kept_field));
        expected.updated_at = kept.created_at.0.try_into().ok().and_then(Timestamp::from_unix_millis).unwrap();
        prop_assert_eq!(&shown, &expected);

        let known: BTreeMap<Uuid, Case> = [(server.id, server.clone())].into();
        let metrics = metrics_for(std::slice::from_ref(&server));
        let kept_metrics = metrics_view(&metrics, [kept], &known);
        let alone = metrics_view(&metrics, [&update_action(3, &server, patch_of(kept_field), T0 + 1)], &known);
        prop_assert_eq!(kept_metrics, alone);
    }
}
