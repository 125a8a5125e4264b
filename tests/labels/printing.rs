//! Printing to a local TCP listener: exact bytes, and a printer that goes away.

use std::io::Read;
use std::net::TcpListener;
use std::time::Duration;

use suyuan::app::demo::demo_key;
use suyuan::label::font::Font;
use suyuan::label::job::{self, Rendered, Renderer};
use suyuan::label::print::{Connection, Printer};
use suyuan::label::{zpl, Ecc, Format, LabelError, LabelSize, Signer, Spec, Subject};

fn renderer(last: u64) -> Renderer {
    Renderer::new(
        // SSCCs: as many labels as a test wants, unlike a 1000-unit batch.
        Subject::containers("30690123450000001", None).unwrap(),
        Signer::new(demo_key("hengshan-dairy"), "https://id.example.com"),
        Spec::new(LabelSize::mm(50, 30), 203, Ecc::M).unwrap(),
        Format::Zpl,
        zpl::Mode::Native,
        Font::Builtin,
        0,
        last,
    )
    .unwrap()
}

fn print(r: &Renderer, port: u16, first: u64, last: u64) -> Result<u64, LabelError> {
    let p = Printer::parse(&format!("tcp://127.0.0.1:{port}")).unwrap();
    let mut conn = Connection::open(&p, Duration::from_secs(5), first, last)?;
    conn.send_header(r.zpl_header().as_bytes())?;
    job::run(
        r,
        first,
        last,
        |_, x| match x {
            Rendered::Stream(b) => conn.send_label(&b),
            _ => Ok(()),
        },
        |_| {},
    )?;
    conn.finish()
}

#[test]
fn the_printer_receives_exactly_the_zpl_stream() {
    let r = renderer(49);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        got
    });
    assert_eq!(print(&r, port, 0, 49).unwrap(), 50);
    let got = reader.join().unwrap();
    let mut want = r.zpl_header().into_bytes();
    for i in 0..50 {
        let Rendered::Stream(b) = r.render(i).unwrap() else {
            panic!()
        };
        want.extend(b);
    }
    assert_eq!(got, want);
    assert_eq!(String::from_utf8_lossy(&got).matches("^XA").count(), 50);
}

#[test]
fn a_printer_that_stops_reading_reports_labels_sent() {
    let r = renderer(99_999);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = vec![0; 20_000];
        s.read_exact(&mut buf).unwrap();
        // Closing with unread data makes the kernel reset the connection.
        drop(s);
    });
    let err = print(&r, port, 100, 99_999).unwrap_err();
    reader.join().unwrap();
    let LabelError::PrinterGone { sent, resume, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(*sent > 0 && *sent < 99_900, "{sent}");
    assert_eq!(*resume, 100 + sent);
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("after {sent} labels were sent"))
            && msg.contains(&format!("--range {resume}..99999")),
        "{msg}"
    );
}
