//! `sample-labels/` is what `suyuan labels samples` makes today, and every
//! image in it decodes to the URL `expected.txt` lists.

use std::path::{Path, PathBuf};

use crate::decode::*;
use suyuan::label::pdf::Sheet;
use suyuan::label::samples;
use suyuan::label::{Ecc, LabelSize, Spec};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-labels")
}

#[test]
fn sample_labels_are_up_to_date() {
    let dir = dir();
    let regen = "regenerate with: cargo run -- labels samples --out sample-labels";
    let pubkey = std::fs::read_to_string(dir.join("demo-factory.pub")).expect("demo-factory.pub");
    assert_eq!(pubkey.trim(), samples::public_key(), "{regen}");
    let readme = std::fs::read_to_string(dir.join("README.md")).expect("sample-labels/README.md");
    assert!(
        readme.contains(&samples::public_key()),
        "README names the public key"
    );
    let font = Path::new(samples::FONT);
    if !font.exists() {
        println!("skipping byte comparison of font-drawn samples: {} not installed (apt-get install fonts-wqy-microhei)", samples::FONT);
    }
    let made = if font.exists() {
        samples::make(font).expect("samples render")
    } else {
        Vec::new()
    };
    for s in &made {
        let on_disk = std::fs::read(dir.join(&s.name))
            .unwrap_or_else(|_| panic!("{} missing; {regen}", s.name));
        assert!(on_disk == s.bytes, "{} is out of date; {regen}", s.name);
        assert!(readme.contains(&s.name), "README describes {}", s.name);
    }
    if !made.is_empty() {
        let expected = std::fs::read_to_string(dir.join("expected.txt")).unwrap();
        assert_eq!(
            expected,
            samples::expected(&made),
            "expected.txt is out of date; {regen}"
        );
    }
}

#[test]
fn sample_images_decode_to_the_listed_urls() {
    let dir = dir();
    let expected = std::fs::read_to_string(dir.join("expected.txt")).expect("expected.txt");
    let mut by_file: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for line in expected.lines().filter(|l| !l.starts_with('#')) {
        let (file, url) = line.split_once('\t').expect("file<TAB>url");
        by_file.entry(file.into()).or_default().push(url.into());
    }
    assert!(by_file.len() >= 5, "{by_file:?}");
    for (file, mut want) in by_file {
        let path = dir.join(&file);
        let mut found = if file.ends_with(".png") {
            qr_in_png(&std::fs::read(&path).unwrap())
        } else if file.ends_with(".svg") {
            let svg = std::fs::read_to_string(&path).unwrap();
            // 50x30 mm at 300 dpi.
            qr_in_svg(&svg, 591, 354)
        } else if file.ends_with(".pdf") {
            let spec = Spec::new(LabelSize::mm(50, 30), 300, Ecc::M).unwrap();
            match qr_in_pdf(&path, 300, &Sheet::a4(&spec, None).unwrap()) {
                Some(f) => f,
                None => continue,
            }
        } else if file.ends_with("-gfa.zpl") {
            qr_in_zpl_graphics(&std::fs::read_to_string(&path).unwrap()).concat()
        } else if file.ends_with(".zpl") {
            let text = std::fs::read_to_string(&path).unwrap();
            text.split("^BQ")
                .skip(1)
                .map(|s| field(s, "^FD")[3..].to_owned())
                .collect()
        } else {
            panic!("unexpected file {file}")
        };
        found.sort();
        want.sort();
        assert_eq!(found.len(), want.len(), "{file}");
        for (f, w) in found.iter().zip(&want) {
            assert_verifies(f, w);
        }
    }
}
