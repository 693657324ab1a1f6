//! Where one read statement runs: a healthy read replica when there is one, else the primary
//! behind the breaker (answering at once while it is known down); a replica that fails a read is
//! not the last word, the primary answers. Both ways of executing a query (async-graphql's
//! resolvers and the streamed path) read through here, so they route, time and bound alike.

use super::{Reader, Routing};
use crate::database::budget::ResponseBudget;
use crate::error::GatewayError;
use sea_orm::{DatabaseConnection, Statement};

/// The one text value (the JSON the database built) `statement` returns, charged to `budget`.
pub async fn read(
    primary: &DatabaseConnection,
    routing: Option<&Routing>,
    statement: &Statement,
    budget: Option<&ResponseBudget>,
) -> Result<Option<String>, GatewayError> {
    let read = Read {
        primary,
        pgbouncer: routing.is_some_and(|routing| routing.pgbouncer),
        warm: routing.map(|routing| &*routing.warm),
        statement,
        budget,
    };
    let replicas = routing.and_then(|routing| routing.replicas.as_deref());
    let read_primary = async || -> Result<Option<String>, GatewayError> {
        let Some(breaker) = routing.map(|routing| &routing.breaker) else {
            return read.on(primary).await;
        };
        let admission = breaker.admit()?;
        let trial = admission.trial();
        let attempt = async || {
            if trial {
                return read.on(primary).await;
            }
            // Another read finding the database gone answers this one too, at once.
            tokio::select! {
                result = read.on(primary) => result,
                () = breaker.down() => Err(GatewayError::DatabaseUnavailable),
            }
        };
        let started = std::time::Instant::now();
        let mut result = attempt().await;
        if matches!(result, Err(GatewayError::DatabaseUnavailable))
            && breaker.try_again(primary, started.elapsed()).await
        {
            result = attempt().await;
        }
        breaker.settle(admission, primary, result)
    };
    let connection = replicas.and_then(|replicas| replicas.pick()).unwrap_or(primary);
    if std::ptr::eq(connection, primary) {
        return read_primary().await;
    }
    match read.on(connection).await {
        Err(error) => {
            // Only a replica that went away is skipped from now on.
            if matches!(error, GatewayError::DatabaseUnavailable)
                && let Some(replicas) = replicas
            {
                replicas.failed(connection);
            }
            read_primary().await
        }
        read => read,
    }
}

/// One read, ready to run on a connection.
struct Read<'a> {
    primary: &'a DatabaseConnection,
    pgbouncer: bool,
    /// The primary's connections kept between reads.
    warm: Option<&'a super::warm::Warm>,
    statement: &'a Statement,
    budget: Option<&'a ResponseBudget>,
}

impl Read<'_> {
    /// Runs the read on `connection`. Boxed: the driver's futures (checkout, transaction, fetch)
    /// take kilobytes, and every future holding them inline would copy them at each of its moves.
    async fn on(&self, connection: &DatabaseConnection) -> Result<Option<String>, GatewayError> {
        Box::pin(async {
            // Counted against the primary's pool only (replicas have their own).
            let on_primary = std::ptr::eq(connection, self.primary);
            let _using = on_primary.then(crate::telemetry::record::DatabaseUse::start);
            let reader = Reader::open(connection, self.pgbouncer).await?;
            let warm = self.warm.filter(|_| on_primary);
            let text = crate::database::execute::fetch_text(&reader, self.statement.clone(), self.budget, warm).await?;
            reader.finish().await?;
            Ok(text)
        })
        .await
    }
}
