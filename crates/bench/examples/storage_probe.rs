//! Times the storage ceiling alone (for profiling): `cargo run --release -p varsel-bench --example storage_probe`.
use std::time::Duration;
use varsel_bench::target::Backend;

fn main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let group: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(64);
    let backend = if std::env::args().nth(2).as_deref() == Some("postgres") {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    rt.block_on(async {
        for multi in [false, true] {
            let r = varsel_bench::ceiling::storage(
                backend,
                "postgres://postgres@127.0.0.1:5432/postgres",
                group,
                multi,
                Duration::from_secs(3),
            )
            .await?;
            println!("group {group} multi {multi}: {r:.0} rows/s");
        }
        anyhow::Ok(())
    })
}
