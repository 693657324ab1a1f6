//! Query limits async-graphql does not have: aliases and root fields per operation, checked on
//! the parsed document before validation, refused with `QUERY_LIMIT_EXCEEDED`. Depth, complexity
//! and directives use async-graphql's own limits (see [`QueryLimits`]).

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ErrorExtensions, ServerError, ServerResult, Variables};
use std::sync::Arc;

/// Limits on the shape of one document.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    /// Deepest selection nesting.
    pub depth: usize,
    /// Most fields (async-graphql's complexity: one per field).
    pub complexity: usize,
    /// Most directives on one field.
    pub directives: usize,
    /// Most aliased fields in one document.
    pub aliases: usize,
    /// Most root fields in one operation.
    pub root_fields: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            depth: 16,
            complexity: 5000,
            directives: 10,
            aliases: 50,
            root_fields: 20,
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

fn exceeded(message: String) -> ServerError {
    let error =
        async_graphql::Error::new(message).extend_with(|_, extensions| extensions.set("code", "QUERY_LIMIT_EXCEEDED"));
    error.into_server_error(Default::default())
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
        let document = next.run(context, query, variables).await?;
        let mut aliases: usize = document
            .fragments
            .values()
            .map(|fragment| count_aliases(&fragment.node.selection_set.node))
            .sum();
        for (_, operation) in document.operations.iter() {
            aliases += count_aliases(&operation.node.selection_set.node);
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
        Ok(document)
    }
}
