//! Demo data: about 500 realistic cases over the last 60 days, so the dashboard has a
//! story. Deterministic (a fixed-seed generator; only the dates move with "now"), written
//! in one transaction, and idempotent (`INSERT OR IGNORE` on fixed ids).
//!
//! Cases come from IT, facilities and HR incident templates; priorities lean to medium;
//! older cases are mostly resolved or closed, recent ones mostly open; critical ones are
//! resolved fastest. Each gets 0–4 notes between its creation and its last update.
//!
//! The demo people (`people::DEMO_PEOPLE`, password `casedesk-demo`) are seeded first; cases
//! are assigned to them, created and changed by them, and get history entries: created,
//! the status changes that brought them where they are, and each note. What is new goes
//! into the change log too, so devices already following it receive the new cases.

use crate::cases::{priority_rank, CaseRecord};
use crate::clock::DAY_MS;
use crate::db::{DbError, Sql};
use crate::{history, people};
use casedesk_model::{Case, CaseStatus, ChangeBody, Note, Priority, Timestamp};
use casedesk_model::{FieldChange, HistoryKind};
use uuid::Uuid;

const HOUR_MS: i64 = 3_600_000;
const SEED: u64 = 0xCA5E_DE5C;
const SPAN_DAYS: i64 = 60;

struct Template {
    title: &'static str,
    description: &'static str,
    tags: &'static [&'static str],
}

const TEMPLATES: &[Template] = &[
    Template { title: "Printer on floor {floor} jams on every job", description: "The shared printer near the {place} jams after one or two pages. Users reroute to floor {other}.", tags: &["hardware", "printing"] },
    Template { title: "Cannot connect to VPN from home", description: "The VPN client times out at 'Authenticating'. Started after yesterday's password change.", tags: &["network", "vpn", "remote"] },
    Template { title: "Laptop will not boot after update", description: "Stuck on the manufacturer logo since the overnight update. Needs the laptop for a client meeting at {hour}:00.", tags: &["hardware", "laptop"] },
    Template { title: "Outlook keeps asking for password", description: "Password prompt reappears every few minutes; the account is not locked.", tags: &["email", "software"] },
    Template { title: "Wi-Fi drops in meeting room {room}", description: "Connections drop every 10-15 minutes in room {room}. Several people affected during calls.", tags: &["network", "wifi"] },
    Template { title: "New starter needs accounts set up", description: "{person} starts on Monday in {team}: needs email, laptop, badge and access to the shared drive.", tags: &["onboarding", "access"] },
    Template { title: "Access request: finance shared drive", description: "Please grant read access to the finance drive for the quarterly audit.", tags: &["access", "finance"] },
    Template { title: "Air conditioning not working on floor {floor}", description: "Temperature near the {place} is above 28 °C. Facilities ticket requested by the floor warden.", tags: &["facilities", "hvac"] },
    Template { title: "Water leak in {place}", description: "Water dripping from the ceiling tile near the {place}. Bucket placed; needs a plumber.", tags: &["facilities", "plumbing"] },
    Template { title: "Badge reader at entrance {room} rejects badges", description: "Reader shows a red light for valid badges since this morning; people are let in manually.", tags: &["facilities", "security", "access"] },
    Template { title: "Broken chair in open space {room}", description: "Gas lift failed; the chair sinks to the lowest position.", tags: &["facilities", "furniture"] },
    Template { title: "Payroll shows wrong overtime hours", description: "Overtime from the second half of last month is missing on the payslip of {person}.", tags: &["hr", "payroll"] },
    Template { title: "Leave balance incorrect after carry-over", description: "The HR portal shows {days} days fewer than expected after the annual carry-over.", tags: &["hr", "leave"] },
    Template { title: "Request for ergonomic assessment", description: "{person} reports wrist pain and asks for a workstation assessment.", tags: &["hr", "health"] },
    Template { title: "Phishing email reported", description: "Suspicious email impersonating the CEO asking for gift cards. Forwarded to security.", tags: &["security", "email"] },
    Template { title: "Suspicious login alert for {person}", description: "Login from an unusual country flagged by the identity provider. Sessions revoked pending review.", tags: &["security", "access"] },
    Template { title: "CRM very slow to load customer pages", description: "Customer pages take 20-30 s to open since the last release; support queue is backing up.", tags: &["software", "performance", "crm"] },
    Template { title: "Monitor flickers on desk {room}", description: "External monitor flickers when the laptop is docked. Tried another cable.", tags: &["hardware", "display"] },
    Template { title: "Licence needed for design software", description: "{team} needs two more seats for the design suite for the campaign launch.", tags: &["software", "licensing"] },
    Template { title: "Projector in room {room} shows no signal", description: "HDMI and wireless casting both show 'no signal'. Board meeting there at {hour}:00.", tags: &["hardware", "meeting-room"] },
    Template { title: "Shared calendar permissions broken", description: "Team members can no longer edit the {team} shared calendar.", tags: &["software", "email", "access"] },
    Template { title: "Parking permit for new employee", description: "{person} needs a parking permit from next week.", tags: &["facilities", "onboarding"] },
    Template { title: "Backup job failed on file server", description: "Nightly backup ended with errors for the {team} share; last good copy is from {days} days ago.", tags: &["infrastructure", "backup"] },
    Template { title: "Expense report stuck in approval", description: "Expense report submitted {days} days ago is still pending; the approver left the company.", tags: &["finance", "workflow"] },
    Template { title: "Kitchen dishwasher out of order on floor {floor}", description: "Dishwasher shows error E24 and does not drain.", tags: &["facilities", "kitchen"] },
    Template { title: "Offboarding: revoke access for leaver", description: "{person} leaves on Friday: disable accounts, collect laptop and badge.", tags: &["hr", "offboarding", "access"] },
];

const PEOPLE: &[&str] = &[
    "Alex Kim",
    "Sam Patel",
    "Jordan Lee",
    "Maria Garcia",
    "Chen Wei",
    "Fatima Noor",
    "Tom Becker",
    "Ines Duarte",
];
const TEAMS: &[&str] = &[
    "Sales",
    "Marketing",
    "Finance",
    "Support",
    "Engineering",
    "Legal",
];
const PLACES: &[&str] = &[
    "kitchen",
    "lifts",
    "reception",
    "east stairwell",
    "print corner",
    "quiet room",
];
/// The assignee names of the demo data before people; only their count is used now, so the
/// draws (and the generated cases) stay as they were.
const ASSIGNEES: &[&str] = &["dana", "lee", "sam", "priya", "marco", "aiko", "jonas"];
const NOTE_LINES: &[&str] = &[
    "Picked this up, looking into it now.",
    "Asked the reporter for a screenshot and the exact time it happened.",
    "Could reproduce it. Escalating to the second line.",
    "Vendor contacted; they will send a technician tomorrow morning.",
    "Workaround shared with the team while we wait for the part.",
    "Reporter confirms it works again after the restart.",
    "Parts ordered, expected delivery in two working days.",
    "Checked the logs: it started right after the last change window.",
    "Spoke to facilities, they are on site this afternoon.",
    "Closing the loop: root cause documented in the knowledge base.",
];

/// SplitMix64: small, fast, and stable for ever (unlike `rand`'s StdRng).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn word(&mut self, words: &[&'static str]) -> &'static str {
        words[self.below(words.len())]
    }

    fn uuid(&mut self) -> Uuid {
        let high = u128::from(self.next()) << 64;
        uuid::Builder::from_random_bytes((high | u128::from(self.next())).to_be_bytes()).into_uuid()
    }

    /// Exponentially distributed with the given mean.
    fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
}

fn fill(text: &str, rng: &mut Rng) -> String {
    let floor = 1 + rng.below(6);
    text.replace("{floor}", &floor.to_string())
        .replace("{other}", &(1 + (floor % 6)).to_string())
        .replace(
            "{room}",
            &format!("{}{:02}", ["A", "B", "C"][rng.below(3)], 1 + rng.below(20)),
        )
        .replace("{place}", rng.word(PLACES))
        .replace("{person}", rng.word(PEOPLE))
        .replace("{team}", rng.word(TEAMS))
        .replace("{hour}", &(9 + rng.below(8)).to_string())
        .replace("{days}", &(2 + rng.below(9)).to_string())
}

fn priority(rng: &mut Rng) -> Priority {
    match rng.unit() {
        u if u < 0.28 => Priority::Low,
        u if u < 0.68 => Priority::Medium,
        u if u < 0.92 => Priority::High,
        _ => Priority::Critical,
    }
}

/// Mean hours to resolution by priority.
fn mean_hours_to_resolve(priority: Priority) -> f64 {
    match priority {
        Priority::Critical => 6.0,
        Priority::High => 20.0,
        Priority::Medium => 50.0,
        Priority::Low => 110.0,
    }
}

/// A generated case with its notes.
struct DemoCase {
    record: CaseRecord,
    notes: Vec<(Uuid, String, DemoPerson, i64)>,
}

/// A demo person as the seed uses them: `(id, name)`.
type DemoPerson = (Uuid, &'static str);

/// The demo person behind one of the old free-text assignee names; the draw stays the same
/// (so the generated cases do), and each name maps to one person.
fn demo_person(index: usize) -> DemoPerson {
    let people = people::DEMO_PEOPLE;
    let (id, name, ..) = people[index % people.len()];
    (id, name)
}

fn generate(rng: &mut Rng, now_ms: i64) -> DemoCase {
    let template = rng.pick(TEMPLATES);
    // More cases recently (a growing backlog), mostly in working hours.
    let age_days = (rng.unit().powf(1.3) * SPAN_DAYS as f64) as i64;
    let day_start = (now_ms / DAY_MS - age_days) * DAY_MS;
    let mut created = day_start + (8 * HOUR_MS) + (rng.unit() * 10.0 * HOUR_MS as f64) as i64;
    if created > now_ms {
        created = now_ms - (rng.unit() * 2.0 * HOUR_MS as f64) as i64;
    }
    let priority = priority(rng);
    let resolve_after =
        (rng.exponential(mean_hours_to_resolve(priority)) * HOUR_MS as f64) as i64 + 15 * 60_000;
    let resolved_at = created + resolve_after;
    let closed_at = resolved_at + (1 + rng.below(5)) as i64 * DAY_MS;
    let started_at = created + (resolve_after as f64 * 0.2 * rng.unit()) as i64;

    let (status, updated, resolved, closed, version) = if closed_at <= now_ms && rng.unit() < 0.7 {
        (
            CaseStatus::Closed,
            closed_at,
            Some(resolved_at),
            Some(closed_at),
            4,
        )
    } else if resolved_at <= now_ms {
        (
            CaseStatus::Resolved,
            resolved_at,
            Some(resolved_at),
            None,
            3,
        )
    } else if started_at <= now_ms && rng.unit() < 0.6 {
        (CaseStatus::InProgress, started_at, None, None, 2)
    } else {
        (CaseStatus::Open, created, None, None, 1)
    };
    let assignee = match status {
        CaseStatus::Open if rng.unit() < 0.5 => None,
        _ => Some(demo_person(rng.below(ASSIGNEES.len()))),
    };
    // Whoever is assigned made the changes; unassigned cases were opened by the admin.
    let actor = assignee.unwrap_or_else(|| demo_person(0));
    let mut tags: Vec<String> = template.tags.iter().map(|t| (*t).to_owned()).collect();
    if priority == Priority::Critical && rng.unit() < 0.5 {
        tags.push("urgent".into());
    }
    let ms = |t: i64| Timestamp::from_unix_millis(t).unwrap_or(Timestamp::UNIX_EPOCH);
    let case = Case {
        created_by: Some(actor.0),
        updated_by: Some(actor.0),
        id: rng.uuid(),
        title: fill(template.title, rng),
        description: fill(template.description, rng),
        status,
        priority,
        assignee: assignee.map(|(id, _)| id.to_string()),
        tags,
        created_at: ms(created),
        updated_at: ms(updated),
        version,
    };
    let note_count = match status {
        CaseStatus::Open => rng.below(2),
        _ => 1 + rng.below(4),
    };
    let mut notes = Vec::new();
    let mut at = created;
    for _ in 0..note_count {
        at += ((updated - at).max(60_000) as f64 * rng.unit() * 0.6) as i64 + 60_000;
        let author = assignee.unwrap_or_else(|| demo_person(rng.below(ASSIGNEES.len())));
        notes.push((
            rng.uuid(),
            (*rng.pick(NOTE_LINES)).to_owned(),
            author,
            at.min(now_ms),
        ));
    }
    DemoCase {
        record: CaseRecord {
            case,
            resolved_at: resolved,
            closed_at: closed,
            deleted: false,
        },
        notes,
    }
}

/// Writes `count` demo cases (with notes) in the caller's transaction; returns how many
/// were new.
///
/// The demo people come first, with `demo_password_hash` (people who have a password keep it).
pub(crate) fn seed(
    tx: &dyn Sql,
    count: u32,
    now: Timestamp,
    demo_password_hash: &str,
) -> Result<usize, DbError> {
    let mut rng = Rng(SEED);
    let now_ms = now.unix_millis();
    people::seed_demo(tx, demo_password_hash)?;
    let mut inserted = 0;
    let mut logged = Vec::new();
    for _ in 0..count {
        let demo = generate(&mut rng, now_ms);
        let case = &demo.record.case;
        let tags = serde_json::to_string(&case.tags).unwrap_or_else(|_| "[]".into());
        let added = tx.execute(
            "INSERT INTO cases (id, title, description, status, priority, assignee,
                 tags, created_at, updated_at, version, resolved_at, closed_at, deleted_at,
                 created_by, updated_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, NULL, ?13, ?13)
             ON CONFLICT (id) DO NOTHING",
            &[
                case.id.into(),
                case.title.as_str().into(),
                case.description.as_str().into(),
                case.status.as_str().into(),
                priority_rank(case.priority).into(),
                case.assignee.as_deref().into(),
                tags.into(),
                case.created_at.unix_millis().into(),
                case.updated_at.unix_millis().into(),
                i64::try_from(case.version).unwrap_or(1).into(),
                demo.record.resolved_at.into(),
                demo.record.closed_at.into(),
                case.created_by.into(),
            ],
        )?;
        if added == 0 {
            continue;
        }
        inserted += 1;
        write_history(tx, &demo)?;
        for (id, body, (author_id, author), at) in &demo.notes {
            tx.execute(
                "INSERT INTO notes (id, case_id, body, author, created_at, author_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (id) DO NOTHING",
                &[
                    (*id).into(),
                    case.id.into(),
                    body.as_str().into(),
                    (*author).into(),
                    (*at).into(),
                    (*author_id).into(),
                ],
            )?;
        }
        logged.push(ChangeBody::Case { case: case.clone() });
        for (id, body, (author_id, author), at) in &demo.notes {
            logged.push(ChangeBody::Note {
                note: Note {
                    id: *id,
                    case_id: case.id,
                    body: body.clone(),
                    author: (*author).to_owned(),
                    created_at: Timestamp::from_unix_millis(*at).unwrap_or(now),
                    author_id: Some(*author_id),
                },
            });
        }
    }
    crate::change_log::append(tx, now, logged)?;
    Ok(inserted)
}

/// A demo case's history, in time order: its creation (as open), each status step up to
/// the one it is in, and its notes.
fn write_history(tx: &dyn Sql, demo: &DemoCase) -> Result<(), DbError> {
    let case = &demo.record.case;
    let ms = |t: i64| Timestamp::from_unix_millis(t).unwrap_or(Timestamp::UNIX_EPOCH);
    let mut opened = case.clone();
    opened.status = CaseStatus::Open;
    let mut entries: Vec<(i64, Option<Uuid>, HistoryKind, Vec<FieldChange>)> = vec![(
        case.created_at.unix_millis(),
        case.created_by,
        HistoryKind::Created,
        history::created(&opened),
    )];
    let mut previous = CaseStatus::Open;
    let steps = [
        (CaseStatus::InProgress, None),
        (CaseStatus::Resolved, demo.record.resolved_at),
        (CaseStatus::Closed, demo.record.closed_at),
    ];
    for (status, at) in steps {
        if status > case.status {
            break;
        }
        let change = FieldChange {
            field: "status".into(),
            from: serde_json::to_value(previous).unwrap_or_default(),
            to: serde_json::to_value(status).unwrap_or_default(),
        };
        let at = at.unwrap_or(case.updated_at.unix_millis());
        entries.push((at, case.updated_by, HistoryKind::Updated, vec![change]));
        previous = status;
    }
    for (id, _, (author_id, _), at) in &demo.notes {
        let change = FieldChange {
            field: "note".into(),
            from: serde_json::Value::Null,
            to: serde_json::Value::String(id.to_string()),
        };
        entries.push((*at, Some(*author_id), HistoryKind::NoteAdded, vec![change]));
    }
    // A stable sort keeps creation first when a note shares its instant.
    entries.sort_by_key(|(at, ..)| *at);
    for (at, actor, kind, changes) in entries {
        history::record(tx, case.id, ms(at), actor, kind, &changes)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_data_is_deterministic_realistic_and_idempotent() {
        let now = Timestamp::parse("2026-11-21T10:00:00Z").unwrap();
        let (db, _) = crate::db::Db::memory();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let (first, second, metrics) = rt
            .block_on(db.with_writer(move |conn| {
                let first = seed(conn, 500, now, "$argon2id$demo")?;
                let second = seed(conn, 500, now, "$argon2id$demo")?;
                Ok((first, second, crate::metrics::compute(conn, now)?))
            }))
            .unwrap();
        assert_eq!((first, second), (500, 0));
        let s = metrics.by_status;
        assert_eq!(s.total(), 500);
        assert!(
            s.open > 20 && s.in_progress > 10 && s.resolved > 20 && s.closed > 100,
            "{s:?}"
        );
        let p = metrics.by_priority;
        assert!(
            p.medium > p.low && p.low > p.critical && p.critical > 10,
            "{p:?}"
        );
        assert!(metrics.opened_per_day.iter().all(|d| d.count > 0));
        let mean = metrics.mean_hours_to_resolve.unwrap();
        assert!((10.0..100.0).contains(&mean), "{mean}");

        let mut a = Rng(SEED);
        let mut b = Rng(SEED);
        let now_ms = now.unix_millis();
        assert_eq!(
            generate(&mut a, now_ms).record,
            generate(&mut b, now_ms).record
        );
    }
}
