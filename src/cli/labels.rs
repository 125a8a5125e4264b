//! `suyuan labels render|print|samples`: signed QR labels for the factory line
//! and the warehouse. Batch data comes from the server; signing is local.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{parse_range, ServerArgs};
use suyuan::client::keystore::Keystore;
use suyuan::client::{Client, ClientError};
use suyuan::label::font::Font;
use suyuan::label::job::{self, AtomicFile, Rendered, Renderer};
use suyuan::label::pdf::{PdfWriter, Sheet};
use suyuan::label::print::{Connection, Printer};
use suyuan::label::{
    archive, samples, zpl, BatchInfo, Ecc, Format, LabelSize, Signer, Spec, Subject,
};

/// `suyuan labels …`
#[derive(Debug, Subcommand)]
pub enum LabelsCommand {
    /// Render signed labels to PNG/SVG files, a PDF of A4 sheets, or a ZPL file.
    Render(RenderArgs),
    /// Stream signed ZPL labels to a printer (tcp://HOST:9100 or lp:QUEUE).
    Print(PrintArgs),
    /// Regenerate sample-labels/ from the demo's fixed factory key.
    Samples {
        /// Directory to write.
        #[arg(long, default_value = "sample-labels")]
        out: PathBuf,
        /// Font the samples are drawn with.
        #[arg(long, default_value = samples::FONT)]
        font: PathBuf,
    },
}

/// What to label and how big: shared by render and print.
#[derive(Debug, Args)]
pub struct WhatArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Keystore of the factory (root or mint key) that signs the labels.
    #[arg(long, env = "SUYUAN_KEYSTORE")]
    keystore: PathBuf,
    /// Batch id: one label per unit.
    #[arg(long, required_unless_present = "sscc", conflicts_with = "sscc")]
    batch: Option<String>,
    /// First SSCC (17 digits, or 18 with check digit): one label per case/pallet, counting up.
    #[arg(long)]
    sscc: Option<String>,
    /// Contents line printed on SSCC labels.
    #[arg(long, requires = "sscc")]
    contents: Option<String>,
    /// Unit indexes (or SSCC offsets), first..last inclusive; default the whole batch (SSCC: 0).
    #[arg(long)]
    range: Option<String>,
    /// Label size, WIDTHxHEIGHTmm.
    #[arg(long, default_value = "50x30mm")]
    size: String,
    /// Printer resolution: 203, 300 or 600.
    #[arg(long, default_value_t = 300)]
    dpi: u32,
    /// QR error correction: L, M, Q or H.
    #[arg(long, default_value = "M")]
    ecc: String,
    /// Resolver base URL printed in the code; default the --server URL.
    #[arg(long, env = "SUYUAN_BASE_URL")]
    base_url: Option<String>,
    /// Font file for the text (CJK); default a system CJK font if one is installed.
    #[arg(long)]
    font: Option<PathBuf>,
}

/// `suyuan labels render`
#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    what: WhatArgs,
    /// png, svg, pdf or zpl.
    #[arg(long)]
    format: String,
    /// Directory (png, svg), file (pdf, zpl), or a .zip file of PNGs or SVGs.
    #[arg(long)]
    out: PathBuf,
    /// Write the PNG or SVG files into one zip at --out (implied by a .zip --out).
    #[arg(long)]
    zip: bool,
    /// ZPL QR: bq (printer-native ^BQ) or gfa (whole label as a ^GFA bitmap).
    #[arg(long, default_value = "bq")]
    zpl_mode: String,
    /// PDF grid on A4, COLSxROWS; default as many as fit.
    #[arg(long)]
    grid: Option<String>,
}

/// `suyuan labels print`
#[derive(Debug, Args)]
pub struct PrintArgs {
    #[command(flatten)]
    what: WhatArgs,
    /// tcp://HOST:9100 (raw TCP) or lp:QUEUE (CUPS, raw).
    #[arg(long)]
    printer: String,
    /// ZPL QR: bq (printer-native ^BQ) or gfa (whole label as a ^GFA bitmap).
    #[arg(long, default_value = "bq")]
    zpl_mode: String,
    /// Seconds to wait for the printer to accept a connection or data.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

/// `suyuan labels …`
pub async fn labels(c: LabelsCommand) -> Result<()> {
    match c {
        LabelsCommand::Render(a) => render(a).await,
        LabelsCommand::Print(a) => print(a).await,
        LabelsCommand::Samples { out, font } => {
            let made = tokio::task::spawn_blocking(move || {
                samples::write_all(&out, &font).map(|s| (s, out))
            })
            .await
            .context("sample rendering stopped")??;
            for s in &made.0 {
                println!(
                    "{}\t{} label(s)",
                    made.1.join(&s.name).display(),
                    s.urls.len()
                );
            }
            Ok(())
        }
    }
}

/// A prepared run: renderer plus the range.
struct Prepared {
    renderer: Renderer,
    first: u64,
    last: u64,
}

async fn prepare(w: WhatArgs, format: Format, zpl_mode: zpl::Mode) -> Result<Prepared> {
    let spec = Spec::new(LabelSize::parse(&w.size)?, w.dpi, Ecc::parse(&w.ecc)?)?;
    let ks = Keystore::load(&w.keystore).map_err(anyhow::Error::new)?;
    let client = Client::new(&w.server.server, w.server.token.clone());
    let (subject, party, default_range) = match (&w.batch, &w.sscc) {
        (Some(id), _) => {
            let v = client
                .get(&format!("/api/v1/batches/{id}"))
                .await
                .map_err(|e| match e {
                    ClientError::Api { status: 404, .. } => {
                        anyhow::anyhow!("unknown batch {id}: {} has no such batch", w.server.server)
                    }
                    ClientError::Api {
                        status: 400,
                        message,
                        ..
                    } => {
                        anyhow::anyhow!("batch id {id:?} is malformed: {message}")
                    }
                    other => anyhow::Error::new(other).context(format!("reading batch {id}")),
                })?;
            let b = BatchInfo::from_api(&v)?;
            let party = b.party.clone();
            let all = (0, b.quantity.saturating_sub(1));
            if b.quantity == 0 {
                bail!("batch {id} has no units to label");
            }
            (Subject::Units(b), party, all)
        }
        (None, Some(sscc)) => (
            Subject::containers(sscc, w.contents.clone())?,
            ks.party.to_string(),
            (0, 0),
        ),
        (None, None) => bail!("give --batch ID or --sscc FIRST"),
    };
    check_key(&client, &ks, &party).await?;
    let (first, last) = match &w.range {
        Some(r) => parse_range(r)?,
        None => default_range,
    };
    let (font, warning) = match format {
        // SVG names a font family and embeds none; no file needed.
        Format::Svg => (Font::Builtin, None),
        _ => Font::find(w.font.as_deref())?,
    };
    if let Some(warning) = warning {
        eprintln!("warning: {warning}");
    }
    let base = w
        .base_url
        .clone()
        .unwrap_or_else(|| w.server.server.clone());
    let signer = Signer::new(ks.key.clone(), &base);
    let renderer = Renderer::new(subject, signer, spec, format, zpl_mode, font, first, last)?;
    for warning in renderer.warnings() {
        eprintln!("warning: {warning}");
    }
    Ok(Prepared {
        renderer,
        first,
        last,
    })
}

// Labels signed by a key the server does not know for the party scan as
// counterfeit, so refuse before printing a single one.
async fn check_key(client: &Client, ks: &Keystore, party: &str) -> Result<()> {
    if ks.party.as_str() != party {
        bail!(
            "the keystore belongs to {}, but the labels are {party}'s: sign with a {party} root or mint keystore",
            ks.party
        );
    }
    let v = client
        .get(&format!("/api/v1/parties/{party}"))
        .await
        .with_context(|| format!("reading the keys of {party}"))?;
    let ours = ks.public_key();
    let known = v["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|k| k["public_key"].as_str() == Some(ours.as_str()));
    match known {
        None => bail!(
            "key {} in the keystore is not registered for {party} on the server; labels signed with it would scan as counterfeit",
            ks.key_id
        ),
        Some(k) if !k["revoked"].is_null() => {
            bail!("key {} of {party} was revoked at {}", ks.key_id, k["revoked"])
        }
        Some(k) if !matches!(k["role"].as_str(), Some("root" | "mint")) => bail!(
            "key {} of {party} has role {}; labels need a root or mint key",
            ks.key_id,
            k["role"].as_str().unwrap_or("?")
        ),
        Some(_) => Ok(()),
    }
}

fn progress(n: u64) -> ProgressBar {
    let bar = ProgressBar::new(n);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} labels {per_sec} eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

fn parse_grid(s: &str) -> Result<(u32, u32)> {
    let (c, r) = s
        .split_once(['x', 'X'])
        .with_context(|| format!("grid {s:?}: expected COLSxROWS, e.g. 3x8"))?;
    Ok((
        c.trim()
            .parse()
            .with_context(|| format!("grid {s:?}: columns"))?,
        r.trim()
            .parse()
            .with_context(|| format!("grid {s:?}: rows"))?,
    ))
}

async fn render(a: RenderArgs) -> Result<()> {
    let format = Format::parse(&a.format)?;
    let mode = zpl::Mode::parse(&a.zpl_mode)?;
    let spec = Spec::new(LabelSize::parse(&a.what.size)?, a.what.dpi, Ecc::M)?;
    let grid = a.grid.as_deref().map(parse_grid).transpose()?;
    let zip = a.zip
        || a.out
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("zip"));
    if zip && !matches!(format, Format::Png | Format::Svg) {
        bail!(
            "--zip (or a .zip --out) holds one PNG or SVG per label; write {} to a plain file instead",
            format.ext()
        );
    }
    let sheet = if format == Format::Pdf {
        Some(Sheet::a4(&spec, grid)?)
    } else {
        None
    };
    let p = prepare(a.what, format, mode).await?;
    let out = a.out;
    let (first, last) = (p.first, p.last);
    let summary = out.display().to_string();
    tokio::task::spawn_blocking(move || write_run(&p, format, sheet, zip, &out))
        .await
        .context("rendering stopped")??;
    eprintln!(
        "wrote labels {first}..{last} ({} labels) to {summary}",
        last - first + 1
    );
    Ok(())
}

fn write_run(
    p: &Prepared,
    format: Format,
    sheet: Option<Sheet>,
    zip: bool,
    out: &Path,
) -> Result<()> {
    let bar = progress(p.last - p.first + 1);
    let tick = |n| bar.inc(n);
    match format {
        Format::Png | Format::Svg if zip => {
            archive::render_zip(&p.renderer, p.first, p.last, out, tick)?;
        }
        Format::Png | Format::Svg => {
            std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
            // Each worker writes the files it rendered: one file per label needs no order.
            job::run_unordered(
                &p.renderer,
                p.first,
                p.last,
                |_, r| match r {
                    Rendered::File { name, bytes } => job::write_file(out, &name, &bytes),
                    _ => Ok(()),
                },
                tick,
            )?;
        }
        Format::Zpl => {
            let mut f = AtomicFile::create(out)?;
            f.write_all(p.renderer.zpl_header().as_bytes())
                .with_context(|| format!("writing {}", out.display()))?;
            job::run(
                &p.renderer,
                p.first,
                p.last,
                |_, r| match r {
                    Rendered::Stream(b) => f
                        .write_all(&b)
                        .map_err(|e| suyuan::label::LabelError::io(out.display(), e)),
                    _ => Ok(()),
                },
                tick,
            )?;
            f.commit()?;
        }
        Format::Pdf => {
            let sheet = sheet.context("no sheet for the PDF")?;
            let f = AtomicFile::create(out)?;
            let mut pdf = PdfWriter::new(
                f,
                sheet,
                p.renderer.layout().clone(),
                p.renderer.fixed_text(),
            )?;
            job::run(
                &p.renderer,
                p.first,
                p.last,
                |_, r| match r {
                    Rendered::Pdf(l) => pdf.add(l),
                    _ => Ok(()),
                },
                tick,
            )?;
            pdf.finish()?.commit()?;
        }
    }
    bar.finish_and_clear();
    Ok(())
}

async fn print(a: PrintArgs) -> Result<()> {
    let printer = Printer::parse(&a.printer)?;
    let mode = zpl::Mode::parse(&a.zpl_mode)?;
    let timeout = Duration::from_secs(a.timeout.max(1));
    let p = prepare(a.what, Format::Zpl, mode).await?;
    let sent = tokio::task::spawn_blocking(move || -> Result<u64> {
        let mut conn = Connection::open(&printer, timeout, p.first, p.last)?;
        conn.send_header(p.renderer.zpl_header().as_bytes())?;
        let bar = progress(p.last - p.first + 1);
        job::run(
            &p.renderer,
            p.first,
            p.last,
            |_, r| match r {
                Rendered::Stream(b) => conn.send_label(&b),
                _ => Ok(()),
            },
            |n| bar.inc(n),
        )?;
        bar.finish_and_clear();
        Ok(conn.finish()?)
    })
    .await
    .context("printing stopped")??;
    eprintln!("sent {sent} labels");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_parse() {
        assert_eq!(parse_grid("3x8").unwrap(), (3, 8));
        assert!(parse_grid("3").is_err());
    }
}
