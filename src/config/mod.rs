//! Typed settings, parsed once from flags, environment variables and `.env`.
//!
//! Each group is a `clap::Args` struct so the CLI, `--help` and the environment stay one
//! definition. Every variable is named `GATEWAY_*`, except `DATABASE_URL` and the libpq
//! variables (`PGHOST`, …) that PostgreSQL users already have set.

mod auth;
pub mod database;
mod search;

pub use auth::AuthArgs;
pub use search::SearchArgs;

pub use database::{DatabaseArgs, DatabaseTarget, PoolArgs, ReplicaArgs};

use clap::{Args, ValueEnum};
use std::net::SocketAddr;
use std::time::Duration;

/// Logging settings.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log filter, in `tracing` EnvFilter syntax (e.g. `info,gateway=debug`).
    #[arg(long = "log", env = "GATEWAY_LOG", default_value = "info", global = true)]
    pub filter: String,
    /// Log line format.
    #[arg(long, env = "GATEWAY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Serving settings, one group per concern (each flattened: the flags and variables are the
/// same as one flat list).
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "GATEWAY_LISTEN", default_value = "127.0.0.1:8000")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub subscriptions: SubscriptionArgs,
    #[command(flatten)]
    pub operations: OperationArgs,
    /// How long a shutdown waits for in-flight requests before closing them.
    #[arg(long, env = "GATEWAY_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,
}

/// The HTTP transport: bodies, batches, CSRF, CORS, the playground, `/metrics`.
#[derive(Debug, Clone, Args)]
pub struct HttpArgs {
    /// Largest request body read, in bytes.
    #[arg(long, env = "GATEWAY_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most operations in one batched (JSON array) request.
    #[arg(long, env = "GATEWAY_MAX_BATCH", default_value_t = 10)]
    pub max_batch: usize,
    /// Refuse GET requests that carry cookies but none of the CSRF headers (browsers cannot add
    /// them cross-site). A GET without cookies carries no ambient credential and runs as its
    /// token (which a cross-site page cannot attach) or the anonymous role, so urql's and Apollo's
    /// GET queries work as they are sent.
    #[arg(long, env = "GATEWAY_CSRF_PREVENTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub csrf_prevention: bool,
    /// Headers that make a GET request safe from CSRF, comma-separated.
    #[arg(
        long,
        env = "GATEWAY_CSRF_REQUIRED_HEADERS",
        value_delimiter = ',',
        default_value = "x-apollo-operation-name,apollo-require-preflight"
    )]
    pub csrf_required_headers: Vec<String>,
    /// Bearer token `/metrics` requires; unset serves it to anyone who can reach the port.
    #[arg(long, env = "GATEWAY_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Serve the GraphiQL playground.
    #[arg(long, env = "GATEWAY_PLAYGROUND", default_value_t = true, action = clap::ArgAction::Set)]
    pub playground: bool,
    /// How long a client may take to send a request body (read before the request takes a slot).
    #[arg(long, env = "GATEWAY_BODY_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub body_timeout: Duration,
    /// How long a connection may take to send a request's headers, and stay idle between
    /// requests (keep-alive): slow or silent clients are disconnected after it.
    #[arg(long, env = "GATEWAY_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// Origins browsers may call the gateway from, comma-separated (`*`: any); none sends no CORS headers.
    #[arg(long, env = "GATEWAY_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Let browsers send cookies and credentials cross-origin (only with explicit origins).
    #[arg(long, env = "GATEWAY_CORS_CREDENTIALS", default_value_t = false, action = clap::ArgAction::Set)]
    pub cors_credentials: bool,
    /// Request headers browsers may send cross-origin, comma-separated (the default covers Apollo
    /// client awareness, OpenTelemetry and Sentry tracing).
    #[arg(
        long,
        env = "GATEWAY_CORS_ALLOW_HEADERS",
        value_delimiter = ',',
        default_value = "content-type,authorization,accept,x-role,x-request-id,apollo-require-preflight,x-apollo-operation-name,apollographql-client-name,apollographql-client-version,traceparent,tracestate,baggage,sentry-trace"
    )]
    pub cors_allow_headers: Vec<String>,
    /// How long browsers may cache a preflight answer.
    #[arg(long, env = "GATEWAY_CORS_MAX_AGE", default_value = "1h", value_parser = parse_duration)]
    pub cors_max_age: Duration,
}

impl Default for HttpArgs {
    fn default() -> Self {
        defaults()
    }
}

/// What one operation may ask and take: document limits, cost, pages, answers, time and concurrency.
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Deepest selection nesting a query may have.
    #[arg(long, env = "GATEWAY_MAX_DEPTH", default_value_t = 16)]
    pub max_depth: usize,
    /// Most fields one operation may select, fragments expanded (its complexity).
    #[arg(long, env = "GATEWAY_MAX_COMPLEXITY", default_value_t = 1000)]
    pub max_complexity: usize,
    /// Most directives on one field.
    #[arg(long, env = "GATEWAY_MAX_DIRECTIVES", default_value_t = 10)]
    pub max_directives: usize,
    /// Most aliases in one document.
    #[arg(long, env = "GATEWAY_MAX_ALIASES", default_value_t = 50)]
    pub max_aliases: usize,
    /// Most root fields in one operation.
    #[arg(long, env = "GATEWAY_MAX_ROOT_FIELDS", default_value_t = 20)]
    pub max_root_fields: usize,
    /// Most values (rows × fields; lists weighted by `first`/`last`, or by
    /// `GATEWAY_MAX_PAGE_SIZE` without them) one operation may produce.
    #[arg(long, env = "GATEWAY_MAX_COST", default_value_t = 10_000_000)]
    pub max_cost: u64,
    /// Deepest nesting of brackets in a document, and of lists and objects in its variables.
    #[arg(long, env = "GATEWAY_MAX_NESTING", default_value_t = 64)]
    pub max_nesting: usize,
    /// Largest JSON answer of one operation, in bytes (larger ones are refused, not sent).
    #[arg(long, env = "GATEWAY_MAX_RESPONSE_BYTES", default_value_t = 32 * 1024 * 1024)]
    pub max_response_bytes: usize,
    /// Most bytes of answers all operations in flight may hold together; past it operations are
    /// refused with `OVERLOADED` (503, retryable) until memory comes free.
    #[arg(long, env = "GATEWAY_MAX_RESPONSE_BYTES_TOTAL", default_value_t = 256 * 1024 * 1024)]
    pub max_response_bytes_total: usize,
    /// Longest `like`/`ilike`/`startsWith`/`contains`/`matches`/`search` operand, in characters.
    #[arg(long, env = "GATEWAY_MAX_PATTERN_LENGTH", default_value_t = 1_000)]
    pub max_pattern_length: usize,
    /// Most pattern characters × estimated table rows one root field's text matching may compare
    /// (a pattern is compared with every row its filter scans).
    #[arg(long, env = "GATEWAY_MAX_TEXT_MATCH_COST", default_value_t = 100_000_000)]
    pub max_text_match_cost: u64,
    /// Largest `first`/`last`; lists without them stop there too.
    #[arg(long, env = "GATEWAY_MAX_PAGE_SIZE", default_value_t = 10_000)]
    pub max_page_size: u64,
    /// Longest time one GraphQL operation may run before a 504 `TIMEOUT` (the database's own limit
    /// is GATEWAY_STATEMENT_TIMEOUT).
    #[arg(long, env = "GATEWAY_REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,
    /// Most GraphQL requests served at once; more wait in a queue.
    #[arg(long, env = "GATEWAY_MAX_CONCURRENT_REQUESTS", default_value_t = 256)]
    pub max_concurrent_requests: usize,
    /// Most live-query runs (first results and re-runs after changes) at once, apart from the
    /// requests' slots: however many live queries are open, they hold at most this many pooled
    /// connections.
    #[arg(long, env = "GATEWAY_MAX_CONCURRENT_LIVE", default_value_t = 4)]
    pub max_concurrent_live: usize,
    /// How long a request waits in the queue before a quick 503.
    #[arg(long, env = "GATEWAY_QUEUE_TIMEOUT", default_value = "1s", value_parser = parse_duration)]
    pub queue_timeout: Duration,
    /// Most rows one `createXs` mutation may insert.
    #[arg(long, env = "GATEWAY_MAX_INSERT_ROWS", default_value_t = 1000)]
    pub max_insert_rows: usize,
}

impl Default for LimitArgs {
    fn default() -> Self {
        defaults()
    }
}

/// The WebSocket and the subscriptions it carries.
#[derive(Debug, Clone, Args)]
pub struct SubscriptionArgs {
    /// How long a WebSocket may stay open before `connection_init` (then closed with 4408).
    #[arg(long, env = "GATEWAY_WS_INIT_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub ws_init_timeout: Duration,
    /// How often the server pings an idle WebSocket (`ping`, or `ka` on the legacy protocol); 0 is never.
    #[arg(long, env = "GATEWAY_WS_KEEPALIVE", default_value = "15s", value_parser = parse_duration)]
    pub ws_keepalive: Duration,
    /// A WebSocket that sends no frame at all (no message, no answer to the pings) this long is
    /// closed with 1001; 0 is never (and so is a keep-alive of 0).
    #[arg(long, env = "GATEWAY_WS_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub ws_idle_timeout: Duration,
    /// Most subscriptions one WebSocket may run at once.
    #[arg(long, env = "GATEWAY_MAX_SUBSCRIPTIONS_PER_CONNECTION", default_value_t = 100)]
    pub max_subscriptions_per_connection: usize,
    /// Most live queries (`xsLive`) one WebSocket may run at once: each re-runs its statement at
    /// every change of a table it reads, so they are capped far below other subscriptions.
    #[arg(long, env = "GATEWAY_MAX_LIVE_QUERIES_PER_CONNECTION", default_value_t = 5)]
    pub max_live_queries_per_connection: usize,
    /// Most summed cost (rows × fields, weighed like GATEWAY_MAX_COST) of the subscriptions of one
    /// WebSocket: each re-runs its statements at every change, so by default a connection's
    /// subscriptions together may cost what one operation may (GATEWAY_MAX_COST's default).
    #[arg(
        long,
        env = "GATEWAY_MAX_SUBSCRIPTION_COST_PER_CONNECTION",
        default_value_t = 10_000_000
    )]
    pub max_subscription_cost_per_connection: u64,
    /// Most summed cost of the subscriptions of one role, over all connections (the anonymous
    /// role is anyone's: it cannot take the capacity of the others).
    #[arg(long, env = "GATEWAY_MAX_SUBSCRIPTION_COST_PER_ROLE", default_value_t = 200_000_000)]
    pub max_subscription_cost_per_role: u64,
    /// Most subscriptions this process runs at once, over all connections.
    #[arg(long, env = "GATEWAY_MAX_SUBSCRIPTIONS", default_value_t = 10_000)]
    pub max_subscriptions: usize,
    /// Most subscriptions of one role at once (the anonymous role is anyone's: it cannot take the
    /// others' share of GATEWAY_MAX_SUBSCRIPTIONS).
    #[arg(long, env = "GATEWAY_MAX_SUBSCRIPTIONS_PER_ROLE", default_value_t = 5_000)]
    pub max_subscriptions_per_role: usize,
    /// Batches of events a subscriber may have waiting; a consumer further behind is disconnected
    /// (close 1008).
    #[arg(long, env = "GATEWAY_SUBSCRIPTION_QUEUE", default_value_t = 256)]
    pub subscription_queue: usize,
    /// How long changes are gathered before subscriptions are updated (live queries re-run at most
    /// this often).
    #[arg(long, env = "GATEWAY_SUBSCRIPTION_DEBOUNCE", default_value = "50ms", value_parser = parse_duration)]
    pub subscription_debounce: Duration,
}

impl Default for SubscriptionArgs {
    fn default() -> Self {
        defaults()
    }
}

/// How operations are served: the schema's introspection and federation, the operation cache, persisted queries and the safelist, logging and metrics of operations.
#[derive(Debug, Clone, Args)]
pub struct OperationArgs {
    /// Answer introspection queries (turn off in production if clients do not need it).
    #[arg(long, env = "GATEWAY_INTROSPECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub introspection: bool,
    /// Roles that may introspect even when GATEWAY_INTROSPECTION is false, comma-separated.
    #[arg(long, env = "GATEWAY_INTROSPECTION_ROLES", value_delimiter = ',')]
    pub introspection_roles: Vec<String>,
    /// Serve as an Apollo Federation v2 subgraph: `@key` on every type with a primary key,
    /// `_service { sdl }` and `_entities` for a router (Apollo Router, `@apollo/gateway`).
    #[arg(long, env = "GATEWAY_FEDERATION", default_value_t = false, action = clap::ArgAction::Set)]
    pub federation: bool,
    /// Stream a query's answer from the database from its first run (validated by a dry run of
    /// async-graphql's resolvers); false answers first runs through async-graphql's resolvers.
    #[arg(long, env = "GATEWAY_STREAM_FIRST_RUN", default_value_t = true, action = clap::ArgAction::Set)]
    pub stream_first_run: bool,
    /// Operations slower than this are logged as warnings (`slow operation`).
    #[arg(long, env = "GATEWAY_SLOW_OPERATION", default_value = "1s", value_parser = parse_duration)]
    pub slow_operation: Duration,
    /// Distinct operation names kept as the `operation` label of the request metrics (the first
    /// ones that run; any other name is `other`), bounding the series clients can create.
    #[arg(long, env = "GATEWAY_METRICS_OPERATION_NAMES", default_value_t = 100)]
    pub metrics_operation_names: usize,
    /// Query documents kept parsed, validated and compiled per role (LRU): a repeated query skips
    /// parsing, validation, planning and SQL building and is answered from the database's JSON as
    /// is. 0 turns the cache (and with it the streamed path) off.
    #[arg(long, env = "GATEWAY_OPERATION_CACHE_SIZE", default_value_t = 1000)]
    pub operation_cache_size: usize,
    /// Documents kept for automatic persisted queries (APQ); 0 turns APQ off.
    #[arg(long, env = "GATEWAY_APQ_CACHE_SIZE", default_value_t = 1000)]
    pub apq_cache_size: usize,
    /// Manifest of allowed operations (Apollo persisted-query manifest or Relay `{"id": "document"}` JSON).
    #[arg(long, env = "GATEWAY_SAFELIST_FILE")]
    pub safelist_file: Option<std::path::PathBuf>,
    /// Roles that may run only safelisted operations, comma-separated (`*`: every request).
    #[arg(long, env = "GATEWAY_SAFELIST_ROLES", value_delimiter = ',')]
    pub safelist_roles: Vec<String>,
}

impl Default for OperationArgs {
    fn default() -> Self {
        defaults()
    }
}

impl Default for ServerArgs {
    fn default() -> Self {
        defaults()
    }
}

/// A settings group with every value at the default its clap attributes give, whatever the
/// environment says: the attributes are the one place a default is written.
pub fn defaults<T: Args + clap::FromArgMatches>() -> T {
    let command =
        T::augment_args(clap::Command::new("defaults").no_binary_name(true)).mut_args(|arg| arg.env(None::<&str>));
    let matches = command
        .try_get_matches_from(std::iter::empty::<String>())
        .expect("every setting has a default or is optional");
    T::from_arg_matches(&matches).expect("the defaults parse")
}

/// Parses a human duration such as `250ms`, `5s` or `10m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|error| format!("{error} (examples: 250ms, 5s, 10m)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_come_from_the_clap_attributes() {
        let server = ServerArgs::default();
        assert_eq!(server.listen, SocketAddr::from(([127, 0, 0, 1], 8000)));
        assert_eq!(server.limits.max_response_bytes, 32 * 1024 * 1024);
        assert_eq!(server.limits.request_timeout, Duration::from_secs(30));
        assert_eq!(
            server.http.csrf_required_headers,
            ["x-apollo-operation-name", "apollo-require-preflight"]
        );
        let auth = AuthArgs::default();
        assert_eq!(auth.jwt_session_claims, ["org_id"]);
        assert_eq!(auth.jwt_leeway, Duration::from_secs(30));
        assert!(!auth.allow_all);
        let pool = PoolArgs::default();
        assert_eq!((pool.pool_max_connections, pool.pool_min_connections), (10, 1));
        assert_eq!(ReplicaArgs::default().read_max_lag, Duration::from_secs(10));
        let database = DatabaseArgs::with_url(Some("postgres://localhost/x"));
        assert_eq!(database.sqlite_path, std::path::PathBuf::from("gateway.db"));
    }
}
