//! The command line: `gateway [serve|migrate|seed|check|export|import|schema|token]`, every flag also read from an
//! environment variable (and `.env`), so the same settings work in a shell, a container and CI.

mod commands;

use crate::config::{AuthArgs, DatabaseArgs, LogArgs, ServerArgs};
use clap::{Parser, Subcommand};

pub use commands::run;

/// A GraphQL data-access gateway generated from SeaORM entities.
#[derive(Debug, Parser)]
#[command(name = "gateway", version, about, long_about = None, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Server settings when no subcommand is given (`gateway` alone serves).
    #[command(flatten)]
    pub serve: ServerArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do; `serve` when none is given.
// Parsed once per process: the size of the serve variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve GraphQL over HTTP and WebSocket, and the playground (the default).
    Serve(ServerArgs),
    /// Apply, revert or inspect the schema migrations.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Fill the database with the deterministic sample data set.
    Seed {
        /// Size of the data set: 1 gives ~10 organizations and 20,000 tasks; linear in the scale.
        #[arg(long, default_value_t = 1.0, value_parser = crate::seed::parse_scale)]
        scale: f64,
    },
    /// Diagnose the database connection and explain any failure.
    Check,
    /// Write every table's rows as portable NDJSON (`.zst`/`.gz` names compress).
    Export {
        /// The file to write; `-` is standard output.
        #[arg(default_value = "-")]
        file: std::path::PathBuf,
    },
    /// Load an export into the database in one transaction (refused if it already has rows).
    Import {
        /// The file to read; `-` is standard input.
        file: std::path::PathBuf,
        /// Delete the existing rows of the file's tables first.
        #[arg(long, conflicts_with = "upsert")]
        truncate: bool,
        /// Merge: insert new rows and update rows with the same primary key.
        #[arg(long)]
        upsert: bool,
    },
    /// Print the GraphQL schema (SDL) the gateway serves.
    Schema {
        /// Print this role's view under the policy (GATEWAY_POLICY_FILE, else the built-in sample).
        #[arg(long)]
        role: Option<String>,
    },
    /// Mint an HS256 development token signed with GATEWAY_JWT_SECRET.
    Token {
        /// The role the token acts as.
        #[arg(long)]
        role: String,
        /// The user id (`sub`).
        #[arg(long)]
        sub: String,
        /// Extra claims, e.g. `--claim org_id=3` (numbers stay numbers); repeatable.
        #[arg(long = "claim")]
        claims: Vec<String>,
        /// How long the token is valid.
        #[arg(long, default_value = "1h", value_parser = crate::config::parse_duration)]
        ttl: std::time::Duration,
    },
}

/// The migration commands.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum MigrateAction {
    /// Apply every pending migration.
    Up,
    /// Revert the last applied migration.
    Down,
    /// List migrations and whether each is applied.
    Status,
    /// Drop every table and apply all migrations again.
    Fresh,
}
