//! The real binary: `suyuan labels render` against a real `suyuan serve --demo`.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::decode::*;
use suyuan::app::demo::{label_url, LOT};
use suyuan::label::pdf::Sheet;
use suyuan::label::{Ecc, LabelSize, Spec};

const BIN: &str = env!("CARGO_BIN_EXE_suyuan");

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

// Starts `serve --demo` on SQLite in `data` and waits for /api/v1/health.
fn start(data: &Path) -> Server {
    for attempt in 0..5 {
        let port = free_port();
        let log = data.parent().unwrap().join(format!("serve-{attempt}.log"));
        let out = File::create(&log).unwrap();
        let child = Command::new(BIN)
            .args(["serve", "--demo", "--addr", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data)
            .env_remove("SUYUAN_DATABASE_URL")
            .env_remove("SUYUAN_BASE_URL")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("spawn serve");
        let mut s = Server {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if s.child.try_wait().unwrap().is_some() {
                break;
            }
            let ok = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && suyuan::app::demo::read_info(data).is_some_and(|i| i.base_url == s.base);
            if ok {
                return s;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if !text.contains("cannot listen") {
            panic!("server did not come up:\n{text}");
        }
    }
    panic!("no free port")
}

fn cli(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("SUYUAN_SERVER")
        .env_remove("SUYUAN_TOKEN")
        .env_remove("SUYUAN_KEYSTORE")
        .env_remove("SUYUAN_BASE_URL")
        .stdin(Stdio::null())
        .output()
        .expect("run suyuan")
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn render_from_a_real_server_and_refuse_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = start(&data);
    let info = suyuan::app::demo::read_info(&data).unwrap();
    let keys = data.join("keys");
    let factory = keys.join("hengshan-dairy.json");
    let factory = factory.to_str().unwrap();
    let out_dir = tmp.path().join("png");
    let out = out_dir.to_str().unwrap();
    let base = server.base.as_str();
    let common = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["labels", "render", "--server", base, "--keystore", factory]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let run = |args: Vec<String>| cli(&args.iter().map(String::as_str).collect::<Vec<_>>());

    // PNG: files named by unit, each decoding to the URL the demo itself makes.
    let o = run(common(&[
        "--batch",
        &info.batch_id,
        "--range",
        "9..11",
        "--format",
        "png",
        "--dpi",
        "203",
        "--out",
        out,
    ]));
    assert!(o.status.success(), "{}", show(&o));
    let mut names: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    for i in 9..=11u64 {
        let name = names
            .iter()
            .find(|n| n.ends_with(&format!("_{i}.png")))
            .expect("file per unit");
        let found = qr_in_png(&std::fs::read(out_dir.join(name)).unwrap());
        assert_eq!(found.len(), 1);
        assert_verifies(&found[0], &label_url(base, LOT, i, false).unwrap());
    }
    // Unit 10 is the demo's in-stock unit: the same URL, byte for byte.
    assert_eq!(label_url(base, LOT, 10, false).unwrap(), info.in_stock);

    // The same units as SVGs in one zip, named by unit, in order.
    let zip_path = tmp.path().join("labels.zip");
    let o = run(common(&[
        "--batch",
        &info.batch_id,
        "--range",
        "9..11",
        "--format",
        "svg",
        "--out",
        zip_path.to_str().unwrap(),
    ]));
    assert!(o.status.success(), "{}", show(&o));
    let mut z = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    assert_eq!(z.len(), 3);
    for (k, i) in (9..=11u64).enumerate() {
        let mut f = z.by_index(k).unwrap();
        let name = f.name().unwrap().into_owned();
        assert!(name.ends_with(&format!("_{i}.svg")), "{name}");
        let mut svg = String::new();
        std::io::Read::read_to_string(&mut f, &mut svg).unwrap();
        let found = qr_in_svg(&svg, 591, 354);
        assert_eq!(found.len(), 1);
        assert_verifies(&found[0], &label_url(base, LOT, i, false).unwrap());
    }

    // ZPL file, whole default format options.
    let zpl = tmp.path().join("run.zpl");
    let o = run(common(&[
        "--batch",
        &info.batch_id,
        "--range",
        "0..99",
        "--format",
        "zpl",
        "--out",
        zpl.to_str().unwrap(),
    ]));
    assert!(o.status.success(), "{}", show(&o));
    let text = std::fs::read_to_string(&zpl).unwrap();
    assert_eq!(text.matches("^XZ").count(), 100);
    assert!(text.contains(&format!("^FDMA,{}^FS", info.in_stock)));
    assert!(!tmp.path().join("run.zpl.part").exists());

    // SSCC pallet labels signed with the factory key.
    let pdf = tmp.path().join("pallets.pdf");
    let o = run(common(&[
        "--sscc",
        "30690123450000001",
        "--range",
        "0..3",
        "--size",
        "100x150mm",
        "--dpi",
        "203",
        "--format",
        "pdf",
        "--out",
        pdf.to_str().unwrap(),
    ]));
    assert!(o.status.success(), "{}", show(&o));
    let spec = Spec::new(LabelSize::mm(100, 150), 203, Ecc::M).unwrap();
    if let Some(found) = qr_in_pdf(&pdf, 203, &Sheet::a4(&spec, None).unwrap()) {
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found
            .iter()
            .all(|u| u.starts_with(&format!("{base}/00/306901234500000"))));
    }

    // Bad input: each a clear error, and no output file.
    let bad_out = tmp.path().join("bad.zpl");
    let bad = bad_out.to_str().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            common(&["--batch", &"0".repeat(64), "--format", "zpl", "--out", bad]),
            "unknown batch",
        ),
        (
            common(&[
                "--batch",
                &info.batch_id,
                "--range",
                "990..1000",
                "--format",
                "zpl",
                "--out",
                bad,
            ]),
            "beyond the batch: it has 1000 units",
        ),
        (
            common(&[
                "--batch",
                &info.batch_id,
                "--range",
                "0..9",
                "--size",
                "12x8mm",
                "--dpi",
                "203",
                "--format",
                "zpl",
                "--out",
                bad,
            ]),
            "would work",
        ),
        (
            common(&["--batch", &info.batch_id, "--format", "tiff", "--out", bad]),
            "expected png, svg, pdf or zpl",
        ),
        (
            common(&[
                "--batch",
                &info.batch_id,
                "--format",
                "zpl",
                "--zip",
                "--out",
                bad,
            ]),
            "holds one PNG or SVG per label",
        ),
    ];
    for (args, want) in cases {
        let o = run(args.clone());
        assert!(!o.status.success(), "{args:?}\n{}", show(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(want),
            "{args:?}: wanted {want:?}\n{}",
            show(&o)
        );
        assert!(!bad_out.exists());
    }
    // Another party's keystore.
    let shop = keys.join("greenleaf-mart.json");
    let o = cli(&[
        "labels",
        "render",
        "--server",
        base,
        "--keystore",
        shop.to_str().unwrap(),
        "--batch",
        &info.batch_id,
        "--format",
        "zpl",
        "--out",
        bad,
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("keystore belongs to greenleaf-mart") && err.contains("hengshan-dairy"),
        "{}",
        show(&o)
    );
    assert!(!bad_out.exists());
    // A printer that is not there.
    let port = free_port();
    let o = cli(&[
        "labels",
        "print",
        "--server",
        base,
        "--keystore",
        factory,
        "--batch",
        &info.batch_id,
        "--range",
        "0..9",
        "--printer",
        &format!("tcp://127.0.0.1:{port}"),
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot connect to printer"),
        "{}",
        show(&o)
    );
}
