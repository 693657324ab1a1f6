//! A validation rule async-graphql does not apply: an enum written in a document is an enum
//! value (`status: { eq: TODO }`), never a string (`"TODO"`). async-graphql accepts both, because
//! variables legitimately carry enums as JSON strings; this rule looks only at literals, so a
//! variable's value is still coerced as the spec says.
//!
//! It walks arguments (and variables' default values) against the schema's types, field by
//! field, each fragment definition once. The document's nesting was bounded before it was
//! parsed ([`super::limits::check_nesting`], async-graphql's recursion limit).

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::registry::{MetaType, MetaTypeName, Registry};
use async_graphql::{Pos, ServerError};
use async_graphql_value::Value;

/// Refuses a string literal where the schema expects an enum.
pub fn check(registry: &Registry, document: &ExecutableDocument) -> Result<(), ServerError> {
    for (_, operation) in document.operations.iter() {
        let root = match operation.node.ty {
            async_graphql::parser::types::OperationType::Query => Some(registry.query_type.as_str()),
            async_graphql::parser::types::OperationType::Mutation => registry.mutation_type.as_deref(),
            async_graphql::parser::types::OperationType::Subscription => registry.subscription_type.as_deref(),
        };
        for variable in &operation.node.variable_definitions {
            if let Some(default) = &variable.node.default_value {
                let ty = variable.node.var_type.node.to_string();
                literal(registry, &default.node.clone().into_value(), &ty, default.pos)?;
            }
        }
        if let Some(root) = root {
            selections(registry, &operation.node.selection_set.node, root)?;
        }
    }
    for fragment in document.fragments.values() {
        selections(
            registry,
            &fragment.node.selection_set.node,
            fragment.node.type_condition.node.on.node.as_str(),
        )?;
    }
    Ok(())
}

fn selections(registry: &Registry, set: &SelectionSet, parent: &str) -> Result<(), ServerError> {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                let field = &field.node;
                // Unknown types and fields are the validator's to report.
                let Some(meta) = registry
                    .types
                    .get(parent)
                    .and_then(|ty| ty.field_by_name(&field.name.node))
                else {
                    continue;
                };
                for (name, value) in &field.arguments {
                    if let Some(argument) = meta.args.get(name.node.as_str()) {
                        literal(registry, &value.node, &argument.ty, value.pos)?;
                    }
                }
                selections(
                    registry,
                    &field.selection_set.node,
                    MetaTypeName::concrete_typename(&meta.ty),
                )?;
            }
            Selection::InlineFragment(inline) => {
                let on = inline
                    .node
                    .type_condition
                    .as_ref()
                    .map_or(parent, |condition| condition.node.on.node.as_str());
                selections(registry, &inline.node.selection_set.node, on)?;
            }
            // Fragment definitions are walked once each, from `check`.
            Selection::FragmentSpread(_) => {}
        }
    }
    Ok(())
}

/// Walks `value` as the schema type `ty`. A variable is not looked at: variables carry JSON, whose
/// strings the spec coerces to enums.
fn literal(registry: &Registry, value: &Value, ty: &str, pos: Pos) -> Result<(), ServerError> {
    match MetaTypeName::create(ty) {
        MetaTypeName::NonNull(inner) => literal(registry, value, inner, pos),
        MetaTypeName::List(inner) => match value {
            Value::List(items) => items.iter().try_for_each(|item| literal(registry, item, inner, pos)),
            single => literal(registry, single, inner, pos),
        },
        MetaTypeName::Named(name) => {
            match (registry.types.get(name), value) {
                (Some(MetaType::Enum { .. }), Value::String(text)) => Err(ServerError::new(
                    format!("enum `{name}` takes a value written without quotes: `{text}`, not `\"{text}\"`"),
                    Some(pos),
                )),
                (Some(MetaType::InputObject { input_fields, .. }), Value::Object(fields)) => fields
                    .iter()
                    .try_for_each(|(field, value)| match input_fields.get(field.as_str()) {
                        Some(input) => literal(registry, value, &input.ty, pos),
                        None => Ok(()),
                    }),
                _ => Ok(()),
            }
        }
    }
}
