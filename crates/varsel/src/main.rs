//! The `varsel` command: serve, migrate, send an event, check a catalog, create an API key.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use varsel_server::config::Config;

/// `varsel --version`: the release and the commit it was built from.
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("VARSEL_COMMIT"), ")");

#[derive(Parser)]
#[command(
    name = "varsel",
    version = VERSION,
    about = "Self-hosted user notifications in one binary"
)]
struct Cli {
    /// Configuration file (TOML); VARSEL_* environment variables override it.
    #[arg(long, global = true, env = "VARSEL_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

// Parsed once at start: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the server (API, real-time stream, workers).
    Serve(ServeArgs),
    /// Create or upgrade the database schema, then exit.
    Migrate(DbArgs),
    /// Post an event to a running server.
    Send(SendArgs),
    /// Catalog tools.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Create a server API key and print it (shown once; stored hashed).
    Key(KeyArgs),
    /// Print the commented default configuration.
    DefaultConfig,
    /// Copy the SQLite database to FILE while the server runs (a consistent snapshot).
    Backup(BackupArgs),
}

#[derive(Args)]
struct DbArgs {
    /// sqlite://FILE or postgres://… (default from config: sqlite://varsel.db).
    #[arg(long)]
    database_url: Option<String>,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long)]
    listen: Option<String>,
    /// Seed a demo account, users and a team, and print an API key, tokens and the URL.
    #[arg(long)]
    demo: bool,
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Validate a catalog file; errors name the line, column and field.
    Check { file: PathBuf },
}

#[derive(Args)]
struct KeyArgs {
    #[command(flatten)]
    db: DbArgs,
    /// A name to remember the key by.
    #[arg(long, default_value = "cli")]
    name: String,
}

#[derive(Args)]
struct BackupArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The new file to write (it must not exist).
    file: PathBuf,
}

#[derive(Args)]
struct SendArgs {
    /// Base URL of the server.
    #[arg(long, env = "VARSEL_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Server API key.
    #[arg(long, env = "VARSEL_API_KEY")]
    api_key: String,
    /// The whole event as JSON (`-` reads standard input); other flags then fill gaps.
    #[arg(long)]
    json: Option<String>,
    /// Type id, e.g. comments.mention.
    #[arg(long = "type")]
    kind: Option<String>,
    #[arg(long)]
    account: Option<String>,
    #[arg(long)]
    actor: Option<String>,
    /// Recipient user id (repeat for several).
    #[arg(long = "to")]
    recipients: Vec<String>,
    #[arg(long)]
    owner: Option<String>,
    #[arg(long)]
    team: Option<String>,
    #[arg(long)]
    object_type: Option<String>,
    #[arg(long)]
    object_id: Option<String>,
    #[arg(long)]
    object_name: Option<String>,
    #[arg(long)]
    object_url: Option<String>,
    /// ui, api, import, workflow, system, integration.
    #[arg(long)]
    source: Option<String>,
    #[arg(long)]
    idempotency_key: Option<String>,
    /// Free data as a JSON object.
    #[arg(long)]
    data: Option<String>,
}

fn load_config(path: Option<&PathBuf>, db: &DbArgs) -> anyhow::Result<Config> {
    let mut cfg = Config::load(path.map(PathBuf::as_path))?;
    if let Some(url) = &db.database_url {
        cfg.database_url = url.clone();
    }
    cfg.validate()?;
    Ok(cfg)
}

fn init_logging(cfg: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&cfg.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cfg.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(cli: &Cli, args: &ServeArgs) -> anyhow::Result<()> {
    let mut cfg = load_config(cli.config.as_ref(), &args.db)?;
    if let Some(listen) = &args.listen {
        cfg.listen = listen.clone();
    }
    cfg.validate()?;
    init_logging(&cfg);
    let running = varsel_server::app::start(cfg.clone()).await?;
    let base = running.state.config.base_url();
    tracing::info!(addr = %running.addr, backend = running.state.store.backend(), "varsel listening");
    if args.demo {
        let info = varsel_server::demo::seed(&running.state).await?;
        println!("\nVarsel demo is running: {base}\n");
        println!("  API key (server calls):  {}", info.api_key);
        println!(
            "  Admin token (user ada, super admin):  {}",
            info.admin_token
        );
        println!(
            "  User token (user kari, Norwegian):    {}\n",
            info.user_token
        );
        println!(
            "  Kari's bell feed:   curl -H 'Authorization: Bearer {}' {base}/v1/me/feed",
            info.user_token
        );
        println!(
            "  Kari's live stream: curl -N '{base}/v1/me/stream?token={}'",
            info.user_token
        );
        println!(
            "  Notify Kari:        curl -X POST {base}/v1/events -H 'Authorization: Bearer {}' \\\n                        -H 'Content-Type: application/json' \\\n                        -d '{{\"type\":\"deals.mention\",\"account_id\":\"demo\",\"actor_id\":\"admin\",\"recipients\":[\"kari\"],\"object\":{{\"type\":\"note\",\"id\":\"n1\",\"name\":\"Q4 plan\"}}}}'",
            info.api_key
        );
        println!("  API description:    {base}/openapi.json\n");
        println!("  Web UI (open in a browser):");
        println!(
            "    Kari's settings and bell:  {base}/ui/preferences?token={}",
            info.user_token
        );
        println!(
            "    Admin defaults (ada):      {base}/ui/admin?token={}",
            info.admin_token
        );
        println!(
            "    Demo host page (embed):    {base}/ui/demo-host?token={}",
            info.user_token
        );
        println!(
            "    Email outbox:              {base}/ui/outbox?key={}\n",
            info.api_key
        );
    }
    // SIGINT (Ctrl-C) or SIGTERM (systemd, containers): stop. Accepted events are already
    // durable; what this node had claimed is taken over after its lease.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    Ok(())
}

fn build_event(args: &SendArgs) -> anyhow::Result<serde_json::Value> {
    let mut ev = match &args.json {
        None => serde_json::json!({}),
        Some(src) => {
            let text = if src == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                src.clone()
            };
            serde_json::from_str(&text).context("--json is not valid JSON")?
        }
    };
    let obj = ev.as_object_mut().context("--json must be a JSON object")?;
    let mut set = |k: &str, v: Option<serde_json::Value>| {
        if let Some(v) = v {
            obj.insert(k.to_string(), v);
        }
    };
    let s = |v: &Option<String>| v.as_ref().map(|x| serde_json::Value::String(x.clone()));
    set("type", s(&args.kind));
    set("account_id", s(&args.account));
    set("actor_id", s(&args.actor));
    set("owner_id", s(&args.owner));
    set("team_id", s(&args.team));
    set("source", s(&args.source));
    set("idempotency_key", s(&args.idempotency_key));
    if !args.recipients.is_empty() {
        set("recipients", Some(serde_json::json!(args.recipients)));
    }
    if args.object_id.is_some() {
        set(
            "object",
            Some(serde_json::json!({
                "type": args.object_type.clone().unwrap_or_else(|| "record".into()),
                "id": args.object_id, "name": args.object_name, "url": args.object_url,
            })),
        );
    }
    if let Some(d) = &args.data {
        set(
            "data",
            Some(serde_json::from_str(d).context("--data is not valid JSON")?),
        );
    }
    Ok(ev)
}

async fn send(args: &SendArgs) -> anyhow::Result<()> {
    let ev = build_event(args)?;
    for (field, flag, example) in [
        ("type", "--type", "--type deals.mention"),
        ("account_id", "--account", "--account demo"),
    ] {
        if ev.get(field).is_none() {
            anyhow::bail!(
                "the event needs a {field}: pass {flag} (e.g. {example}) or put \"{field}\" in --json"
            );
        }
    }
    let url = format!("{}/v1/events", args.url.trim_end_matches('/'));
    let resp = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&args.api_key)
        .json(&ev)
        .send()
        .await?;
    let status = resp.status();
    let body = resp.text().await?;
    println!("{body}");
    if !status.is_success() {
        anyhow::bail!("server answered {status}");
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match &cli.command {
        Command::Serve(args) => serve(&cli, args).await,
        Command::Migrate(db) => {
            let cfg = load_config(cli.config.as_ref(), db)?;
            let store = varsel_store::connect(&cfg.database_url).await?;
            println!("database is up to date ({})", store.backend());
            Ok(())
        }
        Command::Send(args) => send(args).await,
        Command::Catalog(CatalogCommand::Check { file }) => {
            let src = std::fs::read_to_string(file)
                .with_context(|| format!("reading {}", file.display()))?;
            match varsel_core::Catalog::parse(&src) {
                Ok(c) => {
                    println!(
                        "{}: ok — {} sections, {} types",
                        file.display(),
                        c.sections.len(),
                        c.len()
                    );
                    Ok(())
                }
                Err(e) => {
                    for issue in &e.issues {
                        eprintln!("{}:{issue}", file.display());
                    }
                    anyhow::bail!("{} problem(s) in {}", e.issues.len(), file.display())
                }
            }
        }
        Command::Key(args) => {
            let cfg = load_config(cli.config.as_ref(), &args.db)?;
            existing_database(&cfg.database_url)?;
            let store = varsel_store::connect(&cfg.database_url).await?;
            let key = format!("vk_{}", varsel_server::auth::random_hex(20));
            let now = chrono_now();
            store
                .insert_api_key(&varsel_server::auth::hash_key(&key), &args.name, now)
                .await?;
            println!("{key}");
            Ok(())
        }
        Command::Backup(args) => {
            let cfg = load_config(cli.config.as_ref(), &args.db)?;
            existing_database(&cfg.database_url)?;
            varsel_store::backup::backup_sqlite(&cfg.database_url, &args.file).await?;
            println!("backed up to {}", args.file.display());
            Ok(())
        }
        Command::DefaultConfig => {
            print!("{}", varsel_server::config::DEFAULT_TOML);
            Ok(())
        }
    }
}

/// The SQLite file of `url`, when it is one (`sqlite://FILE`, `sqlite:FILE?…`).
fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let path = rest.strip_prefix("//").unwrap_or(rest);
    let path = path.split('?').next().unwrap_or(path);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Refuses a SQLite database that does not exist yet: a key stored in a new, empty file
/// is a key the running server never sees.
fn existing_database(url: &str) -> anyhow::Result<()> {
    if let Some(file) = sqlite_file(url)
        && !file.exists()
    {
        let here = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        anyhow::bail!(
            "no database at {} (in {here}): run this where `varsel serve` keeps its database, \
             or pass --database-url (or VARSEL_DATABASE_URL) of the server's database",
            file.display()
        );
    }
    Ok(())
}

fn chrono_now() -> i64 {
    use varsel_server::clock::Clock;
    varsel_server::clock::SystemClock.now_ms()
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("varsel: {e:#}");
            ExitCode::FAILURE
        }
    }
}
