//! Query limits async-graphql does not have: aliases and root fields per operation, checked on
//! the parsed document before validation, refused with `QUERY_LIMIT_EXCEEDED`. Depth, complexity
//! and directives use async-graphql's own limits (see [`QueryLimits`]).

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensions, ServerError, ServerResult, Variables};
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
    /// The rows assumed for lists without `first`/`last` when weighing the cost.
    pub assumed_list_size: u64,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            depth: 16,
            complexity: 1000,
            directives: 10,
            aliases: 50,
            root_fields: 20,
            cost: 10_000_000,
            assumed_list_size: 100,
        }
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

/// (field occurrences, rows × fields) of a selection set with fragments expanded (memoized, so a
/// fragment bomb is measured in linear time). For the second, every connection (a field selecting
/// `nodes` or `edges`) is weighted by its `first`/`last`, or by `assumed` rows when it has none.
fn cost(
    selection_set: &SelectionSet,
    document: &ExecutableDocument,
    memo: &mut HashMap<String, (u64, u64)>,
    visiting: &mut Vec<String>,
    assumed: u64,
) -> (u64, u64) {
    selection_set
        .items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                let field = &field.node;
                let (fields, inner) = cost(&field.selection_set.node, document, memo, visiting, assumed);
                let connection = field.selection_set.node.items.iter().any(|item| {
                    matches!(&item.node, Selection::Field(child) if matches!(child.node.name.node.as_str(), "nodes" | "edges"))
                });
                let rows = if connection {
                    field
                        .arguments
                        .iter()
                        .filter(|(name, _)| matches!(name.node.as_str(), "first" | "last"))
                        .find_map(|(_, value)| match value.node.clone().into_const() {
                            Some(async_graphql::Value::Number(number)) => number.as_u64(),
                            _ => None,
                        })
                        .unwrap_or(assumed)
                } else {
                    1
                };
                (fields.saturating_add(1), rows.saturating_mul(inner).saturating_add(1))
            }
            Selection::InlineFragment(fragment) => cost(&fragment.node.selection_set.node, document, memo, visiting, assumed),
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.to_string();
                if let Some(size) = memo.get(&name) {
                    return *size;
                }
                // A cycle is a validation error reported later; it adds nothing here.
                if visiting.contains(&name) {
                    return (0, 0);
                }
                let Some(fragment) = document.fragments.get(&spread.node.fragment_name.node) else { return (0, 0) };
                visiting.push(name.clone());
                let size = cost(&fragment.node.selection_set.node, document, memo, visiting, assumed);
                visiting.pop();
                memo.insert(name, size);
                size
            }
        })
        .fold((0u64, 0u64), |(fields, values), (more_fields, more_values)| {
            (fields.saturating_add(more_fields), values.saturating_add(more_values))
        })
}

fn exceeded(message: String) -> ServerError {
    let error =
        async_graphql::Error::new(message).extend_with(|_, extensions| extensions.set("code", "QUERY_LIMIT_EXCEEDED"));
    error.into_server_error(Default::default())
}

/// Request data saying the HTTP layer already checked the limits on the parsed document.
pub struct LimitsChecked;

impl QueryLimits {
    /// Refuses a document over the limits (before async-graphql's own, exponential, checks).
    pub fn check(&self, document: &ExecutableDocument) -> Result<(), ServerError> {
        let mut aliases: usize = document
            .fragments
            .values()
            .map(|fragment| count_aliases(&fragment.node.selection_set.node))
            .sum();
        let mut memo = HashMap::new();
        for (_, operation) in document.operations.iter() {
            aliases += count_aliases(&operation.node.selection_set.node);
            let (fields, cost) = cost(
                &operation.node.selection_set.node,
                document,
                &mut memo,
                &mut Vec::new(),
                self.assumed_list_size,
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
        if context.data_opt::<LimitsChecked>().is_none()
            && let Ok(document) = async_graphql::parser::parse_query(query)
        {
            self.check(&document)?;
        }
        next.run(context, query, variables).await
    }
}
