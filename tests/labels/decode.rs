//! Decoding helpers: bitmaps of every kind into QR payloads with rqrr, and
//! the check every decoded URL must pass.

use std::path::Path;
use std::process::Command;

use suyuan::app::demo::demo_key;
use suyuan::formats::gs1;
use suyuan::formats::sign;
use suyuan::label::pdf::{Sheet, A4};
use suyuan::label::zpl;

/// All QR payloads rqrr finds in a greyscale image (0 = black).
pub fn qr_in_grey(w: usize, h: usize, grey: impl Fn(usize, usize) -> u8) -> Vec<String> {
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, grey);
    img.detect_grids()
        .iter()
        .filter_map(|g| g.decode().ok().map(|(_, s)| s))
        .collect()
}

/// Payloads in a PNG (any bit depth greyscale, as the encoder writes).
pub fn qr_in_png(bytes: &[u8]) -> Vec<String> {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::EXPAND);
    let mut reader = dec.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("PNG data");
    let (w, h) = (info.width as usize, info.height as usize);
    let bpp = info.line_size / w;
    qr_in_grey(w, h, |x, y| buf[y * info.line_size + x * bpp])
}

/// Payloads in an SVG, rasterised with resvg at one pixel per printer dot.
pub fn qr_in_svg(svg: &str, width_dots: u32, height_dots: u32) -> Vec<String> {
    let tree =
        resvg::usvg::Tree::from_str(svg, &resvg::usvg::Options::default()).expect("SVG parses");
    let mut pixmap = resvg::tiny_skia::Pixmap::new(width_dots, height_dots).expect("pixmap");
    let scale = width_dots as f32 / tree.size().width();
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    let data = pixmap.data();
    let w = width_dots as usize;
    // Transparent counts as white; otherwise take the red channel.
    qr_in_grey(w, height_dots as usize, |x, y| {
        let p = &data[(y * w + x) * 4..(y * w + x) * 4 + 4];
        if p[3] < 128 {
            255
        } else {
            p[0]
        }
    })
}

/// Payloads in every `^GFA` graphic of a ZPL stream, one list per label.
pub fn qr_in_zpl_graphics(zpl_text: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for label in zpl_text.split("^XZ").filter(|l| l.contains("^GFA")) {
        let pw: usize = field(label, "^PW").parse().expect("^PW");
        let gfa = label.split("^GFA,").nth(1).expect("^GFA");
        let gfa = gfa.split("^FS").next().expect("^FS");
        let mut parts = gfa.splitn(4, ',');
        let total: usize = parts.next().unwrap().parse().unwrap();
        let _: usize = parts.next().unwrap().parse().unwrap();
        let bpr: usize = parts.next().unwrap().parse().unwrap();
        let data = parts.next().unwrap();
        let rows = zpl::decompress(data, bpr, total).expect("graphic data decodes");
        let h = total / bpr;
        assert!(bpr * 8 >= pw);
        out.push(qr_in_grey(pw, h, |x, y| {
            if rows[y * bpr + x / 8] & (0x80 >> (x % 8)) != 0 {
                0
            } else {
                255
            }
        }));
    }
    out
}

/// The value after a ZPL command up to the end of its line or the next `^`.
pub fn field<'a>(label: &'a str, cmd: &str) -> &'a str {
    let at = label
        .find(cmd)
        .unwrap_or_else(|| panic!("{cmd} missing in {label}"));
    let rest = &label[at + cmd.len()..];
    let end = rest.find(['\n', '^']).unwrap_or(rest.len());
    &rest[..end]
}

/// Payloads in a PDF, rasterised by poppler's pdftoppm, each label cell of
/// `sheet` decoded on its own; None if pdftoppm is not installed.
pub fn qr_in_pdf(pdf: &Path, dpi: u32, sheet: &Sheet) -> Option<Vec<String>> {
    if Command::new("pdftoppm").arg("-v").output().is_err() {
        println!("skipping: pdftoppm not installed");
        return None;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let prefix = dir.path().join("page");
    let st = Command::new("pdftoppm")
        .args(["-r", &dpi.to_string(), "-gray"])
        .arg(pdf)
        .arg(&prefix)
        .status()
        .expect("run pdftoppm");
    assert!(st.success(), "pdftoppm failed");
    let mut pages: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    pages.sort();
    let mut out = Vec::new();
    for p in pages {
        let (w, h, px) = read_pgm(&std::fs::read(&p).unwrap());
        let scale = f64::from(dpi) / 72.0;
        for slot in 0..sheet.per_page() {
            // Cell in pixels from the top-left, with a little margin.
            let (x, y) = sheet.slot(slot);
            let x0 = ((x * scale) as usize).saturating_sub(4);
            let y0 = (((A4.1 - y) * scale) as usize).saturating_sub(4);
            let cw = ((sheet.label_w * scale) as usize + 8).min(w - x0);
            let ch = ((sheet.label_h * scale) as usize + 8).min(h - y0);
            out.extend(qr_in_grey(cw, ch, |cx, cy| px[(y0 + cy) * w + x0 + cx]));
        }
    }
    Some(out)
}

// Binary PGM (P5, maxval 255), as pdftoppm -gray writes.
fn read_pgm(b: &[u8]) -> (usize, usize, Vec<u8>) {
    let mut fields = Vec::new();
    let mut i = 0;
    while fields.len() < 4 {
        while b[i].is_ascii_whitespace() {
            i += 1;
        }
        if b[i] == b'#' {
            while b[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        while !b[i].is_ascii_whitespace() {
            i += 1;
        }
        fields.push(String::from_utf8_lossy(&b[start..i]).into_owned());
    }
    assert_eq!(fields[0], "P5");
    let (w, h): (usize, usize) = (fields[1].parse().unwrap(), fields[2].parse().unwrap());
    (w, h, b[i + 1..i + 1 + w * h].to_vec())
}

/// Asserts a decoded URL is the expected one and its signature verifies
/// with the demo factory key.
pub fn assert_verifies(decoded: &str, expected: &str) {
    assert_eq!(decoded, expected);
    let scanned = gs1::parse_scan(decoded).expect("decoded URL parses");
    let sig = scanned.sig.expect("URL carries ?s=");
    sign::verify_label(
        &scanned.key.canonical_path(),
        &sig,
        &demo_key("hengshan-dairy").verifying_key(),
    )
    .expect("label signature verifies with the demo factory key");
}
