//! `suyuan serve` and `suyuan init`.

use anyhow::{Context, Result};
use clap::Args;
use std::net::SocketAddr;
use std::path::Path;
use tokio::net::TcpListener;

use super::DataArgs;
use suyuan::app::ledger::Ledger;
use suyuan::client::keystore::Keystore;
use suyuan::http::auth::{new_token, token_hash};
use suyuan::http::{self, AppState};
use suyuan::store::{self, DynStore};

/// Flags of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "SUYUAN_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub data: DataArgs,
    /// Public base URL printed on labels (default: http://ADDR).
    #[arg(long, env = "SUYUAN_BASE_URL")]
    pub base_url: Option<String>,
    /// Set up (or reuse) the demo data and print scan URLs.
    #[arg(long)]
    pub demo: bool,
    /// Log as JSON lines.
    #[arg(long)]
    pub log_json: bool,
    /// Mark the dock's cookies `Secure` (serving behind HTTPS). Requests with
    /// `X-Forwarded-Proto: https` get `Secure` cookies without it.
    #[arg(long, env = "SUYUAN_SECURE_COOKIES")]
    pub secure_cookies: bool,
}

/// Opens the database and makes sure the log key and an operator token exist.
async fn open_initialised(data: &DataArgs) -> Result<(DynStore, Option<String>)> {
    std::fs::create_dir_all(&data.data_dir)
        .with_context(|| format!("cannot create data directory {}", data.data_dir.display()))?;
    let store = store::open(&data.url())
        .await
        .with_context(|| format!("cannot open database {}", redact(&data.url())))?;
    ensure_log_key(&data.data_dir)?;
    let mut admin = None;
    if !store.has_admin().await? {
        let token = new_token();
        store.add_token(&token_hash(&token), None).await?;
        write_secret(&data.data_dir.join("admin.token"), &format!("{token}\n"))?;
        admin = Some(token);
    }
    Ok((store, admin))
}

fn redact(url: &str) -> String {
    // Hide a password in postgres://user:pass@host URLs.
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if url[s + 3..at].contains(':') => {
            let colon = s + 3 + url[s + 3..at].find(':').unwrap_or(0);
            format!("{}:***{}", &url[..colon], &url[at..])
        }
        _ => url.to_owned(),
    }
}

fn write_secret(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

/// The server's log signing key (for checkpoints) lives beside the database.
fn ensure_log_key(dir: &Path) -> Result<()> {
    let path = dir.join("log.key");
    if !path.exists() {
        let log = Keystore::generate(
            suyuan::domain::party::Slug::parse("log").map_err(anyhow::Error::msg)?,
        );
        log.save(&path).map_err(anyhow::Error::new)?;
    }
    Ok(())
}

/// The log signing key from `<data-dir>/log.key`.
pub fn load_log_key(dir: &Path) -> Result<ed25519_dalek::SigningKey> {
    let ks = Keystore::load(&dir.join("log.key")).map_err(anyhow::Error::new)?;
    Ok(ks.key)
}

/// `suyuan init`.
pub async fn init(data: &DataArgs) -> Result<()> {
    let (_, admin) = open_initialised(data).await?;
    println!("database ready: {}", redact(&data.url()));
    println!("log key: {}", data.data_dir.join("log.key").display());
    match admin {
        Some(t) => println!(
            "operator token (shown once, also in {}): {t}",
            data.data_dir.join("admin.token").display()
        ),
        None => println!("an operator token exists already"),
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// One `serve` per SQLite file: its writer is the only one, which group commit relies on.
fn lock_sqlite(data: &DataArgs) -> Result<Option<std::fs::File>> {
    let url = data.url();
    if !url.starts_with("sqlite:") {
        return Ok(None);
    }
    std::fs::create_dir_all(&data.data_dir)
        .with_context(|| format!("cannot create data directory {}", data.data_dir.display()))?;
    let path = data.data_dir.join("serve.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    if file.try_lock().is_err() {
        anyhow::bail!(
            "another `suyuan serve` is using {}; stop it first (SQLite takes one server per database; use PostgreSQL to run several)",
            data.data_dir.display()
        );
    }
    Ok(Some(file))
}

/// `suyuan serve`.
pub async fn run(args: ServeArgs) -> Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let sub = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if args.log_json {
        sub.json().init();
    } else {
        sub.init();
    }
    let _lock = lock_sqlite(&args.data)?;
    http::dock::set_secure_cookies(args.secure_cookies);
    let (store, admin) = open_initialised(&args.data).await?;
    if let Some(t) = &admin {
        println!(
            "operator token (shown once, also in {}): {t}",
            args.data.data_dir.join("admin.token").display()
        );
    }
    let listener = TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let local = listener.local_addr()?;
    let base_url = args
        .base_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    let ledger = Ledger::new(store);
    if args.demo {
        let info = suyuan::app::demo::setup(&ledger, &args.data.data_dir, &base_url)
            .await
            .context("demo setup failed")?;
        println!("demo ready — open these scan URLs:");
        println!("  sold to a consumer : {}", info.sold);
        println!("  on a shop shelf    : {}", info.in_stock);
        println!("  recalled batch     : {}", info.recalled);
        println!("  tampered signature : {}", info.tampered);
        println!("  never minted       : {}", info.unknown);
        println!(
            "  (all in {})",
            args.data.data_dir.join("demo.json").display()
        );
    }
    // Refuses to start when the database is behind or forked from a signed checkpoint.
    let log = suyuan::tlog::service::LogService::open(
        ledger.store.clone(),
        load_log_key(&args.data.data_dir)?,
        None,
        Some(args.data.data_dir.join("log.checkpoint")),
    )
    .await
    .context("the transparency log refuses to start")?;
    tokio::spawn(log.clone().tick(std::time::Duration::from_secs(10)));
    println!("listening on http://{local}");
    tracing::info!(addr = %local, base_url, "serving");
    http::serve(listener, AppState { ledger, log }, shutdown_signal())
        .await
        .context("server failed")?;
    Ok(())
}
