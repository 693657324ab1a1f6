//! The migration crate's own CLI (`cargo run -p migration -- up|down|status|fresh`), for people who
//! manage the schema with SeaORM's tooling; `gateway migrate` does the same from the gateway binary.

#[tokio::main]
async fn main() {
    sea_orm_migration::cli::run_cli(migration::Migrator).await;
}
