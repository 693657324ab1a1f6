//! Role-based permissions from a declarative policy file (`policy.toml`).
//!
//! For each role and table the policy gives rules per operation: `select` (row filter, column
//! allow-list), `insert` (check on the rows as written, allowed columns, presets from claims),
//! `update` (row filter, check, allowed columns, presets) and `delete` (row filter). Filters use the
//! API's filter language; values may be claims of the session (`"$org_id"`, `"$user_id"`). The
//! policy is validated against the registry at start-up.
//! Per request it becomes an [`Access`]: row filters are injected by the SQL compiler into every
//! table the statement reads (lists, lookups, nested relations at any depth, relation filters,
//! ordering through relations, totals, aggregates and groups, cursors), and [`Access::check`]
//! refuses plans that touch tables or columns the role may not read, so no path can skip them.
//!
//! Writes: [`Access::grant`] (`write.rs`) turns the role's rule for one kind of write of one table
//! into a [`WriteGrant`] — the values it may set, the rows it may touch, the check and the
//! references to verify — which [`crate::database::write`] compiles and runs inside the
//! operation's transaction through the same [`Access`]: update and delete targets are narrowed by the rule's filter and
//! the role's row filter (a write filter is checked and compiled like a read filter, so it cannot
//! probe rows the role cannot read), presets overwrite client values, every foreign key of a
//! written row must name a row the role may read, junction rows written through `…Ids` follow the
//! junction's own rules, and checks run on the rows as written, so a failing check undoes the
//! write. Each role's schema is its [`View`]: what it cannot read or write is not listed.

mod policy;
mod write;

pub use policy::{Operand, Policy, PolicyError, claim_value};
pub use write::{WriteGrant, forbidden_unlink, unreadable_link};

use crate::error::GatewayError;
use crate::metadata::{EntityId, Registry};
use crate::plan::visit::{Visitor, walk_connection, walk_node};
use crate::plan::vocabulary::ConnectionField;
use crate::plan::{
    ConnectionOutput, ConnectionPlan, EventPlan, LookupPlan, NodeField, NodePlan, Page, Plan, Predicate, RowOp,
};
use std::collections::{HashMap, HashSet};

/// What the schema shows a role: the tables and columns it may read, the writes it may make.
/// Built from the policy without a session (claims only shape rows, not the schema).
#[derive(Debug, Clone, Default)]
pub struct View {
    /// Readable tables and their readable columns (`None`: all); `None` overall: everything.
    readable: Option<HashMap<EntityId, Option<HashSet<String>>>>,
    /// Granted writes and the columns they may set (`None`: all).
    writes: HashMap<(EntityId, RowOp), Option<HashSet<String>>>,
    /// Columns an insert presets, which clients need not send.
    presets: HashSet<(EntityId, String)>,
    /// Readable tables whose aggregates the role may not use.
    no_aggregates: HashSet<EntityId>,
}

impl View {
    /// Everything (no policy, or no session).
    pub fn full() -> Self {
        Self::default()
    }

    pub(crate) fn restricted(
        readable: HashMap<EntityId, Option<HashSet<String>>>,
        writes: HashMap<(EntityId, RowOp), Option<HashSet<String>>>,
        presets: HashSet<(EntityId, String)>,
        no_aggregates: HashSet<EntityId>,
    ) -> Self {
        Self {
            readable: Some(readable),
            writes,
            presets,
            no_aggregates,
        }
    }

    /// Whether the role may aggregate `entity`.
    pub fn aggregates(&self, entity: EntityId) -> bool {
        self.entity(entity) && !self.no_aggregates.contains(&entity)
    }

    /// Whether inserts of `entity` preset `column` (so it is optional in the role's input).
    pub fn preset(&self, entity: EntityId, column: &str) -> bool {
        self.presets.contains(&(entity, column.to_owned()))
    }

    pub fn entity(&self, entity: EntityId) -> bool {
        self.readable
            .as_ref()
            .is_none_or(|readable| readable.contains_key(&entity))
    }

    pub fn column(&self, entity: EntityId, column: &str) -> bool {
        match &self.readable {
            None => true,
            Some(readable) => readable
                .get(&entity)
                .is_some_and(|columns| columns.as_ref().is_none_or(|columns| columns.contains(column))),
        }
    }

    /// Whether the role may make this kind of write to `entity`.
    pub fn can(&self, entity: EntityId, kind: RowOp) -> bool {
        self.readable.is_none() || self.writes.contains_key(&(entity, kind))
    }

    /// Whether the role's inserts may set `column`: a listed column, or any column but the
    /// generated ones when the rule lists none.
    pub fn insertable(&self, entity: EntityId, column: &crate::metadata::Column) -> bool {
        // The database computes these; nobody writes them.
        if column.computed || column.kind.is_search_document() {
            return false;
        }
        if self.readable.is_none() {
            return true;
        }
        match self.writes.get(&(entity, RowOp::Insert)) {
            None => false,
            Some(Some(columns)) => columns.contains(&column.name),
            Some(None) => !column.generated(),
        }
    }

    /// Whether the role may set `column` with this kind of write.
    pub fn writable(&self, entity: EntityId, kind: RowOp, column: &str) -> bool {
        self.readable.is_none()
            || self
                .writes
                .get(&(entity, kind))
                .is_some_and(|columns| columns.as_ref().is_none_or(|columns| columns.contains(column)))
    }
}

/// What one request may read.
#[derive(Debug, Clone)]
pub enum Access {
    /// No policy applies (authentication off, or no policy file).
    Unrestricted,
    /// The tables the role may read, with their row filters and column allow-lists.
    Restricted {
        role: String,
        entities: HashMap<EntityId, EntityAccess>,
    },
}

#[derive(Debug, Clone)]
pub struct EntityAccess {
    /// Whether the role may read the table at all.
    pub readable: bool,
    /// Most rows one list of this table returns.
    pub limit: Option<u64>,
    /// Whether aggregates and groups are allowed.
    pub aggregates: bool,
    /// Rows the role may see; `None` is every row.
    pub filter: Option<Predicate>,
    /// Columns (database names) the role may see; `None` is every column.
    pub columns: Option<HashSet<String>>,
    pub insert: Option<WriteAccess>,
    pub update: Option<WriteAccess>,
    pub delete: Option<WriteAccess>,
}

/// What a role may write to one table with one kind of write.
#[derive(Debug, Clone)]
pub struct WriteAccess {
    /// Existing rows the write may touch (update, delete).
    pub filter: Option<Predicate>,
    /// What rows must satisfy as written (insert, update), checked in the same transaction.
    pub check: Option<Predicate>,
    /// Columns the client may set; `None` is all.
    pub columns: Option<HashSet<String>>,
    /// (column, value) written whatever the client sends.
    pub presets: Vec<(String, sea_orm::Value)>,
    /// Foreign-key columns that may point at rows the role cannot read (`unchecked_references`);
    /// every other reference of a written row must name a row the role may read.
    pub unchecked_references: HashSet<String>,
}

impl Access {
    /// The row filter to inject for `entity` (`None`: no restriction).
    pub fn row_filter(&self, entity: EntityId) -> Option<&Predicate> {
        match self {
            Self::Unrestricted => None,
            Self::Restricted { entities, .. } => entities.get(&entity).and_then(|access| access.filter.as_ref()),
        }
    }

    /// The role's `limit` on one list of `entity`, when it has one.
    pub fn row_limit(&self, entity: EntityId) -> Option<u64> {
        match self {
            Self::Unrestricted => None,
            Self::Restricted { entities, .. } => entities.get(&entity).and_then(|access| access.limit),
        }
    }

    /// The columns inserts set from the policy (clients need not send them), for the planner.
    pub fn insert_presets(&self) -> crate::plan::write::InsertPresets<'_> {
        crate::plan::write::InsertPresets(match self {
            Self::Unrestricted => Vec::new(),
            Self::Restricted { entities, .. } => entities
                .iter()
                .filter_map(|(entity, access)| Some((*entity, access.insert.as_ref()?)))
                .flat_map(|(entity, rule)| rule.presets.iter().map(move |(column, _)| (entity, column.as_str())))
                .collect(),
        })
    }

    /// The rule for a write, `Ok(None)` when unrestricted, FORBIDDEN when the role lacks it.
    fn write(&self, registry: &Registry, entity: EntityId, kind: RowOp) -> Result<Option<&WriteAccess>, GatewayError> {
        let Self::Restricted { role, entities } = self else {
            return Ok(None);
        };
        let rule = entities.get(&entity).and_then(|access| match kind {
            RowOp::Insert => access.insert.as_ref(),
            RowOp::Update => access.update.as_ref(),
            RowOp::Delete => access.delete.as_ref(),
        });
        rule.map(Some).ok_or_else(|| {
            let verb = kind.rule_name();
            GatewayError::Forbidden(format!(
                "role `{role}` may not {verb} {} rows",
                registry.entity(entity).type_name
            ))
        })
    }

    /// Whether the role may read rows of `entity` at all.
    pub fn readable(&self, entity: EntityId) -> bool {
        match self {
            Self::Unrestricted => true,
            Self::Restricted { entities, .. } => entities.get(&entity).is_some_and(|access| access.readable),
        }
    }

    /// Refuses a filter that names a column or relation the role may not read: a write's filter
    /// is checked like a read's, or `affectedRows` would tell what it matched.
    pub fn check_filter(&self, registry: &Registry, entity: EntityId, filter: &Predicate) -> Result<(), GatewayError> {
        if !self.is_restricted() {
            return Ok(());
        }
        Checker { access: self, registry }.predicate(entity, filter)
    }

    pub fn is_restricted(&self) -> bool {
        matches!(self, Self::Restricted { .. })
    }

    fn forbidden(&self, registry: &Registry, entity: EntityId, column: Option<&str>) -> GatewayError {
        let role = match self {
            Self::Restricted { role, .. } => role.as_str(),
            Self::Unrestricted => "",
        };
        let meta = registry.entity(entity);
        match column.and_then(|column| meta.column(column)) {
            Some(column) => GatewayError::Forbidden(format!(
                "role `{role}` may not read {}.{}",
                meta.type_name, column.field
            )),
            None => GatewayError::Forbidden(format!("role `{role}` may not read {}", meta.type_name)),
        }
    }

    fn entity(&self, registry: &Registry, entity: EntityId) -> Result<(), GatewayError> {
        match self {
            Self::Restricted { entities, .. } if !entities.get(&entity).is_some_and(|access| access.readable) => {
                Err(self.forbidden(registry, entity, None))
            }
            _ => Ok(()),
        }
    }

    fn column(&self, registry: &Registry, entity: EntityId, column: &str) -> Result<(), GatewayError> {
        self.entity(registry, entity)?;
        match self {
            Self::Restricted { entities, .. } => match &entities[&entity].columns {
                Some(allowed) if !allowed.contains(column) => Err(self.forbidden(registry, entity, Some(column))),
                _ => Ok(()),
            },
            Self::Unrestricted => Ok(()),
        }
    }

    /// Makes a read plan servable for this access: refuses what the role may not read, bounds
    /// every page at `max_page_size` and caps lists at the role's limits. Every read path (root
    /// fields, live queries, event rows) goes through here.
    pub fn authorize(&self, registry: &Registry, plan: &mut Plan, max_page_size: u64) -> Result<(), GatewayError> {
        self.check(registry, plan)?;
        crate::plan::bound_pages(plan, max_page_size)?;
        self.limit_rows(plan);
        Ok(())
    }

    /// [`Access::authorize`] for a change-event subscription: what it filters on and sends of
    /// each row must be readable, and each row's nested lists are bounded like a read's.
    pub fn authorize_events(
        &self,
        registry: &Registry,
        events: &mut EventPlan,
        max_page_size: u64,
    ) -> Result<(), GatewayError> {
        self.check(registry, &event_reads(registry, events))?;
        for (_, row) in &mut events.rows {
            let mut bounded = Plan::Lookup(LookupPlan {
                entity: events.entity,
                key: Vec::new(),
                node: std::mem::take(row),
            });
            crate::plan::bound_pages(&mut bounded, max_page_size)?;
            self.limit_rows(&mut bounded);
            if let Plan::Lookup(lookup) = bounded {
                *row = lookup.node;
            }
        }
        Ok(())
    }

    /// Caps every list of the plan (nested ones too) at the role's `limit` for its table: an
    /// unbounded list gets `first: limit`, a larger page is cut down to it.
    pub fn limit_rows(&self, plan: &mut Plan) {
        crate::plan::for_each_connection(plan, &mut |connection| {
            if let Some(limit) = self.row_limit(connection.entity) {
                let page = &mut connection.page;
                match (page.first, page.last) {
                    (None, None) => page.first = Some(limit),
                    (first, last) => {
                        page.first = first.map(|first| first.min(limit));
                        page.last = last.map(|last| last.min(limit));
                    }
                }
            }
        });
    }

    /// Refuses a plan that reads a table or column (to select, filter, order or aggregate) the
    /// role may not read. Row filters are the compiler's business.
    pub fn check(&self, registry: &Registry, plan: &Plan) -> Result<(), GatewayError> {
        if !self.is_restricted() {
            return Ok(());
        }
        Checker { access: self, registry }.plan(plan)
    }
}

/// What an event subscription reads, as a plan the permission check understands.
fn event_reads(registry: &Registry, events: &EventPlan) -> Plan {
    let meta = registry.entity(events.entity);
    let mut node = NodePlan::default();
    for (_, columns) in &events.old_keys {
        for (_, column) in columns {
            node.fields.push((column.clone(), NodeField::Column(column.clone())));
        }
    }
    for (_, row) in &events.rows {
        node.fields.extend(row.fields.iter().cloned());
    }
    Plan::Connection(ConnectionPlan {
        entity: events.entity,
        filter: events.filter.clone(),
        order: Vec::new(),
        order_signature: meta.table.clone(),
        page: Page::default(),
        outputs: vec![(ConnectionField::Nodes.name().into(), ConnectionOutput::Nodes(node))],
    })
}

/// The permission check as a plan visitor: every table, column and relation a plan reads.
struct Checker<'a> {
    access: &'a Access,
    registry: &'a Registry,
}

impl Visitor for Checker<'_> {
    type Error = GatewayError;

    fn registry(&self) -> &Registry {
        self.registry
    }

    fn connection(&mut self, plan: &ConnectionPlan) -> Result<(), GatewayError> {
        self.access.entity(self.registry, plan.entity)?;
        walk_connection(self, plan)
    }

    fn aggregated(&mut self, entity: EntityId) -> Result<(), GatewayError> {
        self.access.entity(self.registry, entity)?;
        if let Access::Restricted { role, entities } = self.access
            && !entities.get(&entity).is_some_and(|access| access.aggregates)
        {
            let name = &self.registry.entity(entity).type_name;
            return Err(GatewayError::Forbidden(format!(
                "role `{role}` may not aggregate {name} rows"
            )));
        }
        Ok(())
    }

    fn node(&mut self, entity: EntityId, node: &NodePlan) -> Result<(), GatewayError> {
        self.access.entity(self.registry, entity)?;
        walk_node(self, entity, node)
    }

    fn column(&mut self, entity: EntityId, column: &str) -> Result<(), GatewayError> {
        self.access.column(self.registry, entity, column)
    }

    /// Following a relation reveals its join columns on both sides.
    fn relation(&mut self, entity: EntityId, relation: usize) -> Result<(), GatewayError> {
        let meta = &self.registry.entity(entity).relations[relation];
        for column in &meta.from_columns {
            self.access.column(self.registry, entity, column)?;
        }
        for column in &meta.to_columns {
            self.access.column(self.registry, meta.target, column)?;
        }
        Ok(())
    }
}
