//! Zip output: labels rendered into one archive, read back with the `zip`
//! crate (an independent reader), every code decoded to its exact, verifying URL.

use std::io::Read;

use crate::decode::*;
use suyuan::app::demo::demo_key;
use suyuan::label::archive::{self, Entry, Method, ZipWriter};
use suyuan::label::font::Font;
use suyuan::label::job::Renderer;
use suyuan::label::samples::demo_batch;
use suyuan::label::{zpl, Ecc, Format, LabelSize, Signer, Spec, Subject};

fn renderer(format: Format, first: u64, last: u64) -> Renderer {
    let (font, _) = Font::find(None).unwrap();
    Renderer::new(
        Subject::Units(demo_batch().unwrap()),
        Signer::new(demo_key("hengshan-dairy"), "https://id.example.com"),
        Spec::new(LabelSize::mm(50, 30), 203, Ecc::M).unwrap(),
        format,
        zpl::Mode::Native,
        font,
        first,
        last,
    )
    .unwrap()
}

// Every entry of the archive at `path`: (name, method, bytes).
fn entries(path: &std::path::Path) -> Vec<(String, zip::CompressionMethod, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut b = Vec::new();
            f.read_to_end(&mut b).unwrap();
            (f.name().unwrap().into_owned(), f.compression(), b)
        })
        .collect()
}

#[test]
fn png_range_in_a_zip_decodes_to_every_url() {
    let (first, last) = (900, 999);
    let r = renderer(Format::Png, first, last);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("labels.zip");
    let done = std::sync::atomic::AtomicU64::new(0);
    let n = archive::render_zip(&r, first, last, &path, |k| {
        done.fetch_add(k, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    assert_eq!(n, last - first + 1);
    assert_eq!(done.into_inner(), n);
    // Only the finished archive is left: no .part, no spilled directory.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("labels.zip")]);
    let got = entries(&path);
    assert_eq!(got.len() as u64, n);
    for (k, (name, method, bytes)) in got.iter().enumerate() {
        let i = first + k as u64;
        let c = r.content(i).unwrap();
        assert!(name.ends_with(&format!("_{i}.png")), "{name}");
        assert_eq!(*method, zip::CompressionMethod::Stored);
        let found = qr_in_png(bytes);
        assert_eq!(found.len(), 1, "{name}: {found:?}");
        assert_verifies(&found[0], &c.url);
    }
}

#[test]
fn svg_zip_is_deflated_and_decodes() {
    let r = renderer(Format::Svg, 0, 4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("labels.zip");
    archive::render_zip(&r, 0, 4, &path, |_| {}).unwrap();
    let got = entries(&path);
    assert_eq!(got.len(), 5);
    let zipped = std::fs::metadata(&path).unwrap().len();
    let raw: usize = got.iter().map(|g| g.2.len()).sum();
    assert!(zipped < raw as u64, "{zipped} >= {raw}");
    for (i, (name, method, bytes)) in got.iter().enumerate() {
        assert!(name.ends_with(".svg"));
        assert_eq!(*method, zip::CompressionMethod::Deflated);
        let svg = std::str::from_utf8(bytes).unwrap();
        let found = qr_in_svg(svg, r.layout().width, r.layout().height);
        assert_eq!(found.len(), 1, "{name}");
        assert_verifies(&found[0], &r.content(i as u64).unwrap().url);
    }
}

#[test]
fn zip_of_pdf_or_zpl_is_refused() {
    let r = renderer(Format::Zpl, 0, 0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("labels.zip");
    let e = archive::render_zip(&r, 0, 0, &path, |_| {}).unwrap_err();
    assert!(e.to_string().contains("PNG or SVG"), "{e}");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[test]
fn more_entries_than_a_classic_zip_holds_use_zip64() {
    // 70,000 > 65,535 entries: the count only fits the ZIP64 end record.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("many.zip");
    let mut z = ZipWriter::create(&path, time::OffsetDateTime::now_utc()).unwrap();
    let n = 70_000u32;
    for i in 0..n {
        let method = if i % 2 == 0 {
            Method::Stored
        } else {
            Method::Deflated
        };
        z.add(&Entry::new(
            format!("{i}.txt"),
            format!("label {i}").into_bytes(),
            method,
        ))
        .unwrap();
    }
    z.finish().unwrap();
    let mut a = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
    assert_eq!(a.len(), n as usize);
    for i in [0u32, 1, 65_534, 65_535, 65_536, n - 1] {
        let mut f = a.by_name(&format!("{i}.txt")).unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        assert_eq!(s, format!("label {i}"));
    }
}
