//! The planner: one root field's arguments and whole selection set become a [`Plan`] that says
//! exactly which columns, relations, filters, orderings and pages to fetch.
//!
//! Plans are plain data, independent of SQL dialects; [`crate::sql`] compiles a plan into one
//! statement. Keys in a plan are GraphQL response keys (aliases), so the JSON the database builds
//! has the response's shape and every resolver only reads its own key.

mod arguments;
pub mod cursor;
mod event;
mod field;
pub mod group;
pub mod json;
pub mod node_id;
mod selection;
pub mod slot;
pub mod sqlite;
pub mod text_cost;
pub mod visit;
pub mod vocabulary;
pub mod write;

pub use arguments::{
    Literals, MAX_IN_VALUES, Operands, decode_base64, null_value, parse_datetime, parse_filter_with, parse_input,
    parse_key_value, parse_scalar,
};
pub use event::{EventPlan, plan_events};
pub use field::{DocumentField, Selection, selected_operation};
pub use selection::{order_kind, plan_aggregate, plan_connection, plan_lookup, plan_references, reference_key};
pub use vocabulary::PageInfoField;

use crate::error::GatewayError;
use crate::metadata::{Entity, EntityId, Registry, ScalarKind};
use sea_orm::Value;

/// The root query fields every entity has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `tasks(filter, orderBy, first, …)`: a connection.
    List,
    /// `task(id)`: one row by primary key.
    Lookup,
    /// `tasksAggregate(filter)`: count, min/max/sum/avg, groups.
    Aggregate,
}

impl Root {
    pub const ALL: [Root; 3] = [Root::List, Root::Lookup, Root::Aggregate];

    /// The field's name for `entity`.
    pub fn field_name(self, entity: &Entity) -> String {
        match self {
            Self::List => entity.list_field.clone(),
            Self::Lookup => entity.lookup_field.clone(),
            Self::Aggregate => format!("{}Aggregate", entity.list_field),
        }
    }

    /// The entity and kind of the root query field `name`.
    pub fn find(registry: &Registry, name: &str) -> Option<(EntityId, Root)> {
        find_field(registry, name, &Self::ALL, Self::field_name)
    }
}

/// The entity and kind of the generated field `name`, among `kinds` named by `field_name`.
pub(crate) fn find_field<K: Copy>(
    registry: &Registry,
    name: &str,
    kinds: &[K],
    field_name: impl Fn(K, &Entity) -> String,
) -> Option<(EntityId, K)> {
    registry.entities().iter().enumerate().find_map(|(id, entity)| {
        kinds
            .iter()
            .find(|kind| field_name(**kind, entity) == name)
            .map(|kind| (id, *kind))
    })
}

/// The root subscription fields every entity has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// `taskChanged(filter, ops)`: one event per committed change.
    Changed,
    /// `tasksLive(…)`: the list, again whenever a change alters it.
    Live,
}

impl Feed {
    pub const ALL: [Feed; 2] = [Feed::Changed, Feed::Live];

    /// The field's name for `entity`.
    pub fn field_name(self, entity: &Entity) -> String {
        match self {
            Self::Changed => format!("{}Changed", entity.lookup_field),
            Self::Live => format!("{}Live", entity.list_field),
        }
    }

    /// The entity and kind of the root subscription field `name`.
    pub fn find(registry: &Registry, name: &str) -> Option<(EntityId, Feed)> {
        find_field(registry, name, &Self::ALL, Self::field_name)
    }
}

/// Plans a root query field of `entity`.
pub fn plan_root<S: Selection>(
    registry: &Registry,
    entity: EntityId,
    root: Root,
    field: S,
) -> Result<Plan, GatewayError> {
    Ok(match root {
        Root::List => Plan::Connection(plan_connection(registry, entity, &[field])?),
        Root::Lookup => Plan::Lookup(plan_lookup(registry, entity, field)?),
        Root::Aggregate => Plan::Aggregate(plan_aggregate(registry, entity, &[field])?),
    })
}

/// What one root field needs.
#[derive(Debug, Clone)]
pub enum Plan {
    Connection(ConnectionPlan),
    Lookup(LookupPlan),
    Aggregate(AggregatePlan),
}

/// A list of rows with filters, ordering and a page (a root list or a to-many relation).
#[derive(Debug, Clone)]
pub struct ConnectionPlan {
    pub entity: EntityId,
    pub filter: Option<Predicate>,
    /// The requested ordering followed by the primary key, so it is total and stable.
    pub order: Vec<OrderKey>,
    /// Identifies `order`; a cursor taken under another ordering is refused.
    pub order_signature: String,
    pub page: Page,
    pub outputs: Vec<(String, ConnectionOutput)>,
}

/// Calls `visit` on every connection of the plan, nested ones included.
pub fn for_each_connection(plan: &mut Plan, visit: &mut dyn FnMut(&mut ConnectionPlan)) {
    fn node(plan: &mut NodePlan, visit: &mut dyn FnMut(&mut ConnectionPlan)) {
        for (_, field) in &mut plan.fields {
            match field {
                NodeField::Column(_)
                | NodeField::NodeId
                | NodeField::JsonPath { .. }
                | NodeField::Typename(_)
                | NodeField::Aggregate { .. } => {}
                NodeField::Object { node: inner, .. } => node(inner, visit),
                NodeField::Connection { plan, .. } => connection(plan, visit),
            }
        }
    }
    fn connection(plan: &mut ConnectionPlan, visit: &mut dyn FnMut(&mut ConnectionPlan)) {
        visit(plan);
        for (_, output) in &mut plan.outputs {
            match output {
                ConnectionOutput::Nodes(inner) => node(inner, visit),
                ConnectionOutput::Edges(fields) => {
                    for (_, field) in fields {
                        if let EdgeOutput::Node(inner) = field {
                            node(inner, visit);
                        }
                    }
                }
                ConnectionOutput::PageInfo(_) | ConnectionOutput::TotalCount | ConnectionOutput::Typename(_) => {}
            }
        }
    }
    match plan {
        Plan::Connection(plan) => connection(plan, visit),
        Plan::Lookup(lookup) => node(&mut lookup.node, visit),
        Plan::Aggregate(_) => {}
    }
}

/// Refuses pages larger than `max` and stops unbounded lists at `max` rows.
pub fn bound_pages(plan: &mut Plan, max: u64) -> Result<(), crate::error::GatewayError> {
    let mut too_large = None;
    for_each_connection(plan, &mut |connection| {
        let page = &mut connection.page;
        match (page.first, page.last) {
            (None, None) => page.first = Some(max),
            (first, last) => {
                if let Some(size) = first.or(last).filter(|size| *size > max) {
                    too_large = Some(size);
                }
            }
        }
    });
    match too_large {
        Some(size) => Err(crate::error::GatewayError::bad_input(format!(
            "a page may hold at most {max} rows (GATEWAY_MAX_PAGE_SIZE), not {size}"
        ))),
        None => Ok(()),
    }
}

/// Which slice of the ordered rows to return.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub first: Option<u64>,
    pub last: Option<u64>,
    /// Keyset values (one per order key) after which the page starts.
    pub after: Option<Vec<Value>>,
    /// Keyset values before which the page ends.
    pub before: Option<Vec<Value>>,
    pub offset: u64,
}

impl Page {
    /// Whether rows are read from the end (`last`), and how many.
    pub fn backward(&self) -> bool {
        self.last.is_some() && self.first.is_none()
    }

    /// The page size, when bounded.
    pub fn size(&self) -> Option<u64> {
        if self.backward() { self.last } else { self.first }
    }
}

/// A field of a connection object.
#[derive(Debug, Clone)]
pub enum ConnectionOutput {
    Nodes(NodePlan),
    Edges(Vec<(String, EdgeOutput)>),
    PageInfo(Vec<(String, Selected<PageInfoField>)>),
    TotalCount,
    /// `__typename`: the connection type's name.
    Typename(String),
}

/// A field of a fixed-shape object (`pageInfo`, an aggregate's columns), or its `__typename`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selected<T> {
    Field(T),
    /// The object type's name.
    Typename(String),
}

#[derive(Debug, Clone)]
pub enum EdgeOutput {
    Cursor,
    Node(NodePlan),
    Typename(String),
}

/// The selected fields of one row.
#[derive(Debug, Clone, Default)]
pub struct NodePlan {
    pub fields: Vec<(String, NodeField)>,
}

#[derive(Debug, Clone)]
pub enum NodeField {
    /// A column, by database name.
    Column(String),
    /// The row's Relay global id (`nodeId`): its type and key, encoded.
    NodeId,
    /// The value at a path inside a JSON column (`metadata(path: "size")`), null when absent.
    JsonPath { column: String, path: Vec<json::Segment> },
    /// A to-one relation (index into the entity's relations) and the related row's selection.
    Object { relation: usize, node: NodePlan },
    /// A to-many relation and its own connection plan.
    Connection { relation: usize, plan: Box<ConnectionPlan> },
    /// Aggregates over a to-many relation's rows (`tasksAggregate`), per row.
    Aggregate { relation: usize, plan: Box<AggregatePlan> },
    /// `__typename`: the row type's name.
    Typename(String),
}

/// One key of an ordering.
#[derive(Debug, Clone)]
pub struct OrderKey {
    /// Many-to-one relations to follow (indexes into each entity's relations), then the value.
    pub path: Vec<usize>,
    pub value: OrderValue,
    pub descending: bool,
    pub nulls_first: bool,
}

impl OrderKey {
    /// An ascending key on a column of the row itself (how primary keys complete an order).
    pub fn column(column: &str) -> Self {
        Self {
            path: Vec::new(),
            value: OrderValue::Column(column.to_owned()),
            descending: false,
            nulls_first: false,
        }
    }
}

/// What an order key sorts by, on the row at the end of its path.
#[derive(Debug, Clone)]
pub enum OrderValue {
    /// A column, by database name.
    Column(String),
    /// An aggregate of a to-many relation's rows (`{tasksAggregate: {count: DESC}}`).
    Aggregate(Box<RelatedAggregate>),
    /// A text column ignoring case (`ASC_CI`).
    Lower(String),
    /// How well a searchable column matches `query`, the list's `search` filter on it.
    Relevance { column: String, query: String },
    /// The value at a path inside a JSON column, in `jsonb`'s order (PostgreSQL).
    JsonPath { column: String, path: Vec<json::Segment> },
}

/// One aggregate of the rows a to-many relation links to a row, optionally filtered.
#[derive(Debug, Clone)]
pub struct RelatedAggregate {
    /// A one-to-many or many-to-many relation (index into the entity's relations).
    pub relation: usize,
    pub filter: Option<Predicate>,
    pub measure: Measure,
}

/// One number (or value) computed over a set of rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Measure {
    /// How many rows.
    Count,
    /// A function of one column (by database name).
    Of(AggregateFunction, String),
}

/// A row condition, from the filter language. `V` is what a comparison compares with: a typed SQL
/// value, or in a compiled policy a [`crate::permission::Operand`] that may be a claim slot.
#[derive(Debug, Clone)]
pub enum Predicate<V = Value> {
    And(Vec<Predicate<V>>),
    Or(Vec<Predicate<V>>),
    Not(Box<Predicate<V>>),
    Compare {
        column: String,
        operator: Comparison,
        value: V,
    },
    In {
        column: String,
        values: Vec<V>,
        negated: bool,
    },
    /// The row's key (several columns) is one of these tuples.
    KeyIn {
        columns: Vec<String>,
        keys: Vec<Vec<Value>>,
    },
    IsNull {
        column: String,
        is_null: bool,
    },
    Text {
        column: String,
        operator: TextMatch,
        value: String,
    },
    /// A condition on a JSON column's value.
    Json {
        column: String,
        test: json::JsonTest,
    },
    /// A condition on related rows.
    Related {
        relation: usize,
        quantifier: Quantifier,
        predicate: Box<Predicate<V>>,
    },
}

impl<V> Predicate<V> {
    /// How many conditions it holds, its `and`/`or`/`not` and relation steps included (counted
    /// without recursion).
    pub fn conditions(&self) -> usize {
        let mut pending = vec![self];
        let mut count = 0;
        while let Some(predicate) = pending.pop() {
            count += 1;
            match predicate {
                Self::And(parts) | Self::Or(parts) => pending.extend(parts),
                Self::Not(inner) => pending.push(inner),
                Self::Related { predicate, .. } => pending.push(predicate),
                Self::Compare { .. }
                | Self::In { .. }
                | Self::KeyIn { .. }
                | Self::IsNull { .. }
                | Self::Json { .. }
                | Self::Text { .. } => {}
            }
        }
        count
    }

    /// The same condition with every operand replaced by `bind(operand)` (how a compiled policy
    /// gets a session's claims); the first error stops it.
    pub fn try_map<W, E>(&self, bind: &mut impl FnMut(&V) -> Result<W, E>) -> Result<Predicate<W>, E> {
        let all = |parts: &[Predicate<V>], bind: &mut _| {
            parts
                .iter()
                .map(|part| part.try_map(bind))
                .collect::<Result<Vec<_>, E>>()
        };
        Ok(match self {
            Self::And(parts) => Predicate::And(all(parts, bind)?),
            Self::Or(parts) => Predicate::Or(all(parts, bind)?),
            Self::Not(inner) => Predicate::Not(Box::new(inner.try_map(bind)?)),
            Self::Compare {
                column,
                operator,
                value,
            } => Predicate::Compare {
                column: column.clone(),
                operator: *operator,
                value: bind(value)?,
            },
            Self::In {
                column,
                values,
                negated,
            } => Predicate::In {
                column: column.clone(),
                values: values.iter().map(&mut *bind).collect::<Result<_, E>>()?,
                negated: *negated,
            },
            Self::KeyIn { columns, keys } => Predicate::KeyIn {
                columns: columns.clone(),
                keys: keys.clone(),
            },
            Self::IsNull { column, is_null } => Predicate::IsNull {
                column: column.clone(),
                is_null: *is_null,
            },
            Self::Text {
                column,
                operator,
                value,
            } => Predicate::Text {
                column: column.clone(),
                operator: *operator,
                value: value.clone(),
            },
            Self::Json { column, test } => Predicate::Json {
                column: column.clone(),
                test: test.clone(),
            },
            Self::Related {
                relation,
                quantifier,
                predicate,
            } => Predicate::Related {
                relation: *relation,
                quantifier: *quantifier,
                predicate: Box::new(predicate.try_map(bind)?),
            },
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    /// Arrays: has every one of the values (`@>`).
    Contains,
    /// Arrays: every element is one of the values (`<@`).
    ContainedBy,
    /// Arrays: has at least one of the values (`&&`).
    Overlaps,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextMatch {
    Like,
    ILike,
    StartsWith,
    Contains,
    /// A `tsvector` matches a web-search style query (`websearch_to_tsquery`).
    Search,
}

/// How a condition on related rows combines them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantifier {
    /// The one related row (to-one relations) exists and matches.
    One,
    Some,
    None,
    Every,
}

/// A row looked up by its primary key.
#[derive(Debug, Clone)]
pub struct LookupPlan {
    pub entity: EntityId,
    /// (column, value) for each primary key column.
    pub key: Vec<(String, Value)>,
    pub node: NodePlan,
}

/// Aggregates over the rows matching a filter.
#[derive(Debug, Clone)]
pub struct AggregatePlan {
    pub entity: EntityId,
    pub filter: Option<Predicate>,
    pub outputs: Vec<(String, AggregateOutput)>,
}

#[derive(Debug, Clone)]
pub enum AggregateOutput {
    Count,
    Function {
        function: AggregateFunction,
        /// (response key, column) pairs.
        columns: Vec<(String, Selected<String>)>,
    },
    GroupBy(Box<group::GroupPlan>),
    Typename(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateFunction {
    Sum,
    Avg,
    Min,
    Max,
    /// How many distinct non-null values the column holds.
    CountDistinct,
}

impl AggregateFunction {
    pub const ALL: [AggregateFunction; 5] = [Self::Sum, Self::Avg, Self::Min, Self::Max, Self::CountDistinct];

    /// The GraphQL field name.
    pub fn field(self) -> &'static str {
        match self {
            Self::Sum => "sum",
            Self::Avg => "avg",
            Self::Min => "min",
            Self::Max => "max",
            Self::CountDistinct => "countDistinct",
        }
    }

    pub fn from_field(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|function| function.field() == name)
    }

    /// The kind this function returns over a column of `kind`, if it applies to such a column.
    pub fn result_kind(self, kind: &ScalarKind) -> Option<ScalarKind> {
        match self {
            Self::Sum => match kind {
                ScalarKind::Int => Some(ScalarKind::BigInt),
                ScalarKind::BigInt => Some(ScalarKind::Decimal {
                    precision: None,
                    scale: Some(0),
                }),
                ScalarKind::Decimal { precision, scale } => Some(ScalarKind::Decimal {
                    precision: *precision,
                    scale: *scale,
                }),
                ScalarKind::Float => Some(ScalarKind::Float),
                _ => None,
            },
            Self::Avg => kind.is_numeric().then_some(ScalarKind::Float),
            Self::Min | Self::Max => {
                (kind.is_ordered() && !matches!(kind, ScalarKind::Enum { .. })).then(|| kind.clone())
            }
            Self::CountDistinct => (!kind.is_structured()).then_some(ScalarKind::Int),
        }
    }
}

/// A kind of row change: what a policy grants separately (`insert`, `update`, `delete` rules),
/// what a mutation needs, and what the change feed reports of a changed row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowOp {
    Insert,
    Update,
    Delete,
}

impl RowOp {
    /// The name triggers use and GraphQL shows.
    pub fn name(self) -> &'static str {
        match self {
            Self::Insert => "INSERT",
            Self::Update => "UPDATE",
            Self::Delete => "DELETE",
        }
    }

    /// The name the policy file gives its rules.
    pub fn rule_name(self) -> &'static str {
        match self {
            Self::Insert => "insert",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::Insert, Self::Update, Self::Delete]
            .into_iter()
            .find(|op| op.name() == name)
    }
}
