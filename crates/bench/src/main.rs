//! `varsel-bench`: runs the scenarios (each a few times, fresh server and database each
//! time), measures the ceilings in the same run and prints a table of medians.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use clap::Parser;
use varsel_bench::median;
use varsel_bench::scenarios::{self, Ctx, Figures};
use varsel_bench::target::Backend;
use varsel_bench::{flood, sustained};

const SCENARIOS: &[&str] = &[
    "ingest",
    "batch",
    "fanout",
    "e2e",
    "connections",
    "idle",
    "decisions",
    "email",
    "delivery",
    "delivery10",
    "queued",
    "sustained",
    "sustained10",
    "flood",
];

#[derive(Parser)]
#[command(about = "Varsel's benchmarks against the limits of this machine (loopback only)")]
struct Cli {
    /// Scenarios to run (comma-separated or repeated): ingest, batch, fanout, e2e,
    /// connections, idle, decisions, email, delivery, delivery10, queued. Default: all.
    #[arg(long = "scenario", value_delimiter = ',')]
    scenarios: Vec<String>,
    /// Backends: sqlite, postgres. Default: both.
    #[arg(long = "backend", value_delimiter = ',')]
    backends: Vec<String>,
    /// Short runs (1 s measured, one run each, smaller fan-out and connection counts).
    #[arg(long)]
    quick: bool,
    /// Runs of each scenario (the median is reported). Default 3, 1 with --quick.
    #[arg(long)]
    runs: Option<usize>,
    /// Seconds measured per load run. Default 5, 1 with --quick.
    #[arg(long)]
    seconds: Option<f64>,
    /// PostgreSQL server to create the fresh databases on (its admin database URL).
    #[arg(
        long,
        env = "VARSEL_BENCH_PG_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/postgres"
    )]
    pg_url: String,
    /// Skip the ceilings (for profiling one scenario).
    #[arg(long)]
    no_ceilings: bool,
}

fn in_runtime<T>(f: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    // Two workers, as `varsel serve` has on this two-core machine; a runtime per run, so
    // nothing of one run's server outlives it.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let out = rt.block_on(f);
    rt.shutdown_timeout(Duration::from_secs(2));
    out
}

type Key = (String, String, String);

#[derive(Default)]
struct Results {
    runs: BTreeMap<Key, Vec<f64>>,
}

impl Results {
    fn add(&mut self, scenario: &str, backend: &str, figures: Figures) {
        for (k, v) in figures {
            self.runs
                .entry((scenario.into(), backend.into(), k.into()))
                .or_default()
                .push(v);
        }
    }
    fn get(&self, scenario: &str, backend: &str, key: &str) -> Option<(f64, Vec<f64>)> {
        let v = self
            .runs
            .get(&(scenario.into(), backend.into(), key.into()))?;
        let mut sorted = v.clone();
        Some((median(&mut sorted), v.clone()))
    }
}

fn fmt(v: f64) -> String {
    if v >= 100.0 {
        format!("{:.0}", v)
    } else if v >= 10.0 {
        format!("{:.1}", v)
    } else {
        format!("{:.2}", v)
    }
}

enum Goal {
    AtLeast(f64),
    AtMost(f64),
}

impl Goal {
    fn text(&self) -> String {
        match self {
            Goal::AtLeast(v) => format!("≥ {}", fmt(*v)),
            Goal::AtMost(v) => format!("≤ {}", fmt(*v)),
        }
    }
    fn met(&self, x: f64) -> bool {
        match self {
            Goal::AtLeast(v) => x >= *v,
            Goal::AtMost(v) => x <= *v,
        }
    }
}

struct Line {
    scenario: &'static str,
    figure: &'static str,
    key: &'static str,
    goal: Option<Goal>,
    /// (label, scenario, backend-specific?, key) of the ceilings to compare with.
    ceilings: Vec<(&'static str, &'static str, bool, &'static str)>,
}

fn lines() -> Vec<Line> {
    let l = |scenario, figure, key, goal| Line {
        scenario,
        figure,
        key,
        goal,
        ceilings: vec![],
    };
    vec![
        Line {
            ceilings: vec![
                ("HTTP", "http_ceiling", false, "single_s"),
                ("storage", "storage_ceiling", true, "group64_s"),
            ],
            ..l(
                "ingest",
                "events/s",
                "events_s",
                Some(Goal::AtLeast(10_000.0)),
            )
        },
        l("ingest", "p50 ms", "p50_ms", None),
        l("ingest", "p99 ms", "p99_ms", Some(Goal::AtMost(15.0))),
        l("ingest", "processed events/s", "processed_s", None),
        Line {
            ceilings: vec![
                ("HTTP", "http_ceiling", false, "batch_events_s"),
                ("storage", "storage_ceiling", true, "group1000_s"),
            ],
            ..l(
                "batch",
                "events/s",
                "events_s",
                Some(Goal::AtLeast(100_000.0)),
            )
        },
        l("batch", "p99 ms (per batch)", "p99_ms", None),
        l(
            "fanout",
            "10k recipients, s",
            "seconds",
            Some(Goal::AtMost(1.0)),
        ),
        l("fanout", "POST answered, ms", "post_ms", None),
        l("e2e", "p50 ms", "p50_ms", None),
        l("e2e", "p99 ms", "p99_ms", Some(Goal::AtMost(20.0))),
        l("e2e", "max ms", "max_ms", None),
        l(
            "e2e",
            "frames delivered %",
            "delivered",
            Some(Goal::AtLeast(100.0)),
        ),
        l("e2e", "achieved events/s", "achieved_s", None),
        l(
            "connections",
            "KiB per stream",
            "kib_per_conn",
            Some(Goal::AtMost(16.0)),
        ),
        l(
            "connections",
            "streams with the frame %",
            "delivered",
            Some(Goal::AtLeast(100.0)),
        ),
        l("connections", "frame on every stream, s", "frames_s", None),
        l("connections", "server RSS, MiB", "rss_mib", None),
        l("idle", "RSS MiB", "mib", Some(Goal::AtMost(20.0))),
        l(
            "decisions",
            "decisions/s (1 core)",
            "per_s",
            Some(Goal::AtLeast(1_000_000.0)),
        ),
        l(
            "email",
            "emails/s to SMTP",
            "emails_s",
            Some(Goal::AtLeast(3_000.0)),
        ),
        l("delivery", "accepted events/s", "accepted_s", None),
        l("delivery", "bell done, events/s", "bell_s", None),
        l("delivery", "bell + email done, events/s", "e2e_s", None),
        l("delivery", "email trails the load by, s", "trail_s", None),
        l(
            "delivery",
            "peak RSS (bench process), MiB",
            "peak_mib",
            None,
        ),
        l("delivery10", "accepted events/s", "accepted_s", None),
        l("delivery10", "bell + email done, events/s", "e2e_s", None),
        l("delivery10", "emails/s", "emails_s", None),
        l(
            "delivery10",
            "email trails the load by, s",
            "trail_s",
            Some(Goal::AtMost(5.0)),
        ),
        l(
            "sustained",
            "processed events/s (8,000 offered)",
            "processed_s",
            Some(Goal::AtLeast(8_000.0)),
        ),
        l("sustained", "accepted events/s", "accepted_s", None),
        l("sustained", "max backlog (events)", "max_backlog", None),
        l("sustained", "drain after the load, s", "drain_s", None),
        l(
            "sustained10",
            "processed events/s (10 recipients, 2,000 offered)",
            "processed_s",
            Some(Goal::AtLeast(2_000.0)),
        ),
        l("sustained10", "accepted events/s", "accepted_s", None),
        l("sustained10", "max backlog (events)", "max_backlog", None),
        l("sustained10", "drain after the load, s", "drain_s", None),
        l("flood", "stream attempts by one token", "attempts", None),
        l(
            "flood",
            "streams accepted (the cap)",
            "accepted",
            Some(Goal::AtMost(20.0)),
        ),
        l(
            "flood",
            "answered 429 too_many_streams",
            "refused_429",
            None,
        ),
        l(
            "flood",
            "refused otherwise (connection cap)",
            "refused_other",
            None,
        ),
        l(
            "flood",
            "/healthz p99 during the flood, ms",
            "health_p99_ms",
            Some(Goal::AtMost(50.0)),
        ),
        l(
            "flood",
            "/healthz max during the flood, ms",
            "health_max_ms",
            None,
        ),
        l(
            "flood",
            "/healthz failures",
            "health_failed",
            Some(Goal::AtMost(0.0)),
        ),
        l(
            "flood",
            "recovery after the client dies, s",
            "recovery_s",
            Some(Goal::AtMost(5.0)),
        ),
        l(
            "flood",
            "same user streams again after, s",
            "reopen_s",
            None,
        ),
    ]
}

fn print_table(res: &Results, backends: &[Backend]) {
    println!(
        "| scenario | backend | figure | median | runs | ceilings (same run) | Varsel / ceiling | target | met |"
    );
    println!("|---|---|---|---:|---|---|---|---|---|");
    for line in lines() {
        let bks: Vec<&str> = if line.scenario == "decisions" {
            vec!["-"]
        } else {
            backends.iter().map(|b| b.name()).collect()
        };
        for b in bks {
            let Some((m, runs)) = res.get(line.scenario, b, line.key) else {
                continue;
            };
            let mut ceil = Vec::new();
            let mut ratio = Vec::new();
            for (label, sc, per_backend, key) in &line.ceilings {
                let cb = if *per_backend { b } else { "-" };
                if let Some((c, _)) = res.get(sc, cb, key) {
                    ceil.push(format!("{label} {}", fmt(c)));
                    ratio.push(format!("{:.0} % of {label}", m / c * 100.0));
                }
            }
            let runs: Vec<String> = runs.iter().map(|v| fmt(*v)).collect();
            let (goal, met) = match &line.goal {
                Some(g) => (g.text(), if g.met(m) { "yes" } else { "**no**" }),
                None => (String::new(), ""),
            };
            println!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                line.scenario,
                b,
                line.figure,
                fmt(m),
                runs.join(", "),
                ceil.join(", "),
                ratio.join(", "),
                goal,
                met
            );
        }
    }
    // Ingest as a share of the storage ceiling.
    for b in backends {
        if let (Some((v, _)), Some((c, _))) = (
            res.get("ingest", b.name(), "events_s"),
            res.get("storage_ceiling", b.name(), "group64_s"),
        ) {
            let share = v / c * 100.0;
            println!(
                "| ingest | {} | share of storage ceiling % | {:.0} | | storage {} | | ≥ 50 | {} |",
                b.name(),
                share,
                fmt(c),
                if share >= 50.0 { "yes" } else { "**no**" }
            );
        }
    }
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .map(|v| v.trim().to_string())
        })
        .unwrap_or_default();
    let fsync = varsel_bench::ceiling::fsync_ms(200).unwrap_or(f64::NAN);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "machine: {cpus} cores, {mem} memory; 4 KiB write + fdatasync: {fsync:.3} ms (median of 200); load average at start: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let chosen: Vec<String> = if cli.scenarios.is_empty() {
        SCENARIOS.iter().map(|s| s.to_string()).collect()
    } else {
        cli.scenarios.clone()
    };
    for s in &chosen {
        anyhow::ensure!(
            SCENARIOS.contains(&s.as_str()),
            "unknown scenario `{s}`; one of {}",
            SCENARIOS.join(", ")
        );
    }
    let backends: Vec<Backend> = if cli.backends.is_empty() {
        vec![Backend::Sqlite, Backend::Postgres]
    } else {
        cli.backends
            .iter()
            .map(|b| match b.as_str() {
                "sqlite" => Ok(Backend::Sqlite),
                "postgres" | "postgresql" => Ok(Backend::Postgres),
                other => Err(anyhow::anyhow!("unknown backend `{other}`")),
            })
            .collect::<anyhow::Result<_>>()?
    };
    // 10,000 streams need 10,000 sockets here and in the server (a child inherits this).
    let _ = rlimit::setrlimit(rlimit::Resource::NOFILE, 65_536, 65_536)
        .or_else(|_| rlimit::increase_nofile_limit(u64::MAX).map(|_| ()));
    let runs = cli.runs.unwrap_or(if cli.quick { 1 } else { 3 });
    let secs = cli.seconds.unwrap_or(if cli.quick { 1.0 } else { 5.0 });
    let ctx = Ctx {
        quick: cli.quick,
        pg_admin: cli.pg_url.clone(),
        warmup: Duration::from_secs_f64(if cli.quick { 0.5 } else { 1.0 }),
        measure: Duration::from_secs_f64(secs),
    };
    println!("{}", machine());
    println!(
        "runs per figure: {runs}, {secs} s measured per load run{}",
        if cli.quick { " (quick)" } else { "" }
    );
    let mut res = Results::default();
    let want = |s: &str| chosen.iter().any(|c| c == s);
    let run =
        |res: &mut Results, name: &str, backend: &str, f: &dyn Fn() -> anyhow::Result<Figures>| {
            for r in 0..runs {
                eprint!("{name} [{backend}] run {}/{runs} … ", r + 1);
                match f() {
                    Ok(fig) => {
                        eprintln!(
                            "{}",
                            fig.iter()
                                .map(|(k, v)| format!("{k}={}", fmt(*v)))
                                .collect::<Vec<_>>()
                                .join(" ")
                        );
                        res.add(name, backend, fig);
                    }
                    Err(e) => eprintln!("failed: {e:#}"),
                }
            }
        };
    if (want("ingest") || want("batch")) && !cli.no_ceilings {
        run(&mut res, "http_ceiling", "-", &|| {
            in_runtime(scenarios::http_ceiling(&ctx))
        });
        for &b in &backends {
            run(&mut res, "storage_ceiling", b.name(), &|| {
                in_runtime(scenarios::storage_ceiling(&ctx, b))
            });
        }
    }
    type Scn = for<'a> fn(
        &'a Ctx,
        Backend,
    )
        -> std::pin::Pin<Box<dyn Future<Output = anyhow::Result<Figures>> + 'a>>;
    let table: Vec<(&str, Scn)> = vec![
        ("ingest", |c, b| Box::pin(scenarios::ingest(c, b))),
        ("batch", |c, b| Box::pin(scenarios::batch(c, b))),
        ("fanout", |c, b| Box::pin(scenarios::fanout(c, b))),
        ("e2e", |c, b| Box::pin(scenarios::e2e(c, b))),
        ("connections", |c, b| Box::pin(scenarios::connections(c, b))),
        ("idle", |c, b| Box::pin(scenarios::idle(c, b))),
        ("email", |c, b| Box::pin(scenarios::email(c, b))),
        ("delivery", |c, b| Box::pin(scenarios::delivery(c, b))),
        ("delivery10", |c, b| Box::pin(scenarios::delivery10(c, b))),
        ("queued", |c, b| Box::pin(scenarios::queued(c, b))),
        ("sustained", |c, b| Box::pin(sustained::sustained(c, b))),
        ("sustained10", |c, b| Box::pin(sustained::sustained10(c, b))),
        ("flood", |c, b| Box::pin(flood::flood(c, b))),
    ];
    for (name, f) in table {
        if !want(name) {
            continue;
        }
        for &b in &backends {
            run(&mut res, name, b.name(), &|| in_runtime(f(&ctx, b)));
        }
    }
    if want("decisions") {
        run(&mut res, "decisions", "-", &|| {
            Ok(scenarios::decisions(&ctx))
        });
    }
    println!();
    print_table(&res, &backends);
    Ok(())
}
