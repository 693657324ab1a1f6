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
    /// Most rows × fields one operation may produce (see [`cost`]).
    pub cost: u64,
    /// The rows a list without `first`/`last` can return (`GATEWAY_MAX_PAGE_SIZE`): what it is
    /// weighed at.
    pub max_page_size: u64,
    /// Deepest bracket nesting of the document text and of the variables' values.
    pub nesting: usize,
}

impl From<&crate::config::ServerArgs> for QueryLimits {
    fn from(args: &crate::config::ServerArgs) -> Self {
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
        (&crate::config::ServerArgs::default()).into()
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

/// Federation's reference lookup (`GATEWAY_FEDERATION`): one row per representation.
const ENTITIES: &str = "_entities";
/// An aggregate's groups: a list as long as the distinct keys.
const GROUP_BY: &str = "groupBy";

/// Whether a field's selection reads rows of a connection: `nodes` or `edges` selected, directly
/// or through inline fragments and named spreads (whatever their type condition), so the shape of
/// the document cannot hide a connection from the cost.
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

/// What [`cost`] remembers per fragment: its size, and whether it selects a connection's rows.
#[derive(Default)]
struct Memo {
    sizes: HashMap<String, (u64, u64)>,
    rows: HashMap<String, bool>,
}

/// (field occurrences, rows × fields) of a selection set with fragments expanded (memoized, so a
/// fragment bomb is measured in linear time). For the second, every connection (a field selecting
/// `nodes` or `edges`, through fragments too) is weighted by its `first`/`last`, or by the rows it
/// can return without them (`GATEWAY_MAX_PAGE_SIZE`); a `groupBy` list by the same; `_entities`
/// by its representations.
fn cost(
    selection_set: &SelectionSet,
    document: &ExecutableDocument,
    memo: &mut Memo,
    visiting: &mut Vec<String>,
    sizes: &PageSizes<'_>,
) -> (u64, u64) {
    selection_set
        .items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                let field = &field.node;
                let (fields, inner) = cost(&field.selection_set.node, document, memo, visiting, sizes);
                let rows = if field.name.node == ENTITIES {
                    // A router's reference lookup returns one row per representation.
                    field
                        .get_argument("representations")
                        .and_then(|value| value.node.clone().into_const_with(|name| sizes.variable(&name)).ok())
                        .map_or(1, |value| match value {
                            async_graphql::Value::List(items) => items.len() as u64,
                            _ => 1,
                        })
                } else if field.name.node == GROUP_BY {
                    sizes.unbounded
                } else if selects_rows(&field.selection_set.node, document, &mut memo.rows, &mut Vec::new()) {
                    field
                        .arguments
                        .iter()
                        .filter(|(name, _)| matches!(name.node.as_str(), "first" | "last"))
                        .filter_map(|(_, value)| {
                            let value = value.node.clone().into_const_with(|name| sizes.variable(&name));
                            value.ok().and_then(page_rows)
                        })
                        .max()
                        .unwrap_or(sizes.unbounded)
                } else {
                    1
                };
                (fields.saturating_add(1), rows.saturating_mul(inner).saturating_add(1))
            }
            Selection::InlineFragment(fragment) => {
                cost(&fragment.node.selection_set.node, document, memo, visiting, sizes)
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.to_string();
                if let Some(size) = memo.sizes.get(&name) {
                    return *size;
                }
                // A cycle is a validation error reported later; it adds nothing here.
                if visiting.contains(&name) {
                    return (0, 0);
                }
                let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) else {
                    return (0, 0);
                };
                visiting.push(name.clone());
                let size = cost(&fragment.node.selection_set.node, document, memo, visiting, sizes);
                visiting.pop();
                memo.sizes.insert(name, size);
                size
            }
        })
        .fold((0u64, 0u64), |(fields, values), (more_fields, more_values)| {
            (fields.saturating_add(more_fields), values.saturating_add(more_values))
        })
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
    /// weighing pages with the request's `variables`.
    pub fn check(&self, document: &ExecutableDocument, variables: &Variables) -> Result<(), ServerError> {
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
            let (fields, cost) = cost(
                &operation.node.selection_set.node,
                document,
                &mut Memo::default(),
                &mut Vec::new(),
                &sizes,
            );
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
        Ok(())
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
                self.check(&document, variables)?;
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

    /// The same rows weigh the same whatever the shape of the document: inline fragments with and
    /// without a type condition, named spreads, and no `first` at all.
    #[test]
    fn connections_weigh_the_same_through_fragments() {
        let limits = QueryLimits {
            cost: 1_000_000,
            max_page_size: 10_000,
            ..QueryLimits::default()
        };
        let refused = |query: &str| {
            let document = async_graphql::parser::parse_query(query).unwrap();
            limits.check(&document, &Variables::default()).is_err()
        };
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
