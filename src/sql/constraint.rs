//! Database errors of writes, explained in the API's terms: which type and field, which input
//! row, never SQL text, constraint names or the database's own message (the log keeps those).
//! Constraint violations become `CONSTRAINT_VIOLATION`; values the database cannot store and
//! `onConflict` columns without a unique constraint become `BAD_USER_INPUT`.

use crate::error::GatewayError;
use crate::metadata::{EntityId, Registry, RelationKind};
use crate::plan::write::InsertRow;
use sea_orm::{DbErr, RuntimeErr};

/// Turns a write's database error into a client error naming fields (and the input row, when known).
pub fn explain(
    registry: &Registry,
    entity: EntityId,
    error: DbErr,
    rows: Option<(usize, &[InsertRow])>,
) -> GatewayError {
    let sqlx = match &error {
        DbErr::Exec(RuntimeErr::SqlxError(sqlx)) | DbErr::Query(RuntimeErr::SqlxError(sqlx)) => Some(sqlx.clone()),
        _ => None,
    };
    let Some(database) = sqlx.as_deref().and_then(|sqlx| sqlx.as_database_error()) else {
        return GatewayError::from(error);
    };
    let meta = registry.entity(entity);
    let field_of = |table: Option<&str>, column: &str| -> String {
        table
            .and_then(|table| registry.entities().iter().find(|entity| entity.table == table))
            .unwrap_or(meta)
            .column(column)
            .map(|column| column.field.clone())
            .unwrap_or_else(|| column.to_owned())
    };
    let code = database.code().map(|code| code.into_owned()).unwrap_or_default();
    let message = database.message().to_owned();
    let (detail, column) = match database.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        Some(postgres) => (
            postgres.detail().unwrap_or_default().to_owned(),
            postgres.column().map(str::to_owned),
        ),
        None => (String::new(), None),
    };
    let constraint = database.constraint().map(str::to_owned).unwrap_or_default();
    // PostgreSQL's detail: `Key (a, b)=(1, x) already exists.`
    let (key_columns, key_values) = parse_key_detail(&detail);
    let row = rows.and_then(|(offset, rows)| find_row(rows, &key_columns, &key_values).map(|index| offset + index));
    let at_row = row.map(|index| format!(" (inputs[{index}])")).unwrap_or_default();
    let fields = |columns: &[String], table: Option<&str>| -> String {
        columns
            .iter()
            .map(|column| field_of(table, column))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // SQLite's message: `UNIQUE constraint failed: users.email, users.org`.
    let sqlite_columns: Vec<(String, String)> = message
        .split_once("constraint failed: ")
        .map(|(_, list)| {
            list.split(", ")
                .filter_map(|item| item.split_once('.'))
                .map(|(table, column)| (table.to_owned(), column.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let sqlite_fields = || {
        sqlite_columns
            .iter()
            .map(|(table, column)| field_of(Some(table), column))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let violation = |text: String| {
        tracing::info!(%code, %constraint, "constraint violation");
        GatewayError::ConstraintViolation(text)
    };
    match code.as_str() {
        "23505" => violation(format!(
            "a {} with this {} already exists{at_row}",
            meta.type_name,
            fields(&key_columns, None)
        )),
        "2067" | "1555" => violation(format!(
            "a {} with this {} already exists{at_row}",
            meta.type_name,
            sqlite_fields()
        )),
        "23503" if detail.contains("is still referenced") => {
            violation(format!("the {} is still referenced by other rows", meta.type_name))
        }
        // Worded as for a row the role cannot read, so the answer tells nothing about other tenants.
        "23503" => match meta
            .relations
            .iter()
            .position(|relation| relation.kind == RelationKind::ManyToOne && relation.from_columns == key_columns)
        {
            Some(relation) => {
                tracing::info!(%code, %constraint, "constraint violation");
                missing_reference(registry, entity, relation)
            }
            None => violation(format!(
                "{} refers to a row that does not exist",
                fields(&key_columns, None)
            )),
        },
        "787" => violation(format!(
            "a reference of this {} points at a row that does not exist, or the row is still referenced",
            meta.type_name
        )),
        "23502" => violation(format!(
            "{} must not be null{at_row}",
            column.as_deref().map(|c| field_of(None, c)).unwrap_or_default()
        )),
        "1299" => violation(format!("{} must not be null", sqlite_fields())),
        "23514" | "275" => violation(format!(
            "a value breaks a check constraint of {}{at_row}",
            meta.type_name
        )),
        "42P10" => GatewayError::bad_input(format!(
            "onConflict.columns must be exactly the columns of a unique constraint of {}",
            meta.type_name
        )),
        "1" if message.contains("ON CONFLICT clause does not match") => GatewayError::bad_input(format!(
            "onConflict.columns must be exactly the columns of a unique constraint of {}",
            meta.type_name
        )),
        "22001" | "22003" | "22007" | "22008" | "22P02" => {
            tracing::info!(%code, %message, "value refused by the database");
            let problem = match code.as_str() {
                "22001" => "a text value is longer than its column allows",
                "22003" => "a number is out of its column's range",
                "22007" | "22008" => "a date or time is out of range",
                _ => "a value is malformed for its column",
            };
            GatewayError::bad_input(format!("{problem} ({}){at_row}", meta.type_name))
        }
        _ => GatewayError::from(error),
    }
}

/// A written row's reference (relation `relation` of `entity`) names no row the role may read:
/// one answer for "does not exist" and "belongs to someone else".
pub fn missing_reference(registry: &Registry, entity: EntityId, relation: usize) -> GatewayError {
    let meta = registry.entity(entity);
    let relation = &meta.relations[relation];
    let fields: Vec<&str> = relation
        .from_columns
        .iter()
        .map(|column| {
            meta.column(column)
                .map_or(column.as_str(), |column| column.field.as_str())
        })
        .collect();
    GatewayError::ConstraintViolation(format!(
        "{}.{} must refer to an existing {} that this role can read",
        meta.type_name,
        fields.join(", "),
        registry.entity(relation.target).type_name
    ))
}

fn parse_key_detail(detail: &str) -> (Vec<String>, Vec<String>) {
    let Some(rest) = detail.strip_prefix("Key (") else {
        return (Vec::new(), Vec::new());
    };
    let Some((columns, rest)) = rest.split_once(")=(") else {
        return (Vec::new(), Vec::new());
    };
    let values = rest.rsplit_once(')').map(|(values, _)| values).unwrap_or_default();
    let split = |text: &str| {
        text.split(", ")
            .map(|item| item.trim_matches('"').to_owned())
            .collect::<Vec<_>>()
    };
    (split(columns), split(values))
}

/// The first input row whose values for `columns` print as `values`.
fn find_row(rows: &[InsertRow], columns: &[String], values: &[String]) -> Option<usize> {
    if columns.is_empty() || columns.len() != values.len() {
        return None;
    }
    rows.iter().position(|row| {
        columns.iter().zip(values).all(|(column, expected)| {
            row.values
                .iter()
                .any(|(name, value)| name == column && plain(value) == *expected)
        })
    })
}

fn plain(value: &sea_orm::Value) -> String {
    match value {
        sea_orm::Value::String(Some(text)) => text.clone(),
        sea_orm::Value::BigInt(Some(number)) => number.to_string(),
        sea_orm::Value::Uuid(Some(uuid)) => uuid.to_string(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_key_details_are_parsed() {
        let (columns, values) = parse_key_detail("Key (organization_id, name)=(1, billing-0) already exists.");
        assert_eq!(columns, vec!["organization_id", "name"]);
        assert_eq!(values, vec!["1", "billing-0"]);
    }
}
