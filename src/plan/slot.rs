//! Slots: a document planned once for every value of some of its variables, and a role's
//! policy compiled into it once for every session's claims.
//!
//! A variable that is only compared with columns (`filter: {projectId: {eq: $p}}`, `in: [$a, $b]`)
//! or looked up by (`task(id: $id)`) changes a statement's bind parameters, never its text. To
//! plan such a document once, [`super::DocumentField`] hands the planner a [`marker`] in place of
//! the variable's value; the two places that take a column's operand (`Literals::operand` and
//! `parse_key_value`) turn it into a [`placeholder`] instead of a typed value, and every other
//! place that reads an argument refuses it as the wrong kind of value (a page size, a cursor, an
//! ordering, a text pattern: their values change the SQL or are checked while planning). The
//! compiled statement then holds the placeholder where the value goes; [`kinds`] tells which
//! column kind each one is compared with, so a request's value is converted exactly as the
//! planner would have converted it.
//!
//! A session's claims work the same way: a policy's row filters compare columns with claims
//! (`organization_id = $org_id`), and `Policy::template` binds [`claim`] placeholders where
//! `Policy::access` binds a session's values.

use super::visit::{self, Visitor};
use super::{Plan, Predicate};
use crate::metadata::{EntityId, Registry, ScalarKind};
use async_graphql::Value as GqlValue;
use sea_orm::Value;
use std::collections::BTreeMap;

/// What a marker's bytes start with. GraphQL input has no binary values, so no request's value
/// can be one.
const MARKER: &[u8] = b"\0gateway-slot:";
/// What a placeholder's text starts with: no value the planner makes from input holds a NUL
/// character (`text_value` refuses it).
const PLACEHOLDER: &str = "\0gateway-slot:";

/// The value the planner sees for slot `variable`.
pub fn marker(variable: usize) -> GqlValue {
    let mut bytes = MARKER.to_vec();
    bytes.extend_from_slice(variable.to_string().as_bytes());
    GqlValue::Binary(bytes.into())
}

/// The placeholder a column's operand becomes when `value` is a [`marker`].
pub fn placeholder(value: &GqlValue) -> Option<Value> {
    let GqlValue::Binary(bytes) = value else {
        return None;
    };
    let variable: usize = std::str::from_utf8(bytes.strip_prefix(MARKER)?).ok()?.parse().ok()?;
    Some(Value::String(Some(format!("{PLACEHOLDER}v{variable}"))))
}

/// The placeholder for the `index`th claim slot of a policy template.
pub fn claim(index: usize) -> Value {
    Value::String(Some(format!("{PLACEHOLDER}c{index}")))
}

/// What fills a placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Slot {
    /// The variable at this index of the slots planned.
    Variable(usize),
    /// The claim at this index of the policy template.
    Claim(usize),
}

/// The slot whose placeholder `value` is.
pub fn slot_of(value: &Value) -> Option<Slot> {
    let Value::String(Some(text)) = value else {
        return None;
    };
    let slot = text.strip_prefix(PLACEHOLDER)?;
    let (kind, index) = slot.split_at_checked(1)?;
    let index = index.parse().ok()?;
    match kind {
        "v" => Some(Slot::Variable(index)),
        "c" => Some(Slot::Claim(index)),
        _ => None,
    }
}

/// The column kind each variable slot of `plan` is compared with; `None` for a slot compared with
/// columns of different kinds (its positions in a statement could not be told apart).
pub fn kinds(registry: &Registry, plan: &Plan) -> BTreeMap<usize, Option<ScalarKind>> {
    let mut kinds = Kinds {
        registry,
        found: BTreeMap::new(),
    };
    let Ok(()) = kinds.plan(plan);
    kinds.found
}

struct Kinds<'r> {
    registry: &'r Registry,
    found: BTreeMap<usize, Option<ScalarKind>>,
}

impl Kinds<'_> {
    fn value(&mut self, entity: EntityId, column: &str, value: &Value) {
        let Some(Slot::Variable(slot)) = slot_of(value) else {
            return;
        };
        let kind = self.registry.entity(entity).column(column).map(|column| &column.kind);
        let entry = self.found.entry(slot).or_insert_with(|| kind.cloned());
        if entry.as_ref() != kind {
            *entry = None;
        }
    }
}

impl Visitor for Kinds<'_> {
    type Error = std::convert::Infallible;

    fn registry(&self) -> &Registry {
        self.registry
    }

    fn plan(&mut self, plan: &Plan) -> Result<(), Self::Error> {
        if let Plan::Lookup(lookup) = plan {
            for (column, value) in &lookup.key {
                self.value(lookup.entity, column, value);
            }
        }
        visit::walk_plan(self, plan)
    }

    fn predicate(&mut self, entity: EntityId, predicate: &Predicate) -> Result<(), Self::Error> {
        match predicate {
            Predicate::Compare { column, value, .. } => self.value(entity, column, value),
            Predicate::In { column, values, .. } => {
                for value in values {
                    self.value(entity, column, value);
                }
            }
            _ => {}
        }
        visit::walk_predicate(self, entity, predicate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_become_placeholders_and_nothing_else_does() {
        let placeholder = placeholder(&marker(7)).expect("a marker");
        assert_eq!(slot_of(&placeholder), Some(Slot::Variable(7)));
        assert_eq!(slot_of(&claim(7)), Some(Slot::Claim(7)));
        assert_ne!(placeholder, claim(7));
        assert_eq!(super::placeholder(&GqlValue::Binary(b"other".to_vec().into())), None);
        assert_eq!(super::placeholder(&GqlValue::String("\0gateway-slot:7".into())), None);
        assert_eq!(slot_of(&Value::String(Some("gateway-slot:7".into()))), None);
        assert_eq!(slot_of(&Value::BigInt(Some(7))), None);
    }
}
