//! Which documents can be streamed: a query whose root fields are generated list, lookup and
//! aggregate fields or `__typename`, with no introspection but `__typename` below, and no root
//! response key selected twice (below the root the planner merges such fields). Every branch
//! counts, whatever `@skip`/`@include` decide at run time.

use crate::metadata::Registry;
use crate::plan::Root;
use async_graphql::Positioned;
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use std::collections::HashSet;

/// How deep a walk may go (documents are bounded far below this before they are parsed).
const MAX_DEPTH: usize = 256;

/// Whether the operation `name` of `document` can be streamed.
pub fn streamable(registry: &Registry, document: &ExecutableDocument, name: Option<&str>) -> bool {
    let Some(operation) = crate::plan::selected_operation(document, name) else {
        return false;
    };
    if operation.ty != OperationType::Query {
        return false;
    }
    let walk = Walk { document };
    let mut roots = Vec::new();
    if !walk.flatten(&operation.selection_set.node, &mut roots, 0) {
        return false;
    }
    distinct(&roots)
        && roots.iter().all(|field| {
            let name = field.name.node.as_str();
            name == "__typename" || (Root::find(registry, name).is_some() && walk.below(&field.selection_set.node, 1))
        })
}

/// Whether no response key occurs twice among `fields`.
fn distinct(fields: &[&async_graphql::parser::types::Field]) -> bool {
    let mut seen = HashSet::new();
    fields
        .iter()
        .all(|field| seen.insert(field.response_key().node.as_str()))
}

struct Walk<'d> {
    document: &'d ExecutableDocument,
}

impl<'d> Walk<'d> {
    /// The fields of `set` with every fragment flattened; false past the depth bound or for an
    /// unknown fragment.
    fn flatten(
        &self,
        set: &'d SelectionSet,
        into: &mut Vec<&'d async_graphql::parser::types::Field>,
        depth: usize,
    ) -> bool {
        if depth > MAX_DEPTH {
            return false;
        }
        set.items.iter().all(|item: &Positioned<Selection>| match &item.node {
            Selection::Field(field) => {
                into.push(&field.node);
                true
            }
            Selection::InlineFragment(inline) => self.flatten(&inline.node.selection_set.node, into, depth + 1),
            Selection::FragmentSpread(spread) => self
                .document
                .fragments
                .get(&spread.node.fragment_name.node)
                .is_some_and(|fragment| self.flatten(&fragment.node.selection_set.node, into, depth + 1)),
        })
    }

    /// Whether the selection below a root field is streamable: no introspection but `__typename`
    /// (the planner merges fields that share a key, as async-graphql does).
    fn below(&self, set: &'d SelectionSet, depth: usize) -> bool {
        let mut fields = Vec::new();
        if !self.flatten(set, &mut fields, depth) {
            return false;
        }
        fields.iter().all(|field| {
            let name = field.name.node.as_str();
            (name == "__typename" || !name.starts_with("__")) && self.below(&field.selection_set.node, depth + 1)
        })
    }
}
