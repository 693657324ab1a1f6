//! Turns batches of changes into subscription events.
//!
//! A batch is every change announced within the debounce window after the first one. For
//! change-event subscribers, the changes of one row within a batch are folded into one
//! before/after pair: the row as it was (from the change log) is tested against the
//! subscriber's row filter and filter, the row as it is now is fetched through the planner
//! with the subscriber's access. Seen before and now is an UPDATE, only now an INSERT, only
//! before a DELETE (the row left the subscriber's view), neither nothing at all. Live queries
//! re-run when a table they read changed, and send only a result that differs from the last.
//!
//! Statements are built per subscriber and run once per distinct text and values, so
//! subscribers with the same shape and claims share one statement per batch.

use super::{Batch, Change, Ended, Inner, Item, SLOW_CONSUMER, Signal, Subscriber, Watch, remove};
use crate::database::Reader;
use crate::error::GatewayError;
use crate::metadata::{EntityId, Registry};
use crate::permission::Access;
use crate::plan::RowOp;
use crate::plan::vocabulary::ConnectionField;
use crate::plan::{ConnectionOutput, ConnectionPlan, EventPlan, NodeField, NodePlan, OrderKey, Page, Plan, Predicate};
use crate::sql::Compiler;
use futures_util::StreamExt;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Map, Value as Json};
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Weak};
use std::time::Instant;
use tokio::sync::mpsc;

/// Most changes handled in one batch; more wait for the next.
const MAX_BATCH: usize = 10_000;
/// Statements of one batch started at a time; each still waits for one of the live slots
/// (`GATEWAY_MAX_CONCURRENT_LIVE`), which bound the connections the feed holds.
const CONCURRENT_STATEMENTS: usize = 4;

/// Gathers changes into batches and dispatches them until the feed is dropped.
pub async fn run(feed: Weak<Inner>, mut signals: mpsc::Receiver<Signal>) {
    while let Some(first) = signals.recv().await {
        let Some(inner) = feed.upgrade() else { return };
        let deadline = tokio::time::Instant::now() + inner.settings.debounce;
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => break,
                next = signals.recv() => match next {
                    Some(signal) => batch.push(signal),
                    None => break,
                },
            }
        }
        let started = Instant::now();
        dispatch(&inner, batch).await;
        metrics::histogram!("gateway_subscription_dispatch_seconds").record(started.elapsed().as_secs_f64());
    }
}

/// The canonical text of a key value, equal for the same key from a trigger or from SQL JSON.
fn key_text(key: &Json, columns: &[String]) -> String {
    columns
        .iter()
        .map(|column| match key.get(column) {
            Some(Json::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        })
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

/// One row's changes within a batch.
#[derive(Debug)]
struct Pending {
    /// The key now (or the last key it had, when deleted).
    key: Json,
    /// The key before the batch, when the row existed then.
    old_key: Option<Json>,
    /// The change-log entry with the row as it was before the batch.
    before: Option<i64>,
    /// Whether the row exists after the batch.
    exists: bool,
}

/// Folds one table's changes, in order, into one entry per row.
fn fold(changes: &[&Change], key_columns: &[String]) -> Vec<Pending> {
    let mut pending: Vec<Pending> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut touch = |key: &Json, first: Pending| -> usize {
        let text = key_text(key, key_columns);
        *index.entry(text).or_insert_with(|| {
            pending.push(first);
            pending.len() - 1
        })
    };
    let mut updates: Vec<(usize, Option<Json>, bool)> = Vec::new();
    let appears = |key: &Json| Pending {
        key: key.clone(),
        old_key: None,
        before: None,
        exists: true,
    };
    for change in changes {
        let gone = |old_key: &Json| Pending {
            key: old_key.clone(),
            old_key: Some(old_key.clone()),
            before: change.entry,
            exists: true,
        };
        match (change.op, &change.key, &change.old_key) {
            (RowOp::Insert, Some(key), _) => {
                let at = touch(key, appears(key));
                updates.push((at, None, true));
            }
            (RowOp::Update, Some(key), Some(old_key))
                if key_text(key, key_columns) == key_text(old_key, key_columns) =>
            {
                let at = touch(key, gone(old_key));
                updates.push((at, None, true));
            }
            (RowOp::Update, Some(key), Some(old_key)) => {
                // A new key: the old row is gone and a new one appears.
                let at = touch(old_key, gone(old_key));
                updates.push((at, None, false));
                let at = touch(key, appears(key));
                updates.push((at, Some(key.clone()), true));
            }
            (RowOp::Delete, _, Some(old_key)) => {
                let at = touch(old_key, gone(old_key));
                updates.push((at, None, false));
            }
            _ => tracing::debug!(?change, "ignoring a change without the keys it needs"),
        }
    }
    for (at, key, exists) in updates {
        let entry = &mut pending[at];
        entry.exists = exists;
        if let Some(key) = key {
            entry.key = key;
        }
    }
    pending
}

/// Statements run once per batch, keyed by text and values.
#[derive(Default)]
struct Statements {
    index: HashMap<String, usize>,
    list: Vec<(Statement, Query)>,
}

#[derive(Clone, Copy)]
enum Query {
    /// One JSON document (a plan's result).
    Json,
    /// Log entry ids.
    Entries,
}

enum Outcome {
    /// The JSON, the bytes of its text, and the budget it was charged to (held until its
    /// subscribers have their copies).
    Json(Json, usize, crate::database::budget::ResponseBudget),
    Entries(HashSet<i64>),
    Failed(Failure),
}

/// Why a statement failed, kept to answer its subscribers.
struct Failure {
    unavailable: bool,
    ended: Ended,
}

impl Statements {
    fn add(&mut self, statement: Statement, query: Query) -> usize {
        let key = format!("{}\u{0}{:?}", statement.sql, statement.values);
        let next = self.list.len();
        *self.index.entry(key).or_insert_with(|| {
            self.list.push((statement, query));
            next
        })
    }

    /// Runs every statement as a request runs: each in a live slot, under the request deadline,
    /// its answer charged to a budget of `GATEWAY_MAX_RESPONSE_BYTES` and the process's answer
    /// memory.
    async fn run(self, inner: &Inner) -> Vec<Outcome> {
        let bounds = &inner.settings.bounds;
        futures_util::stream::iter(self.list)
            .map(|(statement, query)| async move {
                let result: Result<Outcome, GatewayError> = async {
                    let _slot = bounds.admit_live().await?;
                    bounds.deadline(run_statement(inner, statement, query)).await?
                }
                .await;
                result.unwrap_or_else(|error| {
                    Outcome::Failed(Failure {
                        unavailable: matches!(error, GatewayError::DatabaseUnavailable),
                        ended: Ended::from(&error),
                    })
                })
            })
            .buffered(CONCURRENT_STATEMENTS)
            .collect()
            .await
    }
}

/// One statement of the feed, on a connection of its own.
async fn run_statement(inner: &Inner, statement: Statement, query: Query) -> Result<Outcome, GatewayError> {
    let _using = crate::telemetry::record::DatabaseUse::start();
    let reader = Reader::open(&inner.database, inner.settings.pgbouncer).await?;
    let outcome = match query {
        Query::Json => {
            let budget = inner.settings.bounds.budget();
            let text = crate::database::execute::fetch_text(&reader, statement, Some(&budget), None).await?;
            let bytes = text.as_ref().map_or(0, String::len);
            Outcome::Json(crate::database::execute::parse(text)?, bytes, budget)
        }
        Query::Entries => Outcome::Entries(
            reader
                .query_all_raw(statement)
                .await?
                .iter()
                .map(|row| row.try_get_by_index::<i64>(0))
                .collect::<Result<HashSet<_>, _>>()?,
        ),
    };
    reader.finish().await?;
    Ok(outcome)
}

/// What one event subscriber needs from a batch.
struct EventJob {
    id: u64,
    subscriber: Arc<Subscriber>,
    pending: Arc<Vec<Pending>>,
    rows: Option<usize>,
    entries: Option<usize>,
}

async fn dispatch(inner: &Inner, batch: Vec<Signal>) {
    let registry = &inner.registry;
    let resync = batch.iter().any(|signal| matches!(signal, Signal::Resync { .. }));
    let missed = batch
        .iter()
        .any(|signal| matches!(signal, Signal::Resync { missed: true }));
    let mut by_entity: HashMap<EntityId, Vec<&Change>> = HashMap::new();
    for signal in &batch {
        if let Signal::Change(change) = signal
            && let Some(entity) = registry.entity_by_table(&change.table)
        {
            by_entity.entry(entity).or_default().push(change);
        }
    }
    metrics::counter!("gateway_changes_total").increment(by_entity.values().map(Vec::len).sum::<usize>() as u64);
    let subscribers: HashMap<u64, Arc<Subscriber>> = inner
        .subscribers
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .iter()
        .map(|(id, subscriber)| (*id, subscriber.clone()))
        .collect();
    let folded: HashMap<EntityId, Arc<Vec<Pending>>> = by_entity
        .iter()
        .map(|(entity, changes)| (*entity, Arc::new(fold(changes, &registry.entity(*entity).primary_key))))
        .collect();

    let backend = inner.database.get_database_backend();
    let mut statements = Statements::default();
    let mut jobs = Vec::new();
    let mut live = Vec::new();
    // Events for each subscriber, delivered as one queue item per batch.
    let mut events: HashMap<u64, Vec<Json>> = HashMap::new();
    for (&id, subscriber) in &subscribers {
        match &subscriber.watch {
            Watch::Events(plan) => {
                if missed {
                    events.entry(id).or_default().push(resync_event(registry, plan));
                }
                let Some(pending) = folded.get(&plan.entity) else {
                    continue;
                };
                let (rows, entries) = event_statements(registry, backend, subscriber, plan, pending);
                jobs.push(EventJob {
                    id,
                    rows: rows.map(|statement| statements.add(statement, Query::Json)),
                    entries: entries.map(|statement| statements.add(statement, Query::Entries)),
                    pending: pending.clone(),
                    subscriber: subscriber.clone(),
                });
            }
            Watch::Live { reads, .. } => {
                if resync || reads.iter().any(|entity| folded.contains_key(entity)) {
                    live.push((id, subscriber.clone()));
                }
            }
        }
    }
    let outcomes = statements.run(inner).await;
    for job in jobs {
        let Watch::Events(plan) = &job.subscriber.watch else {
            continue;
        };
        let queued = events.entry(job.id).or_default();
        let failed = |outcome: &Outcome| match outcome {
            Outcome::Failed(failure) => Some(failure.ended.message.clone()),
            _ => None,
        };
        let rows = match job.rows.map(|index| &outcomes[index]) {
            None => HashMap::new(),
            Some(Outcome::Json(json, ..)) => rows_by_key(json, &registry.entity(plan.entity).primary_key),
            Some(other) => {
                // The changes cannot be told: the subscriber must re-read.
                tracing::warn!(error = ?failed(other), "fetching changed rows failed");
                queued.push(resync_event(registry, plan));
                continue;
            }
        };
        let entries = match job.entries.map(|index| &outcomes[index]) {
            Some(Outcome::Entries(entries)) => entries.clone(),
            Some(other) => {
                tracing::warn!(error = ?failed(other), "reading old rows failed");
                queued.push(resync_event(registry, plan));
                continue;
            }
            None => HashSet::new(),
        };
        let key_columns = &registry.entity(plan.entity).primary_key;
        for pending in job.pending.iter() {
            let before = pending.before.is_some_and(|entry| entries.contains(&entry));
            let now = pending
                .exists
                .then(|| rows.get(&key_text(&pending.key, key_columns)))
                .flatten();
            let op = match (before, now.is_some()) {
                (false, true) => RowOp::Insert,
                (true, true) => RowOp::Update,
                (true, false) => RowOp::Delete,
                (false, false) => continue,
            };
            if !plan.ops.contains(&op) {
                continue;
            }
            let old_key = if op == RowOp::Insert {
                None
            } else {
                pending.old_key.as_ref()
            };
            queued.push(event_json(registry, plan, op.name(), now.copied(), old_key));
        }
    }
    for (id, batch) in events {
        if batch.is_empty() {
            continue;
        }
        let Some(subscriber) = subscribers.get(&id) else {
            continue;
        };
        // Queued events are answer memory until the subscriber takes them, like live results:
        // a subscriber that reads slowly cannot hold more than the process's bound.
        let bytes = batch.iter().map(|event| event.to_string().len()).sum();
        let item = match inner.settings.bounds.response_memory.reserve(bytes) {
            Ok(held) => Ok(Batch::held(batch, held)),
            Err(error) => Err(Ended::from(&error)),
        };
        deliver(inner, id, subscriber, item);
    }
    refresh_live(inner, &live).await;
}

/// The statements one event subscriber needs: its changed rows as they are now, and which old
/// rows it could see.
fn event_statements(
    registry: &Registry,
    backend: DbBackend,
    subscriber: &Subscriber,
    plan: &EventPlan,
    pending: &[Pending],
) -> (Option<Statement>, Option<Statement>) {
    let keys: Vec<Vec<sea_orm::Value>> = pending
        .iter()
        .filter(|pending| pending.exists)
        .filter_map(|pending| key_values(registry, plan.entity, &pending.key))
        .collect();
    let entries: Vec<i64> = pending.iter().filter_map(|pending| pending.before).collect();
    change_statements(registry, backend, &subscriber.access, plan, keys, &entries)
}

/// For an event subscription with `access`: the rows with `keys` as they are now (the
/// subscription's filter and the role's row filters applied), and which of the change-log
/// `entries` hold old rows the role could see. `None` where there is nothing to ask.
pub(crate) fn change_statements(
    registry: &Registry,
    backend: DbBackend,
    access: &Access,
    plan: &EventPlan,
    keys: Vec<Vec<sea_orm::Value>>,
    entries: &[i64],
) -> (Option<Statement>, Option<Statement>) {
    let meta = registry.entity(plan.entity);
    let rows = (!keys.is_empty()).then(|| {
        let key_filter = Predicate::KeyIn {
            columns: meta.primary_key.clone(),
            keys,
        };
        let filter = match &plan.filter {
            Some(filter) => Predicate::And(vec![filter.clone(), key_filter]),
            None => key_filter,
        };
        let mut node = NodePlan::default();
        for column in &meta.primary_key {
            node.fields
                .push((crate::plan::reference_key(column), NodeField::Column(column.clone())));
        }
        for (index, (_, row)) in plan.rows.iter().enumerate() {
            for (key, field) in &row.fields {
                node.fields.push((format!("{index}:{key}"), field.clone()));
            }
        }
        let fetch = Plan::Connection(ConnectionPlan {
            entity: plan.entity,
            filter: Some(filter),
            order: meta.primary_key.iter().map(|column| OrderKey::column(column)).collect(),
            order_signature: String::new(),
            page: Page::default(),
            outputs: vec![(ConnectionField::Nodes.name().into(), ConnectionOutput::Nodes(node))],
        });
        crate::sql::statement(backend, registry, access, &fetch)
    });
    let entries = (!entries.is_empty()).then(|| {
        let mut compiler = Compiler::new(registry, backend, access);
        backend.build(&compiler.visible_old_rows(plan.entity, plan.filter.as_ref(), entries))
    });
    (rows, entries)
}

/// A key from a trigger as bind values, one per key column.
fn key_values(registry: &Registry, entity: EntityId, key: &Json) -> Option<Vec<sea_orm::Value>> {
    let meta = registry.entity(entity);
    meta.primary_key
        .iter()
        .map(|column| {
            let value = async_graphql::Value::from_json(key.get(column)?.clone()).ok()?;
            crate::plan::parse_key_value(meta, column, &value).ok()
        })
        .collect()
}

/// The fetched rows by canonical key.
fn rows_by_key<'j>(json: &'j Json, key_columns: &[String]) -> HashMap<String, &'j Json> {
    json.get(ConnectionField::Nodes.name())
        .and_then(Json::as_array)
        .map(|rows| {
            rows.iter()
                .map(|row| {
                    let key: Map<String, Json> = key_columns
                        .iter()
                        .map(|column| {
                            (
                                column.clone(),
                                row.get(crate::plan::reference_key(column))
                                    .cloned()
                                    .unwrap_or(Json::Null),
                            )
                        })
                        .collect();
                    (key_text(&Json::Object(key), key_columns), row)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The event as its selection asked for it: response keys of the plan.
fn event_json(registry: &Registry, plan: &EventPlan, op: &str, row: Option<&Json>, old_key: Option<&Json>) -> Json {
    let mut event = Map::new();
    for key in &plan.op_keys {
        event.insert(key.clone(), Json::String(op.to_owned()));
    }
    for (index, (key, _)) in plan.rows.iter().enumerate() {
        let value = row.map(|row| {
            let prefix = format!("{index}:");
            let fields: Map<String, Json> = row
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(name, value)| Some((name.strip_prefix(&prefix)?.to_owned(), value.clone())))
                .collect();
            Json::Object(fields)
        });
        event.insert(key.clone(), value.unwrap_or(Json::Null));
    }
    for (key, columns) in &plan.old_keys {
        let value = old_key.map(|old| {
            Json::Object(
                columns
                    .iter()
                    .map(|(name, column)| {
                        // The change log keeps stored values; the event carries the API's form.
                        let stored = old.get(column).unwrap_or(&Json::Null);
                        let kind = registry.entity(plan.entity).column(column).map(|column| &column.kind);
                        (
                            name.clone(),
                            kind.map_or_else(|| stored.clone(), |kind| crate::shape::stored(kind, stored)),
                        )
                    })
                    .collect(),
            )
        });
        event.insert(key.clone(), value.unwrap_or(Json::Null));
    }
    Json::Object(event)
}

/// Tells an event subscriber that changes may have been missed.
fn resync_event(registry: &Registry, plan: &EventPlan) -> Json {
    event_json(registry, plan, "RESYNC", None, None)
}

/// Queues one batch of events for a subscriber (or the reason its subscription ends, after
/// which it is removed); a full queue disconnects it.
fn deliver(inner: &Inner, id: u64, subscriber: &Subscriber, item: Item) {
    let count = item.as_ref().map_or(0, |batch| batch.events.len() as u64);
    if item.is_err() {
        remove(inner, id);
    }
    match subscriber.sender.try_send(item) {
        Ok(()) => metrics::counter!("gateway_subscription_events_total").increment(count),
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!(subscription = id, "a subscriber is too slow; disconnecting it");
            metrics::counter!("gateway_slow_consumers_total").increment(1);
            remove(inner, id);
            if let Some(channel) = &subscriber.channel {
                (channel.close)(
                    SLOW_CONSUMER,
                    format!(
                        "slow consumer: more than {} batches of events waiting (GATEWAY_SUBSCRIPTION_QUEUE)",
                        inner.settings.queue
                    ),
                );
            }
        }
        Err(mpsc::error::TrySendError::Closed(_)) => remove(inner, id),
    }
}

/// Runs live queries (a first result, or re-runs after changes) and sends each subscriber its
/// result if it changed. A run a bound refuses (the deadline, the answer's size, the answer
/// memory, the live slots) or that fails ends its subscription with the coded error; a database
/// that is unavailable ends only a subscription that has no result yet (the others re-run when
/// the feed resynchronises).
///
/// Each subscriber's refresh lock is held from before its statement runs until its result is
/// queued, so a first result and a dispatcher's re-run cannot overtake each other.
pub(super) async fn refresh_live(inner: &Inner, subscribers: &[(u64, Arc<Subscriber>)]) {
    let backend = inner.database.get_database_backend();
    let mut statements = Statements::default();
    let mut wanted = Vec::new();
    let mut guards = Vec::new();
    for (id, subscriber) in subscribers {
        if let Watch::Live { plan, .. } = &subscriber.watch {
            guards.push(subscriber.refreshing.lock().await);
            let statement = crate::sql::statement(backend, &inner.registry, &subscriber.access, plan);
            wanted.push((*id, subscriber, statements.add(statement, Query::Json)));
        }
    }
    let outcomes = statements.run(inner).await;
    let memory = &inner.settings.bounds.response_memory;
    for (id, subscriber, index) in wanted {
        let mut last = subscriber.last.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match &outcomes[index] {
            Outcome::Json(json, bytes, _budget) => {
                let digest = digest(json);
                if *last == Some(digest) {
                    continue;
                }
                // Each subscriber's copy is answer memory until it is taken from the queue.
                let item = match memory.reserve(*bytes) {
                    Ok(held) => {
                        *last = Some(digest);
                        Ok(Batch::held(vec![json.clone()], held))
                    }
                    Err(error) => Err(Ended::from(&error)),
                };
                drop(last);
                deliver(inner, id, subscriber, item);
            }
            Outcome::Failed(failure) => {
                tracing::warn!(subscription = id, error = %failure.ended.message, "a live query failed");
                if !failure.unavailable || last.is_none() {
                    drop(last);
                    deliver(inner, id, subscriber, Err(failure.ended.clone()));
                }
            }
            Outcome::Entries(_) => {}
        }
    }
    drop(guards);
}

fn digest(json: &Json) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    json.to_string().hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(op: RowOp, key: Option<i64>, old_key: Option<i64>, entry: Option<i64>) -> Change {
        Change {
            table: "tasks".into(),
            op,
            key: key.map(|id| json!({ "id": id })),
            old_key: old_key.map(|id| json!({ "id": id })),
            entry,
        }
    }

    #[test]
    fn changes_of_one_row_fold_into_before_and_after() {
        let columns = vec!["id".to_owned()];
        let changes = [
            change(RowOp::Insert, Some(1), None, None),
            change(RowOp::Update, Some(1), Some(1), Some(10)),
            change(RowOp::Update, Some(2), Some(2), Some(11)),
            change(RowOp::Delete, None, Some(2), Some(12)),
            change(RowOp::Update, Some(4), Some(3), Some(13)),
        ];
        let refs: Vec<&Change> = changes.iter().collect();
        let folded = fold(&refs, &columns);
        let summary: Vec<(String, Option<i64>, bool)> = folded
            .iter()
            .map(|pending| (key_text(&pending.key, &columns), pending.before, pending.exists))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("1".to_owned(), None, true),
                ("2".to_owned(), Some(11), false),
                ("3".to_owned(), Some(13), false),
                ("4".to_owned(), None, true),
            ]
        );
    }

    #[test]
    fn keys_compare_the_same_from_triggers_and_from_sql() {
        let columns = vec!["task_id".to_owned(), "tag_id".to_owned()];
        assert_eq!(
            key_text(&json!({ "task_id": 5, "tag_id": "9" }), &columns),
            key_text(&json!({ "tag_id": 9, "task_id": "5" }), &columns)
        );
    }
}
