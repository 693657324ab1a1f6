//! Running compiled statements: every read statement goes through [`fetch`], which traces it,
//! refuses one with more parameters than the database accepts, times it and charges its JSON to
//! the operation's answer budget. [`crate::sql`] compiles; this runs.

use super::budget::ResponseBudget;
use crate::error::GatewayError;
use crate::metadata::Registry;
use crate::permission::Access;
use crate::plan::Plan;
use sea_orm::{ConnectionTrait, Statement};

/// Compiles and runs `plan`, returning its JSON (`null` for a lookup that found nothing).
pub async fn execute(
    connection: &impl ConnectionTrait,
    registry: &Registry,
    access: &Access,
    plan: &Plan,
) -> Result<serde_json::Value, GatewayError> {
    let backend = connection.get_database_backend();
    read(connection, crate::sql::statement(backend, registry, access, plan), None).await
}

/// Runs a statement made by [`crate::sql::statement`] and parses the JSON it returns.
pub async fn run(connection: &impl ConnectionTrait, statement: Statement) -> Result<serde_json::Value, GatewayError> {
    read(connection, statement, None).await
}

async fn read(
    connection: &impl ConnectionTrait,
    statement: Statement,
    budget: Option<&ResponseBudget>,
) -> Result<serde_json::Value, GatewayError> {
    let text = fetch(statement, budget, async |statement| {
        let row = connection
            .query_one_raw(statement)
            .await?
            .ok_or(GatewayError::Internal)?;
        Ok(row.try_get_by_index(0)?)
    })
    .await?;
    parse(text)
}

/// Runs `statement` through `reader` (see [`crate::database::Reader::read_text`]: an abandoned
/// read stops its statement): traced, bounded in parameters, timed and charged to `budget`. The
/// text is the field's JSON as the response carries it.
pub async fn fetch_text(
    reader: &crate::database::Reader<'_>,
    statement: Statement,
    budget: Option<&ResponseBudget>,
    warm: Option<&crate::database::warm::Warm>,
) -> Result<Option<String>, GatewayError> {
    fetch(statement, budget, async |statement| {
        Ok(reader.read_text(statement, warm).await?)
    })
    .await
}

/// Runs `statement` with `fetch`, which returns the one text value it builds: traced, bounded in
/// parameters, timed and charged to `budget`.
async fn fetch(
    statement: Statement,
    budget: Option<&ResponseBudget>,
    fetch: impl AsyncFnOnce(Statement) -> Result<Option<String>, GatewayError>,
) -> Result<Option<String>, GatewayError> {
    tracing::debug!(target: "gateway::sql", sql = %statement.sql, "statement");
    within_parameter_limit(&statement)?;
    let started = std::time::Instant::now();
    let text = fetch(statement).await?;
    crate::telemetry::record::statement(started.elapsed().as_secs_f64());
    if let (Some(budget), Some(text)) = (budget, &text) {
        budget.charge(text.len())?;
    }
    Ok(text)
}

/// Most bind parameters one PostgreSQL statement may carry (the wire protocol counts them in 16 bits).
const MAX_PARAMETERS: usize = 65_535;

/// Refuses a statement the database would refuse for its number of parameters (many long `in`
/// lists, say) with a coded error instead of a driver failure.
fn within_parameter_limit(statement: &Statement) -> Result<(), GatewayError> {
    let count = statement.values.as_ref().map_or(0, |values| values.0.len());
    if count > MAX_PARAMETERS {
        return Err(GatewayError::LimitExceeded(format!(
            "the query needs {count} values, more than the database accepts in one statement ({MAX_PARAMETERS}): \
             use fewer or shorter `in` lists"
        )));
    }
    Ok(())
}

/// The JSON text a statement returned, parsed.
pub fn parse(text: Option<String>) -> Result<serde_json::Value, GatewayError> {
    let _shape = tracing::debug_span!("shape", bytes = text.as_ref().map_or(0, String::len)).entered();
    match text {
        None => Ok(serde_json::Value::Null),
        Some(text) => serde_json::from_str(&text).map_err(|error| {
            tracing::error!(%error, "the database returned JSON that does not parse");
            GatewayError::Internal
        }),
    }
}
