//! The fields the planner reads, behind one trait: async-graphql's look-ahead
//! ([`SelectionField`]) while a resolver runs, or a field of a parsed document
//! ([`DocumentField`]) where no resolver runs at all (the SQL snapshot tests plan golden documents
//! this way, with no schema execution and no database).
//!
//! Both flatten fragments and resolve variables the same way (a variable's value, else its
//! default); `@skip`/`@include` is read by [`Selection::included`].

use crate::error::GatewayError;
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, FragmentDefinition, OperationDefinition, Selection as Item,
};
use async_graphql::{Name, Positioned, SelectionField, Value as GqlValue, Variables};
use std::collections::HashMap;

/// The operation a request runs: the one named `name`, else the document's only one; `None`
/// when the document has no such operation, or several and no name. Every path selects the
/// operation here (the transports, the cache's variable checks, the planner).
pub fn selected_operation<'d>(document: &'d ExecutableDocument, name: Option<&str>) -> Option<&'d OperationDefinition> {
    match (&document.operations, name) {
        (DocumentOperations::Single(operation), _) => Some(&operation.node),
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name).map(|operation| &operation.node),
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next().map(|operation| &operation.node)
        }
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// One field of an operation, as far as planning needs it.
pub trait Selection: Sized {
    fn name(&self) -> &str;
    fn alias(&self) -> Option<&str>;
    /// The arguments given, variables resolved.
    fn arguments(&self) -> Result<Vec<(String, GqlValue)>, GatewayError>;
    /// Whether `@skip`/`@include` keep the field.
    fn included(&self) -> Result<bool, GatewayError>;
    /// The sub-fields, fragments flattened, in document order.
    fn children(&self) -> Result<Vec<Self>, GatewayError>;
}

/// Whether a directive named `name` with argument `if` keeps what it is on.
fn keeps(name: &str, condition: Option<&GqlValue>) -> bool {
    let condition = matches!(condition, Some(GqlValue::Boolean(true)));
    !matches!((name, condition), ("skip", true) | ("include", false))
}

fn server_error(error: async_graphql::ServerError) -> GatewayError {
    GatewayError::bad_input(error.message)
}

impl Selection for SelectionField<'_> {
    fn name(&self) -> &str {
        SelectionField::name(self)
    }

    fn alias(&self) -> Option<&str> {
        SelectionField::alias(self)
    }

    fn arguments(&self) -> Result<Vec<(String, GqlValue)>, GatewayError> {
        Ok(SelectionField::arguments(self)
            .map_err(server_error)?
            .into_iter()
            .map(|(name, value)| (name.to_string(), value))
            .collect())
    }

    fn included(&self) -> Result<bool, GatewayError> {
        Ok(self.directives().map_err(server_error)?.iter().all(|directive| {
            let condition = directive
                .arguments
                .iter()
                .find(|(name, _)| name.node.as_str() == "if")
                .map(|(_, value)| &value.node);
            keeps(directive.name.node.as_str(), condition)
        }))
    }

    fn children(&self) -> Result<Vec<Self>, GatewayError> {
        Ok(self.selection_set().collect())
    }
}

/// Where a document's fields come from: the operation (its variables), the fragments.
#[derive(Clone, Copy)]
struct DocumentScope<'a> {
    definition: &'a OperationDefinition,
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    variables: &'a Variables,
    /// Variables planned as slots (see [`super::slot`]): their arguments get markers.
    slots: &'a [Name],
}

/// A field of a parsed document, with the operation's variables.
#[derive(Clone, Copy)]
pub struct DocumentField<'a> {
    field: &'a Field,
    operation: DocumentScope<'a>,
    /// For a field of an abstract type: the type names whose fragments apply to this member
    /// (the member's and the abstract type's); `None` keeps every fragment.
    member: Option<[&'a str; 2]>,
}

impl<'a> DocumentField<'a> {
    /// Where the field starts in the document (its alias, else its name): an error's location.
    pub fn position(&self) -> async_graphql::Pos {
        self.field.alias.as_ref().map_or(self.field.name.pos, |alias| alias.pos)
    }

    /// The root fields of the operation `name` (the only one when `None`) of `document`.
    pub fn roots(
        document: &'a ExecutableDocument,
        name: Option<&str>,
        variables: &'a Variables,
    ) -> Result<Vec<Self>, GatewayError> {
        Self::roots_with_slots(document, name, variables, &[])
    }

    /// [`Self::roots`], the variables `slots` planned as slots: wherever one is an argument's
    /// value (or part of it) the planner sees its [`super::slot::marker`]. A slot in a
    /// directive's condition is an error: whether a field is there is never a slot.
    pub fn roots_with_slots(
        document: &'a ExecutableDocument,
        name: Option<&str>,
        variables: &'a Variables,
        slots: &'a [Name],
    ) -> Result<Vec<Self>, GatewayError> {
        let definition = selected_operation(document, name).ok_or_else(|| match name {
            Some(name) => GatewayError::bad_input(format!("no operation named `{name}`")),
            None => GatewayError::bad_input("the document has several operations: name one"),
        })?;
        let operation = DocumentScope {
            definition,
            fragments: &document.fragments,
            variables,
            slots,
        };
        let mut fields = Vec::new();
        operation.collect(&definition.selection_set.node.items, None, &mut fields)?;
        Ok(fields)
    }

    /// The field being resolved in `context`, whose type is the abstract type `abstract_type`, seen
    /// as one member `member`: its children are the fields outside fragments and those of
    /// fragments on `member` or on `abstract_type` (a federation router's `_entities { … on Task
    /// { … } }`). async-graphql's look-ahead flattens fragments of every type condition.
    pub fn member_of(context: &'a async_graphql::Context<'a>, abstract_type: &'a str, member: &'a str) -> Self {
        // The query environment is async-graphql's (hidden from its docs, stable in 7.x): the
        // look-ahead API has no type conditions.
        let environment = &context.query_env;
        DocumentField {
            field: &context.item.node,
            operation: DocumentScope {
                definition: &environment.operation.node,
                fragments: &environment.fragments,
                variables: &environment.variables,
                slots: &[],
            },
            member: Some([member, abstract_type]),
        }
    }
}

impl<'a> DocumentScope<'a> {
    /// Resolves a variable of the operation: its value, else its default.
    fn variable(&self) -> impl FnMut(Name) -> Result<GqlValue, GatewayError> + '_ {
        |name| {
            self.definition
                .variable_definitions
                .iter()
                .find(|definition| definition.node.name.node == name)
                .and_then(|definition| {
                    self.variables
                        .get(&definition.node.name.node)
                        .or_else(|| definition.node.default_value())
                })
                .cloned()
                .ok_or_else(|| GatewayError::bad_input(format!("variable `${name}` is not defined")))
        }
    }

    /// Resolves a variable in an argument: a slot's marker, else [`Self::variable`].
    fn argument_variable(&self) -> impl FnMut(Name) -> Result<GqlValue, GatewayError> + '_ {
        let mut variable = self.variable();
        move |name| match self.slots.iter().position(|slot| *slot == name) {
            Some(slot) => Ok(super::slot::marker(slot)),
            None => variable(name),
        }
    }

    fn keeps(&self, directives: &[Positioned<async_graphql::parser::types::Directive>]) -> Result<bool, GatewayError> {
        for directive in directives {
            let condition = directive
                .node
                .get_argument("if")
                .map(|value| value.node.clone().into_const_with(self.argument_variable()))
                .transpose()?;
            // Whether a field is there changes the statement: a slot cannot decide it.
            if condition.as_ref().and_then(super::slot::placeholder).is_some() {
                return Err(GatewayError::bad_input("a directive's condition cannot be a slot"));
            }
            if !keeps(directive.node.name.node.as_str(), condition.as_ref()) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The fields of `items`, fragments kept by their directives (and, for a `member` of an
    /// abstract type, by their type condition) flattened.
    fn collect(
        &self,
        items: &'a [Positioned<Item>],
        member: Option<[&str; 2]>,
        into: &mut Vec<DocumentField<'a>>,
    ) -> Result<(), GatewayError> {
        let applies = |condition: Option<&Name>| match (member, condition) {
            (Some(names), Some(condition)) => names.contains(&condition.as_str()),
            _ => true,
        };
        for item in items {
            match &item.node {
                Item::Field(field) => into.push(DocumentField {
                    field: &field.node,
                    operation: *self,
                    member: None,
                }),
                Item::FragmentSpread(spread) => {
                    if self.keeps(&spread.node.directives)?
                        && let Some(fragment) = self.fragments.get(&spread.node.fragment_name.node)
                        && applies(Some(&fragment.node.type_condition.node.on.node))
                    {
                        self.collect(&fragment.node.selection_set.node.items, member, into)?;
                    }
                }
                Item::InlineFragment(inline) => {
                    let condition = inline
                        .node
                        .type_condition
                        .as_ref()
                        .map(|condition| &condition.node.on.node);
                    if self.keeps(&inline.node.directives)? && applies(condition) {
                        self.collect(&inline.node.selection_set.node.items, member, into)?;
                    }
                }
            }
        }
        Ok(())
    }
}

impl Selection for DocumentField<'_> {
    fn name(&self) -> &str {
        self.field.name.node.as_str()
    }

    fn alias(&self) -> Option<&str> {
        self.field.alias.as_ref().map(|alias| alias.node.as_str())
    }

    fn arguments(&self) -> Result<Vec<(String, GqlValue)>, GatewayError> {
        self.field
            .arguments
            .iter()
            .map(|(name, value)| {
                Ok((
                    name.node.to_string(),
                    value.node.clone().into_const_with(self.operation.argument_variable())?,
                ))
            })
            .collect()
    }

    fn included(&self) -> Result<bool, GatewayError> {
        self.operation.keeps(&self.field.directives)
    }

    fn children(&self) -> Result<Vec<Self>, GatewayError> {
        let mut fields = Vec::new();
        self.operation
            .collect(&self.field.selection_set.node.items, self.member, &mut fields)?;
        Ok(fields)
    }
}
