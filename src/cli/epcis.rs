//! `suyuan export --epcis --batch ID --out FILE`: the batch's EPCIS 2.0 JSON-LD document (issue 7).

use anyhow::{bail, Context, Result};

use super::audit::ExportArgs;
use suyuan::client::Client;
use suyuan::domain::statement::BatchId;

/// Fetches `/api/v1/epcis/events?batch=ID` and writes it to `--out`.
pub async fn export(args: &ExportArgs) -> Result<()> {
    let batch = BatchId::parse(&args.batch).map_err(anyhow::Error::msg)?;
    let client = Client::new(&args.server, args.token.clone());
    let doc = client
        .get(&format!("/api/v1/epcis/events?batch={batch}"))
        .await
        .with_context(|| format!("EPCIS export of batch {batch}"))?;
    if doc.get("type").and_then(|t| t.as_str()) != Some("EPCISDocument") {
        bail!("the server did not answer with an EPCISDocument");
    }
    let events = doc
        .pointer("/epcisBody/eventList")
        .and_then(|l| l.as_array())
        .map_or(0, Vec::len);
    let text = serde_json::to_string_pretty(&doc)?;
    std::fs::write(&args.out, text + "\n")
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    println!(
        "wrote {} (EPCIS 2.0, {events} events for batch {batch})",
        args.out.display()
    );
    Ok(())
}
