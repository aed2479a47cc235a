//! Property tests. A simulated server changes cases and notes over months and logs every
//! change; the device pulls the feed (its working set read at some point of that history,
//! then the log), and the answers to its pulls arrive interleaved with live events of any
//! change, old answers delivered again, and cursors rejected (a fresh working set, read
//! later). Whatever the order, the replica ends equal to the server's working set, and the
//! records it asked to store rebuild it. And a list from the device agrees with a plain
//! filter and sort written here apart from the model.

use super::*;
use crate::action::{Action, ActionKind};
use crate::key::ListKey;
use crate::overlay::NoKnownCases;
use casedesk_model::{
    AssigneeFilter, CaseListQuery, CasePatch, CaseSort, CaseStatus, LogPosition, NewCase, Priority,
    Timestamp,
};
use proptest::prelude::*;
use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, VecDeque};

const ME: &str = "me";
const DAY: u64 = 86_400_000;
/// 2026-11-20T12:00:00Z.
const T0: u64 = 1_795_176_000_000;
/// The simulated history starts a year before `T0`.
const START: u64 = T0 - 365 * DAY;

fn ts(ms: u64) -> Timestamp {
    Timestamp::from_unix_millis(ms as i64).unwrap()
}

const ASSIGNEES: [Option<&str>; 3] = [None, Some(ME), Some("other")];

/// The working set's rule, as `docs/api.md` §6 states it.
fn in_working_set(case: &Case, now: u64) -> bool {
    matches!(case.status, CaseStatus::Open | CaseStatus::InProgress)
        || case.assignee.as_deref() == Some(ME)
        || case.updated_at.unix_millis() as u64 >= now - 90 * DAY
}

/// Log position `number` (the log's entries are numbered from 1).
fn position(number: usize) -> LogPosition {
    LogPosition {
        log: 1,
        number: number as u64,
    }
}

#[derive(Clone, Debug)]
enum Op {
    Create {
        status: usize,
        assignee: usize,
    },
    Update {
        pick: usize,
        status: usize,
        assignee: usize,
    },
    Delete {
        pick: usize,
    },
    Note {
        pick: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..4usize, 0..3usize).prop_map(|(status, assignee)| Op::Create { status, assignee }),
        4 => (any::<usize>(), 0..4usize, 0..3usize)
            .prop_map(|(pick, status, assignee)| Op::Update { pick, status, assignee }),
        1 => any::<usize>().prop_map(|pick| Op::Delete { pick }),
        3 => any::<usize>().prop_map(|pick| Op::Note { pick }),
    ]
}

/// The server's state after some steps.
#[derive(Clone, Debug, Default)]
struct ServerState {
    now: u64,
    cases: BTreeMap<Uuid, Case>,
    notes: BTreeMap<Uuid, Vec<Note>>,
    /// How many changes were logged: this state is log position `logged`.
    logged: usize,
}

#[derive(Debug)]
struct SimServer {
    state: ServerState,
    /// Every change, in commit order; entry `i` is at position `i + 1`.
    log: Vec<Change>,
    /// The log length when each case was created.
    created_at_position: BTreeMap<Uuid, usize>,
    next_id: u128,
}

impl SimServer {
    /// Runs `steps` (hours to wait, then an operation); returns the server and its state
    /// before the first step and after each.
    fn run(steps: &[(u64, Op)]) -> (Self, Vec<ServerState>) {
        let mut server = SimServer {
            state: ServerState {
                now: START,
                ..ServerState::default()
            },
            log: Vec::new(),
            created_at_position: BTreeMap::new(),
            next_id: 1,
        };
        let mut states = vec![server.state.clone()];
        for (wait_hours, op) in steps {
            server.state.now += wait_hours * 3_600_000;
            server.step(op);
            server.state.logged = server.log.len();
            states.push(server.state.clone());
        }
        (server, states)
    }

    fn log_change(&mut self, body: ChangeBody) {
        let seq = position(self.log.len() + 1).seq();
        self.log.push(Change { seq, body });
    }

    fn step(&mut self, op: &Op) {
        let now = self.state.now;
        let ids: Vec<Uuid> = self.state.cases.keys().copied().collect();
        let pick = |pick: usize| ids.get(pick % ids.len().max(1)).copied();
        match (op, op_target(op).and_then(pick)) {
            (
                Op::Update {
                    status, assignee, ..
                },
                Some(id),
            ) => {
                let Some(case) = self.state.cases.get_mut(&id) else {
                    return;
                };
                case.status = CaseStatus::ALL[*status];
                case.assignee = ASSIGNEES[*assignee].map(str::to_owned);
                case.version += 1;
                case.updated_at = ts(now);
                let case = case.clone();
                self.log_change(ChangeBody::Case { case });
            }
            (Op::Delete { .. }, Some(id)) => {
                self.state.cases.remove(&id);
                self.state.notes.remove(&id);
                self.log_change(ChangeBody::CaseDeleted { id });
            }
            (Op::Note { .. }, Some(case_id)) => {
                let note = Note {
                    id: Uuid::from_u128(1_000_000 + self.next_id),
                    case_id,
                    body: format!("note {}", self.next_id),
                    author: "dana".into(),
                    created_at: ts(now),
                    author_id: None,
                };
                self.next_id += 1;
                self.state
                    .notes
                    .entry(case_id)
                    .or_default()
                    .push(note.clone());
                self.log_change(ChangeBody::Note { note });
            }
            // A create, or any operation while there is no case yet.
            _ => {
                let (status, assignee) = match op {
                    Op::Create { status, assignee } => (*status, *assignee),
                    _ => (0, 0),
                };
                let id = Uuid::from_u128(self.next_id);
                self.next_id += 1;
                let case = Case {
                    id,
                    title: format!("Case {id}"),
                    description: String::new(),
                    status: CaseStatus::ALL[status],
                    priority: Priority::Medium,
                    assignee: ASSIGNEES[assignee].map(str::to_owned),
                    tags: vec![],
                    created_at: ts(now),
                    updated_at: ts(now),
                    version: 1,
                    created_by: None,
                    updated_by: None,
                };
                self.created_at_position.insert(id, self.log.len());
                self.state.cases.insert(id, case.clone());
                self.log_change(ChangeBody::Case { case });
            }
        }
    }

    /// A working set read at `state`, as the feed sends it: each case, then its notes, all
    /// with the state's position as `seq`; then every change logged after it.
    fn working_set_stream(&self, state: &ServerState) -> (Vec<Change>, usize) {
        let seq = position(state.logged).seq();
        let mut stream = Vec::new();
        for case in state.cases.values() {
            if in_working_set(case, state.now) {
                stream.push(Change {
                    seq: seq.clone(),
                    body: ChangeBody::Case { case: case.clone() },
                });
                for note in state.notes.get(&case.id).into_iter().flatten() {
                    stream.push(Change {
                        seq: seq.clone(),
                        body: ChangeBody::Note { note: note.clone() },
                    });
                }
            }
        }
        let working_set = stream.len();
        stream.extend(self.log[state.logged..].iter().cloned());
        (stream, working_set)
    }
}

fn op_target(op: &Op) -> Option<usize> {
    match op {
        Op::Create { .. } => None,
        Op::Update { pick, .. } | Op::Delete { pick } | Op::Note { pick } => Some(*pick),
    }
}

/// What happens next to the device.
#[derive(Clone, Debug)]
enum Step {
    /// The oldest pull still waiting is answered.
    Answer,
    /// The oldest pull still waiting is refused: the cursor is unknown (410).
    Reject,
    /// Logged change `n` (modulo the log) arrives live.
    Live(usize),
    /// An answer already delivered arrives again.
    Again(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => Just(Step::Answer),
        1 => Just(Step::Reject),
        4 => any::<usize>().prop_map(Step::Live),
        1 => any::<usize>().prop_map(Step::Again),
    ]
}

#[derive(Clone, Debug)]
struct Scenario {
    history: Vec<(u64, Op)>,
    /// Where in the history each working set asked for is read (the first, the next…).
    reads: Vec<usize>,
    page_sizes: Vec<usize>,
    steps: Vec<Step>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec((0u64..24 * 60, op()), 1..60),
        prop::collection::vec(any::<usize>(), 1..4),
        prop::collection::vec(1usize..6, 1..4),
        prop::collection::vec(step(), 0..60),
    )
        .prop_map(|(history, reads, page_sizes, steps)| {
            // Later reads see a later history.
            let mut reads: Vec<usize> =
                reads.into_iter().map(|r| r % (history.len() + 1)).collect();
            reads.sort_unstable();
            Scenario {
                history,
                reads,
                page_sizes,
                steps,
            }
        })
}

/// The feed as the server serves it. A working set's cursor names which read it is and how
/// far it got (`ws.{read}.{offset}`, not a log position); after it, cursors are positions.
struct SimFeed<'a> {
    server: &'a SimServer,
    states: &'a [ServerState],
    scenario: &'a Scenario,
    /// Working sets read so far: the state index each was read at.
    read: Vec<usize>,
    pages_served: usize,
}

impl SimFeed<'_> {
    fn page_size(&mut self) -> usize {
        let sizes = &self.scenario.page_sizes;
        self.pages_served += 1;
        sizes[self.pages_served % sizes.len()]
    }

    /// The answer to `since`, and which read of a working set it belongs to, if any.
    fn answer(&mut self, since: Option<&Cursor>) -> (ChangePage, Option<usize>) {
        let size = self.page_size();
        let (read, offset) = match since {
            None => {
                let reads = &self.scenario.reads;
                let index = reads[self.read.len().min(reads.len() - 1)];
                self.read.push(index);
                (self.read.len() - 1, 0)
            }
            Some(cursor) => match cursor.position() {
                Some(at) => {
                    let from = at.number as usize;
                    let end = (from + size).min(self.server.log.len());
                    let page = ChangePage {
                        changes: self.server.log[from..end].to_vec(),
                        cursor: Cursor::from(position(end)),
                        more: end < self.server.log.len(),
                    };
                    return (page, None);
                }
                None => {
                    let mut parts = cursor.0.split('.').skip(1);
                    let mut number = || parts.next().and_then(|p| p.parse::<usize>().ok());
                    (number().unwrap(), number().unwrap())
                }
            },
        };
        let state = &self.states[self.read[read]];
        let (stream, working_set) = self.server.working_set_stream(state);
        let end = (offset + size).min(stream.len());
        let cursor = if end < working_set {
            Cursor(format!("ws.{read}.{end}"))
        } else {
            Cursor::from(position(state.logged + (end - working_set)))
        };
        let page = ChangePage {
            changes: stream[offset..end].to_vec(),
            cursor,
            more: end < stream.len(),
        };
        (page, Some(read))
    }
}

/// A scenario played out.
struct Played {
    replica: Replica,
    server: SimServer,
    /// The state the working set the replica holds was read at.
    read_at: ServerState,
    /// Every record the replica asked to store, by storage key, as stored.
    store: BTreeMap<String, String>,
}

/// Plays `scenario`: the replica's pulls are answered in order, the steps interleave what
/// else arrives, and in the end every pull still waiting is answered.
fn play(scenario: &Scenario) -> Played {
    let (server, states) = SimServer::run(&scenario.history);
    let mut feed = SimFeed {
        server: &server,
        states: &states,
        scenario,
        read: Vec::new(),
        pages_served: 0,
    };
    let mut replica = Replica::new(Some(ME.into()));
    let mut store = BTreeMap::new();
    let mut waiting: VecDeque<PullFrom> = VecDeque::new();
    let mut delivered: Vec<(PullFrom, ChangePage, Option<usize>)> = Vec::new();
    // Which read the replica's download is taking.
    let mut holds_read: Option<usize> = None;
    let now = Millis(server.state.now);

    let mut run = |replica: &mut Replica, event: ReplicaEvent, waiting: &mut VecDeque<PullFrom>| {
        let commands = replica.apply(event, now);
        write(&mut store, &commands);
        for command in commands {
            if let ReplicaCommand::Pull(from) = command {
                waiting.push_back(from);
            }
        }
    };
    let mut deliver =
        |replica: &mut Replica,
         from: PullFrom,
         page: ChangePage,
         read: Option<usize>,
         waiting: &mut VecDeque<PullFrom>,
         run: &mut dyn FnMut(&mut Replica, ReplicaEvent, &mut VecDeque<PullFrom>)| {
            if from == replica.pull_from() && read.is_some() {
                holds_read = read;
            }
            run(replica, ReplicaEvent::Page { from, page }, waiting);
        };

    run(&mut replica, ReplicaEvent::Resume, &mut waiting);
    let steps = scenario
        .steps
        .iter()
        .map(Some)
        .chain(std::iter::repeat(None));
    for (count, step) in steps.enumerate() {
        assert!(count < 10_000, "the pulls never end");
        match step {
            Some(Step::Answer) | None => {
                let Some(from) = waiting.pop_front() else {
                    if step.is_none() {
                        break;
                    }
                    continue;
                };
                let (page, read) = feed.answer(from.since.as_ref());
                delivered.push((from.clone(), page.clone(), read));
                deliver(&mut replica, from, page, read, &mut waiting, &mut run);
            }
            Some(Step::Reject) => {
                if waiting.pop_front().is_some() {
                    run(&mut replica, ReplicaEvent::CursorRejected, &mut waiting);
                }
            }
            Some(Step::Live(n)) => {
                if let Some(change) = server.log.get(n % server.log.len().max(1)) {
                    let event = ReplicaEvent::Live(Box::new(change.clone()));
                    run(&mut replica, event, &mut waiting);
                }
            }
            Some(Step::Again(n)) => {
                if let Some((from, page, read)) = delivered.get(n % delivered.len().max(1)).cloned()
                {
                    deliver(&mut replica, from, page, read, &mut waiting, &mut run);
                }
            }
        }
    }
    let read_at = states[feed.read[holds_read.unwrap()]].clone();
    drop(feed);
    Played {
        replica,
        server,
        read_at,
        store,
    }
}

/// Carries out the `Store` commands on `store`, as the glue does on IndexedDB.
fn write(store: &mut BTreeMap<String, String>, commands: &[ReplicaCommand]) {
    for command in commands {
        if let ReplicaCommand::Store(batch) = command {
            for record in &batch.put {
                store.insert(record.key().storage_key(), record.encode().unwrap());
            }
            for key in &batch.delete {
                store.remove(&key.storage_key());
            }
        }
    }
}

fn sorted_notes(notes: &[Note]) -> Vec<Note> {
    let mut notes = notes.to_vec();
    notes.sort_by_key(|n| (n.created_at, n.id));
    notes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_order_of_pages_and_live_events_converges_to_the_servers_working_set(
        scenario in scenario()
    ) {
        let Played { mut replica, server, read_at, .. } = play(&scenario);
        let now = server.state.now;
        prop_assert_eq!(replica.status().snapshot, Snapshot::Complete);
        prop_assert_eq!(replica.cursor(), Some(&Cursor::from(position(server.log.len()))));
        replica.apply(ReplicaEvent::Prune, Millis(now));

        let expected: BTreeMap<Uuid, &Case> = server
            .state
            .cases
            .iter()
            .filter(|(_, case)| in_working_set(case, now))
            .map(|(id, case)| (*id, case))
            .collect();
        let held: BTreeMap<Uuid, &Case> = replica.cases().map(|c| (c.id, c)).collect();
        prop_assert_eq!(&held, &expected);

        let mut held_notes = 0;
        for (id, case) in &expected {
            let server_notes = sorted_notes(server.state.notes.get(id).map_or(&[][..], Vec::as_slice));
            let notes = replica.notes(*id);
            held_notes += notes.notes.len();
            for note in &notes.notes {
                prop_assert!(server_notes.contains(note), "a note the server lacks: {:?}", note);
            }
            // Every note came: the case was in the working set read, or created after it.
            let in_working_set_read = read_at
                .cases
                .get(id)
                .is_some_and(|c| in_working_set(c, read_at.now));
            let created_after = server.created_at_position[id] >= read_at.logged;
            if in_working_set_read || created_after {
                prop_assert_eq!(&notes.notes, &server_notes, "notes of {:?}", case);
            }
            if in_working_set_read {
                prop_assert!(notes.complete);
            }
        }
        prop_assert_eq!(replica.status().notes, held_notes, "no note without its case");
    }

    #[test]
    fn the_records_each_event_stores_rebuild_the_replica(scenario in scenario()) {
        let Played { mut replica, mut store, server, .. } = play(&scenario);
        let later = Millis(server.state.now + 40 * DAY);
        for event in [ReplicaEvent::Prune, ReplicaEvent::Shrink] {
            let commands = replica.apply(event, later);
            write(&mut store, &commands);
        }
        let restored = Replica::restore(
            Some(ME.into()),
            store.values().map(|json| ReplicaRecord::decode(json)),
        );
        prop_assert_eq!(restored.outcome, RestoreOutcome::Intact);
        prop_assert_eq!(&restored.replica, &replica);
        let all: Vec<String> = replica.records().map(|r| r.encode().unwrap()).collect();
        prop_assert_eq!(all.len(), store.len());
    }
}

// Lists from the device against a plain reference.

const TEXTS: [&str; 8] = [
    "Printer JAMS on floor 3",
    "printer toner low",
    "Ärger mit dem Drucker",
    "ärger",
    "ÉCRAN noir",
    "100% done",
    "a_b and c",
    "",
];

const NEEDLES: [&str; 14] = [
    "printer", "PRINTER", " jams ", "Ärger", "ärger", "écran", "ÉCRAN", "0%", "%", "_", "a_b", "x",
    "er", "   ",
];

fn server_cases() -> impl Strategy<Value = Vec<Case>> {
    prop::collection::vec(
        (
            0..4usize,
            0..4usize,
            0..3usize,
            0..8usize,
            0..8usize,
            0u64..200,
            0u64..3,
        ),
        0..40,
    )
    .prop_map(|specs| {
        specs
            .into_iter()
            .enumerate()
            .map(
                |(i, (status, priority, assignee, title, description, age, extra))| {
                    // Coarse times so that ties are common.
                    let updated = T0 - age * DAY;
                    Case {
                        id: Uuid::from_u128((i as u128 * 7_919) % 101 + 1),
                        title: TEXTS[title].to_owned(),
                        description: TEXTS[description].to_owned(),
                        status: CaseStatus::ALL[status],
                        priority: Priority::ALL[priority],
                        assignee: ASSIGNEES[assignee].map(str::to_owned),
                        tags: vec!["printer".into()],
                        created_at: ts(updated - extra * 30 * DAY),
                        updated_at: ts(updated),
                        version: 1,
                        created_by: None,
                        updated_by: None,
                    }
                },
            )
            .map(|case| (case.id, case))
            .collect::<BTreeMap<Uuid, Case>>()
            .into_values()
            .collect()
    })
}

fn list_query() -> impl Strategy<Value = CaseListQuery> {
    (
        prop::option::of(0..4usize),
        prop::option::of(0..4usize),
        prop::option::of(0..NEEDLES.len()),
        prop::option::of(0..4usize),
        0..6usize,
        1u32..4,
        1u32..12,
    )
        .prop_map(
            |(status, priority, q, assignee, sort, page, per_page)| CaseListQuery {
                status: status.map(|s| CaseStatus::ALL[s]),
                priority: priority.map(|p| Priority::ALL[p]),
                q: q.map(|q| NEEDLES[q].to_owned()),
                sort: CaseSort::ALL[sort],
                page,
                per_page,
                assignee: assignee.map(|a| match a {
                    0 => AssigneeFilter::Me,
                    1 => AssigneeFilter::Unassigned,
                    2 => AssigneeFilter::Person(ME.into()),
                    _ => AssigneeFilter::Person("other".into()),
                }),
            },
        )
}

/// Pending actions: `(kind, pick, field)`, applied to the picked server case.
fn pending_specs() -> impl Strategy<Value = Vec<(usize, usize, usize)>> {
    prop::collection::vec((0..3usize, any::<usize>(), 0..4usize), 0..5)
}

fn pending_actions(cases: &[Case], specs: &[(usize, usize, usize)]) -> Vec<Action> {
    specs
        .iter()
        .enumerate()
        .filter_map(|(i, (kind, pick, field))| {
            let at = Millis(T0 + i as u64 * 1_000);
            let id = Uuid::from_u128(5_000 + i as u128);
            let kind = match kind {
                0 => ActionKind::CreateCase {
                    case: NewCase {
                        id: Uuid::from_u128(9_000 + i as u128),
                        title: TEXTS[*field].to_owned(),
                        description: String::new(),
                        status: CaseStatus::ALL[*field],
                        priority: Priority::ALL[*field],
                        assignee: None,
                        tags: vec![],
                    },
                },
                1 => {
                    let base = cases.get(pick % cases.len().max(1))?.clone();
                    ActionKind::UpdateCase {
                        id: base.id,
                        patch: CasePatch {
                            status: Some(CaseStatus::ALL[*field]),
                            priority: Some(Priority::ALL[3 - *field]),
                            ..CasePatch::default()
                        },
                        base_version: base.version,
                        base,
                    }
                }
                _ => {
                    let base = cases.get(pick % cases.len().max(1))?.clone();
                    ActionKind::DeleteCase {
                        id: base.id,
                        last_known: Some(base),
                    }
                }
            };
            Some(Action::new(id, id, kind, at))
        })
        .collect()
}

/// The reference: `cases` with `pending` applied plainly, filtered, sorted and paged.
fn reference(cases: &[Case], pending: &[Action], query: &CaseListQuery) -> (Vec<Case>, u64) {
    let mut shown: BTreeMap<Uuid, Case> = cases.iter().map(|c| (c.id, c.clone())).collect();
    for action in pending {
        let at = ts(action.created_at.0);
        match &action.kind {
            ActionKind::CreateCase { case } => {
                shown.entry(case.id).or_insert_with(|| {
                    let mut created = case.clone().into_case(at);
                    created.version = 0;
                    created
                });
            }
            ActionKind::UpdateCase { id, patch, .. } => {
                if let Some(case) = shown.get_mut(id) {
                    case.status = patch.status.unwrap_or(case.status);
                    case.priority = patch.priority.unwrap_or(case.priority);
                    case.updated_at = case.updated_at.max(at);
                }
            }
            ActionKind::DeleteCase { id, .. } => {
                shown.remove(id);
            }
            ActionKind::AddNote { .. } => {}
        }
    }
    let needle = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let mut matching: Vec<Case> = shown
        .into_values()
        .filter(|c| query.status.is_none_or(|s| c.status == s))
        .filter(|c| query.priority.is_none_or(|p| c.priority == p))
        .filter(|c| match &query.assignee {
            None => true,
            Some(AssigneeFilter::Me) => c.assignee.as_deref() == Some(ME),
            Some(AssigneeFilter::Unassigned) => c.assignee.is_none(),
            Some(AssigneeFilter::Person(p)) => c.assignee.as_deref() == Some(p.as_str()),
        })
        .filter(|c| {
            needle.is_none_or(|n| {
                contains_ascii_folded(&c.title, n) || contains_ascii_folded(&c.description, n)
            })
        })
        .collect();
    let rank = |p: Priority| Priority::ALL.iter().position(|x| *x == p);
    let millis = |t: Timestamp| t.unix_millis();
    match query.sort {
        CaseSort::UpdatedAsc => matching.sort_by_key(|c| (millis(c.updated_at), c.id)),
        CaseSort::UpdatedDesc => matching.sort_by_key(|c| (Reverse(millis(c.updated_at)), c.id)),
        CaseSort::PriorityAsc => matching.sort_by_key(|c| (rank(c.priority), c.id)),
        CaseSort::PriorityDesc => matching.sort_by_key(|c| (Reverse(rank(c.priority)), c.id)),
        CaseSort::CreatedAsc => matching.sort_by_key(|c| (millis(c.created_at), c.id)),
        CaseSort::CreatedDesc => matching.sort_by_key(|c| (Reverse(millis(c.created_at)), c.id)),
    }
    let total = matching.len() as u64;
    let start = (query.page as usize - 1) * query.per_page as usize;
    let page = matching
        .into_iter()
        .skip(start)
        .take(query.per_page as usize)
        .collect();
    (page, total)
}

/// Whether `haystack` holds `needle`, byte for byte, ASCII letters in either case.
fn contains_ascii_folded(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.len() <= h.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn lists_from_the_device_agree_with_a_plain_filter_and_sort(
        cases in server_cases(),
        query in list_query(),
        specs in pending_specs(),
    ) {
        let held: Vec<Case> = cases.iter().filter(|c| in_working_set(c, T0)).cloned().collect();
        let mut replica = Replica::new(Some(ME.into()));
        let changes = held
            .iter()
            .map(|c| Change { seq: position(1).seq(), body: ChangeBody::Case { case: c.clone() } })
            .collect();
        replica
            .apply(
                ReplicaEvent::Page {
                    from: replica.pull_from(),
                    page: ChangePage { changes, cursor: Cursor::from(position(1)), more: false },
                },
                Millis(T0),
            );
        let pending = pending_actions(&cases, &specs);
        let key = ListKey::new(query.clone());

        // Over what it holds, the device lists exactly what the reference does.
        let answer = replica.answer(&key, &pending, &NoKnownCases, Millis(T0));
        let (items, total) = reference(&held, &pending, key.query());
        prop_assert_eq!(&answer.list.items, &items);
        prop_assert_eq!(answer.list.total, total);
        prop_assert_eq!((answer.list.page, answer.list.per_page), (query.page, query.per_page));

        // What it calls complete is the server's whole answer (the client knowing every case
        // an action touches, as its cache does).
        let everything: HashMap<Uuid, Case> = cases.iter().map(|c| (c.id, c.clone())).collect();
        let answer = replica.answer(&key, &pending, &everything, Millis(T0));
        let (server_items, server_total) = reference(&cases, &pending, key.query());
        match answer.coverage {
            Coverage::Complete => {
                prop_assert_eq!(&answer.list.items, &server_items);
                prop_assert_eq!(answer.list.total, server_total);
            }
            Coverage::ItemsComplete => {
                prop_assert_eq!(&answer.list.items, &server_items);
                prop_assert!(answer.list.total <= server_total);
            }
            Coverage::Partial => {}
        }
    }
}
