use clap::Parser;
use gateway::cli::{self, Cli};
use std::process::ExitCode;

/// jemalloc, with background threads returning freed pages to the system within 100 ms: glibc's
/// allocator kept a large answer's memory after it was sent (16 concurrent 2.9 MB answers: RSS
/// 27 → 145 MB, still 137 MB ten seconds later; with this, peak 160 MB, 61 MB ten seconds later, at
/// the same throughput — `bench/memory.sh`, figures in bench/README.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its start-up (the crate's symbol prefix is `_rjem_`).
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:100,muzzy_decay_ms:0\0";

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
