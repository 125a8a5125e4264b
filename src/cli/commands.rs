//! Client commands: build a statement, sign it with the keystore, post it.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::{json, Value};
use std::path::PathBuf;

use super::{parse_range, ServerArgs, SignerArgs};
use suyuan::client::keystore::Keystore;
use suyuan::client::{draft_event, receipt, Client};
use suyuan::domain::party::{Role, Slug};
use suyuan::domain::statement::{
    BatchId, BatchStatement, EventType, KeyAction, KeyStatement, Resolution, UnitRange, VERSION,
};
use suyuan::domain::time::Timestamp;
use suyuan::formats::gs1::{self, Sscc};
use suyuan::formats::sign::{self, Kind};

fn client(s: &ServerArgs) -> Client {
    Client::new(&s.server, s.token.clone())
}

fn load(path: &std::path::Path) -> Result<Keystore> {
    Keystore::load(path).map_err(anyhow::Error::new)
}

fn print(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// `suyuan party …`
#[derive(Debug, Subcommand)]
pub enum PartyCommand {
    /// Register a party and its root public key (operator token).
    Add {
        #[command(flatten)]
        server: ServerArgs,
        /// Short name (a-z, 0-9, -).
        #[arg(long)]
        slug: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// factory, b1, b2 or inspector.
        #[arg(long)]
        kind: String,
        /// GS1 GLN-13.
        #[arg(long)]
        gln: Option<String>,
        /// Root public key (base64url), or…
        #[arg(long, conflicts_with = "keystore")]
        root_key: Option<String>,
        /// …the party's root keystore to read it from.
        #[arg(long)]
        keystore: Option<PathBuf>,
    },
    /// List registered parties.
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// `suyuan party …`
pub async fn party(c: PartyCommand) -> Result<()> {
    match c {
        PartyCommand::Add {
            server,
            slug,
            name,
            kind,
            gln,
            root_key,
            keystore,
        } => {
            let root_key = match (root_key, keystore) {
                (Some(k), _) => k,
                (None, Some(p)) => load(&p)?.public_key(),
                (None, None) => bail!("give --root-key or --keystore"),
            };
            let mut body = json!({"slug": slug, "name": name, "kind": kind, "root_key": root_key});
            if let Some(g) = gln {
                body["gln"] = json!(g);
            }
            let v = client(&server)
                .post("/api/v1/parties", body.to_string())
                .await?;
            print(&v);
            eprintln!(
                "keep the token: it is shown once and is what {slug}'s stations use to submit"
            );
        }
        PartyCommand::List { server } => print(&client(&server).get("/api/v1/parties").await?),
    }
    Ok(())
}

/// `suyuan key …`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generate a key pair into a new keystore file (mode 0600).
    Gen {
        /// The party the key is for.
        #[arg(long)]
        party: String,
        /// Where to write the keystore.
        #[arg(long)]
        out: PathBuf,
    },
    /// Certify a station key for a role, signed with the party's root keystore.
    Certify {
        #[command(flatten)]
        signer: SignerArgs,
        /// Station public key (base64url), or…
        // A base64url key starts with '-' one time in 64: not a flag.
        #[arg(long, conflicts_with = "subject_keystore", allow_hyphen_values = true)]
        public_key: Option<String>,
        /// …the station's keystore to read it from.
        #[arg(long)]
        subject_keystore: Option<PathBuf>,
        /// mint, dock, retail or inspect.
        #[arg(long)]
        role: String,
        /// Days of validity from now.
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// Approve a dock station enrolled at /dock: certify its key for the dock role with the root keystore.
    Approve {
        #[command(flatten)]
        signer: SignerArgs,
        /// The pending station number the dock page shows.
        #[arg(long)]
        pending: i64,
        /// Days of validity from now.
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
    /// Revoke a station key, signed with the party's root keystore.
    Revoke {
        #[command(flatten)]
        signer: SignerArgs,
        /// Station public key (base64url).
        #[arg(long, allow_hyphen_values = true)]
        public_key: String,
        /// Why.
        #[arg(long)]
        reason: Option<String>,
    },
}

/// `suyuan key …`
pub async fn key(c: KeyCommand) -> Result<()> {
    match c {
        KeyCommand::Gen { party, out } => {
            let party = Slug::parse(&party)
                .map_err(anyhow::Error::msg)
                .context("--party")?;
            let ks = Keystore::generate(party);
            ks.save(&out)?;
            print(
                &json!({"party": ks.party, "key_id": ks.key_id, "public_key": ks.public_key(), "keystore": out}),
            );
        }
        KeyCommand::Certify {
            signer,
            public_key,
            subject_keystore,
            role,
            days,
        } => {
            let subject = match (public_key, subject_keystore) {
                (Some(k), _) => k,
                (None, Some(p)) => load(&p)?.public_key(),
                (None, None) => bail!("give --public-key or --subject-keystore"),
            };
            let role = Role::parse(&role)
                .map_err(anyhow::Error::msg)
                .context("--role")?;
            let root = load(&signer.keystore)?;
            let now = Timestamp::now();
            let stmt = KeyStatement {
                v: VERSION,
                party: root.party.clone(),
                key: root.key_id.clone(),
                time: now,
                action: KeyAction::Certify,
                subject,
                role: Some(role),
                not_before: Some(now),
                not_after: Some(Timestamp::from_unix(now.unix() + days * 86_400)),
                reason: None,
            };
            let (signed, _) = sign::sign(Kind::Key, &stmt, &root.key)?;
            print(&client(&signer.server).submit(Kind::Key, &signed).await?);
        }
        KeyCommand::Approve {
            signer,
            pending,
            days,
        } => super::dock::approve(signer, pending, days).await?,
        KeyCommand::Revoke {
            signer,
            public_key,
            reason,
        } => {
            let root = load(&signer.keystore)?;
            let stmt = KeyStatement {
                v: VERSION,
                party: root.party.clone(),
                key: root.key_id.clone(),
                time: Timestamp::now(),
                action: KeyAction::Revoke,
                subject: public_key,
                role: None,
                not_before: None,
                not_after: None,
                reason,
            };
            let (signed, _) = sign::sign(Kind::Key, &stmt, &root.key)?;
            print(&client(&signer.server).submit(Kind::Key, &signed).await?);
        }
    }
    Ok(())
}

/// `suyuan batch …`
#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Sign and submit a batch record from a JSON file (fields of the batch statement, without v/party/key/time).
    Mint {
        #[command(flatten)]
        signer: SignerArgs,
        /// JSON file: gtin, product, lot, quantity, produced, expires, line, inputs, steps…
        #[arg(long)]
        file: PathBuf,
    },
    /// Show a batch record and its chain head.
    Show {
        #[command(flatten)]
        server: ServerArgs,
        /// Batch id.
        id: String,
    },
}

/// `suyuan batch …`
pub async fn batch(c: BatchCommand) -> Result<()> {
    match c {
        BatchCommand::Mint { signer, file } => {
            let ks = load(&signer.keystore)?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let mut body: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            let obj = body
                .as_object_mut()
                .context("the batch file must hold a JSON object")?;
            obj.insert("v".into(), json!(VERSION));
            obj.insert("party".into(), json!(ks.party));
            obj.insert("key".into(), json!(ks.key_id));
            obj.entry("time").or_insert_with(|| json!(Timestamp::now()));
            // Validate locally first so errors name the field before anything is signed.
            let record: BatchStatement = serde_json::from_value(body.clone())
                .with_context(|| format!("batch file {}", file.display()))?;
            let (signed, id) = sign::sign(Kind::Batch, &record, &ks.key)?;
            let v = client(&signer.server).submit(Kind::Batch, &signed).await?;
            print(&v);
            eprintln!(
                "batch {id}: {} units of {} lot {}",
                record.quantity, record.gtin, record.lot
            );
        }
        BatchCommand::Show { server, id } => print(
            &client(&server)
                .get(&format!("/api/v1/batches/{id}"))
                .await?,
        ),
    }
    Ok(())
}

/// Units named on the command line: ranges of a batch and/or scanned codes.
#[derive(Debug, Clone, Args)]
pub struct UnitsArgs {
    #[command(flatten)]
    pub signer: SignerArgs,
    /// Batch id for --range.
    #[arg(long)]
    pub batch: Option<String>,
    /// Unit ranges `first..last` (inclusive) or single indexes; repeatable.
    #[arg(long = "range")]
    pub ranges: Vec<String>,
    /// Scanned codes (label URL, (01)…(10)…(21)… or raw element string); repeatable.
    #[arg(long = "unit")]
    pub units: Vec<String>,
    /// Containers (SSCC-18, or a scanned (00)… code) with everything inside; repeatable.
    #[arg(long = "sscc")]
    pub containers: Vec<String>,
    /// Where it happens.
    #[arg(long)]
    pub place: Option<String>,
}

async fn collect_units(c: &Client, a: &UnitsArgs) -> Result<Vec<UnitRange>> {
    let mut out = Vec::new();
    if !a.ranges.is_empty() {
        let batch = a.batch.as_deref().context("--range needs --batch")?;
        let batch = BatchId::parse(batch)
            .map_err(anyhow::Error::msg)
            .context("--batch")?;
        for r in &a.ranges {
            let (first, last) = parse_range(r)?;
            out.push(UnitRange { batch, first, last });
        }
    }
    for u in &a.units {
        out.push(c.resolve(u).await.with_context(|| format!("--unit {u}"))?);
    }
    Ok(out)
}

/// Parses an SSCC given bare or as a scanned code.
fn parse_sscc(text: &str) -> Result<Sscc> {
    if let Ok(scanned) = gs1::parse_scan(text) {
        if let gs1::Key::Container { sscc } = scanned.key {
            return Ok(sscc);
        }
    }
    Sscc::parse(text).with_context(|| format!("SSCC \"{text}\""))
}

async fn submit_units(
    a: &UnitsArgs,
    event_type: EventType,
    edit: impl FnOnce(&mut suyuan::domain::statement::EventStatement),
) -> Result<()> {
    let ks = load(&a.signer.keystore)?;
    let c = client(&a.signer.server);
    let objects = collect_units(&c, a).await?;
    let containers = a
        .containers
        .iter()
        .map(|t| parse_sscc(t))
        .collect::<Result<Vec<_>>>()?;
    if objects.is_empty() && containers.is_empty() && event_type != EventType::Unpacking {
        bail!("name the units: --batch ID --range A..B, --unit CODE, or --sscc CONTAINER");
    }
    let mut ev = draft_event(&ks, event_type, objects);
    ev.containers = containers;
    ev.place = a.place.clone();
    edit(&mut ev);
    print(&c.submit_event(&ks, ev).await?);
    Ok(())
}

/// `suyuan ship`
#[derive(Debug, Args)]
pub struct ShipArgs {
    #[command(flatten)]
    pub units: UnitsArgs,
    /// Receiving party.
    #[arg(long)]
    pub to: String,
    /// Advance ship notice number.
    #[arg(long)]
    pub asn: Option<String>,
}

/// `suyuan ship`
pub async fn ship(a: ShipArgs) -> Result<()> {
    let to = Slug::parse(&a.to)
        .map_err(anyhow::Error::msg)
        .context("--to")?;
    submit_units(&a.units, EventType::Shipping, |ev| {
        ev.to = Some(to);
        ev.asn = a.asn;
    })
    .await
}

/// `suyuan receive`
#[derive(Debug, Args)]
pub struct ReceiveArgs {
    #[command(flatten)]
    pub signer: SignerArgs,
    /// The shipping event id.
    #[arg(long)]
    pub shipment: String,
    /// Units expected but missing (`batch:first..last`, or `first..last` when the shipment has one batch); repeatable.
    #[arg(long)]
    pub short: Vec<String>,
    /// Units received damaged (same form); repeatable.
    #[arg(long)]
    pub damaged: Vec<String>,
    /// Something delivered that was not expected (free text); repeatable.
    #[arg(long)]
    pub over: Vec<String>,
    /// Where it happens.
    #[arg(long)]
    pub place: Option<String>,
}

fn parse_batch_range(text: &str, default_batch: Option<BatchId>) -> Result<UnitRange> {
    let (batch, r) = match text.split_once(':') {
        Some((b, r)) => (BatchId::parse(b).map_err(anyhow::Error::msg)?, r),
        None => (
            default_batch.context("the shipment has several batches: write batch:first..last")?,
            text,
        ),
    };
    let (first, last) = parse_range(r)?;
    Ok(UnitRange { batch, first, last })
}

/// `suyuan receive`
pub async fn receive(a: ReceiveArgs) -> Result<()> {
    let ks = load(&a.signer.keystore)?;
    let c = client(&a.signer.server);
    let shipment = BatchId::parse(&a.shipment)
        .map_err(anyhow::Error::msg)
        .context("--shipment")?;
    let view = c.shipment(&shipment).await?;
    if view.statement.event_type != EventType::Shipping {
        bail!(
            "{shipment} is a {} event, not a shipment (accept a return with `suyuan return --accept`)",
            view.statement.event_type.as_str()
        );
    }
    let pending: Vec<UnitRange> = view.in_transit.iter().map(|h| h.range).collect();
    if pending.is_empty() {
        bail!("nothing of shipment {shipment} is still in transit");
    }
    let single = {
        let b = suyuan::domain::custody::batches_of(&pending);
        (b.len() == 1).then(|| b[0])
    };
    let ranges = |flag: &str, list: &[String]| -> Result<Vec<UnitRange>> {
        list.iter()
            .map(|s| parse_batch_range(s, single).with_context(|| format!("--{flag} {s}")))
            .collect()
    };
    let short = ranges("short", &a.short)?;
    let damaged = ranges("damaged", &a.damaged)?;
    let mut containers = Vec::new();
    for sscc in &view.statement.containers {
        let packed = c
            .packed(sscc)
            .await
            .with_context(|| format!("container {sscc} of the shipment"))?;
        containers.push(packed);
    }
    let r = receipt::plan(&pending, &containers, &short, &damaged, &a.over)?;
    let mut ev = draft_event(&ks, EventType::Receiving, r.objects);
    ev.containers = r.containers;
    ev.shipment = Some(shipment);
    ev.exceptions = r.exceptions;
    ev.place = a.place;
    print(&c.submit_event(&ks, ev).await?);
    Ok(())
}

/// `suyuan pack` / `suyuan unpack`
#[derive(Debug, Args)]
pub struct PackArgs {
    #[command(flatten)]
    pub units: UnitsArgs,
    /// The case or pallet (SSCC) to fill, or to empty with `unpack`.
    #[arg(long)]
    pub into: String,
}

/// `suyuan pack`: put units (`--range`, `--unit`) and containers (`--sscc`) into `--into`.
pub async fn pack(a: PackArgs) -> Result<()> {
    let parent = parse_sscc(&a.into).context("--into")?;
    submit_units(&a.units, EventType::Packing, |ev| ev.parent = Some(parent)).await
}

/// `suyuan unpack`: empty the container `--into`.
pub async fn unpack(a: PackArgs) -> Result<()> {
    let parent = parse_sscc(&a.into).context("--into")?;
    submit_units(&a.units, EventType::Unpacking, |ev| {
        ev.parent = Some(parent)
    })
    .await
}

/// `suyuan sell`
pub async fn sell(a: UnitsArgs) -> Result<()> {
    submit_units(&a, EventType::RetailSelling, |_| {}).await
}

/// `suyuan return`
#[derive(Debug, Args)]
pub struct ReturnArgs {
    #[command(flatten)]
    pub units: UnitsArgs,
    /// Send the units back upstream to this party (otherwise: a consumer return at the counter).
    #[arg(long, conflicts_with = "accept")]
    pub to: Option<String>,
    /// Accept a return instead: restock, quarantine or destroy.
    #[arg(long, value_name = "RESOLUTION")]
    pub accept: Option<String>,
    /// With --accept: the returning event that sent the units here.
    #[arg(long, requires = "accept")]
    pub shipment: Option<String>,
    /// Why.
    #[arg(long)]
    pub reason: Option<String>,
}

/// `suyuan return`
pub async fn returning(a: ReturnArgs) -> Result<()> {
    let to =
        a.to.as_deref()
            .map(Slug::parse)
            .transpose()
            .map_err(anyhow::Error::msg)
            .context("--to")?;
    let resolution = match a.accept.as_deref() {
        None => None,
        Some("restock") => Some(Resolution::Restock),
        Some("quarantine") => Some(Resolution::Quarantine),
        Some("destroy") => Some(Resolution::Destroy),
        Some(other) => bail!("--accept \"{other}\" must be restock, quarantine or destroy"),
    };
    let shipment = a
        .shipment
        .as_deref()
        .map(BatchId::parse)
        .transpose()
        .map_err(anyhow::Error::msg)
        .context("--shipment")?;
    let event_type = if resolution.is_some() {
        EventType::AcceptingReturn
    } else {
        EventType::Returning
    };
    submit_units(&a.units, event_type, |ev| {
        ev.to = to;
        ev.resolution = resolution;
        ev.shipment = shipment;
        ev.reason = a.reason;
    })
    .await
}

/// `suyuan recall`
#[derive(Debug, Args)]
pub struct RecallArgs {
    #[command(flatten)]
    pub units: UnitsArgs,
    /// Why the product is recalled.
    #[arg(long)]
    pub reason: String,
    /// What holders and consumers should do.
    #[arg(long)]
    pub instructions: String,
}

/// `suyuan recall`
pub async fn recall(a: RecallArgs) -> Result<()> {
    submit_units(&a.units, EventType::Recalling, |ev| {
        ev.reason = Some(a.reason);
        ev.instructions = Some(a.instructions);
    })
    .await
}

/// `suyuan inspect`
#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub units: UnitsArgs,
    /// The result: pass, fail, conditional, or free text.
    #[arg(long)]
    pub result: String,
    /// How it was inspected: method or standard (for example "GB 4789.4-2016").
    #[arg(long)]
    pub method: String,
    /// The certificate document; its SHA-256 is signed, the file itself stays with you.
    #[arg(long)]
    pub certificate: PathBuf,
}

/// `suyuan inspect`
pub async fn inspect(a: InspectArgs) -> Result<()> {
    use sha2::{Digest, Sha256};
    let doc = std::fs::read(&a.certificate)
        .with_context(|| format!("--certificate {}", a.certificate.display()))?;
    let sha = hex::encode(Sha256::digest(&doc));
    submit_units(&a.units, EventType::Inspecting, |ev| {
        ev.result = Some(a.result);
        ev.method = Some(a.method);
        ev.certificate_sha256 = Some(sha);
    })
    .await
}

/// `suyuan trace`
#[derive(Debug, Args)]
pub struct TraceArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Upstream: a scanned code (label URL, (01)…(10)…(21)… or raw element string);
    /// prints the unit's state and history and its batch record (inputs, process steps).
    #[arg(
        long,
        required_unless_present = "material_lot",
        conflicts_with = "material_lot"
    )]
    pub unit: Option<String>,
    /// Downstream: a raw-material supplier lot; prints every batch that used it and
    /// where their units are (operator, inspector or factory token).
    #[arg(long)]
    pub material_lot: Option<String>,
    /// With --material-lot: only inputs from this supplier.
    #[arg(long, requires = "material_lot")]
    pub supplier: Option<String>,
}

/// `suyuan trace`
pub async fn trace(a: TraceArgs) -> Result<()> {
    let c = client(&a.server);
    if let Some(lot) = &a.material_lot {
        let enc = |t: &str| {
            percent_encoding::utf8_percent_encode(t, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let mut path = format!("/api/v1/trace?material_lot={}", enc(lot));
        if let Some(s) = &a.supplier {
            path.push_str(&format!("&supplier={}", enc(s)));
        }
        print(
            &c.get(&path)
                .await
                .with_context(|| format!("--material-lot {lot}"))?,
        );
        return Ok(());
    }
    let code = a.unit.as_deref().unwrap_or_default();
    let unit = c
        .resolve(code)
        .await
        .with_context(|| format!("--unit {code}"))?;
    let mut view = c
        .get(&format!("/api/v1/units/{}/{}", unit.batch, unit.first))
        .await?;
    // Upstream: the signed batch record carries the raw-material inputs and process steps.
    let batch = c.get(&format!("/api/v1/batches/{}", unit.batch)).await?;
    view["batch_record"] = batch["statement"].clone();
    print(&view);
    Ok(())
}
