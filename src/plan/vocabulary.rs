//! The API's fixed words, each named once: filter operators, the logical combinators, to-many
//! quantifiers, order directions, the fields of connections, edges and page info, and the names
//! of the object types derived from an entity's type (which plans carry for `__typename`).
//!
//! The schema generator lists them (`iter()`, [`name`](Operator::name), descriptions) and the
//! planner reads them back (`str::parse`), so the two cannot disagree: adding a filter operator
//! means a variant here (with its description and the column kinds it applies to) and its SQL in
//! [`crate::sql`], nothing else.

use super::{AggregateFunction, Comparison, TextMatch};
use crate::metadata::ScalarKind;

/// What a filter may say about one column (`{priority: {gte: 2}}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "camelCase")]
pub enum Operator {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
    NotIn,
    Like,
    #[strum(serialize = "ilike")]
    ILike,
    StartsWith,
    Contains,
    ContainedBy,
    Overlaps,
    Matches,
    /// Full-text search of a plain text column marked searchable (`GATEWAY_SEARCH_COLUMNS`).
    Search,
    IsNull,
}

/// The type of an operator's operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperandType {
    /// A value of the column's type.
    Value,
    /// A list of values of the column's type.
    Values,
    /// A string (patterns and text matches).
    Text,
    /// A boolean.
    Boolean,
}

impl Operator {
    pub fn description(self) -> &'static str {
        match self {
            Self::Eq => "equal to",
            Self::Ne => "not equal to",
            Self::Gt => "greater than",
            Self::Gte => "at least",
            Self::Lt => "less than",
            Self::Lte => "at most",
            Self::In => "one of these values",
            Self::NotIn => "none of these values",
            Self::Like => "SQL LIKE pattern (% and _), case-sensitive",
            Self::ILike => "SQL LIKE pattern, ignoring case",
            Self::StartsWith => "starts with this text",
            Self::Contains => "contains this text",
            Self::ContainedBy => "every value of the list is one of these",
            Self::Overlaps => "the list has at least one of these values",
            Self::Matches => "matches this search (web-search syntax: words, \"quoted phrases\", or, -excluded)",
            Self::Search => {
                "has these words (web-search syntax: words, \"quoted phrases\", or, -excluded; stemmed by the search configuration)"
            }
            Self::IsNull => "true: only NULL; false: only non-NULL",
        }
    }

    pub fn operand(self, kind: &ScalarKind) -> OperandType {
        match self {
            _ if matches!(kind, ScalarKind::Array { .. }) && self != Self::IsNull => OperandType::Value,
            Self::In | Self::NotIn => OperandType::Values,
            Self::Like | Self::ILike | Self::StartsWith | Self::Contains | Self::Matches | Self::Search => {
                OperandType::Text
            }
            Self::IsNull => OperandType::Boolean,
            _ => OperandType::Value,
        }
    }

    /// Whether filters on a column of `kind` offer this operator (`search`: only searchable text
    /// columns, whose filter type is [`SEARCHABLE_FILTER`]).
    pub fn applies_to(self, kind: &ScalarKind, searchable: bool) -> bool {
        match self {
            Self::IsNull => true,
            Self::Search => searchable && matches!(kind, ScalarKind::String),
            Self::Matches => kind.is_search_document(),
            _ if matches!(kind, ScalarKind::Json) || kind.is_search_document() => false,
            _ if matches!(kind, ScalarKind::Array { .. }) => {
                matches!(
                    self,
                    Self::Eq | Self::Ne | Self::Contains | Self::ContainedBy | Self::Overlaps
                )
            }
            Self::ContainedBy | Self::Overlaps => false,
            Self::Eq | Self::Ne => true,
            _ if matches!(kind, ScalarKind::Bytes) => false,
            Self::Gt | Self::Gte | Self::Lt | Self::Lte => kind.is_ordered(),
            Self::In | Self::NotIn => !matches!(kind, ScalarKind::Boolean),
            Self::Like | Self::ILike | Self::StartsWith | Self::Contains => matches!(kind, ScalarKind::String),
        }
    }

    /// The comparison this operator makes on a column of `kind` (arrays compare as sets).
    pub fn comparison(self, kind: &ScalarKind) -> Option<Comparison> {
        if matches!(kind, ScalarKind::Array { .. }) {
            match self {
                Self::Contains => return Some(Comparison::Contains),
                Self::ContainedBy => return Some(Comparison::ContainedBy),
                Self::Overlaps => return Some(Comparison::Overlaps),
                _ => {}
            }
        }
        self.scalar_comparison()
    }

    /// The comparison of one value with another (`eq`…`lte`): what `having` and JSON path
    /// comparisons offer.
    pub fn scalar_comparison(self) -> Option<Comparison> {
        Some(match self {
            Self::Eq => Comparison::Eq,
            Self::Ne => Comparison::Ne,
            Self::Gt => Comparison::Gt,
            Self::Gte => Comparison::Gte,
            Self::Lt => Comparison::Lt,
            Self::Lte => Comparison::Lte,
            _ => return None,
        })
    }

    pub fn text(self) -> Option<TextMatch> {
        Some(match self {
            Self::Like => TextMatch::Like,
            Self::ILike => TextMatch::ILike,
            Self::StartsWith => TextMatch::StartsWith,
            Self::Contains => TextMatch::Contains,
            Self::Matches | Self::Search => TextMatch::Search,
            _ => return None,
        })
    }
}

/// The fields that combine conditions in every filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "camelCase")]
pub enum Combinator {
    And,
    Or,
    Not,
}

impl Combinator {
    pub fn description(self) -> &'static str {
        match self {
            Self::And => "All of these.",
            Self::Or => "Any of these.",
            Self::Not => "Not this.",
        }
    }
}

/// How a filter on a to-many relation combines the related rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "camelCase")]
pub enum ListQuantifier {
    Some,
    None,
    Every,
}

impl ListQuantifier {
    pub fn description(self) -> &'static str {
        match self {
            Self::Some => "At least one related row matches.",
            Self::None => "No related row matches.",
            Self::Every => "Every related row matches (true when there are none).",
        }
    }

    pub fn quantifier(self) -> super::Quantifier {
        match self {
            Self::Some => super::Quantifier::Some,
            Self::None => super::Quantifier::None,
            Self::Every => super::Quantifier::Every,
        }
    }
}

/// The filter type of searchable text columns: `StringFilter` and `search`.
pub const SEARCHABLE_FILTER: &str = "SearchableStringFilter";

/// How a text column may be ordered beyond [`Direction`] (`TextOrderDirection`, and for
/// searchable columns `SearchOrderDirection` with `RELEVANCE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum TextOrder {
    /// Ignoring case (`lower(…)`), NULLs last.
    AscCi,
    /// Ignoring case, NULLs first.
    DescCi,
    /// Most relevant to the field's `search` filter first.
    Relevance,
}

/// A sort direction (`OrderDirection`); ASC puts NULLs last and DESC first unless stated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum Direction {
    Asc,
    Desc,
    AscNullsFirst,
    AscNullsLast,
    DescNullsFirst,
    DescNullsLast,
}

impl Direction {
    pub fn descending(self) -> bool {
        matches!(self, Self::Desc | Self::DescNullsFirst | Self::DescNullsLast)
    }

    pub fn nulls_first(self) -> bool {
        matches!(self, Self::Desc | Self::DescNullsFirst | Self::AscNullsFirst)
    }
}

/// The fields of every connection type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "camelCase")]
pub enum ConnectionField {
    Nodes,
    Edges,
    PageInfo,
    TotalCount,
}

/// The fields of every edge type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "camelCase")]
pub enum EdgeField {
    Cursor,
    Node,
}

/// The fields of `PageInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "camelCase")]
pub enum PageInfoField {
    HasNextPage,
    HasPreviousPage,
    StartCursor,
    EndCursor,
}

/// `name()`: the word as the API spells it.
macro_rules! named {
    ($($name:ident),*) => {
        $(impl $name {
            pub fn name(self) -> &'static str {
                self.into()
            }
        })*
    };
}

named!(
    Operator,
    Combinator,
    ListQuantifier,
    Direction,
    ConnectionField,
    EdgeField,
    PageInfoField
);

#[cfg(test)]
mod tests {
    use super::*;
    use strum::IntoEnumIterator;

    #[test]
    fn every_word_reads_back_as_itself() {
        for operator in Operator::iter() {
            assert_eq!(operator.name().parse::<Operator>().unwrap(), operator);
        }
        let names: Vec<_> = Operator::iter().map(Operator::name).collect();
        assert_eq!(
            names,
            [
                "eq",
                "ne",
                "gt",
                "gte",
                "lt",
                "lte",
                "in",
                "notIn",
                "like",
                "ilike",
                "startsWith",
                "contains",
                "containedBy",
                "overlaps",
                "matches",
                "search",
                "isNull"
            ]
        );
        for direction in Direction::iter() {
            assert_eq!(direction.name().parse::<Direction>().unwrap(), direction);
        }
        assert_eq!(Direction::AscNullsFirst.name(), "ASC_NULLS_FIRST");
        assert_eq!(PageInfoField::HasNextPage.name(), "hasNextPage");
        assert_eq!(ConnectionField::TotalCount.name(), "totalCount");
    }

    #[test]
    fn directions_say_where_nulls_go() {
        let placed: Vec<_> = Direction::iter()
            .map(|direction| (direction.descending(), direction.nulls_first()))
            .collect();
        assert_eq!(
            placed,
            [
                (false, false),
                (true, true),
                (false, true),
                (false, false),
                (true, true),
                (true, false)
            ]
        );
    }
}

/// The one page-information type every connection shares.
pub const PAGE_INFO: &str = "PageInfo";

/// An object type derived from an entity's type (`Task` → `TaskConnection`, `TaskMin`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Derived {
    Connection,
    Edge,
    Aggregate,
    Group,
    GroupKey,
    Function(AggregateFunction),
}

impl Derived {
    /// The type's name for the entity type `base`.
    pub fn name(self, base: &str) -> String {
        let suffix = match self {
            Self::Connection => "Connection",
            Self::Edge => "Edge",
            Self::Aggregate => "Aggregate",
            Self::Group => "Group",
            Self::GroupKey => "GroupKey",
            Self::Function(AggregateFunction::Sum) => "Sum",
            Self::Function(AggregateFunction::Avg) => "Avg",
            Self::Function(AggregateFunction::Min) => "Min",
            Self::Function(AggregateFunction::Max) => "Max",
            Self::Function(AggregateFunction::CountDistinct) => "CountDistinct",
        };
        format!("{base}{suffix}")
    }
}
