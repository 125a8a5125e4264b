//! Label rendering throughput, side by side with `zint --batch` on the same
//! payloads in the same run (`cargo bench --bench labels`).
//!
//! Ours: sign + QR + layout + text + encode + write one file per label (PNG,
//! SVG) or one ZPL stream (native `^BQ`), on all cores. zint: the same URLs,
//! pre-signed, one file per symbol, QR only (no text), one process, timed
//! right after ours in each format.
//! Also prints the PNG and SVG rates into one zip, peak RSS after 10,000
//! and after 1,000,000 ZPL labels, and how fast the scratch directory takes
//! new files at all (`TMPDIR`, else /tmp): ext4 passes over inodes freed in
//! the last minutes when it allocates one, so after other jobs deleted many
//! files each new file can cost ~1 ms, for ours and zint alike.
//!
//! Last line: `labels/s png=… svg=… zpl=… zint_png=… zint_svg=…`.

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use suyuan::app::demo::{demo_gtin, demo_key, LOT};
use suyuan::formats::gs1::{Gtin, Lot};
use suyuan::label::font::Font;
use suyuan::label::job::{self, AtomicFile, Rendered, Renderer};
use suyuan::label::{archive, zpl, BatchInfo, Ecc, Format, LabelSize, Signer, Spec, Subject};

const N_IMG: u64 = 5_000;

fn renderer(format: Format, last: u64) -> Renderer {
    let batch = BatchInfo {
        id: "bench".into(),
        party: "hengshan-dairy".into(),
        gtin: Gtin::parse(&demo_gtin()).expect("gtin"),
        product: "婴儿配方奶粉 1段 900g / Infant formula stage 1, 900 g".into(),
        lot: Lot::parse(LOT).expect("lot"),
        quantity: 1_000_000,
        expires: Some("2028-10-14".into()),
        serial_prefix: None,
    };
    let (font, warning) = Font::find(None).expect("font");
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    Renderer::new(
        Subject::Units(batch),
        Signer::new(demo_key("hengshan-dairy"), "https://id.suyuan.example"),
        Spec::new(LabelSize::mm(50, 30), 300, Ecc::M).expect("spec"),
        format,
        zpl::Mode::Native,
        font,
        0,
        last,
    )
    .expect("renderer")
}

fn files(format: Format, n: u64, dir: &std::path::Path) -> f64 {
    let r = renderer(format, n - 1);
    let t = Instant::now();
    job::run_unordered(
        &r,
        0,
        n - 1,
        |_, x| match x {
            Rendered::File { name, bytes } => job::write_file(dir, &name, &bytes),
            _ => Ok(()),
        },
        |_| {},
    )
    .expect("render");
    let rate = n as f64 / t.elapsed().as_secs_f64();
    let made = std::fs::read_dir(dir).expect("dir").count() as u64;
    assert_eq!(made, n, "wrote {made} of {n} files");
    rate
}

fn zipped(format: Format, n: u64, path: &std::path::Path) -> f64 {
    let r = renderer(format, n - 1);
    let t = Instant::now();
    let entries = archive::render_zip(&r, 0, n - 1, path, |_| {}).expect("zip");
    assert_eq!(entries, n);
    n as f64 / t.elapsed().as_secs_f64()
}

fn zpl_stream(n: u64, path: &std::path::Path) -> f64 {
    let r = renderer(Format::Zpl, n - 1);
    let t = Instant::now();
    let mut f = AtomicFile::create(path).expect("zpl file");
    f.write_all(r.zpl_header().as_bytes()).expect("write");
    job::run(
        &r,
        0,
        n - 1,
        |_, x| match x {
            Rendered::Stream(b) => f
                .write_all(&b)
                .map_err(|e| suyuan::label::LabelError::io("zpl", e)),
            _ => Ok(()),
        },
        |_| {},
    )
    .expect("render");
    f.commit().expect("commit");
    n as f64 / t.elapsed().as_secs_f64()
}

// Empty files created per second in `dir`: what one file per label costs
// before anything is rendered.
fn create_rate(dir: &std::path::Path, n: u64) -> f64 {
    let t = Instant::now();
    for i in 0..n {
        std::fs::write(dir.join(i.to_string()), b"").expect("probe file");
    }
    n as f64 / t.elapsed().as_secs_f64()
}

fn peak_rss_mb() -> f64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn zint(filetype: &str, payloads: &std::path::Path, dir: &std::path::Path, n: u64) -> Option<f64> {
    let t = Instant::now();
    let st = Command::new("zint")
        .args(["--batch", "-b", "58", "--secure=2", "--scale=5"])
        .arg(format!("--filetype={filetype}"))
        .arg(format!("--input={}", payloads.display()))
        .arg(format!(
            "--output={}/~~~~~.{}",
            dir.display(),
            filetype.to_lowercase()
        ))
        .output()
        .ok()?;
    let secs = t.elapsed().as_secs_f64();
    if !st.status.success() {
        eprintln!("zint failed: {}", String::from_utf8_lossy(&st.stderr));
        return None;
    }
    let made = std::fs::read_dir(dir).ok()?.count() as u64;
    assert_eq!(made, n, "zint wrote {made} of {n} files");
    Some(n as f64 / secs)
}

fn main() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = |name: &str| {
        let d = tmp.path().join(name);
        std::fs::create_dir_all(&d).expect("dir");
        d
    };
    // zint gets exactly the URLs our run encodes.
    let r = renderer(Format::Png, N_IMG - 1);
    let payloads = tmp.path().join("payloads.txt");
    let mut text = String::new();
    for i in 0..N_IMG {
        text.push_str(&r.content(i).expect("content").url);
        text.push('\n');
    }
    std::fs::write(&payloads, text).expect("payloads");

    let probe = create_rate(&dir("probe"), 2_000);
    println!(
        "scratch dir {}: {probe:.0} empty files/s",
        tmp.path().display()
    );
    // Each format right before zint's, so both meet the file system in
    // about the same state (it changes within minutes; see above).
    let png = files(Format::Png, N_IMG, &dir("png"));
    let zint_png = zint("PNG", &payloads, &dir("zint-png"), N_IMG);
    println!("png: {N_IMG} labels, {png:.0} labels/s");
    let svg = files(Format::Svg, N_IMG, &dir("svg"));
    let zint_svg = zint("SVG", &payloads, &dir("zint-svg"), N_IMG);
    println!("svg: {N_IMG} labels, {svg:.0} labels/s");
    let zip_png = zipped(Format::Png, N_IMG, &tmp.path().join("png.zip"));
    let zip_svg = zipped(Format::Svg, N_IMG, &tmp.path().join("svg.zip"));
    println!("into one zip: png {zip_png:.0} labels/s, svg {zip_svg:.0} labels/s");

    let zpl_10k = zpl_stream(10_000, &tmp.path().join("10k.zpl"));
    let rss_10k = peak_rss_mb();
    let zpl = zpl_stream(1_000_000, &tmp.path().join("1m.zpl"));
    let rss_1m = peak_rss_mb();
    println!("zpl: 10,000 labels {zpl_10k:.0} labels/s; 1,000,000 labels {zpl:.0} labels/s");
    println!("peak RSS after 10,000 ZPL labels {rss_10k:.1} MB, after 1,000,000 {rss_1m:.1} MB");

    let show = |v: Option<f64>| v.map_or("n/a".to_owned(), |v| format!("{v:.0}"));
    if let (Some(zp), Some(zs)) = (zint_png, zint_svg) {
        println!(
            "ratio vs zint: png {:.2}x (target 3x), svg {:.2}x (target 3x); zpl target 50000/s",
            png / zp,
            svg / zs
        );
    }
    println!(
        "labels/s png={png:.0} svg={svg:.0} zpl={zpl:.0} zint_png={} zint_svg={}",
        show(zint_png),
        show(zint_svg)
    );
}
