//! Starting Varsel: store, catalog, workers and the HTTP server, wired together.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock, RwLock};

use anyhow::Context;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use varsel_core::Catalog;
use varsel_core::render::Renderer;
use varsel_store::Store;

use crate::auth::{Tokens, random_hex};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::hub::Hub;
use crate::ingest::Ingest;
use crate::state::{AppState, Inner};

/// The process-wide metrics recorder (one per process, shared by every app in tests).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed by an embedding program; then
            // /metrics shows only what this handle sees.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Loads the catalog named in the config (or the built-in one).
pub fn load_catalog(cfg: &Config) -> anyhow::Result<Catalog> {
    if cfg.catalog.is_empty() {
        return Ok(Catalog::builtin());
    }
    let src = std::fs::read_to_string(&cfg.catalog)
        .with_context(|| format!("reading catalog {}", cfg.catalog))?;
    Catalog::parse(&src).map_err(|e| anyhow::anyhow!("catalog {}:\n{e}", cfg.catalog))
}

/// What a running server exposes to its owner.
pub struct Running {
    pub addr: SocketAddr,
    pub state: AppState,
    pub server: tokio::task::JoinHandle<()>,
}

/// This node's name: `node_id` when set, else the host name and the listening port
/// (stable across restarts, so a restarted node frees its own job leases at once), else,
/// on an ephemeral port, a random name.
fn node_id(cfg: &Config) -> String {
    if !cfg.node_id.is_empty() {
        return cfg.node_id.clone();
    }
    let port = cfg
        .listen
        .parse::<SocketAddr>()
        .map(|a| a.port())
        .unwrap_or(0);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty());
    match (host, port) {
        (Some(h), p) if p != 0 => format!("{h}:{p}"),
        _ => format!("node_{}", random_hex(6)),
    }
}

/// Builds the state from an open store.
pub async fn build_state(
    cfg: Config,
    store: Arc<dyn Store>,
    catalog: Catalog,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<AppState> {
    let secret = if cfg.token_secret.is_empty() {
        random_hex(32)
    } else {
        cfg.token_secret.clone()
    };
    let wake = Arc::new(Notify::new());
    let node_id = node_id(&cfg);
    let bus = store.bus();
    let ingest = Ingest::start(store.clone(), wake.clone(), bus.clone(), node_id.clone());
    let api_key = (!cfg.api_key.is_empty()).then(|| cfg.api_key.clone());
    let mailer = crate::mailer::Mailer::from_config(&cfg)
        .map_err(|e| anyhow::anyhow!("configuration setting `smtp_url`: {e}"))?;
    // Twice the connections: the sends under way and as many waiting for their commit.
    let recorder = crate::jobs::record::Recorder::start(
        store.clone(),
        clock.clone(),
        cfg.smtp_max_connections * 2,
    );
    let lookups = crate::jobs::lookup::Lookups::start(store.clone());
    let breakers = crate::jobs::breaker::Breakers::new(
        cfg.breaker_failures,
        std::time::Duration::from_secs(cfg.breaker_open_seconds),
        std::time::Duration::from_secs(cfg.breaker_max_open_seconds),
    );
    let channel_limits = crate::jobs::deliver::ChannelLimits::new(cfg.channel_concurrency);
    let templates =
        (!cfg.email_templates.is_empty()).then(|| std::path::PathBuf::from(&cfg.email_templates));
    let email_templates =
        varsel_delivery::email::EmailTemplates::load(templates)?.with_link_base(cfg.app_base_url());
    let providers = crate::channels::Providers::build(&cfg, &store, clock.now_ms()).await?;
    let links =
        crate::links::Links::load(store.as_ref(), cfg.link_ttl_days, clock.now_ms()).await?;
    let (fanout, pushes) = crate::fanout::Fanout::new();
    let state = AppState(Arc::new(Inner {
        fanout,
        jobs_wake: Arc::new(Notify::new()),
        mailer,
        email_templates,
        renderer: Renderer::new(&catalog),
        catalog: Arc::new(catalog),
        hub: {
            let hub = Hub::new(cfg.max_streams_per_user, cfg.max_streams);
            match &bus {
                Some(_) => hub.clustered(std::time::Duration::from_secs(cfg.presence_ttl_seconds)),
                None => hub,
            }
        },
        ingest,
        tokens: Tokens::new(secret.as_bytes()),
        links,
        api_key,
        clock,
        metrics: metrics_handle(),
        wake,
        known_accounts: RwLock::new(Default::default()),
        node_id,
        instance: crate::presence::new_instance(),
        bus,
        providers,
        recorder,
        lookups,
        facts: Default::default(),
        breakers,
        channel_limits,
        store,
        limits: crate::limits::Limits::from_config(&cfg),
        config: cfg,
    }));
    tokio::spawn(crate::fanout::run(state.clone(), pushes));
    Ok(state)
}

/// Opens the store, starts the workers and serves HTTP on `listener`.
pub async fn start_on(
    mut cfg: Config,
    listener: TcpListener,
    clock: Option<Arc<dyn Clock>>,
) -> anyhow::Result<Running> {
    // Links (emails, the demo) need the address this server really answers at.
    if cfg.public_url.is_empty() {
        cfg.public_url = derived_public_url(listener.local_addr()?);
    }
    let catalog = load_catalog(&cfg)?;
    let store = varsel_store::connect(&cfg.database_url)
        .await
        .context("opening the database")?;
    let clock = clock.unwrap_or_else(|| Arc::new(SystemClock));
    let state = build_state(cfg, store, catalog, clock).await?;
    if let Some(bus) = &state.bus {
        let rx = bus
            .subscribe()
            .await
            .context("listening on the PostgreSQL bus")?;
        tokio::spawn(crate::fanout::follow_bus(state.clone(), rx));
        tokio::spawn(crate::presence::run(state.clone(), bus.clone()));
    }
    // SQLite claims by reading, so it runs one round at a time; PostgreSQL leases each
    // round's events, so rounds may overlap.
    let workers = match state.store.backend() {
        "postgres" => state.config.process_workers,
        _ => 1,
    };
    for _ in 0..workers {
        tokio::spawn(crate::processor::run(state.clone()));
    }
    tokio::spawn(crate::jobs::run(state.clone()));
    // Spans name the path and a redacted query: `?token=` and `?key=` never reach a log.
    let app = crate::routes::router(state.clone()).layer(
        tower_http::trace::TraceLayer::new_for_http().make_span_with(crate::edge::request_span),
    );
    let addr = listener.local_addr()?;
    let limits = crate::edge::EdgeLimits::from_config(&state.config);
    if !state.config.metrics_listen.is_empty() {
        let metrics_listener = TcpListener::bind(&state.config.metrics_listen)
            .await
            .with_context(|| format!("binding metrics_listen {}", state.config.metrics_listen))?;
        let metrics_app = crate::routes::metrics_router(state.clone());
        tokio::spawn(crate::edge::serve(metrics_listener, metrics_app, limits));
    }
    // Each connection gets a cheap clone of the router (an Arc).
    let server = tokio::spawn(crate::edge::serve(listener, app, limits));
    Ok(Running {
        addr,
        state,
        server,
    })
}

/// `http://ADDR` of the bound address; an unspecified address (`0.0.0.0`, `::`) becomes
/// loopback, the one address known to reach it (set `public_url` for the real one).
pub fn derived_public_url(addr: SocketAddr) -> String {
    let mut addr = addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
        tracing::warn!(
            "public_url is not set and Varsel listens on all interfaces: links in emails \
             use {addr}; set public_url (VARSEL_PUBLIC_URL) to the address users reach"
        );
    }
    format!("http://{addr}")
}

/// Binds `cfg.listen` and starts.
pub async fn start(cfg: Config) -> anyhow::Result<Running> {
    let listener = TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    start_on(cfg, listener, None).await
}
