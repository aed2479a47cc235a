//! One query entry's state machine: the last server answer with its ETag and age, the fetch
//! in flight or the retry it waits for, and who is looking. The cache drives the transitions;
//! views read the state.

use crate::clock::{DurationMs, Millis, Random};
use crate::data::QueryData;
use crate::failure::{Failure, FailureClass};
use crate::key::QueryKey;
use crate::retry::RetryPolicy;
use crate::tab_share::{SharedRecord, SharedStamp};
use serde::{Deserialize, Serialize};

/// How one query behaves. The defaults suit casedesk's data; a view may override any field
/// when it observes a key (the latest observer's options win, as in TanStack Query).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryOptions {
    /// How long a successful answer counts as fresh. Fresh data is shown without a refetch.
    pub stale_time: DurationMs,
    /// How long an entry nobody observes stays in memory before it is dropped.
    pub gc_time: DurationMs,
    /// How transient failures are retried.
    pub retry: RetryPolicy,
    /// Refetch a stale observed entry when the window regains focus.
    pub refetch_on_focus: bool,
    /// Refetch a stale observed entry when the network comes back.
    pub refetch_on_reconnect: bool,
}

impl QueryOptions {
    /// 30 s. TanStack's default is 0 (always refetch on mount), which suits apps without a
    /// push channel. casedesk's server pushes a change event for every accepted write, and
    /// those invalidate the affected keys at once, so staleness by age is only the safety
    /// net for a missed event: 30 s keeps back-and-forth navigation free of requests while
    /// bounding how long a missed change can hide.
    pub const DEFAULT_STALE_TIME: DurationMs = DurationMs::from_secs(30);

    /// 24 h: what TanStack advises when the cache is persisted (gcTime at least the
    /// persister's maxAge, 24 h by default). An entry collected is also deleted from this
    /// device, and an offline-first app must not forget a case opened ten minutes ago: with
    /// 5 min, a person offline found cases they had just worked on "not on this device".
    /// Memory stays bounded by the LRU limits (`CacheConfig`), not by this clock.
    pub const DEFAULT_GC_TIME: DurationMs = DurationMs::from_mins(24 * 60);

    pub const DEFAULT: QueryOptions = QueryOptions {
        stale_time: Self::DEFAULT_STALE_TIME,
        gc_time: Self::DEFAULT_GC_TIME,
        retry: RetryPolicy::QUERY,
        refetch_on_focus: true,
        refetch_on_reconnect: true,
    };

    pub fn with_stale_time(mut self, stale_time: DurationMs) -> Self {
        self.stale_time = stale_time;
        self
    }

    pub fn with_gc_time(mut self, gc_time: DurationMs) -> Self {
        self.gc_time = gc_time;
        self
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }
}

impl Default for QueryOptions {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Names one request the cache asked for, so the answer to an abandoned request (cancelled,
/// or its entry removed) is told apart from the answer to the current one and ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct FetchId(pub u64);

/// What a view shows, as TanStack's `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueryStatus {
    /// No data and no final error yet (the first fetch is under way, waiting, or paused).
    Loading,
    /// There is data (possibly stale, possibly being revalidated).
    Success,
    /// The last fetch failed for good. Data from before, if any, is still there to show.
    Error,
}

/// Whether a request is under way, as TanStack's `fetchStatus`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FetchStatus {
    Idle,
    /// A request is in flight, or the next attempt is scheduled (backoff, budget).
    Fetching,
    /// A fetch is wanted but the device is offline; it starts when the network returns.
    Paused,
}

/// Why an entry waits before its next attempt. It decides what a reconnect does to the wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitReason {
    /// Exponential backoff after a transient failure; a reconnect cuts it short, since the
    /// failure was most likely the network that just came back.
    Backoff,
    /// The server's `Retry-After`, or the client's request budget: a reconnect changes
    /// neither, so the wait is kept.
    Throttled,
}

/// The fetch side of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FetchState {
    Idle,
    InFlight {
        id: FetchId,
        started_at: Millis,
        /// Invalidated while in flight: the answer may predate the change, so the entry
        /// stays stale when it lands and observed entries fetch once more.
        refetch_after: bool,
        /// The last observer left; the request is cancelled at the next tick unless an
        /// observer returns first (a view re-mounting in the same turn keeps it).
        orphaned: bool,
    },
    Waiting {
        at: Millis,
        reason: WaitReason,
    },
    Paused,
}

/// How a finished request went, for timing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Completed {
    pub(crate) elapsed: DurationMs,
    pub(crate) refetch_after: bool,
}

/// What the entry does after a failed attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AfterFailure {
    /// Try again at this time.
    RetryAt(Millis),
    /// Offline: wait for the network, without counting the attempt.
    Paused,
    /// Given up: the failure is now the entry's error.
    Final,
}

/// One cached query.
#[derive(Clone, Debug)]
pub struct QueryEntry {
    data: Option<QueryData>,
    etag: Option<String>,
    fetched_at: Option<Millis>,
    /// When the request that produced (or, by a 304, confirmed) the data was sent: the data
    /// reflects every server change made before this instant. `None` when unknown (restored).
    data_requested_at: Option<Millis>,
    /// Marked stale by an invalidation (or restored from storage) regardless of age.
    invalidated: bool,
    /// When the last invalidation happened (`None` when restored): data from another tab
    /// clears it only if its request was sent after this.
    invalidated_at: Option<Millis>,
    /// The final error of the last fetch sequence; cleared by the next success.
    error: Option<Failure>,
    /// The latest failure, including ones still being retried (TanStack's `failureReason`).
    last_failure: Option<Failure>,
    /// Counted failed attempts in the current fetch sequence.
    failure_count: u32,
    fetch: FetchState,
    observers: u32,
    /// When the last observer left; `None` while observed. Starts the GC clock.
    unobserved_since: Option<Millis>,
    /// Last time a view observed, prefetched or wrote this entry.
    last_access: Millis,
    /// A cache-wide counter at last access: a total order for LRU even within one millisecond.
    access_seq: u64,
    size_bytes: u64,
    options: QueryOptions,
    /// Bumped on every change a view could see.
    revision: u64,
    /// Whether `revision` moved since the cache last notified for this entry.
    changed: bool,
    /// Set when `data` is replaced or dropped, taken by the cache's case index: staleness
    /// changes (an invalidation touches every list page) then cost the index nothing.
    data_changed: bool,
}

impl QueryEntry {
    /// An empty entry, not yet observed: its GC clock starts now.
    pub(crate) fn new(options: QueryOptions, now: Millis, access_seq: u64) -> Self {
        Self {
            data: None,
            etag: None,
            fetched_at: None,
            data_requested_at: None,
            invalidated: false,
            invalidated_at: None,
            error: None,
            last_failure: None,
            failure_count: 0,
            fetch: FetchState::Idle,
            observers: 0,
            unobserved_since: Some(now),
            last_access: now,
            access_seq,
            size_bytes: 0,
            options,
            revision: 0,
            changed: true,
            data_changed: false,
        }
    }

    // ---- what views and the glue read ----

    pub fn data(&self) -> Option<&QueryData> {
        self.data.as_ref()
    }

    pub fn etag(&self) -> Option<&str> {
        self.etag.as_deref()
    }

    pub fn fetched_at(&self) -> Option<Millis> {
        self.fetched_at
    }

    /// The final error, when the last fetch sequence gave up.
    pub fn error(&self) -> Option<&Failure> {
        self.error.as_ref()
    }

    /// The latest failure, also while retries are still pending ("retrying: server busy").
    pub fn last_failure(&self) -> Option<&Failure> {
        self.last_failure.as_ref()
    }

    /// Counted failed attempts in the current (or last) fetch sequence.
    pub fn failure_count(&self) -> u32 {
        self.failure_count
    }

    pub fn observers(&self) -> u32 {
        self.observers
    }

    pub fn is_observed(&self) -> bool {
        self.observers > 0
    }

    pub fn last_access(&self) -> Millis {
        self.last_access
    }

    /// The response body length of the data held (an estimate for data set locally).
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    pub fn options(&self) -> &QueryOptions {
        &self.options
    }

    /// Changes whenever something a view shows changes: a cheap equality for memos.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Whether the data was replaced or dropped since this was last asked, and forget it.
    pub(crate) fn take_data_changed(&mut self) -> bool {
        std::mem::take(&mut self.data_changed)
    }

    pub fn is_invalidated(&self) -> bool {
        self.invalidated
    }

    /// Stale: no data, invalidated, or older than `stale_time`.
    pub fn is_stale(&self, now: Millis) -> bool {
        if self.invalidated || self.data.is_none() {
            return true;
        }
        self.fetched_at
            .is_none_or(|at| now.since(at) >= self.options.stale_time)
    }

    pub fn status(&self) -> QueryStatus {
        if self.error.is_some() {
            QueryStatus::Error
        } else if self.data.is_some() {
            QueryStatus::Success
        } else {
            QueryStatus::Loading
        }
    }

    pub fn fetch_status(&self) -> FetchStatus {
        match self.fetch {
            FetchState::Idle => FetchStatus::Idle,
            FetchState::InFlight { .. } | FetchState::Waiting { .. } => FetchStatus::Fetching,
            FetchState::Paused => FetchStatus::Paused,
        }
    }

    /// A request is in flight or about to be retried.
    pub fn is_fetching(&self) -> bool {
        self.fetch_status() == FetchStatus::Fetching
    }

    /// When the next attempt is due, if one is scheduled.
    pub fn next_attempt_at(&self) -> Option<Millis> {
        match self.fetch {
            FetchState::Waiting { at, .. } => Some(at),
            _ => None,
        }
    }

    /// The latest instant the server's state is known to be reflected by this entry, now or
    /// once the request in flight lands: every change the server applied before it is (or
    /// will be) in the data. `None` when unknown.
    pub fn reflects_server_state_at(&self) -> Option<Millis> {
        let in_flight = match self.fetch {
            FetchState::InFlight { started_at, .. } => Some(started_at),
            _ => None,
        };
        in_flight.max(self.data_requested_at)
    }

    /// The request in flight, if any.
    pub fn in_flight(&self) -> Option<FetchId> {
        match self.fetch {
            FetchState::InFlight { id, .. } => Some(id),
            _ => None,
        }
    }

    // ---- crate-internal: read by the cache ----

    pub(crate) fn fetch_state(&self) -> FetchState {
        self.fetch
    }

    pub(crate) fn access_seq(&self) -> u64 {
        self.access_seq
    }

    /// When GC may drop this entry: `gc_time` after the last observer left. Never while a
    /// request is in flight, since its answer is on the way.
    pub(crate) fn gc_due_at(&self) -> Option<Millis> {
        match (self.unobserved_since, self.fetch) {
            (_, FetchState::InFlight { .. }) => None,
            (Some(since), _) => Some(since + self.options.gc_time),
            (None, _) => None,
        }
    }

    /// The earliest time this entry needs the cache's attention: a scheduled attempt, the
    /// cancellation of an orphaned request, or its GC.
    pub(crate) fn next_deadline(&self) -> Option<Millis> {
        let fetch_due = match self.fetch {
            FetchState::Waiting { at, .. } => Some(at),
            FetchState::InFlight { orphaned: true, .. } if !self.is_observed() => {
                self.unobserved_since
            }
            _ => None,
        };
        match (fetch_due, self.gc_due_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Reports (once) whether a view-visible change happened since the last call.
    pub(crate) fn take_changed(&mut self) -> bool {
        std::mem::replace(&mut self.changed, false)
    }

    // ---- transitions ----

    fn bump(&mut self) {
        self.revision = self.revision.wrapping_add(1);
        self.changed = true;
    }

    pub(crate) fn touch(&mut self, now: Millis, access_seq: u64) {
        self.last_access = now;
        self.access_seq = access_seq;
    }

    /// A view mounts. Its options replace the entry's; the GC clock stops; an orphaned
    /// request is adopted again rather than cancelled.
    pub(crate) fn observe(&mut self, options: QueryOptions, now: Millis, access_seq: u64) {
        self.observers = self.observers.saturating_add(1);
        self.unobserved_since = None;
        self.options = options;
        self.touch(now, access_seq);
        if let FetchState::InFlight { orphaned, .. } = &mut self.fetch {
            *orphaned = false;
        }
    }

    /// A view unmounts. Returns whether that was the last observer. When it was, a request
    /// in flight is marked orphaned (cancelled at the next tick unless adopted again), and a
    /// pending retry or paused fetch is dropped: nobody is waiting for it, and the entry,
    /// still stale, fetches again when a view next asks.
    pub(crate) fn unobserve(&mut self, now: Millis) -> bool {
        if self.observers == 0 {
            return false;
        }
        self.observers -= 1;
        if self.observers > 0 {
            return false;
        }
        self.unobserved_since = Some(now);
        match &mut self.fetch {
            FetchState::InFlight { orphaned, .. } => *orphaned = true,
            FetchState::Waiting { .. } | FetchState::Paused => {
                self.fetch = FetchState::Idle;
                self.bump();
            }
            FetchState::Idle => {}
        }
        true
    }

    /// Starts a request; returns the ETag to send as `If-None-Match` (only when there is
    /// data it stands for, since a 304 without data to keep would leave nothing).
    pub(crate) fn begin_fetch(&mut self, id: FetchId, now: Millis) -> Option<String> {
        self.start_sequence_if_idle();
        self.fetch = FetchState::InFlight {
            id,
            started_at: now,
            refetch_after: false,
            orphaned: false,
        };
        self.bump();
        self.data.as_ref().and(self.etag.clone())
    }

    /// Wants a request but the device is offline.
    pub(crate) fn pause(&mut self) {
        if self.fetch != FetchState::Paused {
            self.start_sequence_if_idle();
            self.fetch = FetchState::Paused;
            self.bump();
        }
    }

    /// A fetch that starts from idle begins a new sequence: earlier failures no longer count.
    fn start_sequence_if_idle(&mut self) {
        if self.fetch == FetchState::Idle {
            self.failure_count = 0;
        }
    }

    /// Abandons the request in flight (or the planned one); returns the request to abort.
    pub(crate) fn cancel_fetch(&mut self) -> Option<FetchId> {
        let id = self.in_flight();
        if self.fetch != FetchState::Idle {
            self.fetch = FetchState::Idle;
            self.bump();
        }
        id
    }

    fn completes(&self, fetch: FetchId) -> Option<(Millis, bool)> {
        match self.fetch {
            FetchState::InFlight {
                id,
                started_at,
                refetch_after,
                ..
            } if id == fetch => Some((started_at, refetch_after)),
            _ => None,
        }
    }

    /// A 200 answered request `fetch`. `None` when that request is not the current one (its
    /// answer is dropped). A case never goes back to an older version: an answer that left
    /// the server before a mutation's reply (`set_data`) may land after it.
    pub(crate) fn succeed(
        &mut self,
        fetch: FetchId,
        data: QueryData,
        etag: Option<String>,
        size_bytes: u64,
        now: Millis,
    ) -> Option<Completed> {
        let (started_at, refetch_after) = self.completes(fetch)?;
        self.fetch = FetchState::Idle;
        self.error = None;
        self.last_failure = None;
        self.failure_count = 0;
        if !is_older_case(&data, self.data.as_ref()) {
            self.data = Some(data);
            self.data_changed = true;
            self.etag = etag;
            self.size_bytes = size_bytes;
            self.fetched_at = Some(now);
            self.data_requested_at = Some(started_at);
            self.invalidated = refetch_after;
        }
        self.bump();
        Some(Completed {
            elapsed: now.since(started_at),
            refetch_after,
        })
    }

    /// A 304 answered request `fetch`: the data is still current. `None` when stale.
    pub(crate) fn not_modified(&mut self, fetch: FetchId, now: Millis) -> Option<Completed> {
        let (started_at, refetch_after) = self.completes(fetch)?;
        self.fetch = FetchState::Idle;
        self.error = None;
        self.last_failure = None;
        self.failure_count = 0;
        if self.data.is_some() {
            self.fetched_at = Some(now);
            self.data_requested_at = Some(started_at);
            self.invalidated = refetch_after;
        }
        self.bump();
        Some(Completed {
            elapsed: now.since(started_at),
            refetch_after,
        })
    }

    /// Request `fetch` failed. Decides, by the failure's class and the retry policy, whether
    /// to retry (and when), to pause for the network, or to give up. Offline attempts are not
    /// counted. Only observed entries retry: nobody waits for an unobserved one, and a view
    /// that mounts later refetches it anyway.
    pub(crate) fn fail(
        &mut self,
        fetch: FetchId,
        failure: Failure,
        now: Millis,
        online: bool,
        rng: &mut dyn Random,
    ) -> Option<(Completed, AfterFailure)> {
        let (started_at, refetch_after) = self.completes(fetch)?;
        let completed = Completed {
            elapsed: now.since(started_at),
            refetch_after,
        };
        let policy = self.options.retry;
        let after = if !online {
            AfterFailure::Paused
        } else if failure.is_offline() {
            // The browser says offline but the cache was not told: wait a backoff step
            // without counting the attempt, rather than pausing for an event that may not come.
            let delay = policy.delay(self.failure_count.saturating_add(1), None, rng);
            AfterFailure::RetryAt(now + delay)
        } else {
            self.failure_count = self.failure_count.saturating_add(1);
            // A server asking for a longer wait than the policy would ever make (a 429 with
            // `Retry-After` in hours) is not waited out behind a skeleton: the person sees
            // the refusal now, in words, with "Try again".
            let may_retry = failure.class() == FailureClass::Transient
                && self.is_observed()
                && policy.allows(self.failure_count)
                && failure.retry_after().is_none_or(|wait| wait <= policy.cap);
            if may_retry {
                let delay = policy.delay(self.failure_count, failure.retry_after(), rng);
                AfterFailure::RetryAt(now + delay)
            } else {
                AfterFailure::Final
            }
        };
        self.fetch = match after {
            AfterFailure::RetryAt(at) => FetchState::Waiting {
                at,
                reason: if failure.retry_after().is_some() {
                    WaitReason::Throttled
                } else {
                    WaitReason::Backoff
                },
            },
            AfterFailure::Paused => FetchState::Paused,
            AfterFailure::Final => FetchState::Idle,
        };
        if after == AfterFailure::Final {
            self.error = Some(failure.clone());
        }
        self.last_failure = Some(failure);
        self.bump();
        Some((completed, after))
    }

    /// The glue could not send request `fetch` yet (no budget token): try again at `until`,
    /// without counting an attempt. Returns whether the request was the current one.
    pub(crate) fn defer(&mut self, fetch: FetchId, until: Millis) -> bool {
        if self.completes(fetch).is_none() {
            return false;
        }
        self.fetch = FetchState::Waiting {
            at: until,
            reason: WaitReason::Throttled,
        };
        true
    }

    /// Marks the entry stale whatever its age. A request in flight may carry an answer from
    /// before the change, so it is flagged to be followed by one more. Returns whether the
    /// entry went from fresh to stale.
    pub(crate) fn invalidate(&mut self, now: Millis) -> bool {
        if let FetchState::InFlight { refetch_after, .. } = &mut self.fetch {
            *refetch_after = true;
        }
        let was_stale = self.is_stale(now);
        self.invalidated = true;
        self.invalidated_at = Some(now);
        if !was_stale {
            self.bump();
        }
        !was_stale
    }

    /// Data from elsewhere (the server's answer to a mutation, or storage). Fresh as of
    /// `fetched_at`. Returns whether the data was taken (an older case version is not).
    pub(crate) fn set_data(
        &mut self,
        data: QueryData,
        etag: Option<String>,
        size_bytes: u64,
        fetched_at: Millis,
    ) -> bool {
        if is_older_case(&data, self.data.as_ref()) {
            return false;
        }
        self.data = Some(data);
        self.data_changed = true;
        self.etag = etag;
        self.size_bytes = size_bytes;
        self.fetched_at = Some(fetched_at);
        // A mutation's answer reflects that one resource, not when any request was sent.
        self.data_requested_at = None;
        self.invalidated = false;
        self.error = None;
        self.bump();
        true
    }

    /// Restored entries are stale on arrival whatever their age: no change events reached a
    /// closed app, so anything may have changed. They paint at once and revalidate (cheaply,
    /// with `If-None-Match`) behind the painted data.
    pub(crate) fn mark_restored(&mut self) {
        self.invalidated = true;
        self.invalidated_at = None;
    }

    /// Whether data reflecting the server at `reflects`, stale or not in its holder's eyes,
    /// leaves this entry trusted: it must postdate the last invalidation seen here.
    fn trusts(&self, reflects: Millis, stale_there: bool) -> bool {
        !stale_there && self.invalidated_at.is_none_or(|at| reflects >= at)
    }

    /// Another tab's data for this key. Taken when newer than what this entry holds (a case
    /// never goes back a version); returns whether it was.
    pub(crate) fn adopt_shared(&mut self, record: &SharedRecord) -> bool {
        if is_older_case(&record.data, self.data.as_ref()) {
            return false;
        }
        let trusted = self.trusts(record.reflects(), record.stale);
        let same = self.data.is_some()
            && self.fetched_at == Some(record.fetched_at)
            && self.etag == record.etag;
        if same {
            // The very answer this tab restored from storage, which the sibling still trusts
            // (it has heard of every change since): trusted here too.
            if trusted && self.invalidated {
                self.invalidated = false;
                self.invalidated_at = None;
                self.data_requested_at = self.data_requested_at.max(record.known_current_at());
                self.bump();
                return true;
            }
            return false;
        }
        if self
            .fetched_at
            .is_some_and(|ours| self.data.is_some() && ours >= record.fetched_at)
        {
            return false;
        }
        self.data = Some(record.data.clone());
        self.data_changed = true;
        self.etag = record.etag.clone();
        self.size_bytes = record.size_bytes;
        self.fetched_at = Some(record.fetched_at);
        self.data_requested_at = record.known_current_at();
        if trusted {
            self.invalidated = false;
            self.invalidated_at = None;
        } else {
            self.invalidated = true;
        }
        self.error = None;
        self.bump();
        true
    }

    /// Another tab's 304 for the data under `stamp.etag`: when this entry holds that data,
    /// its age is the sibling's. Returns whether anything changed.
    pub(crate) fn adopt_stamp(&mut self, stamp: &SharedStamp) -> bool {
        if self.data.is_none() || self.etag.as_deref() != Some(stamp.etag.as_str()) {
            return false;
        }
        if self.fetched_at.is_some_and(|ours| ours >= stamp.fetched_at) {
            return false;
        }
        self.fetched_at = Some(stamp.fetched_at);
        self.data_requested_at = stamp.requested_at;
        if self.trusts(stamp.requested_at.unwrap_or(stamp.fetched_at), false) {
            self.invalidated = false;
            self.invalidated_at = None;
        }
        self.bump();
        true
    }

    /// Ends request `fetch` without sending it, when what siblings gave left the entry
    /// fresh. Returns whether it did (otherwise the request still has to go out).
    pub(crate) fn settle_shared(&mut self, fetch: FetchId, now: Millis) -> bool {
        if self.completes(fetch).is_none() || self.is_stale(now) {
            return false;
        }
        self.fetch = FetchState::Idle;
        self.error = None;
        self.last_failure = None;
        self.failure_count = 0;
        self.bump();
        true
    }

    /// This entry as handed to another tab, if it holds data. `live`: the live socket is
    /// open, so a change to this data would have marked it stale by now (a reconnect marks
    /// everything stale; the first open, what was fetched before it): fresh data is vouched
    /// for as current now, exactly as far as this tab trusts it itself.
    pub(crate) fn shared_record(
        &self,
        key: &QueryKey,
        now: Millis,
        live: bool,
    ) -> Option<SharedRecord> {
        let stale = self.is_stale(now);
        let vouched_at = (live && !stale).then_some(now);
        Some(SharedRecord {
            vouched_at,
            key: key.clone(),
            data: self.data.clone()?,
            etag: self.etag.clone(),
            fetched_at: self.fetched_at?,
            requested_at: self.data_requested_at,
            size_bytes: self.size_bytes,
            stale,
        })
    }

    /// Forgets the data and errors but keeps observers and options: a removal of an entry a
    /// view still shows.
    pub(crate) fn reset(&mut self) {
        self.data = None;
        self.data_changed = true;
        self.etag = None;
        self.fetched_at = None;
        self.data_requested_at = None;
        self.invalidated = false;
        self.invalidated_at = None;
        self.error = None;
        self.last_failure = None;
        self.failure_count = 0;
        self.size_bytes = 0;
        self.fetch = FetchState::Idle;
        self.bump();
    }
}

/// Whether `new` is a case at a lower version than the case `old` holds.
fn is_older_case(new: &QueryData, old: Option<&QueryData>) -> bool {
    match (new, old) {
        (QueryData::Case(new), Some(QueryData::Case(old))) => new.version < old.version,
        _ => false,
    }
}

/// The serialized length of `data`: the size estimate for data that did not come with a
/// response body (a mutation's answer). Serialization of these types cannot fail; were it
/// to, the estimate is 0 and only the byte bound loosens.
pub(crate) fn estimate_size(data: &QueryData) -> u64 {
    serde_json::to_vec(data).map_or(0, |bytes| bytes.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SeededRandom;

    fn metrics() -> QueryData {
        QueryData::Notes(Vec::new())
    }

    fn http(status: u16) -> Failure {
        Failure::Http {
            status,
            code: None,
            message: "x".into(),
            request_id: Some("req-1".into()),
            retry_after: None,
        }
    }

    fn observed(now: Millis) -> QueryEntry {
        let mut e = QueryEntry::new(QueryOptions::DEFAULT, now, 0);
        e.observe(QueryOptions::DEFAULT, now, 1);
        e
    }

    #[test]
    fn new_entry_is_loading_and_stale() {
        let e = QueryEntry::new(QueryOptions::DEFAULT, Millis(0), 0);
        assert_eq!(e.status(), QueryStatus::Loading);
        assert_eq!(e.fetch_status(), FetchStatus::Idle);
        assert!(e.is_stale(Millis(0)));
    }

    #[test]
    fn staleness_follows_stale_time_and_invalidation() {
        let mut e = observed(Millis(0));
        e.begin_fetch(FetchId(1), Millis(0));
        assert!(e.is_fetching());
        assert!(e
            .succeed(FetchId(1), metrics(), None, 10, Millis(100))
            .is_some());
        assert_eq!(e.status(), QueryStatus::Success);
        assert!(!e.is_stale(Millis(100 + 29_999)));
        assert!(e.is_stale(Millis(100 + 30_000)));
        assert!(e.invalidate(Millis(200)));
        assert!(e.is_stale(Millis(200)));
    }

    #[test]
    fn answers_to_other_requests_are_ignored() {
        let mut e = observed(Millis(0));
        e.begin_fetch(FetchId(2), Millis(0));
        assert!(e
            .succeed(FetchId(1), metrics(), None, 1, Millis(5))
            .is_none());
        assert!(e.data().is_none());
        assert!(e.not_modified(FetchId(1), Millis(5)).is_none());
    }

    #[test]
    fn if_none_match_only_with_data() {
        let mut e = observed(Millis(0));
        e.etag = Some("\"1\"".into());
        assert_eq!(e.begin_fetch(FetchId(1), Millis(0)), None);
        e.succeed(FetchId(1), metrics(), Some("\"2\"".into()), 1, Millis(1));
        assert_eq!(
            e.begin_fetch(FetchId(2), Millis(2)).as_deref(),
            Some("\"2\"")
        );
    }

    #[test]
    fn permanent_failure_is_final_and_keeps_data() {
        let mut rng = SeededRandom::new(1);
        let mut e = observed(Millis(0));
        e.begin_fetch(FetchId(1), Millis(0));
        e.succeed(FetchId(1), metrics(), None, 1, Millis(1));
        e.begin_fetch(FetchId(2), Millis(2));
        let (_, after) = e
            .fail(FetchId(2), http(404), Millis(3), true, &mut rng)
            .unwrap();
        assert_eq!(after, AfterFailure::Final);
        assert_eq!(e.status(), QueryStatus::Error);
        assert!(e.data().is_some());
        assert_eq!(e.fetch_status(), FetchStatus::Idle);
    }

    #[test]
    fn unobserved_entries_do_not_retry() {
        let mut rng = SeededRandom::new(1);
        let mut e = QueryEntry::new(QueryOptions::DEFAULT, Millis(0), 0);
        e.begin_fetch(FetchId(1), Millis(0));
        let (_, after) = e
            .fail(FetchId(1), http(503), Millis(3), true, &mut rng)
            .unwrap();
        assert_eq!(after, AfterFailure::Final);
    }

    #[test]
    fn last_observer_leaving_orphans_the_request() {
        let mut e = observed(Millis(0));
        e.observe(QueryOptions::DEFAULT, Millis(0), 2);
        e.begin_fetch(FetchId(1), Millis(0));
        assert!(!e.unobserve(Millis(1)));
        assert!(e.unobserve(Millis(1)));
        assert!(matches!(
            e.fetch_state(),
            FetchState::InFlight { orphaned: true, .. }
        ));
        e.observe(QueryOptions::DEFAULT, Millis(2), 3);
        assert!(matches!(
            e.fetch_state(),
            FetchState::InFlight {
                orphaned: false,
                ..
            }
        ));
        assert!(e.unobserve(Millis(3)));
        assert_eq!(e.observers(), 0);
    }

    #[test]
    fn gc_clock_runs_only_when_unobserved_and_idle() {
        let mut e = observed(Millis(0));
        assert_eq!(e.gc_due_at(), None);
        e.unobserve(Millis(10));
        assert_eq!(
            e.gc_due_at(),
            Some(Millis(10) + QueryOptions::DEFAULT_GC_TIME)
        );
        e.begin_fetch(FetchId(1), Millis(11));
        assert_eq!(e.gc_due_at(), None);
    }
}
