//! Where the database is and how the pool behaves.
//!
//! `DATABASE_URL` wins; otherwise the libpq variables (`PGHOST PGPORT PGUSER PGPASSWORD
//! PGDATABASE PGSSLMODE`) describe a PostgreSQL server; with neither, the gateway uses an
//! embedded SQLite file so `cargo run` works on a bare machine. Passwords stay inside
//! [`SecretString`]s and every printable form of a target is redacted.

use super::parse_duration;
use clap::Args;
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// Connection settings, as given on the command line or in the environment.
#[derive(Clone, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL (`postgres://user:password@host:port/db`) or SQLite (`sqlite://file.db`) URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true, global = true, value_parser = parse_secret)]
    pub database_url: Option<SecretString>,
    /// PostgreSQL host name or socket directory (libpq `PGHOST`).
    #[arg(long, env = "PGHOST", global = true)]
    pub pg_host: Option<String>,
    /// PostgreSQL port (libpq `PGPORT`).
    #[arg(long, env = "PGPORT", global = true)]
    pub pg_port: Option<u16>,
    /// PostgreSQL user (libpq `PGUSER`).
    #[arg(long, env = "PGUSER", global = true)]
    pub pg_user: Option<String>,
    /// PostgreSQL password (libpq `PGPASSWORD`); prefer the environment or `.env` to the flag.
    #[arg(long, env = "PGPASSWORD", hide_env_values = true, global = true, value_parser = parse_secret)]
    pub pg_password: Option<SecretString>,
    /// PostgreSQL database name (libpq `PGDATABASE`).
    #[arg(long, env = "PGDATABASE", global = true)]
    pub pg_database: Option<String>,
    /// TLS mode: disable, allow, prefer, require, verify-ca or verify-full (libpq `PGSSLMODE`).
    #[arg(long, env = "PGSSLMODE", global = true)]
    pub pg_sslmode: Option<String>,
    /// The embedded SQLite file used when no PostgreSQL server is configured.
    #[arg(long, env = "GATEWAY_SQLITE_PATH", default_value = "gateway.db", global = true)]
    pub sqlite_path: PathBuf,
    #[command(flatten)]
    pub pool: PoolArgs,
    #[command(flatten)]
    pub replicas: ReplicaArgs,
    /// A direct connection to the primary for the change feed's LISTEN, when DATABASE_URL goes
    /// through a pooler that cannot hold one (PgBouncer in transaction mode); default DATABASE_URL.
    #[arg(long, env = "DATABASE_DIRECT_URL", hide_env_values = true, global = true, value_parser = parse_secret)]
    pub direct_url: Option<SecretString>,
}

/// Read replicas: queries go to them, writes and subscriptions to the primary.
#[derive(Clone, Args)]
pub struct ReplicaArgs {
    /// Read replica URLs, comma-separated (`postgres://…`); queries are spread over them.
    #[arg(long = "database-read-url", env = "DATABASE_READ_URL", hide_env_values = true, global = true, value_parser = parse_secret)]
    pub read_url: Option<SecretString>,
    /// A read replica's host (`GATEWAY_READ_PG*` default to the primary's libpq settings).
    #[arg(long, env = "GATEWAY_READ_PGHOST", global = true)]
    pub read_pg_host: Option<String>,
    #[arg(long, env = "GATEWAY_READ_PGPORT", global = true)]
    pub read_pg_port: Option<u16>,
    #[arg(long, env = "GATEWAY_READ_PGUSER", global = true)]
    pub read_pg_user: Option<String>,
    #[arg(long, env = "GATEWAY_READ_PGPASSWORD", hide_env_values = true, global = true, value_parser = parse_secret)]
    pub read_pg_password: Option<SecretString>,
    #[arg(long, env = "GATEWAY_READ_PGDATABASE", global = true)]
    pub read_pg_database: Option<String>,
    #[arg(long, env = "GATEWAY_READ_PGSSLMODE", global = true)]
    pub read_pg_sslmode: Option<String>,
    /// A replica further behind the primary than this is skipped until it catches up.
    #[arg(long, env = "GATEWAY_READ_MAX_LAG", default_value = "10s", value_parser = parse_duration, global = true)]
    pub read_max_lag: Duration,
    /// How often each replica's health and lag are checked.
    #[arg(long, env = "GATEWAY_READ_CHECK_INTERVAL", default_value = "2s", value_parser = parse_duration, global = true)]
    pub read_check_interval: Duration,
}

impl Default for ReplicaArgs {
    fn default() -> Self {
        super::defaults()
    }
}

impl fmt::Debug for DatabaseArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseArgs")
            .field("target", &self.target().map(|target| target.to_string()))
            .field("pool", &self.pool)
            .finish()
    }
}

/// Pool sizing and timeouts.
#[derive(Debug, Clone, Args)]
pub struct PoolArgs {
    /// Most connections the pool opens.
    #[arg(long, env = "GATEWAY_POOL_MAX_CONNECTIONS", default_value_t = 10, global = true)]
    pub pool_max_connections: u32,
    /// Connections the pool keeps open even when idle.
    #[arg(long, env = "GATEWAY_POOL_MIN_CONNECTIONS", default_value_t = 1, global = true)]
    pub pool_min_connections: u32,
    /// Longest wait for a new connection to be established.
    #[arg(long, env = "GATEWAY_CONNECT_TIMEOUT", default_value = "5s", value_parser = parse_duration, global = true)]
    pub connect_timeout: Duration,
    /// Longest wait for a free connection from the pool.
    #[arg(long, env = "GATEWAY_ACQUIRE_TIMEOUT", default_value = "5s", value_parser = parse_duration, global = true)]
    pub acquire_timeout: Duration,
    /// Idle connections above the minimum are closed after this long.
    #[arg(long, env = "GATEWAY_IDLE_TIMEOUT", default_value = "10m", value_parser = parse_duration, global = true)]
    pub idle_timeout: Duration,
    /// PostgreSQL's `statement_timeout` on every pooled connection: the database stops work too.
    #[arg(long, env = "GATEWAY_STATEMENT_TIMEOUT", default_value = "30s", value_parser = parse_duration, global = true)]
    pub statement_timeout: Duration,
    /// PostgreSQL's JIT compilation on the gateway's connections. Off by default: the gateway's
    /// statements are short, and JIT-compiling a large filter takes CPU that neither
    /// `statement_timeout` nor a cancel interrupts (behind PgBouncer, set `jit` on the role).
    #[arg(long, env = "GATEWAY_JIT", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub jit: bool,
    /// DATABASE_URL points at PgBouncer in transaction mode: no session state, no named prepared
    /// statements, every read in a transaction (set `statement_timeout` on the database role).
    #[arg(long, env = "GATEWAY_PGBOUNCER", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub pgbouncer: bool,
    /// How long start-up keeps retrying (with backoff) a database that is not reachable yet; 0s fails at once.
    #[arg(long, env = "GATEWAY_STARTUP_TIMEOUT", default_value = "30s", value_parser = parse_duration, global = true)]
    pub startup_timeout: Duration,
}

impl Default for PoolArgs {
    fn default() -> Self {
        super::defaults()
    }
}

fn parse_secret(text: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(text.to_owned()))
}

/// The database the gateway talks to, resolved from [`DatabaseArgs`].
#[derive(Clone)]
pub enum DatabaseTarget {
    /// A PostgreSQL server; the URL may hold a password.
    Postgres { url: SecretString },
    /// A SQLite file; `embedded` is the zero-configuration default, seeded on first run.
    Sqlite { path: PathBuf, embedded: bool },
}

/// A configuration that cannot name a database.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "DATABASE_URL is not a valid URL ({0}); expected postgres://user:password@host:port/database or sqlite://path"
    )]
    InvalidUrl(url::ParseError),
    #[error("DATABASE_URL scheme `{0}` is not supported; use postgres:// or sqlite://")]
    UnsupportedScheme(String),
    #[error("PGHOST `{0}` is not a valid host name")]
    InvalidHost(String),
}

impl DatabaseArgs {
    /// Arguments with every setting at its default (the embedded SQLite file), and `url`.
    pub fn with_url(url: Option<&str>) -> Self {
        Self {
            database_url: url.map(|url| SecretString::from(url.to_owned())),
            ..super::defaults()
        }
    }

    /// The read replicas configured (none: every query goes to the primary).
    pub fn read_targets(&self) -> Result<Vec<DatabaseTarget>, TargetError> {
        let replicas = &self.replicas;
        if let Some(urls) = &replicas.read_url {
            return urls
                .expose_secret()
                .split(',')
                .map(str::trim)
                .filter(|url| !url.is_empty())
                .map(|url| match DatabaseTarget::from_url(url)? {
                    target @ DatabaseTarget::Postgres { .. } => Ok(target),
                    DatabaseTarget::Sqlite { .. } => {
                        Err(TargetError::UnsupportedScheme("sqlite (for a read replica)".into()))
                    }
                })
                .collect();
        }
        let configured = replicas.read_pg_host.is_some()
            || replicas.read_pg_port.is_some()
            || replicas.read_pg_user.is_some()
            || replicas.read_pg_password.is_some()
            || replicas.read_pg_database.is_some();
        if !configured {
            return Ok(Vec::new());
        }
        let libpq = LibpqSettings {
            host: replicas.read_pg_host.as_deref().or(self.pg_host.as_deref()),
            port: replicas.read_pg_port.or(self.pg_port),
            user: replicas.read_pg_user.as_deref().or(self.pg_user.as_deref()),
            password: replicas.read_pg_password.as_ref().or(self.pg_password.as_ref()),
            database: replicas.read_pg_database.as_deref().or(self.pg_database.as_deref()),
            sslmode: replicas.read_pg_sslmode.as_deref().or(self.pg_sslmode.as_deref()),
        };
        Ok(vec![DatabaseTarget::Postgres { url: libpq.url()? }])
    }

    /// Resolves which database these settings point at.
    pub fn target(&self) -> Result<DatabaseTarget, TargetError> {
        if let Some(url) = &self.database_url {
            return DatabaseTarget::from_url(url.expose_secret());
        }
        let libpq_configured = self.pg_host.is_some()
            || self.pg_port.is_some()
            || self.pg_user.is_some()
            || self.pg_password.is_some()
            || self.pg_database.is_some();
        if libpq_configured {
            return self.libpq_url().map(|url| DatabaseTarget::Postgres { url });
        }
        Ok(DatabaseTarget::Sqlite {
            path: self.sqlite_path.clone(),
            embedded: true,
        })
    }

    /// Builds a PostgreSQL URL from the libpq variables, with libpq's defaults for the rest.
    fn libpq_url(&self) -> Result<SecretString, TargetError> {
        LibpqSettings {
            host: self.pg_host.as_deref(),
            port: self.pg_port,
            user: self.pg_user.as_deref(),
            password: self.pg_password.as_ref(),
            database: self.pg_database.as_deref(),
            sslmode: self.pg_sslmode.as_deref(),
        }
        .url()
    }
}

/// libpq-style settings of one server.
struct LibpqSettings<'a> {
    host: Option<&'a str>,
    port: Option<u16>,
    user: Option<&'a str>,
    password: Option<&'a SecretString>,
    database: Option<&'a str>,
    sslmode: Option<&'a str>,
}

impl LibpqSettings<'_> {
    /// The URL, with libpq's defaults for what is not given.
    fn url(&self) -> Result<SecretString, TargetError> {
        let mut url = Url::parse("postgres://localhost").map_err(TargetError::InvalidUrl)?;
        let host = self.host.unwrap_or("localhost");
        if host.starts_with('/') {
            // A socket directory, which sqlx takes as the `host` parameter.
            url.query_pairs_mut().append_pair("host", host);
        } else {
            url.set_host(Some(host))
                .map_err(|_| TargetError::InvalidHost(host.to_owned()))?;
        }
        let _ = url.set_port(Some(self.port.unwrap_or(5432)));
        let user = self
            .user
            .map(str::to_owned)
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "postgres".into());
        let _ = url.set_username(&user);
        if let Some(password) = self.password {
            let _ = url.set_password(Some(password.expose_secret()));
        }
        url.set_path(self.database.unwrap_or(&user));
        if let Some(mode) = self.sslmode {
            url.query_pairs_mut().append_pair("sslmode", mode);
        }
        Ok(SecretString::from(url.to_string()))
    }
}

impl DatabaseTarget {
    /// Interprets a `DATABASE_URL`.
    pub fn from_url(url: &str) -> Result<Self, TargetError> {
        let parsed = Url::parse(url).map_err(TargetError::InvalidUrl)?;
        match parsed.scheme() {
            "postgres" | "postgresql" => Ok(Self::Postgres {
                url: SecretString::from(url.to_owned()),
            }),
            "sqlite" => {
                let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
                let path = path.split('?').next().unwrap_or_default();
                Ok(Self::Sqlite {
                    path: PathBuf::from(path),
                    embedded: false,
                })
            }
            other => Err(TargetError::UnsupportedScheme(other.to_owned())),
        }
    }

    /// The URL to hand to the driver (it may contain a password: never print it).
    pub fn connection_url(&self) -> SecretString {
        match self {
            Self::Postgres { url } => url.clone(),
            Self::Sqlite { path, .. } => SecretString::from(format!("sqlite://{}?mode=rwc", path.display())),
        }
    }

    /// The password in the URL, if any, so messages can be scrubbed of it.
    pub fn password(&self) -> Option<String> {
        match self {
            Self::Postgres { url } => Url::parse(url.expose_secret())
                .ok()
                .and_then(|url| url.password().map(|password| password.to_owned()))
                .filter(|password| !password.is_empty()),
            Self::Sqlite { .. } => None,
        }
    }

    /// Removes this target's password from a message, should a driver have echoed it.
    pub fn scrub(&self, message: &str) -> String {
        match self.password() {
            Some(password) => message.replace(&password, "***"),
            None => message.to_owned(),
        }
    }
}

/// Shows the target with any password replaced by `***`.
impl fmt::Display for DatabaseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Postgres { url } => f.write_str(&redact_url(url.expose_secret())),
            Self::Sqlite { path, .. } => write!(f, "sqlite://{}", path.display()),
        }
    }
}

/// Replaces the password of a URL with `***`; an unparseable URL is not shown at all.
pub fn redact_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        Err(_) => "<unparseable database URL>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_the_password_of_a_url() {
        let shown = redact_url("postgres://app:s3cret%21@db.internal:5433/prod?sslmode=require");
        assert_eq!(shown, "postgres://app:***@db.internal:5433/prod?sslmode=require");
    }

    #[test]
    fn libpq_variables_build_a_url_with_defaults() {
        let mut args = DatabaseArgs::with_url(None);
        args.pg_host = Some("db.internal".into());
        args.pg_user = Some("app".into());
        args.pg_password = Some(SecretString::from("p@ss word".to_owned()));
        args.pg_sslmode = Some("require".into());
        let target = args.target().expect("valid target");
        assert_eq!(
            target.to_string(),
            "postgres://app:***@db.internal:5432/app?sslmode=require"
        );
        assert_eq!(target.password().as_deref(), Some("p%40ss%20word"));
    }

    #[test]
    fn socket_directory_becomes_the_host_parameter() {
        let mut args = DatabaseArgs::with_url(None);
        args.pg_host = Some("/var/run/postgresql".into());
        args.pg_user = Some("app".into());
        let target = args.target().expect("valid target");
        assert_eq!(
            target.to_string(),
            "postgres://app@localhost:5432/app?host=%2Fvar%2Frun%2Fpostgresql"
        );
    }

    #[test]
    fn nothing_configured_means_the_embedded_sqlite_file() {
        let target = DatabaseArgs::with_url(None).target().expect("valid target");
        assert!(matches!(target, DatabaseTarget::Sqlite { embedded: true, .. }));
    }

    #[test]
    fn unsupported_schemes_are_refused() {
        let error = DatabaseTarget::from_url("mysql://root@localhost/test")
            .err()
            .expect("refused");
        assert!(error.to_string().contains("`mysql`"));
    }
}
