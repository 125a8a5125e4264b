//! The files in `sample-labels/`: made from the demo's fixed factory key so
//! anyone can regenerate them byte for byte and check them.
//!
//! Regenerate with `cargo run -- labels samples --out sample-labels`.

use std::io::Write;
use std::path::Path;

use super::content::{BatchInfo, Signer, Subject};
use super::font::Font;
use super::job::{self, AtomicFile, Rendered, Renderer};
use super::layout::{Ecc, LabelSize, Spec};
use super::pdf::{PdfWriter, Sheet};
use super::{zpl, Format, LabelError};
use crate::app::demo::{demo_gtin, demo_key, LOT};
use crate::formats::gs1::{Gtin, Lot};

/// Resolver base of the sample URLs.
pub const BASE: &str = "https://id.suyuan.example";
/// The font the committed samples were drawn with (Debian `fonts-wqy-microhei`).
pub const FONT: &str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc";
/// The demo factory whose key signs the samples.
pub const FACTORY: &str = "hengshan-dairy";
/// First SSCC of the sample pallet label (17 digits; check digit added).
pub const SSCC: &str = "30690123450000001";

/// One sample file: its name, and the URLs a decoder must read from it, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// File name inside the samples directory.
    pub name: String,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// URLs encoded, one per label.
    pub urls: Vec<String>,
    /// Whether the bytes depend on the font (PNG, PDF, ZPL graphics).
    pub uses_font: bool,
}

/// The demo's main batch, as the label printer sees it.
pub fn demo_batch() -> Result<BatchInfo, LabelError> {
    Ok(BatchInfo {
        id: "demo".into(),
        party: FACTORY.into(),
        gtin: Gtin::parse(&demo_gtin())?,
        // Same product name as the demo batch record in src/demo.rs.
        product: "婴儿配方奶粉 1段 900g / Infant formula stage 1, 900 g".into(),
        lot: Lot::parse(LOT)?,
        quantity: 1000,
        expires: Some("2028-10-14".into()),
        serial_prefix: None,
    })
}

fn signer() -> Signer {
    Signer::new(demo_key(FACTORY), BASE)
}

fn renderer(
    subject: Subject,
    size: LabelSize,
    dpi: u32,
    format: Format,
    mode: zpl::Mode,
    font: &Path,
    range: (u64, u64),
) -> Result<Renderer, LabelError> {
    Renderer::new(
        subject,
        signer(),
        Spec::new(size, dpi, Ecc::M)?,
        format,
        mode,
        Font::load(font)?,
        range.0,
        range.1,
    )
}

// All labels of a run, concatenated (ZPL) or the single file (PNG, SVG).
fn bytes_of(r: &Renderer, first: u64, last: u64) -> Result<Vec<u8>, LabelError> {
    let mut out = r.zpl_header().into_bytes();
    job::run(
        r,
        first,
        last,
        |_, rendered| {
            match rendered {
                Rendered::File { bytes, .. } | Rendered::Stream(bytes) => out.extend(bytes),
                Rendered::Pdf(_) => {}
            }
            Ok(())
        },
        |_| {},
    )?;
    Ok(out)
}

fn urls(r: &Renderer, first: u64, last: u64) -> Result<Vec<String>, LabelError> {
    (first..=last).map(|i| Ok(r.content(i)?.url)).collect()
}

/// Makes every sample, drawing text with the font at `font`.
pub fn make(font: &Path) -> Result<Vec<Sample>, LabelError> {
    let units = || -> Result<Subject, LabelError> { Ok(Subject::Units(demo_batch()?)) };
    let small = LabelSize::mm(50, 30);
    let mut out = Vec::new();
    let mut one = |name: &str,
                   r: Renderer,
                   first: u64,
                   last: u64,
                   uses_font: bool|
     -> Result<(), LabelError> {
        out.push(Sample {
            name: name.into(),
            bytes: bytes_of(&r, first, last)?,
            urls: urls(&r, first, last)?,
            uses_font,
        });
        Ok(())
    };
    let native = zpl::Mode::Native;
    for dpi in [203, 300] {
        let r = renderer(
            units()?,
            small.clone(),
            dpi,
            Format::Png,
            native,
            font,
            (0, 0),
        )?;
        one(&format!("unit-50x30mm-{dpi}dpi.png"), r, 0, 0, true)?;
    }
    let r = renderer(
        units()?,
        small.clone(),
        300,
        Format::Svg,
        native,
        font,
        (1, 1),
    )?;
    one("unit-50x30mm.svg", r, 1, 1, false)?;
    let r = renderer(
        units()?,
        small.clone(),
        203,
        Format::Zpl,
        native,
        font,
        (0, 2),
    )?;
    one("units-50x30mm-203dpi-bq.zpl", r, 0, 2, true)?;
    let r = renderer(
        units()?,
        small.clone(),
        203,
        Format::Zpl,
        zpl::Mode::Graphic,
        font,
        (0, 0),
    )?;
    one("unit-50x30mm-203dpi-gfa.zpl", r, 0, 0, true)?;
    let pallet = || {
        Subject::containers(
            SSCC,
            Some("48 × 婴儿配方奶粉 1段 900g / infant formula, lot L20261015A".into()),
        )
    };
    let r = renderer(
        pallet()?,
        LabelSize::mm(100, 150),
        203,
        Format::Png,
        native,
        font,
        (0, 0),
    )?;
    one("sscc-pallet-100x150mm-203dpi.png", r, 0, 0, true)?;
    let r = renderer(
        pallet()?,
        LabelSize::mm(100, 150),
        203,
        Format::Zpl,
        native,
        font,
        (0, 0),
    )?;
    one("sscc-pallet-100x150mm-203dpi-bq.zpl", r, 0, 0, true)?;
    // One A4 sheet of 3 × 8 labels.
    let r = renderer(
        units()?,
        small.clone(),
        300,
        Format::Pdf,
        native,
        font,
        (0, 23),
    )?;
    let spec = Spec::new(small, 300, Ecc::M)?;
    let mut pdf = PdfWriter::new(
        Vec::new(),
        Sheet::a4(&spec, None)?,
        r.layout().clone(),
        r.fixed_text(),
    )?;
    job::run(
        &r,
        0,
        23,
        |_, rendered| match rendered {
            Rendered::Pdf(l) => pdf.add(l),
            _ => Ok(()),
        },
        |_| {},
    )?;
    out.push(Sample {
        name: "units-a4-sheet-50x30mm-300dpi.pdf".into(),
        bytes: pdf.finish()?,
        urls: urls(&r, 0, 23)?,
        uses_font: true,
    });
    Ok(out)
}

/// `expected.txt`: one `file<TAB>url` line per label a decoder should read.
pub fn expected(samples: &[Sample]) -> String {
    let mut s =
        String::from("# file\turl  (one line per QR code; made by `suyuan labels samples`)\n");
    for smp in samples {
        for u in &smp.urls {
            s.push_str(&format!("{}\t{u}\n", smp.name));
        }
    }
    s
}

/// The demo factory's public key, base64url, as in `demo-factory.pub`.
pub fn public_key() -> String {
    crate::formats::sign::b64(demo_key(FACTORY).verifying_key().as_bytes())
}

/// Writes every sample plus `expected.txt` and `demo-factory.pub` into `dir`.
pub fn write_all(dir: &Path, font: &Path) -> Result<Vec<Sample>, LabelError> {
    std::fs::create_dir_all(dir).map_err(|e| LabelError::io(dir.display(), e))?;
    let samples = make(font)?;
    let mut files: Vec<(String, Vec<u8>)> = samples
        .iter()
        .map(|s| (s.name.clone(), s.bytes.clone()))
        .collect();
    files.push(("expected.txt".into(), expected(&samples).into_bytes()));
    files.push((
        "demo-factory.pub".into(),
        format!("{}\n", public_key()).into_bytes(),
    ));
    for (name, bytes) in files {
        let path = dir.join(&name);
        let mut f = AtomicFile::create(&path)?;
        f.write_all(&bytes)
            .map_err(|e| LabelError::io(path.display(), e))?;
        f.commit()?;
    }
    Ok(samples)
}
