//! Each format rendered and decoded back to the exact, verifying URL.

use std::io::Write;

use crate::decode::*;
use suyuan::app::demo::demo_key;
use suyuan::label::font::Font;
use suyuan::label::job::{self, AtomicFile, Rendered, Renderer};
use suyuan::label::pdf::{PdfWriter, Sheet};
use suyuan::label::samples::demo_batch;
use suyuan::label::{zpl, Ecc, Format, LabelError, LabelSize, Signer, Spec, Subject};

const BASE: &str = "https://id.example.com";

fn units() -> Subject {
    Subject::Units(demo_batch().unwrap())
}

fn pallets() -> Subject {
    Subject::containers("30690123450000001", Some("48 × 婴儿配方奶粉".into())).unwrap()
}

fn renderer(
    subject: Subject,
    size: LabelSize,
    dpi: u32,
    format: Format,
    mode: zpl::Mode,
    range: (u64, u64),
) -> Renderer {
    let (font, _) = Font::find(None).unwrap();
    Renderer::new(
        subject,
        Signer::new(demo_key("hengshan-dairy"), BASE),
        Spec::new(size, dpi, Ecc::M).unwrap(),
        format,
        mode,
        font,
        range.0,
        range.1,
    )
    .unwrap()
}

fn collect(r: &Renderer, first: u64, last: u64) -> Vec<Rendered> {
    let mut v = Vec::new();
    job::run(
        r,
        first,
        last,
        |_, x| {
            v.push(x);
            Ok(())
        },
        |_| {},
    )
    .unwrap();
    v
}

#[test]
fn png_decodes_at_every_dpi_for_units_and_pallets() {
    for dpi in [203, 300, 600] {
        for (subject, size) in [
            (units(), LabelSize::mm(50, 30)),
            (pallets(), LabelSize::mm(100, 150)),
        ] {
            let last = 2;
            let r = renderer(
                subject,
                size,
                dpi,
                Format::Png,
                zpl::Mode::Native,
                (0, last),
            );
            for (i, out) in collect(&r, 0, last).into_iter().enumerate() {
                let Rendered::File { bytes, name } = out else {
                    panic!()
                };
                assert!(name.ends_with(".png"));
                let found = qr_in_png(&bytes);
                assert_eq!(found.len(), 1, "{name} at {dpi} dpi: {found:?}");
                assert_verifies(&found[0], &r.content(i as u64).unwrap().url);
            }
        }
    }
}

#[test]
fn svg_decodes_after_rasterising() {
    for (subject, size) in [
        (units(), LabelSize::mm(50, 30)),
        (pallets(), LabelSize::mm(100, 150)),
    ] {
        let r = renderer(subject, size, 300, Format::Svg, zpl::Mode::Native, (7, 8));
        for (i, out) in collect(&r, 7, 8).into_iter().enumerate() {
            let Rendered::File { bytes, .. } = out else {
                panic!()
            };
            let svg = String::from_utf8(bytes).unwrap();
            assert!(svg.contains("font-family=\"'Noto Sans CJK SC'"));
            let found = qr_in_svg(&svg, r.layout().width, r.layout().height);
            assert_eq!(found.len(), 1, "{found:?}");
            assert_verifies(&found[0], &r.content(7 + i as u64).unwrap().url);
        }
    }
}

#[test]
fn zpl_graphic_bitmap_decodes() {
    let r = renderer(
        units(),
        LabelSize::mm(50, 30),
        203,
        Format::Zpl,
        zpl::Mode::Graphic,
        (0, 3),
    );
    assert_eq!(r.zpl_header(), "");
    let mut text = String::new();
    for out in collect(&r, 0, 3) {
        let Rendered::Stream(b) = out else { panic!() };
        text.push_str(&String::from_utf8(b).unwrap());
    }
    let labels = qr_in_zpl_graphics(&text);
    assert_eq!(labels.len(), 4);
    for (i, found) in labels.iter().enumerate() {
        assert_eq!(found.len(), 1, "{found:?}");
        assert_verifies(&found[0], &r.content(i as u64).unwrap().url);
    }
}

#[test]
fn zpl_native_qr_is_structurally_right() {
    for dpi in [203, 300, 600] {
        let r = renderer(
            units(),
            LabelSize::mm(50, 30),
            dpi,
            Format::Zpl,
            zpl::Mode::Native,
            (0, 999),
        );
        let l = r.layout().clone();
        // The fixed text is downloaded once, as a valid graphic.
        let header = r.zpl_header();
        let dg = header
            .strip_prefix("~DGR:SUYUANTX.GRF,")
            .expect("~DG header");
        let mut p = dg.trim_end().splitn(3, ',');
        let total: usize = p.next().unwrap().parse().unwrap();
        let bpr: usize = p.next().unwrap().parse().unwrap();
        zpl::decompress(p.next().unwrap(), bpr, total).expect("text graphic decodes");
        for i in [0u64, 999] {
            let Rendered::Stream(b) = r.render(i).unwrap() else {
                panic!()
            };
            let label = String::from_utf8(b).unwrap();
            assert!(label.starts_with("^XA\n^CI28\n") && label.ends_with("^XZ\n"));
            assert_eq!(field(&label, "^PW"), l.width.to_string());
            assert_eq!(field(&label, "^LL"), l.height.to_string());
            // ^BQ orientation N, model 2, magnification = module dots, level M.
            assert_eq!(field(&label, "^BQ"), format!("N,2,{},M", l.module.min(10)));
            let fd = label.split("^BQ").nth(1).unwrap();
            let fd = field(fd, "^FD");
            let url = r.content(i).unwrap().url;
            assert_eq!(fd, format!("MA,{url}"));
            assert_verifies(&url, &url);
            assert!(label.contains(&format!("^FD{}^FS", r.content(i).unwrap().lines[3].text)));
            assert!(label.contains("^XGR:SUYUANTX.GRF,1,1"));
        }
    }
}

#[test]
fn pdf_sheet_decodes_after_pdftoppm() {
    let r = renderer(
        units(),
        LabelSize::mm(50, 30),
        300,
        Format::Pdf,
        zpl::Mode::Native,
        (0, 29),
    );
    let spec = Spec::new(LabelSize::mm(50, 30), 300, Ecc::M).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sheet.pdf");
    let f = AtomicFile::create(&path).unwrap();
    let sheet = Sheet::a4(&spec, Some((3, 5))).unwrap();
    let mut pdf = PdfWriter::new(f, sheet.clone(), r.layout().clone(), r.fixed_text()).unwrap();
    job::run(
        &r,
        0,
        29,
        |_, x| match x {
            Rendered::Pdf(l) => pdf.add(l),
            _ => Ok(()),
        },
        |_| {},
    )
    .unwrap();
    pdf.finish().unwrap().commit().unwrap();
    // 30 labels at 15 per page: two pages.
    let text = String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned();
    assert!(text.contains("/Count 2"));
    let Some(mut found) = qr_in_pdf(&path, 300, &sheet) else {
        return;
    };
    let mut want: Vec<String> = (0..30).map(|i| r.content(i).unwrap().url).collect();
    found.sort();
    want.sort();
    assert_eq!(found.len(), 30, "decoded {} of 30", found.len());
    for (f, w) in found.iter().zip(&want) {
        assert_verifies(f, w);
    }
}

#[test]
fn bad_input_is_refused_with_clear_messages() {
    let signer = || Signer::new(demo_key("hengshan-dairy"), BASE);
    let make = |size: LabelSize, dpi, range: (u64, u64)| {
        Renderer::new(
            units(),
            signer(),
            Spec::new(size, dpi, Ecc::M).unwrap(),
            Format::Png,
            zpl::Mode::Native,
            Font::Builtin,
            range.0,
            range.1,
        )
    };
    let e = make(LabelSize::mm(50, 30), 300, (990, 1000))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("beyond the batch") && e.contains("1000 units"),
        "{e}"
    );
    let e = make(LabelSize::mm(12, 8), 203, (0, 9)).unwrap_err();
    let LabelError::TooSmall { suggest, .. } = &e else {
        panic!("{e:?}")
    };
    let msg = e.to_string();
    assert!(msg.contains(" mm (") && msg.contains("would work"), "{msg}");
    // The suggested size does work.
    make(LabelSize::parse(suggest).unwrap(), 203, (0, 9)).unwrap();
    // A base URL ZPL would read as commands.
    let e = Renderer::new(
        units(),
        Signer::new(demo_key("hengshan-dairy"), "https://x.example/~f"),
        Spec::new(LabelSize::mm(50, 30), 300, Ecc::M).unwrap(),
        Format::Zpl,
        zpl::Mode::Native,
        Font::Builtin,
        0,
        0,
    )
    .unwrap_err();
    assert!(e.to_string().contains("^ or ~"), "{e}");
}

#[test]
fn an_interrupted_run_leaves_no_complete_looking_file() {
    let r = renderer(
        units(),
        LabelSize::mm(50, 30),
        203,
        Format::Zpl,
        zpl::Mode::Native,
        (0, 999),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run.zpl");
    let mut f = AtomicFile::create(&path).unwrap();
    let res = job::run(
        &r,
        0,
        999,
        |i, x| {
            if i == 600 {
                return Err(LabelError::io("disk", std::io::Error::other("disk full")));
            }
            let Rendered::Stream(b) = x else { panic!() };
            f.write_all(&b).map_err(|e| LabelError::io("run.zpl", e))
        },
        |_| {},
    );
    assert!(res.is_err());
    drop(f);
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "a partial file was left"
    );
}
