//! `suyuan dock-user` and `suyuan key approve` (issue 6): clients of the dock's admin API.

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::json;
use std::io::BufRead;

use super::{ServerArgs, SignerArgs};
use suyuan::client::keystore::Keystore;
use suyuan::client::Client;
use suyuan::domain::party::Role;
use suyuan::domain::statement::{KeyAction, KeyStatement, VERSION};
use suyuan::domain::time::Timestamp;
use suyuan::formats::sign::{self, Kind};

/// `suyuan dock-user …`
#[derive(Debug, Subcommand)]
pub enum DockUserCommand {
    /// Add a dock user; the password is read from the first line of standard input.
    Add {
        #[command(flatten)]
        server: ServerArgs,
        /// The party (slug).
        #[arg(long)]
        party: String,
        /// Sign-in name.
        #[arg(long)]
        name: String,
    },
}

/// `suyuan dock-user …`
pub async fn dock_user(c: DockUserCommand) -> Result<()> {
    match c {
        DockUserCommand::Add {
            server,
            party,
            name,
        } => {
            // Standard input, not an argument: arguments show in `ps` and shell history.
            eprintln!("password for {name} at {party} (one line on standard input):");
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .context("cannot read the password from standard input")?;
            let password = password.trim_end_matches(['\r', '\n']);
            if password.is_empty() {
                bail!("no password on standard input");
            }
            let body = json!({"party": party, "name": name, "password": password});
            let v = Client::new(&server.server, server.token.clone())
                .post("/api/v1/dock/users", body.to_string())
                .await?;
            println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
        }
    }
    Ok(())
}

/// `suyuan key approve`: certify a pending dock station for the dock role with the root keystore.
pub async fn approve(signer: SignerArgs, pending: i64, days: i64) -> Result<()> {
    let root = Keystore::load(&signer.keystore).map_err(anyhow::Error::new)?;
    let c = Client::new(&signer.server.server, signer.server.token.clone());
    let v = c.get(&format!("/api/v1/dock/stations/{pending}")).await?;
    let st = &v["station"];
    let party = st["party"].as_str().unwrap_or_default();
    if party != root.party.as_str() {
        bail!(
            "pending station {pending} belongs to \"{party}\", the keystore to \"{}\"",
            root.party
        );
    }
    let subject = st["public_key"]
        .as_str()
        .context("the server's answer has no public_key")?;
    // Re-derive the key id here rather than trust the server's: it is what we sign for.
    let key = sign::parse_public_key(subject).context("pending station's public key")?;
    eprintln!(
        "certifying station {pending} of {party} (key {}, \"{}\", enrolled by {}) for the dock role",
        sign::key_id(&key),
        st["label"].as_str().unwrap_or_default(),
        st["requested_by"].as_str().unwrap_or_default(),
    );
    let now = Timestamp::now();
    let stmt = KeyStatement {
        v: VERSION,
        party: root.party.clone(),
        key: root.key_id.clone(),
        time: now,
        action: KeyAction::Certify,
        subject: subject.to_owned(),
        role: Some(Role::Dock),
        not_before: Some(now),
        not_after: Some(Timestamp::from_unix(now.unix() + days * 86_400)),
        reason: None,
    };
    let (signed, _) = sign::sign(Kind::Key, &stmt, &root.key)?;
    let v = c.submit(Kind::Key, &signed).await?;
    println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
    Ok(())
}
