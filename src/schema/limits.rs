//! Query limits async-graphql does not have, refused with `QUERY_LIMIT_EXCEEDED`.
//!
//! Two stages. Before anything parses the document, [`check_nesting`] scans its text for
//! brackets (`{`, `[`, `(`: selection sets, list and object values, variable types, arguments)
//! and refuses nesting deeper than `GATEWAY_MAX_NESTING`, because the parser, the validator, the
//! planner and the SQL builder all recurse on it and a deep enough document would overflow the
//! stack. Variables get the same bound ([`check_variables`]). Then, on the parsed document and
//! before validation: aliases, root fields, fragment chains, field count and cost (rows × fields,
//! with the request's variables, so `first: $n` counts as `n`). Depth, complexity and directives
//! also use async-graphql's own limits (see [`QueryLimits`]).

use crate::metadata::{EntityId, Registry, RelationKind};
use crate::plan::vocabulary::ConnectionField;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};
use std::collections::HashMap;
use std::sync::Arc;

/// Limits on the shape of one document.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    /// Deepest selection nesting.
    pub depth: usize,
    /// Most field occurrences, fragments expanded.
    pub complexity: usize,
    /// Most directives on one field.
    pub directives: usize,
    /// Most aliased fields in one document.
    pub aliases: usize,
    /// Most root fields in one operation.
    pub root_fields: usize,
    /// Most rows × fields one operation may produce (see [`QueryLimits::check_with`]).
    pub cost: u64,
    /// The rows a list without `first`/`last` can return (`GATEWAY_MAX_PAGE_SIZE`): what it is
    /// weighed at.
    pub max_page_size: u64,
    /// Deepest bracket nesting of the document text and of the variables' values.
    pub nesting: usize,
}

impl From<&crate::config::LimitArgs> for QueryLimits {
    fn from(args: &crate::config::LimitArgs) -> Self {
        Self {
            depth: args.max_depth,
            complexity: args.max_complexity,
            directives: args.max_directives,
            aliases: args.max_aliases,
            root_fields: args.max_root_fields,
            cost: args.max_cost,
            max_page_size: args.max_page_size,
            nesting: args.max_nesting,
        }
    }
}

impl Default for QueryLimits {
    fn default() -> Self {
        (&crate::config::LimitArgs::default()).into()
    }
}

impl ExtensionFactory for QueryLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

fn count_aliases(selection_set: &SelectionSet) -> usize {
    selection_set
        .items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + count_aliases(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => count_aliases(&fragment.node.selection_set.node),
            // Fragment definitions are counted once each, below.
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

/// The root fields that return one row per key they are given, and that argument: federation's
/// `_entities(representations:)` and Relay's `nodes(nodeIds:)` (`node(nodeId:)` is one).
fn by_reference(field: &str) -> Option<&'static str> {
    match field {
        "_entities" => Some("representations"),
        "nodes" => Some("nodeIds"),
        "node" => Some("nodeId"),
        _ => None,
    }
}
/// An aggregate's groups: a list as long as the distinct keys.
const GROUP_BY: &str = "groupBy";
/// The fewest rows the cost assumes a table may hold, whatever its estimate says.
const SMALLEST_TABLE: u64 = 100;

/// Whether a field's selection reads rows of a connection: `nodes` or `edges` selected, directly
/// or through inline fragments and named spreads (whatever their type condition), so the shape of
/// the document cannot hide a connection from the cost. Used where the field's type is not known.
fn selects_rows(
    selection_set: &SelectionSet,
    document: &ExecutableDocument,
    memo: &mut HashMap<String, bool>,
    visiting: &mut Vec<String>,
) -> bool {
    selection_set.items.iter().any(|item| match &item.node {
        Selection::Field(child) => matches!(
            child.node.name.node.parse(),
            Ok(ConnectionField::Nodes | ConnectionField::Edges)
        ),
        Selection::InlineFragment(fragment) => {
            selects_rows(&fragment.node.selection_set.node, document, memo, visiting)
        }
        Selection::FragmentSpread(spread) => {
            let name = spread.node.fragment_name.node.to_string();
            if let Some(rows) = memo.get(&name) {
                return *rows;
            }
            if visiting.contains(&name) {
                return false;
            }
            let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) else {
                return false;
            };
            visiting.push(name.clone());
            let rows = selects_rows(&fragment.node.selection_set.node, document, memo, visiting);
            visiting.pop();
            memo.insert(name, rows);
            rows
        }
    })
}

/// The generated fields the cost walk recognises by name, so that it knows what each field
/// returns: root fields (queries, mutations, subscriptions) and relation fields per entity.
#[derive(Debug, Default)]
pub struct Shapes {
    roots: HashMap<String, (EntityId, RootShape)>,
    /// Per entity: its relation fields' names and indexes.
    relations: Vec<HashMap<String, usize>>,
    /// Per entity: its to-many relations' aggregate fields (`tasksAggregate`) and their targets.
    aggregates: Vec<HashMap<String, EntityId>>,
}

#[derive(Debug, Clone, Copy)]
enum RootShape {
    /// A connection of the entity's rows (`tasks`, `tasksLive`).
    List,
    /// One row (`task`, `createTask`, `updateTask`, …, `taskChanged { row }` reads one per event).
    Row,
    /// `tasksAggregate`.
    Aggregate,
    /// A bulk write's result (`createTasks { rows }`).
    Rows,
}

impl Shapes {
    pub fn of(registry: &Registry) -> Self {
        let mut roots = HashMap::new();
        for (id, entity) in registry.entities().iter().enumerate() {
            for root in crate::plan::Root::ALL {
                let shape = match root {
                    crate::plan::Root::List => RootShape::List,
                    crate::plan::Root::Lookup => RootShape::Row,
                    crate::plan::Root::Aggregate => RootShape::Aggregate,
                };
                roots.insert(root.field_name(entity), (id, shape));
            }
            roots.insert(crate::plan::Feed::Live.field_name(entity), (id, RootShape::List));
            for mutation in crate::plan::write::Mutation::ALL {
                let shape = if mutation.is_bulk() {
                    RootShape::Rows
                } else {
                    RootShape::Row
                };
                roots.insert(mutation.field_name(entity), (id, shape));
            }
        }
        let relations = registry
            .entities()
            .iter()
            .map(|entity| {
                entity
                    .relations
                    .iter()
                    .enumerate()
                    .map(|(index, relation)| (relation.field.clone(), index))
                    .collect()
            })
            .collect();
        let aggregates = registry
            .entities()
            .iter()
            .map(|entity| {
                entity
                    .relations
                    .iter()
                    .filter_map(|relation| Some((relation.aggregate_field()?, relation.target)))
                    .collect()
            })
            .collect();
        Self {
            roots,
            relations,
            aggregates,
        }
    }
}

/// What the objects a selection set is evaluated on are, as far as the walk knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scope {
    /// A root type.
    Root,
    /// Rows of an entity; `distinct` when no row can be among them twice.
    Rows { entity: EntityId, distinct: bool },
    /// Connections of an entity's rows: each returns at most `page` rows, and all of them
    /// together at most `total` (the table's rows when the connections' rows cannot repeat).
    Connection {
        entity: Option<EntityId>,
        page: u64,
        total: Option<u64>,
    },
    /// A connection's edges.
    Edges { entity: Option<EntityId>, distinct: bool },
    /// An aggregate of an entity's rows.
    Aggregate(Option<EntityId>),
    /// A bulk write's result, whose `rows` are the rows written.
    Written(EntityId),
    /// Anything else.
    Other,
}

/// The cost walk of one operation (see [`QueryLimits::check_with`]).
struct Walk<'a> {
    document: &'a ExecutableDocument,
    sizes: &'a PageSizes<'a>,
    engine: Option<&'a super::Engine>,
    /// Fragment costs per (fragment, scope, objects it is evaluated on).
    memo: HashMap<(String, Scope, u64), (u64, u64)>,
    rows_memo: HashMap<String, bool>,
    visiting: Vec<String>,
}

impl Walk<'_> {
    /// The rows `entity`'s table may hold: twice its estimate (statistics lag a growing
    /// table), at least [`SMALLEST_TABLE`]; unbounded when the table is not known.
    fn table(&self, entity: Option<EntityId>) -> u64 {
        match (self.engine, entity) {
            (Some(engine), Some(entity)) => engine.table_rows(entity).saturating_mul(2).max(SMALLEST_TABLE),
            _ => u64::MAX,
        }
    }

    /// The rows a connection field asks for per parent: its `first`/`last`, or what it can
    /// return without them (`GATEWAY_MAX_PAGE_SIZE`).
    fn page(&self, field: &async_graphql::parser::types::Field) -> u64 {
        field
            .arguments
            .iter()
            .filter(|(name, _)| matches!(name.node.as_str(), "first" | "last"))
            .filter_map(|(_, value)| {
                let value = value.node.clone().into_const_with(|name| self.sizes.variable(&name));
                value.ok().and_then(page_rows)
            })
            .max()
            .unwrap_or(self.sizes.unbounded)
    }

    /// How many objects `field` yields when evaluated on `parents` objects of `scope`, and what
    /// they are.
    fn field(&mut self, field: &async_graphql::parser::types::Field, scope: Scope, parents: u64) -> (u64, Scope) {
        let name = field.name.node.as_str();
        let shapes = self.engine.map(|engine| &*engine.shapes);
        let connection = |walk: &mut Self, entity: Option<EntityId>, total: Option<u64>| {
            let page = walk.page(field);
            (parents, Scope::Connection { entity, page, total })
        };
        match scope {
            Scope::Root => {
                if let Some(argument) = by_reference(name) {
                    // A router's reference lookup, and Relay's `nodes`, return one row per key.
                    let rows = field
                        .get_argument(argument)
                        .and_then(|value| {
                            value
                                .node
                                .clone()
                                .into_const_with(|name| self.sizes.variable(&name))
                                .ok()
                        })
                        .map_or(1, |value| match value {
                            async_graphql::Value::List(items) => items.len() as u64,
                            _ => 1,
                        });
                    return (parents.saturating_mul(rows), Scope::Other);
                }
                match shapes.and_then(|shapes| shapes.roots.get(name)).copied() {
                    Some((entity, RootShape::List)) => {
                        let total = self.table(Some(entity));
                        connection(self, Some(entity), Some(total))
                    }
                    Some((entity, RootShape::Row)) => (parents, Scope::Rows { entity, distinct: true }),
                    Some((entity, RootShape::Rows)) => (parents, Scope::Written(entity)),
                    Some((entity, RootShape::Aggregate)) => (parents, Scope::Aggregate(Some(entity))),
                    None => self.untyped(field, parents),
                }
            }
            Scope::Rows { entity, distinct } => {
                if let Some(target) = shapes.and_then(|shapes| shapes.aggregates.get(entity)?.get(name)) {
                    return (parents, Scope::Aggregate(Some(*target)));
                }
                // The relation's target and kind, copied out (no clone of its column lists).
                let relation = shapes
                    .and_then(|shapes| shapes.relations.get(entity)?.get(name))
                    .zip(self.engine)
                    .map(|(index, engine)| {
                        let relation = &engine.registry.entity(entity).relations[*index];
                        let to_many = match relation.kind {
                            RelationKind::ManyToOne => None,
                            RelationKind::OneToMany => Some(true),
                            RelationKind::ManyToMany { .. } => Some(false),
                        };
                        (relation.target, to_many)
                    });
                match relation {
                    Some((target, None)) => (
                        parents,
                        Scope::Rows {
                            entity: target,
                            distinct: false,
                        },
                    ),
                    // Each child row has one parent: under distinct parents, all the lists
                    // together hold at most the child table.
                    Some((target, Some(true))) => {
                        let total = distinct.then(|| self.table(Some(target)));
                        connection(self, Some(target), total)
                    }
                    // Many-to-many: a related row is listed under every row it is linked to.
                    Some((target, Some(false))) => connection(self, Some(target), None),
                    None => self.untyped(field, parents),
                }
            }
            Scope::Connection { entity, page, total } => match name.parse() {
                Ok(ConnectionField::Nodes | ConnectionField::Edges) => {
                    let each = page.min(self.table(entity));
                    let rows = parents.saturating_mul(each).min(total.unwrap_or(u64::MAX));
                    let distinct = total.is_some();
                    let inner = match (name.parse(), entity) {
                        (Ok(ConnectionField::Nodes), Some(entity)) => Scope::Rows { entity, distinct },
                        (Ok(ConnectionField::Nodes), None) => Scope::Other,
                        _ => Scope::Edges { entity, distinct },
                    };
                    (rows, inner)
                }
                _ => (parents, Scope::Other),
            },
            Scope::Edges { entity, distinct } => match (name, entity) {
                ("node", Some(entity)) => (parents, Scope::Rows { entity, distinct }),
                _ => (parents, Scope::Other),
            },
            Scope::Aggregate(entity) => {
                if name == GROUP_BY {
                    // At most `first` groups, and never more than the table's rows.
                    let groups = self.page(field).min(self.table(entity));
                    (parents.saturating_mul(groups), Scope::Other)
                } else {
                    (parents, Scope::Other)
                }
            }
            Scope::Written(entity) => match name {
                "rows" => (
                    parents.saturating_mul(self.sizes.unbounded),
                    Scope::Rows { entity, distinct: true },
                ),
                _ => (parents, Scope::Other),
            },
            Scope::Other => self.untyped(field, parents),
        }
    }

    /// A field whose type the walk does not know: a connection when it selects rows (weighed by
    /// its page), a `groupBy` list at the largest page, else one object per parent.
    fn untyped(&mut self, field: &async_graphql::parser::types::Field, parents: u64) -> (u64, Scope) {
        if field.name.node == GROUP_BY {
            return (parents.saturating_mul(self.sizes.unbounded), Scope::Other);
        }
        if selects_rows(
            &field.selection_set.node,
            self.document,
            &mut self.rows_memo,
            &mut Vec::new(),
        ) {
            let page = self.page(field);
            return (
                parents,
                Scope::Connection {
                    entity: None,
                    page,
                    total: None,
                },
            );
        }
        (parents, Scope::Other)
    }

    /// (field occurrences, values) of `set` evaluated on `objects` objects of `scope`, fragments
    /// expanded (memoized, so a fragment bomb is measured in linear time): each field counts one
    /// value per object, and what it selects on the objects it yields.
    fn set(&mut self, set: &SelectionSet, scope: Scope, objects: u64) -> (u64, u64) {
        let mut total = (0u64, 0u64);
        for item in &set.items {
            let (fields, values) = match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let (yielded, inner_scope) = self.field(field, scope, objects);
                    let (fields, inner) = self.set(&field.selection_set.node, inner_scope, yielded);
                    (fields.saturating_add(1), inner.saturating_add(objects))
                }
                // A type condition narrows, never widens, what the objects are.
                Selection::InlineFragment(fragment) => self.set(&fragment.node.selection_set.node, scope, objects),
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.to_string();
                    let key = (name.clone(), scope, objects);
                    if let Some(size) = self.memo.get(&key) {
                        *size
                    } else if self.visiting.contains(&name) {
                        // A cycle is a validation error reported later; it adds nothing here.
                        (0, 0)
                    } else if let Some(fragment) = self.document.fragments.get(&spread.node.fragment_name.node) {
                        self.visiting.push(name);
                        let size = self.set(&fragment.node.selection_set.node, scope, objects);
                        self.visiting.pop();
                        self.memo.insert(key, size);
                        size
                    } else {
                        (0, 0)
                    }
                }
            };
            total = (total.0.saturating_add(fields), total.1.saturating_add(values));
        }
        total
    }
}

fn exceeded(message: String) -> ServerError {
    crate::error::ErrorCode::QueryLimitExceeded
        .error(message)
        .into_server_error(Default::default())
}

/// Request data saying the HTTP layer already checked the limits on the parsed document.
pub struct LimitsChecked;

/// How many rows a `first`/`last` argument asks for, with the request's variables.
struct PageSizes<'a> {
    variables: &'a Variables,
    /// The operation's variable defaults.
    defaults: HashMap<&'a str, &'a async_graphql::Value>,
    /// The rows of a list without `first`/`last`.
    unbounded: u64,
}

impl PageSizes<'_> {
    /// The value of variable `name`: the request's, else the operation's default, else null.
    fn variable(&self, name: &async_graphql::Name) -> Result<async_graphql::Value, std::convert::Infallible> {
        Ok(self
            .variables
            .get(name)
            .or_else(|| self.defaults.get(name.as_str()).copied())
            .cloned()
            .unwrap_or(async_graphql::Value::Null))
    }
}

/// The rows a `first`/`last` value asks for; `None` when it is null (the list is unbounded).
fn page_rows(value: async_graphql::Value) -> Option<u64> {
    match value {
        // A negative or fractional size is refused later; here it weighs as the largest.
        async_graphql::Value::Number(number) => Some(number.as_u64().unwrap_or(u64::MAX)),
        _ => None,
    }
}

/// Refuses a document whose brackets nest deeper than `max`, before any recursive parser sees
/// it. Strings, block strings and comments are skipped, so brackets inside them do not count.
pub fn check_nesting(query: &str, max: usize) -> Result<(), ServerError> {
    let bytes = query.as_bytes();
    let mut depth = 0usize;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'#' => {
                while index < bytes.len() && bytes[index] != b'\n' && bytes[index] != b'\r' {
                    index += 1;
                }
            }
            b'"' if bytes[index..].starts_with(b"\"\"\"") => {
                index += 3;
                while index < bytes.len() && !bytes[index..].starts_with(b"\"\"\"") {
                    // An escaped triple quote does not end the block string.
                    index += if bytes[index..].starts_with(b"\\\"\"\"") { 4 } else { 1 };
                }
                index += 2;
            }
            b'"' => {
                index += 1;
                while index < bytes.len() && bytes[index] != b'"' && bytes[index] != b'\n' {
                    index += if bytes[index] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > max {
                    return Err(exceeded(format!(
                        "the document nests brackets deeper than {max} levels (GATEWAY_MAX_NESTING)"
                    )));
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        index += 1;
    }
    Ok(())
}

/// Refuses variables whose values nest deeper than `max` lists and objects.
pub fn check_variables(variables: &Variables, max: usize) -> Result<(), ServerError> {
    let mut pending: Vec<(&async_graphql::Value, usize)> = variables.values().map(|value| (value, 1)).collect();
    while let Some((value, depth)) = pending.pop() {
        let container = matches!(value, async_graphql::Value::List(_) | async_graphql::Value::Object(_));
        if container && depth > max {
            return Err(exceeded(format!(
                "a variable nests lists and objects deeper than {max} levels (GATEWAY_MAX_NESTING)"
            )));
        }
        match value {
            async_graphql::Value::List(items) => pending.extend(items.iter().map(|child| (child, depth + 1))),
            async_graphql::Value::Object(fields) => pending.extend(fields.values().map(|child| (child, depth + 1))),
            _ => {}
        }
    }
    Ok(())
}

/// The longest chain of fragment spreads (`...A` in which A spreads B, …), computed without
/// recursion so a chain of thousands of fragments cannot overflow the stack; cycles count once
/// (validation refuses them).
fn fragment_chain(document: &ExecutableDocument) -> usize {
    fn spreads(set: &SelectionSet, out: &mut Vec<async_graphql::Name>) {
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => spreads(&field.node.selection_set.node, out),
                Selection::InlineFragment(fragment) => spreads(&fragment.node.selection_set.node, out),
                Selection::FragmentSpread(spread) => out.push(spread.node.fragment_name.node.clone()),
            }
        }
    }
    let graph: HashMap<&async_graphql::Name, Vec<async_graphql::Name>> = document
        .fragments
        .iter()
        .map(|(name, fragment)| {
            let mut out = Vec::new();
            spreads(&fragment.node.selection_set.node, &mut out);
            (name, out)
        })
        .collect();
    let mut longest: HashMap<&async_graphql::Name, usize> = HashMap::new();
    for start in graph.keys() {
        // Iterative post-order: a fragment's chain is one more than its longest spread's.
        let mut stack: Vec<(&async_graphql::Name, bool)> = vec![(start, false)];
        let mut on_path: std::collections::HashSet<&async_graphql::Name> = Default::default();
        while let Some((name, expanded)) = stack.pop() {
            if longest.contains_key(name) {
                continue;
            }
            let children = graph.get(name).map(Vec::as_slice).unwrap_or_default();
            if expanded {
                on_path.remove(name);
                let chain = children
                    .iter()
                    .filter_map(|child| longest.get(child))
                    .max()
                    .copied()
                    .unwrap_or(0);
                longest.insert(name, chain + 1);
                continue;
            }
            on_path.insert(name);
            stack.push((name, true));
            for child in children {
                if let Some((key, _)) = graph.get_key_value(child)
                    && !on_path.contains(*key)
                    && !longest.contains_key(*key)
                {
                    stack.push((key, false));
                }
            }
        }
    }
    longest.values().max().copied().unwrap_or(0)
}

impl QueryLimits {
    /// Refuses a document over the limits (before async-graphql's own, exponential, checks),
    /// weighing pages with the request's `variables`, without knowing what the fields return
    /// (every list at its page; see [`QueryLimits::check_with`]).
    pub fn check(&self, document: &ExecutableDocument, variables: &Variables) -> Result<(), ServerError> {
        self.check_with(document, variables, None).map(drop)
    }

    /// [`QueryLimits::check`], weighing each generated field by what it returns (`engine`'s
    /// registry and table estimates): a list returns at most its page (`first`/`last`, else
    /// `GATEWAY_MAX_PAGE_SIZE`) and at most its table's rows per parent, and the lists of a
    /// one-to-many relation below rows that cannot repeat hold at most the child table's rows
    /// together (each child row has one parent). Below a to-one step or a many-to-many list rows
    /// can repeat, and lists there are weighed per parent: `tasks { project { tasks } }` weighs
    /// tasks × tasks. Answers the cost of the document's heaviest operation.
    pub fn check_with(
        &self,
        document: &ExecutableDocument,
        variables: &Variables,
        engine: Option<&super::Engine>,
    ) -> Result<u64, ServerError> {
        check_variables(variables, self.nesting)?;
        let chain = fragment_chain(document);
        if chain > self.nesting {
            return Err(exceeded(format!(
                "fragments spread each other {chain} levels deep; the limit is {} (GATEWAY_MAX_NESTING)",
                self.nesting
            )));
        }
        let mut aliases: usize = document
            .fragments
            .values()
            .map(|fragment| count_aliases(&fragment.node.selection_set.node))
            .sum();
        let mut heaviest = 0;
        for (_, operation) in document.operations.iter() {
            aliases += count_aliases(&operation.node.selection_set.node);
            let sizes = PageSizes {
                variables,
                defaults: operation
                    .node
                    .variable_definitions
                    .iter()
                    .filter_map(|definition| {
                        let default = definition.node.default_value.as_ref()?;
                        Some((definition.node.name.node.as_str(), &default.node))
                    })
                    .collect(),
                unbounded: self.max_page_size,
            };
            let mut walk = Walk {
                document,
                sizes: &sizes,
                engine,
                memo: HashMap::new(),
                rows_memo: HashMap::new(),
                visiting: Vec::new(),
            };
            let (fields, cost) = walk.set(&operation.node.selection_set.node, Scope::Root, 1);
            if fields > self.complexity as u64 {
                return Err(exceeded(format!(
                    "the operation selects {fields} fields once fragments are expanded; the limit is {} (GATEWAY_MAX_COMPLEXITY)",
                    self.complexity
                )));
            }
            if cost > self.cost {
                return Err(exceeded(format!(
                    "the operation may produce up to {cost} values (rows × fields, fragments expanded); the limit is {} \
                     (GATEWAY_MAX_COST): ask for smaller pages",
                    self.cost
                )));
            }
            heaviest = heaviest.max(cost);
            let roots = operation.node.selection_set.node.items.len();
            if roots > self.root_fields {
                return Err(exceeded(format!(
                    "an operation may select at most {} root fields, not {roots}",
                    self.root_fields
                )));
            }
        }
        if aliases > self.aliases {
            return Err(exceeded(format!(
                "a document may use at most {} aliases, not {aliases}",
                self.aliases
            )));
        }
        Ok(heaviest)
    }
}

#[async_trait::async_trait]
impl Extension for QueryLimits {
    async fn parse_query(
        &self,
        context: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        // Checked on a plain parse before async-graphql's own parse, whose recursion check
        // expands fragment spreads and takes exponential time on a fragment bomb.
        if context.data_opt::<LimitsChecked>().is_none() {
            check_nesting(query, self.nesting)?;
            if let Ok(document) = async_graphql::parser::parse_query(query) {
                self.check_with(&document, variables, context.data_opt::<super::Engine>())?;
            }
        }
        next.run(context, query, variables).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nesting_counts_brackets_outside_strings_and_comments() {
        assert!(check_nesting("{ a { b } }", 2).is_ok());
        assert!(check_nesting("{ a { b { c } } }", 2).is_err());
        assert!(check_nesting("{ a(x: [[1]]) }", 3).is_err());
        let quoted = format!("{{ a(s: \"{}\") }} # {}", "{".repeat(1000), "[".repeat(1000));
        assert!(check_nesting(&quoted, 2).is_ok());
        let block = format!(
            "{{ a(s: \"\"\"{} \\\"\"\" {}\"\"\") }}",
            "(".repeat(500),
            "{".repeat(500)
        );
        assert!(check_nesting(&block, 2).is_ok());
        assert!(check_nesting(&"{".repeat(100_000), 64).is_err());
    }

    #[test]
    fn fragment_chains_are_measured_without_recursion() {
        let chain: String = (0..50_000)
            .map(|index| format!("fragment F{index} on Query {{ ...F{} }}\n", index + 1))
            .collect();
        let document = async_graphql::parser::parse_query(format!("{{ ...F0 }}\n{chain}")).unwrap();
        assert_eq!(fragment_chain(&document), 50_000);
        let cycle =
            async_graphql::parser::parse_query("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }")
                .unwrap();
        assert_eq!(fragment_chain(&cycle), 2);
    }

    /// Whether `limits` refuse `query` (without variables), weighing fields with `engine`.
    fn refused(limits: &QueryLimits, engine: Option<&crate::schema::Engine>, query: &str) -> bool {
        let document = async_graphql::parser::parse_query(query).unwrap();
        limits.check_with(&document, &Variables::default(), engine).is_err()
    }

    /// The same rows weigh the same whatever the shape of the document: inline fragments with and
    /// without a type condition, named spreads, and no `first` at all.
    #[test]
    fn connections_weigh_the_same_through_fragments() {
        let limits = QueryLimits {
            cost: 1_000_000,
            max_page_size: 10_000,
            ..QueryLimits::default()
        };
        let refused = |query: &str| refused(&limits, None, query);
        let plain = "{ tasks(first: 10000) { nodes { project { tasks(first: 10000) { nodes { id } } } } } }";
        assert!(refused(plain));
        for query in [
            "{ tasks(first: 10000) { ... { nodes { project { tasks(first: 10000) { ... { nodes { id } } } } } } } }",
            "{ tasks(first: 10000) { ... on TaskConnection { nodes { project { tasks(first: 10000) { ... on TaskConnection { edges { node { id } } } } } } } } }",
            "{ tasks(first: 10000) { ...Rows } } fragment Rows on TaskConnection { nodes { project { tasks(first: 10000) { ...Rows2 } } } } fragment Rows2 on TaskConnection { ... { nodes { id } } }",
            "{ tasks { nodes { project { tasks { nodes { id } } } } } }",
            "{ tasks { ...Outer } } fragment Outer on TaskConnection { ...Inner } fragment Inner on TaskConnection { nodes { project { tasks { ...Outer2 } } } } fragment Outer2 on TaskConnection { nodes { id } }",
        ] {
            assert!(refused(query), "weighed too light: {query}");
        }
        // One level of 10,000 rows is within the bound, written any way.
        assert!(!refused("{ tasks { ... on TaskConnection { nodes { id title } } } }"));
        assert!(!refused(
            "{ tasks(first: 10) { nodes { project { tasks(first: 10) { ...R } } } } } fragment R on TaskConnection { nodes { id } }"
        ));
    }

    /// Knowing what fields return, lists are weighed by what they can return: one-to-many lists
    /// below rows that cannot repeat hold at most their table together; below a to-one step or a
    /// many-to-many list, rows repeat and lists multiply.
    #[test]
    fn typed_lists_weigh_what_they_can_return() {
        let registry = Arc::new(crate::entities::registry().expect("the sample registry"));
        let engine = crate::schema::Engine::new(registry, &crate::schema::SchemaOptions::default());
        let limits = QueryLimits {
            cost: 10_000_000,
            max_page_size: 10_000,
            ..QueryLimits::default()
        };
        let refused = |query: &str| refused(&limits, Some(&engine), query);
        // Unknown sizes: 10,000 rows a table, so 20,000 with the margin.
        assert!(!refused(
            "{ organizations { nodes { projects { nodes { tasks { nodes { comments { nodes { id body } } } } } } } } }"
        ));
        assert!(refused("{ tasks { nodes { project { tasks { nodes { id } } } } } }"));
        assert!(refused("{ task(id: 1) { tags { nodes { tasks { nodes { id } } } } } }"));
        assert!(!refused(
            "{ task(id: 1) { tags(first: 10) { nodes { tasks(first: 10) { nodes { id } } } } } }"
        ));
        // Fragments hide nothing.
        assert!(refused(
            "{ tasks { ...T } } fragment T on TaskConnection { nodes { project { tasks { ... on TaskConnection { nodes { id } } } } } }"
        ));
        // A write's read-back is weighed the same way.
        assert!(refused(
            "mutation { createTask(input: {projectId: 1, title: \"t\", status: TODO, priority: 1}) { project { organization { projects { nodes { tasks { nodes { project { tasks { nodes { id } } } } } } } } } } }"
        ));
    }

    #[test]
    fn variables_weigh_pages_and_nest_within_the_bound() {
        let limits = QueryLimits {
            cost: 1_000,
            ..QueryLimits::default()
        };
        let document =
            async_graphql::parser::parse_query("query($n: Int) { tasks(first: $n) { nodes { id } } }").unwrap();
        let variables = |n: u64| Variables::from_json(serde_json::json!({ "n": n }));
        assert!(limits.check(&document, &variables(10)).is_ok());
        assert!(limits.check(&document, &variables(10_000)).is_err());
        let mut deep = serde_json::json!(1);
        for _ in 0..70 {
            deep = serde_json::json!([deep]);
        }
        assert!(check_variables(&Variables::from_json(serde_json::json!({ "v": deep })), 64).is_err());
    }
}
