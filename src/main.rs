use clap::Parser;
use gateway::cli::{self, Cli};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    // Variables from `.env` fill in what the environment does not set, before flags are parsed.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    gateway::telemetry::init(&cli.log);
    match cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
