//! `suyuan audit`, `suyuan export` and `suyuan verify`: the inspector's checks
//! that do not trust the server.

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use suyuan::domain::keys::KeyRecord;
use suyuan::domain::party::Role;
use suyuan::store::{self, DynStore, Party, StatementPage, StoredStatement};
use suyuan::tlog::note::Verifier;
use suyuan::verify::audit::{Auditor, PreparedPage, Seen};
use suyuan::verify::bundle::{self, Bundle, BundleLog, BundleParty, BundleStatement};

/// Where the audit reads the log.
#[derive(Debug, Clone, Args)]
#[group(required = true, multiple = false)]
pub struct SourceArgs {
    /// Server base URL (reads /log/... over HTTP).
    #[arg(long)]
    pub server: Option<String>,
    /// Database URL (reads the database directly).
    #[arg(long)]
    pub database_url: Option<String>,
}

/// Flags of `audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The log's verifier key (name+keyid+key); default: the one pinned in the state
    /// file, else the one the log presents (trusted on first use).
    #[arg(long)]
    pub log_key: Option<String>,
    /// File keeping the last checkpoint seen per log (default ~/.suyuan/audit-state.json).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Audit the log alone: do not compare the database's chain heads and
    /// holdings with the replay (for a database that holds only the log, such
    /// as a copy of its statements).
    #[arg(long)]
    pub log_only: bool,
}

/// Flags of `export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Server base URL.
    #[arg(long, env = "SUYUAN_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Batch id (hex).
    #[arg(long)]
    pub batch: String,
    /// Bundle file to write (with --epcis: the EPCIS 2.0 JSON-LD document).
    #[arg(long)]
    pub out: PathBuf,
    /// Write the batch's EPCIS 2.0 JSON-LD document instead of an evidence bundle.
    #[arg(long)]
    pub epcis: bool,
    /// Bearer token (--epcis: the operator or a party that handled the batch).
    #[arg(long, env = "SUYUAN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

/// Flags of `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Bundle file.
    pub file: PathBuf,
    /// Pin the log's verifier key (name+keyid+key) instead of the bundle's own.
    #[arg(long)]
    pub log_key: Option<String>,
}

/// The log as the audit reads it.
enum Source {
    Http { http: reqwest::Client, base: String },
    Db(DynStore),
}

impl Source {
    async fn open(args: &SourceArgs) -> Result<Self> {
        match (&args.server, &args.database_url) {
            (Some(s), _) => Ok(Source::Http {
                http: reqwest::Client::new(),
                base: s.trim_end_matches('/').to_owned(),
            }),
            (None, Some(url)) => Ok(Source::Db(
                store::open(url)
                    .await
                    .with_context(|| "cannot open the database".to_string())?,
            )),
            (None, None) => bail!("give --server or --database-url"),
        }
    }

    async fn get_text(http: &reqwest::Client, url: &str) -> Result<String> {
        let r = http
            .get(url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = r.status();
        let body = r.text().await.with_context(|| format!("GET {url}"))?;
        if !status.is_success() {
            bail!("GET {url}: {status}: {body}");
        }
        Ok(body)
    }

    async fn get_json(http: &reqwest::Client, url: &str) -> Result<Value> {
        let text = Self::get_text(http, url).await?;
        serde_json::from_str(&text).with_context(|| format!("GET {url}: not JSON"))
    }

    /// Parties and root keys.
    async fn anchors(&self) -> Result<(Vec<Party>, Vec<KeyRecord>)> {
        match self {
            Source::Db(store) => {
                let parties = store.parties().await?;
                let mut keys = Vec::new();
                for p in &parties {
                    keys.extend(
                        store
                            .keys_of(&p.slug)
                            .await?
                            .into_iter()
                            .filter(|k| k.role == Role::Root),
                    );
                }
                Ok((parties, keys))
            }
            Source::Http { http, base } => {
                let v = Self::get_json(http, &format!("{base}/log/roots")).await?;
                let list: Vec<BundleParty> =
                    serde_json::from_value(v).context("/log/roots: unexpected shape")?;
                Ok(anchors_of(&list))
            }
        }
    }

    async fn size(&self) -> Result<u64> {
        match self {
            Source::Db(store) => Ok(store.log_size().await? as u64),
            Source::Http { .. } => {
                let (note, _) = self.checkpoint().await?;
                let size = note
                    .as_deref()
                    .and_then(|n| n.lines().nth(1))
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0);
                Ok(size)
            }
        }
    }

    async fn page(&self, start: u64, limit: u64) -> Result<StatementPage> {
        match self {
            Source::Db(store) => Ok(store.statement_page(start as i64, limit as i64).await?),
            Source::Http { http, base } => {
                let v = Self::get_json(
                    http,
                    &format!("{base}/log/entries?start={start}&limit={limit}"),
                )
                .await?;
                let rows = v
                    .as_array()
                    .ok_or_else(|| anyhow!("/log/entries: not a list"))?;
                let rows: Vec<StoredStatement> = rows
                    .iter()
                    .map(|r| {
                        let s = |k: &str| {
                            r.get(k)
                                .and_then(Value::as_str)
                                .map(str::to_owned)
                                .ok_or_else(|| anyhow!("/log/entries: entry without {k}"))
                        };
                        Ok(StoredStatement {
                            seq: r
                                .get("seq")
                                .and_then(Value::as_i64)
                                .ok_or_else(|| anyhow!("/log/entries: entry without seq"))?,
                            id: s("id")?,
                            kind: s("kind")?,
                            party: String::new(),
                            json: s("json")?,
                        })
                    })
                    .collect::<Result<_>>()?;
                Ok(StatementPage::from_rows(&rows))
            }
        }
    }

    /// The latest checkpoint note and the verifier key the log presents.
    async fn checkpoint(&self) -> Result<(Option<String>, Option<String>)> {
        match self {
            Source::Db(store) => Ok(match store.latest_checkpoint().await? {
                Some(c) => (Some(c.note), Some(c.verifier)),
                None => (None, None),
            }),
            Source::Http { http, base } => {
                let note = Self::get_text(http, &format!("{base}/log/checkpoint")).await?;
                let key = Self::get_text(http, &format!("{base}/log/key")).await?;
                Ok((Some(note), Some(key.trim().to_owned())))
            }
        }
    }
}

fn anchors_of(list: &[BundleParty]) -> (Vec<Party>, Vec<KeyRecord>) {
    let mut parties = Vec::new();
    let mut keys = Vec::new();
    for p in list {
        parties.push(Party {
            slug: p.slug.clone(),
            name: p.slug.to_string(),
            kind: p.kind,
            gln: None,
        });
        for k in &p.root_keys {
            keys.push(KeyRecord {
                key_id: k.key_id.clone(),
                party: p.slug.clone(),
                public_key: k.public_key.clone(),
                role: Role::Root,
                not_before: None,
                not_after: None,
                revoked: None,
            });
        }
    }
    (parties, keys)
}

fn default_state() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".suyuan").join("audit-state.json")
}

/// Last checkpoint seen, per log origin.
type State = BTreeMap<String, Seen>;

fn read_state(path: &Path) -> Result<State> {
    match std::fs::read_to_string(path) {
        Ok(t) => serde_json::from_str(&t).with_context(|| format!("state file {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::new()),
        Err(e) => Err(e).with_context(|| format!("state file {}", path.display())),
    }
}

fn write_state(path: &Path, state: &State) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(state)?)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Leaves read per page.
const PAGE: u64 = 10_000;

/// `suyuan audit`. Exits 1 (an error) when any rule fails.
pub async fn audit(args: AuditArgs) -> Result<()> {
    let source = Source::open(&args.source).await?;
    let state_path = args.state.clone().unwrap_or_else(default_state);
    let mut state = read_state(&state_path)?;
    // Read the checkpoint first: the leaves read afterwards must cover it.
    let (note, presented) = source.checkpoint().await?;
    // Trust: --log-key, else the key pinned for this log by an earlier audit, else the
    // key the log presents (trusted on first use), else the only log in the state file.
    let presented = presented.map(|p| Verifier::parse(&p)).transpose()?;
    let pinned = |name: &str| state.get(name).map(|s| s.verifier.clone());
    let verifier_text = match (&args.log_key, &presented) {
        (Some(k), _) => k.clone(),
        (None, Some(p)) => pinned(&p.name).unwrap_or_else(|| p.to_string()),
        (None, None) if state.len() == 1 => state
            .values()
            .next()
            .map(|s| s.verifier.clone())
            .unwrap_or_default(),
        (None, None) => bail!("the log has no checkpoint and no --log-key was given"),
    };
    let verifier = Verifier::parse(&verifier_text).context("log key")?;
    let last_seen = state.get(&verifier.name).cloned();
    let (parties, roots) = source.anchors().await?;
    let size = source.size().await?;
    let bar = if args.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::new(size);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} audit {bar:40} {pos}/{len} statements {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    };
    let mut auditor = Auditor::new(parties, roots);
    let page = if matches!(source, Source::Http { .. }) {
        suyuan::http::tlog::MAX_ENTRIES
    } else {
        PAGE
    };
    // Three stages at once: page k is replayed (its signatures then checked in the
    // background) while page k+1 is parsed and hashed and page k+2 is read.
    let mut rows = source.page(0, page).await?;
    let mut read = rows.len() as u64;
    let mut prepared = PreparedPage::new(&StatementPage::default());
    while !rows.is_empty() || !prepared.is_empty() {
        let n = prepared.len() as u64;
        let before = auditor.size();
        let last_read = rows.is_empty();
        let feed = tokio::task::spawn_blocking(move || {
            auditor.feed_prepared(prepared);
            auditor
        });
        let prepare = tokio::task::spawn_blocking(move || PreparedPage::new(&rows));
        let next = async {
            if last_read {
                Ok(StatementPage::default())
            } else {
                source.page(read, page).await
            }
        };
        let (fed, prepped, next) = tokio::join!(feed, prepare, next);
        auditor = fed.context("the audit worker failed")?;
        if auditor.size() != before + n {
            bail!("the audit could not account for every leaf read");
        }
        bar.inc(n);
        prepared = prepped.context("the audit worker failed")?;
        rows = next?;
        read += rows.len() as u64;
    }
    bar.finish_and_clear();
    let compared = match &source {
        Source::Db(store) if !args.log_only => compare_recorded(store, &mut auditor).await?,
        _ => None,
    };
    let seen = auditor.finish(note.as_deref(), &verifier, last_seen.as_ref());
    let size = auditor.size();
    let findings = auditor.findings().to_vec();
    // The process ends next: freeing the replay state (millions of small objects on
    // a large log) one by one would only add to the audit's time.
    std::mem::forget(auditor);
    if findings.is_empty() {
        if let Some(s) = &seen {
            state.insert(verifier.name.clone(), s.clone());
            write_state(&state_path, &state)?;
        }
        println!(
            "audit ok: {} statements, every signature, key, chain link and custody rule holds; \
             root matches the checkpoint of size {} signed by {}",
            size,
            seen.as_ref().map_or(0, |s| s.size),
            verifier
        );
        match compared {
            Some(Some(n)) => println!(
                "recorded state: the chain heads and holdings of all {n} batches match the replay"
            ),
            Some(None) => println!(
                "recorded state not compared: the log grew during the audit (run it again on a quiet server to compare)"
            ),
            None => {}
        }
        return Ok(());
    }
    for f in &findings {
        println!("FAIL {f}");
    }
    bail!(
        "audit failed: {} finding(s) over {size} statements",
        findings.len()
    )
}

/// Compares every batch's stored chain head and holdings with the replay.
/// `Some(Some(batches))` when compared, `Some(None)` when the log grew during
/// the audit (the store's rows would include events the replay has not seen).
async fn compare_recorded(
    store: &suyuan::store::DynStore,
    auditor: &mut Auditor,
) -> Result<Option<Option<usize>>> {
    let heads = store.all_heads().await?;
    let rows = store.all_holdings().await?;
    if store.log_size().await? as u64 != auditor.size() {
        return Ok(Some(None));
    }
    Ok(Some(Some(auditor.check_recorded(&heads, &rows))))
}

/// `suyuan export --batch ID --out FILE`.
pub async fn export(args: ExportArgs) -> Result<()> {
    if args.epcis {
        return super::epcis::export(&args).await;
    }
    let http = reqwest::Client::new();
    let base = args.server.trim_end_matches('/').to_owned();
    let get = |p: String| {
        let http = http.clone();
        let base = base.clone();
        async move { Source::get_json(&http, &format!("{base}{p}")).await }
    };
    let batch = get(format!("/api/v1/batches/{}", args.batch)).await?;
    let head = batch
        .get("head")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("batch without head"))?
        .to_owned();
    let note = Source::get_text(&http, &format!("{base}/log/checkpoint")).await?;
    let verifier = Source::get_text(&http, &format!("{base}/log/key")).await?;
    let size: u64 = note
        .lines()
        .nth(1)
        .and_then(|l| l.parse().ok())
        .ok_or_else(|| anyhow!("the checkpoint has no tree size"))?;
    // Walk the batch's chain back from its head to the batch record.
    let mut chain: Vec<(u64, String)> = Vec::new();
    let mut cursor = head;
    loop {
        let st = get(format!("/api/v1/statements/{cursor}")).await?;
        let seq = st
            .get("seq")
            .and_then(Value::as_u64)
            .ok_or_else(|| anyhow!("statement {cursor} without seq"))?;
        chain.push((seq, cursor.clone()));
        if cursor == args.batch {
            break;
        }
        let prev = st
            .pointer(&format!("/statement/prev/{}", args.batch))
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("event {cursor} has no prev for the batch"))?
            .to_owned();
        cursor = prev;
    }
    // Station keys used, with their key statements.
    let roots: Vec<BundleParty> = serde_json::from_value(get("/log/roots".into()).await?)?;
    let root_ids: Vec<&str> = roots
        .iter()
        .flat_map(|p| p.root_keys.iter().map(|k| k.key_id.as_str()))
        .collect();
    let mut statements: BTreeMap<u64, BundleStatement> = BTreeMap::new();
    for (seq, _) in &chain {
        if *seq >= size {
            continue; // logged after the checkpoint
        }
        let json = Source::get_text(&http, &format!("{base}/log/leaf/{seq}")).await?;
        let v: Value = serde_json::from_str(&json)?;
        let key = v.get("key").and_then(Value::as_str).unwrap_or_default();
        if !root_ids.contains(&key) {
            let ks = get(format!("/log/keys/{key}")).await?;
            for k in ks.as_array().into_iter().flatten() {
                let kseq = k.get("seq").and_then(Value::as_u64).unwrap_or(u64::MAX);
                if kseq < size {
                    statements.entry(kseq).or_insert(BundleStatement {
                        seq: kseq,
                        id: k
                            .get("id")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .into(),
                        kind: "key".into(),
                        json: k
                            .get("json")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .into(),
                        proof: Vec::new(),
                    });
                }
            }
        }
        let id = chain
            .iter()
            .find(|(s, _)| s == seq)
            .map(|(_, id)| id.clone())
            .unwrap_or_default();
        let kind = if id == args.batch { "batch" } else { "event" };
        statements.insert(
            *seq,
            BundleStatement {
                seq: *seq,
                id,
                kind: kind.into(),
                json,
                proof: Vec::new(),
            },
        );
    }
    for st in statements.values_mut() {
        let p = get(format!("/log/proof/inclusion?seq={}&size={size}", st.seq)).await?;
        st.proof = serde_json::from_value(p.get("proof").cloned().unwrap_or(Value::Null))
            .context("inclusion proof")?;
    }
    let bundle = Bundle {
        format: bundle::FORMAT.into(),
        batch: args.batch.clone(),
        log: BundleLog {
            verifier: verifier.trim().to_owned(),
            checkpoint: note,
        },
        parties: roots,
        statements: statements.into_values().collect(),
    };
    let text = serde_json::to_string_pretty(&bundle)?;
    // Check what we write, so a bad export never leaves the machine.
    bundle::verify(&text, None).context("the exported bundle does not verify")?;
    std::fs::write(&args.out, text)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "wrote {} ({} statements, checkpoint size {size}, log key {})",
        args.out.display(),
        bundle.statements.len(),
        bundle.log.verifier
    );
    Ok(())
}

/// `suyuan verify FILE`.
pub fn verify(args: VerifyArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let pinned = args
        .log_key
        .as_deref()
        .map(Verifier::parse)
        .transpose()
        .context("--log-key")?;
    let v = bundle::verify(&text, pinned.as_ref())?;
    println!(
        "bundle ok: batch {}, {} statements, all signed by valid keys, chain unbroken, \
         included in the tree of size {} signed by {}{}",
        v.batch,
        v.statements,
        v.checkpoint.size,
        v.checkpoint.origin,
        if pinned.is_some() {
            " (pinned key)"
        } else {
            " (the bundle's own key: compare it with the log's published key)"
        }
    );
    Ok(())
}
