//! What the gateway tells its operators: logs, set up once per process (here), and the metrics
//! it records ([`record`]).
//!
//! Logs are human-readable lines by default, JSON for log collectors. They go to standard error so
//! that commands such as `gateway schema` keep standard output clean, coloured only when standard
//! error is a terminal.

pub mod record;

use crate::config::{LogArgs, LogFormat};
use tracing_subscriber::EnvFilter;

/// The directive that keeps PostgreSQL's notices out of the log.
const QUIET_NOTICES: &str = "sqlx::postgres::notice=warn";

/// The directive that keeps `sea-orm-codegen`'s line per generated column out of `gateway generate`.
const QUIET_CODEGEN: &str = "sea_orm_codegen=warn";

/// Installs the global subscriber; a second call (as in tests) keeps the first one.
pub fn init(args: &LogArgs) {
    let filter = EnvFilter::try_new(&args.filter).unwrap_or_else(|error| {
        eprintln!(
            "warning: GATEWAY_LOG `{}` is not a valid filter ({error}); using `info`",
            args.filter
        );
        EnvFilter::new("info")
    });
    // PostgreSQL's notices (`relation "seaql_migrations" already exists, skipping`) are not the
    // operator's business unless asked for.
    let filter = if args.filter.contains("sqlx") {
        filter
    } else {
        filter.add_directive(QUIET_NOTICES.parse().expect("a valid directive"))
    };
    let filter = if args.filter.contains("sea_orm_codegen") {
        filter
    } else {
        filter.add_directive(QUIET_CODEGEN.parse().expect("a valid directive"))
    };
    // Colours only for a terminal: a file or a log collector gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    };
}
