//! The change feed: row changes announced by the database become subscription events and
//! live-query updates, with the same permissions as reads.
//!
//! Triggers (installed by the change-feed migration) announce every insert, update and delete:
//! on PostgreSQL as `NOTIFY gateway_changes` carrying the table, operation and primary key, which
//! one dedicated connection outside the pool `LISTEN`s to ([`source`]); on SQLite, where there is
//! no NOTIFY, as rows of the change log that the gateway reads. Because the database announces
//! the changes, a write through any replica of the gateway, or plain SQL, reaches the
//! subscribers of every gateway process.
//!
//! Changes are gathered for a short debounce window and handled as one batch ([`dispatch`]):
//! each subscriber's rows are fetched through the planner with its own role and claims, one
//! statement per batch and subscription shape (subscribers whose statements are identical share
//! it), so tenants never see each other's rows. Each subscriber has a bounded queue; one that
//! falls behind is disconnected rather than buffered without end.

mod dispatch;

#[cfg(test)]
pub(crate) use dispatch::change_statements;
mod source;

use crate::error::GatewayError;
use crate::metadata::{EntityId, Registry, RelationKind};
use crate::permission::Access;
use crate::plan::visit::{Visitor, walk_aggregate, walk_connection, walk_node};
use crate::plan::{Plan, RowOp};
use sea_orm::DatabaseConnection;
use serde_json::Value as Json;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::mpsc;

/// What a subscription watches.
#[derive(Debug, Clone)]
pub enum Watch {
    /// Row changes of one table.
    Events(crate::plan::EventPlan),
    /// A list query, re-run when a table it reads changes.
    Live {
        plan: crate::plan::Plan,
        /// Every table the statement reads, including through relations and row filters.
        reads: std::collections::HashSet<crate::metadata::EntityId>,
    },
}

impl Watch {
    /// A live query of `plan` for a session with `access`.
    pub fn live(registry: &Registry, plan: crate::plan::Plan, access: &Access) -> Self {
        let reads = reads(registry, &plan, access);
        Self::Live { plan, reads }
    }
}

/// Every table a plan's statement reads: its lists, relations, filters and orderings, and the
/// tables the session's row filters read in turn.
fn reads(registry: &Registry, plan: &Plan, access: &Access) -> HashSet<EntityId> {
    let mut tables = Tables {
        registry,
        found: HashSet::new(),
    };
    let Ok(()) = tables.plan(plan);
    // Row filters read tables too (a task is visible through its project's organization).
    let mut pending: Vec<EntityId> = tables.found.iter().copied().collect();
    while let Some(entity) = pending.pop() {
        if let Some(filter) = access.row_filter(entity) {
            let before: HashSet<EntityId> = tables.found.clone();
            let Ok(()) = tables.predicate(entity, filter);
            pending.extend(tables.found.difference(&before).copied());
        }
    }
    tables.found
}

/// Collects the tables a plan reads.
struct Tables<'r> {
    registry: &'r Registry,
    found: HashSet<EntityId>,
}

impl Visitor for Tables<'_> {
    type Error = std::convert::Infallible;

    fn registry(&self) -> &Registry {
        self.registry
    }

    fn column(&mut self, entity: EntityId, _column: &str) -> Result<(), Self::Error> {
        self.found.insert(entity);
        Ok(())
    }

    fn connection(&mut self, plan: &crate::plan::ConnectionPlan) -> Result<(), Self::Error> {
        self.found.insert(plan.entity);
        walk_connection(self, plan)
    }

    fn aggregate(&mut self, plan: &crate::plan::AggregatePlan) -> Result<(), Self::Error> {
        self.found.insert(plan.entity);
        walk_aggregate(self, plan)
    }

    fn node(&mut self, entity: EntityId, node: &crate::plan::NodePlan) -> Result<(), Self::Error> {
        self.found.insert(entity);
        walk_node(self, entity, node)
    }

    fn relation(&mut self, entity: EntityId, relation: usize) -> Result<(), Self::Error> {
        let relation = &self.registry.entity(entity).relations[relation];
        if let RelationKind::ManyToMany { junction, .. } = relation.kind {
            self.found.insert(junction);
        }
        self.found.insert(relation.target);
        Ok(())
    }
}

/// The registered entities that can announce changes (read-only ones, such as views, cannot).
fn trackable(registry: &Registry) -> impl Iterator<Item = &crate::metadata::Entity> {
    registry.entities().iter().filter(|entity| entity.read_only.is_none())
}

/// The error of a step on `table`, for `map_err`.
fn failed(table: &str) -> impl FnOnce(sea_orm::DbErr) -> InstallError {
    let table = table.to_owned();
    move |source| InstallError { table, source }
}

/// A table whose change-feed trigger is missing and cannot be installed.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot install the change-feed trigger on `{table}` ({source}): run `gateway changes install` as a \
     database user that may create triggers, so subscriptions see its changes"
)]
pub struct InstallError {
    table: String,
    source: sea_orm::DbErr,
}

/// The registered tables whose changes do not reach the feed (no trigger): read, nothing changed.
/// `serve` calls it at start-up; subscriptions to these tables are refused with
/// `FEED_NOT_INSTALLED` and `/readyz` names them.
pub async fn untracked(connection: &DatabaseConnection, registry: &Registry) -> Result<Vec<String>, sea_orm::DbErr> {
    use sea_orm::TransactionTrait;
    // In a transaction: behind PgBouncer a statement and its preparation share a server connection.
    let transaction = connection.begin().await?;
    let mut untracked = Vec::new();
    for entity in trackable(registry) {
        if !change_feed::is_tracked(&transaction, &entity.table).await? {
            untracked.push(entity.table.clone());
        }
    }
    transaction.commit().await?;
    Ok(untracked)
}

/// Makes every registered table announce its changes: creates the change log if it is missing
/// and a trigger on each table that has none. Idempotent; returns the tables it tracked now.
/// Only `gateway changes install` calls it: serving a database never changes it uninvited (the
/// sample's migrations install the feed for the sample's tables).
pub async fn install(connection: &DatabaseConnection, registry: &Registry) -> Result<Vec<String>, InstallError> {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let log = crate::sql::change::CHANGE_LOG;
    // One transaction: behind PgBouncer a statement and its preparation share a server connection,
    // and on PostgreSQL an advisory lock lets processes starting together install once.
    let transaction = connection.begin().await.map_err(failed(log))?;
    if transaction.get_database_backend() == sea_orm::DbBackend::Postgres {
        transaction
            .execute_unprepared("SELECT pg_advisory_xact_lock(hashtext('gateway_change_log'))")
            .await
            .map_err(failed(log))?;
    }
    change_feed::install_log(&transaction).await.map_err(failed(log))?;
    let mut installed = Vec::new();
    for entity in trackable(registry) {
        if change_feed::is_tracked(&transaction, &entity.table)
            .await
            .map_err(failed(&entity.table))?
        {
            continue;
        }
        let key: Vec<&str> = entity.primary_key.iter().map(String::as_str).collect();
        change_feed::track(&transaction, &entity.table, &key)
            .await
            .map_err(failed(&entity.table))?;
        installed.push(entity.table.clone());
    }
    transaction.commit().await.map_err(failed(log))?;
    for table in &installed {
        tracing::info!(%table, "installed the change-feed trigger");
    }
    Ok(installed)
}

/// What [`uninstall`] took away.
#[derive(Debug, Default)]
pub struct Removed {
    /// The registered tables whose triggers were dropped.
    pub tables: Vec<String>,
    /// The change log (and PostgreSQL's trigger function) went too: no table is tracked any more.
    pub log: bool,
}

/// Undoes [`install`]: drops the trigger of every registered table and, once no table in the
/// database is tracked, the change log. Idempotent.
pub async fn uninstall(connection: &DatabaseConnection, registry: &Registry) -> Result<Removed, InstallError> {
    use sea_orm::TransactionTrait;
    let log = crate::sql::change::CHANGE_LOG;
    let transaction = connection.begin().await.map_err(failed(log))?;
    let mut removed = Removed::default();
    for entity in trackable(registry) {
        if change_feed::is_tracked(&transaction, &entity.table)
            .await
            .map_err(failed(&entity.table))?
        {
            change_feed::untrack(&transaction, &entity.table)
                .await
                .map_err(failed(&entity.table))?;
            removed.tables.push(entity.table.clone());
        }
    }
    removed.log = change_feed::remove_log(&transaction).await.map_err(failed(log))?;
    transaction.commit().await.map_err(failed(log))?;
    Ok(removed)
}

/// One row change, as a trigger announced it.
#[derive(Debug, Clone)]
pub struct Change {
    pub table: String,
    pub op: RowOp,
    /// The row's primary key after the change (inserts and updates), by column name.
    pub key: Option<Json>,
    /// The row's primary key before the change (updates and deletes).
    pub old_key: Option<Json>,
    /// The change-log entry holding the row as it was (updates and deletes).
    pub entry: Option<i64>,
}

/// What the sources tell the dispatcher.
#[derive(Debug)]
pub(crate) enum Signal {
    Change(Change),
    /// Changes may have been missed: live queries re-run; after a lost connection (`missed`),
    /// event subscribers are told too (on the first connection there is nothing they could hold).
    Resync {
        missed: bool,
    },
}

/// Settings of the change feed.
#[derive(Debug, Clone)]
pub struct FeedSettings {
    /// How long changes are gathered into one batch.
    pub debounce: Duration,
    /// Events a subscriber may have waiting before it is disconnected.
    pub queue: usize,
    /// Most subscriptions at once in this process.
    pub max_subscriptions: usize,
    /// Most of them one role may hold, so that one role (the anonymous one, which anyone can use)
    /// cannot take the process's subscriptions from the others.
    pub max_subscriptions_per_role: usize,
    /// Most summed cost ([`SubscriptionCost`]) of one role's subscriptions.
    pub max_subscription_cost_per_role: u64,
    /// The pool goes through PgBouncer in transaction mode: reads run in transactions.
    pub pgbouncer: bool,
    /// Where to LISTEN, when not the pool's own server (a direct URL past a pooler).
    pub listen: Option<secrecy::SecretString>,
    /// The primary pool's freshness: listening on the pool's own server, a lost connection tells
    /// that the server dropped the pool's connections too (a restart), before a request meets one.
    pub freshness: Arc<crate::database::fresh::Freshness>,
    /// Registered tables without a change-feed trigger ([`untracked`]): their subscriptions are
    /// refused. When no table is tracked the feed does not start (there is no log to read).
    pub untracked: Vec<String>,
    /// The bounds every statement of the feed runs under: live-query admission slots, the
    /// request deadline, the answer budget and the process's answer memory.
    pub bounds: Arc<crate::bounds::Bounds>,
}

/// An item of a subscriber's queue: its events of one dispatched batch of changes (for a live
/// query, its new result), or why the subscription ended.
pub type Item = Result<Batch, Ended>;

/// A subscriber's events of one batch (or a live result), its bytes counted in the process's
/// answer memory until it is taken from the queue.
#[derive(Debug)]
pub struct Batch {
    pub events: Vec<Json>,
    _held: crate::database::budget::HeldMemory,
}

impl Batch {
    fn held(events: Vec<Json>, held: crate::database::budget::HeldMemory) -> Self {
        Self { events, _held: held }
    }
}

/// Why the feed ended a subscription (a live query whose run was refused by a bound, or failed):
/// its last message.
#[derive(Debug, Clone)]
pub struct Ended {
    pub code: crate::error::ErrorCode,
    pub message: String,
}

impl From<&GatewayError> for Ended {
    fn from(error: &GatewayError) -> Self {
        Self {
            code: error.code(),
            message: error.to_string(),
        }
    }
}

/// What a subscription's operation may produce, as the cost limit weighs it (rows × fields,
/// `GATEWAY_MAX_COST`): its live re-runs and event statements cost that again at each change, so
/// the subscriptions of one connection, and of one role, are capped by their summed cost. Put in
/// the subscription request's data by the transport, from the pipeline's cost check.
#[derive(Debug, Clone, Copy, Default)]
pub struct SubscriptionCost(pub u64);

/// Lent by a transport (the WebSocket) to its subscriptions: counts them against the
/// connection's limits and lets the feed close a connection whose consumer is too slow.
pub struct Channel {
    active: AtomicUsize,
    max: usize,
    /// Live queries among them, and their own (lower) maximum.
    live: AtomicUsize,
    max_live: usize,
    /// The summed cost of the connection's subscriptions, and its maximum.
    cost: AtomicU64,
    max_cost: u64,
    close: Box<dyn Fn(u16, String) + Send + Sync>,
}

/// Close code for a consumer that stopped keeping up (WebSocket "policy violation").
pub const SLOW_CONSUMER: u16 = 1008;

impl Channel {
    pub fn new(
        max: usize,
        max_live: usize,
        max_cost: u64,
        close: impl Fn(u16, String) + Send + Sync + 'static,
    ) -> Self {
        Self {
            active: AtomicUsize::new(0),
            max,
            live: AtomicUsize::new(0),
            max_live,
            cost: AtomicU64::new(0),
            max_cost,
            close: Box::new(close),
        }
    }

    /// Counts one more subscription (a live query when `live`) of `cost`, or refuses it when the
    /// connection has its maximum of subscriptions, of live queries or of summed cost.
    fn admit(self: &Arc<Self>, live: bool, cost: u64) -> Result<ChannelSlot, GatewayError> {
        let previous = self.active.fetch_add(1, Ordering::SeqCst);
        if previous >= self.max {
            self.active.fetch_sub(1, Ordering::SeqCst);
            return Err(GatewayError::LimitExceeded(format!(
                "a connection may run at most {} subscriptions at once (GATEWAY_MAX_SUBSCRIPTIONS_PER_CONNECTION)",
                self.max
            )));
        }
        let before = self.cost.fetch_add(cost, Ordering::SeqCst);
        let slot = ChannelSlot {
            channel: self.clone(),
            live,
            cost,
        };
        if before.saturating_add(cost) > self.max_cost {
            drop(slot);
            return Err(GatewayError::LimitExceeded(format!(
                "the subscriptions of one connection may together cost at most {} (GATEWAY_MAX_SUBSCRIPTION_COST_PER_CONNECTION); \
                 this one costs {cost} and {before} is taken: ask for smaller pages",
                self.max_cost
            )));
        }
        if live && self.live.fetch_add(1, Ordering::SeqCst) >= self.max_live {
            // Dropping the slot gives both counts back.
            drop(slot);
            return Err(GatewayError::LimitExceeded(format!(
                "a connection may run at most {} live queries at once (GATEWAY_MAX_LIVE_QUERIES_PER_CONNECTION)",
                self.max_live
            )));
        }
        Ok(slot)
    }
}

/// One subscription's place in its connection's counts.
struct ChannelSlot {
    channel: Arc<Channel>,
    live: bool,
    cost: u64,
}

impl Drop for ChannelSlot {
    fn drop(&mut self) {
        self.channel.active.fetch_sub(1, Ordering::SeqCst);
        self.channel.cost.fetch_sub(self.cost, Ordering::SeqCst);
        if self.live {
            self.channel.live.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// One running subscription.
pub(crate) struct Subscriber {
    watch: Watch,
    /// The role of the session that subscribed (`None`: unrestricted).
    role: Option<String>,
    /// What its operation may produce ([`SubscriptionCost`]).
    cost: u64,
    access: Access,
    sender: mpsc::Sender<Item>,
    /// Live queries: a digest of the result last sent, so unchanged results are not sent again.
    last: Mutex<Option<u64>>,
    /// Held while a live query's result is computed and queued, so results keep their order.
    refreshing: tokio::sync::Mutex<()>,
    channel: Option<Arc<Channel>>,
}

struct Inner {
    registry: Arc<Registry>,
    database: DatabaseConnection,
    settings: FeedSettings,
    subscribers: Mutex<HashMap<u64, Arc<Subscriber>>>,
    next_id: AtomicU64,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Whether changes are being received (LISTEN established, or the SQLite log read).
    listening: Arc<std::sync::atomic::AtomicBool>,
}

/// The process's change feed and its subscribers.
#[derive(Clone)]
pub struct ChangeFeed {
    inner: Arc<Inner>,
}

/// Keeps a subscription registered; dropping it (the client stopped, or went away) ends it.
pub struct Registration {
    feed: Weak<Inner>,
    id: u64,
    _slot: Option<ChannelSlot>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(feed) = self.feed.upgrade() {
            remove(&feed, self.id);
        }
    }
}

fn remove(inner: &Inner, id: u64) {
    let mut subscribers = inner
        .subscribers
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if subscribers.remove(&id).is_some() {
        metrics::gauge!("gateway_subscriptions").set(subscribers.len() as f64);
    }
}

impl ChangeFeed {
    /// Starts listening for changes of `database` and dispatching them.
    pub fn start(database: DatabaseConnection, registry: Arc<Registry>, settings: FeedSettings) -> Self {
        let inner = Arc::new(Inner {
            registry,
            database: database.clone(),
            settings,
            subscribers: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            tasks: Mutex::new(Vec::new()),
            listening: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        });
        let (signals, received) = mpsc::channel(65_536);
        let tasks = if inner.settings.untracked.len() < trackable(&inner.registry).count() {
            vec![
                tokio::spawn(source::run(
                    database.clone(),
                    inner.settings.listen.clone(),
                    inner.listening.clone(),
                    signals,
                    inner.settings.freshness.clone(),
                )),
                tokio::spawn(source::trim(database)),
                tokio::spawn(dispatch::run(Arc::downgrade(&inner), received)),
            ]
        } else {
            Vec::new()
        };
        *inner.tasks.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = tasks;
        Self { inner }
    }

    /// The registered tables whose changes do not reach the feed.
    pub fn untracked(&self) -> &[String] {
        &self.inner.settings.untracked
    }

    /// Whether any registered table announces its changes.
    pub fn installed(&self) -> bool {
        self.inner.settings.untracked.len() < trackable(&self.inner.registry).count()
    }

    /// Refuses a subscription to `table` when its changes cannot arrive.
    pub fn check_tracked(&self, table: &str) -> Result<(), GatewayError> {
        if self.untracked().iter().any(|untracked| untracked == table) {
            return Err(GatewayError::FeedNotInstalled(format!(
                "changes of `{table}` are not announced: run `gateway changes install`, then restart the gateway"
            )));
        }
        Ok(())
    }

    /// Whether changes reach the feed now (for `/readyz`).
    pub fn listening(&self) -> bool {
        self.inner.listening.load(Ordering::Relaxed)
    }

    /// Stops listening; running subscriptions receive nothing more.
    pub fn stop(&self) {
        for task in self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }

    /// Registers a subscription; it runs until the returned registration is dropped.
    pub async fn subscribe(
        &self,
        watch: Watch,
        access: Access,
        role: Option<&str>,
        channel: Option<&Arc<Channel>>,
        SubscriptionCost(cost): SubscriptionCost,
    ) -> Result<(Registration, mpsc::Receiver<Item>), GatewayError> {
        let live = matches!(watch, Watch::Live { .. });
        let slot = channel.map(|channel| channel.admit(live, cost)).transpose()?;
        let (sender, receiver) = mpsc::channel(self.inner.settings.queue.max(1));
        let subscriber = Arc::new(Subscriber {
            watch,
            role: role.map(str::to_owned),
            cost,
            access,
            sender,
            last: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            channel: channel.cloned(),
        });
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut subscribers = self
                .inner
                .subscribers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if subscribers.len() >= self.inner.settings.max_subscriptions {
                return Err(GatewayError::LimitExceeded(format!(
                    "the gateway runs at most {} subscriptions at once (GATEWAY_MAX_SUBSCRIPTIONS)",
                    self.inner.settings.max_subscriptions
                )));
            }
            let (of_role, role_cost) = subscribers
                .values()
                .filter(|other| other.role == subscriber.role)
                .fold((0, 0u64), |(count, sum), other| {
                    (count + 1, sum.saturating_add(other.cost))
                });
            if of_role >= self.inner.settings.max_subscriptions_per_role {
                return Err(GatewayError::LimitExceeded(format!(
                    "the gateway runs at most {} subscriptions of one role at once (GATEWAY_MAX_SUBSCRIPTIONS_PER_ROLE)",
                    self.inner.settings.max_subscriptions_per_role
                )));
            }
            if role_cost.saturating_add(cost) > self.inner.settings.max_subscription_cost_per_role {
                return Err(GatewayError::LimitExceeded(format!(
                    "the subscriptions of one role may together cost at most {} (GATEWAY_MAX_SUBSCRIPTION_COST_PER_ROLE); \
                     this one costs {cost}: ask for smaller pages",
                    self.inner.settings.max_subscription_cost_per_role
                )));
            }
            subscribers.insert(id, subscriber.clone());
            metrics::gauge!("gateway_subscriptions").set(subscribers.len() as f64);
        }
        let registration = Registration {
            feed: Arc::downgrade(&self.inner),
            id,
            _slot: slot,
        };
        // A live query sends its result at once (or the error that ends it).
        if matches!(subscriber.watch, Watch::Live { .. }) {
            dispatch::refresh_live(&self.inner, &[(id, subscriber)]).await;
        }
        Ok((registration, receiver))
    }
}
