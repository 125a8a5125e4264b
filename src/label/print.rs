//! Sending ZPL to a printer: raw TCP (port 9100, what Zebra-compatible
//! printers listen on) or a CUPS queue via `lp -o raw`.
//!
//! Every label is counted once it is completely handed over, so when a
//! printer goes away the error says how many were sent and where to resume.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::LabelError;

/// Where labels go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Printer {
    /// `tcp://HOST:PORT` (port 9100 if omitted).
    Tcp(String),
    /// `lp:QUEUE`: a CUPS queue, fed raw.
    Lp(String),
}

impl Printer {
    /// Parses `tcp://HOST[:PORT]` or `lp:QUEUE`.
    pub fn parse(s: &str) -> Result<Self, LabelError> {
        if let Some(rest) = s.strip_prefix("tcp://") {
            let rest = rest.trim_end_matches('/');
            if rest.is_empty() {
                return Err(LabelError::BadOption(format!("printer {s:?} has no host")));
            }
            // A bare IPv6 address has colons of its own; it must come bracketed.
            let has_port = rest.rsplit_once(':').is_some_and(|(h, p)| {
                !p.is_empty()
                    && p.bytes().all(|b| b.is_ascii_digit())
                    && (!h.contains(':') || h.ends_with(']'))
            });
            return Ok(Printer::Tcp(if has_port {
                rest.to_owned()
            } else {
                format!("{rest}:9100")
            }));
        }
        if let Some(q) = s.strip_prefix("lp:") {
            let ok = !q.is_empty()
                && q.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c));
            if !ok {
                return Err(LabelError::BadOption(format!(
                    "CUPS queue name {q:?} is not valid"
                )));
            }
            return Ok(Printer::Lp(q.to_owned()));
        }
        Err(LabelError::BadOption(format!(
            "printer {s:?}: expected tcp://HOST:9100 or lp:QUEUE"
        )))
    }
}

impl std::fmt::Display for Printer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Printer::Tcp(a) => write!(f, "tcp://{a}"),
            Printer::Lp(q) => write!(f, "lp:{q}"),
        }
    }
}

enum Link {
    Tcp(TcpStream),
    Lp(Child),
}

/// An open connection to a printer, counting the labels sent.
pub struct Connection {
    printer: Printer,
    link: Link,
    sent: u64,
    first: u64,
    last: u64,
}

impl Connection {
    /// Connects (TCP: within `timeout`, and each write must finish within it too).
    pub fn open(
        printer: &Printer,
        timeout: Duration,
        first: u64,
        last: u64,
    ) -> Result<Self, LabelError> {
        let unreachable = |message: String| LabelError::PrinterUnreachable {
            printer: printer.to_string(),
            message,
        };
        let link = match printer {
            Printer::Tcp(addr) => {
                let addrs: Vec<_> = addr
                    .to_socket_addrs()
                    .map_err(|e| unreachable(e.to_string()))?
                    .collect();
                let mut last_err = String::from("no address");
                let mut stream = None;
                for a in addrs {
                    match TcpStream::connect_timeout(&a, timeout) {
                        Ok(s) => {
                            stream = Some(s);
                            break;
                        }
                        Err(e) => last_err = e.to_string(),
                    }
                }
                let s = stream.ok_or_else(|| unreachable(last_err))?;
                s.set_write_timeout(Some(timeout))
                    .map_err(|e| unreachable(e.to_string()))?;
                let _ = s.set_nodelay(true);
                Link::Tcp(s)
            }
            Printer::Lp(q) => Link::Lp(
                Command::new("lp")
                    .args(["-d", q, "-o", "raw"])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .spawn()
                    .map_err(|e| unreachable(format!("cannot run lp: {e}")))?,
            ),
        };
        Ok(Connection {
            printer: printer.clone(),
            link,
            sent: 0,
            first,
            last,
        })
    }

    fn gone(&self, message: String) -> LabelError {
        LabelError::PrinterGone {
            printer: self.printer.to_string(),
            sent: self.sent,
            resume: self.first + self.sent,
            last: self.last,
            message,
        }
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match &mut self.link {
            Link::Tcp(s) => s.write_all(bytes),
            Link::Lp(c) => match c.stdin.as_mut() {
                Some(i) => i.write_all(bytes),
                None => Err(std::io::Error::other("lp closed its input")),
            },
        }
    }

    /// Sends bytes that are not a label (the stream header).
    pub fn send_header(&mut self, bytes: &[u8]) -> Result<(), LabelError> {
        self.write(bytes).map_err(|e| self.gone(e.to_string()))
    }

    /// Sends one label's bytes and counts it.
    pub fn send_label(&mut self, bytes: &[u8]) -> Result<(), LabelError> {
        self.write(bytes).map_err(|e| self.gone(e.to_string()))?;
        self.sent += 1;
        Ok(())
    }

    /// Labels sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Flushes and closes; for CUPS, waits for `lp` to accept the job.
    pub fn finish(mut self) -> Result<u64, LabelError> {
        match &mut self.link {
            Link::Tcp(s) => {
                let r = s
                    .flush()
                    .and_then(|_| s.shutdown(std::net::Shutdown::Write));
                if let Err(e) = r {
                    return Err(self.gone(e.to_string()));
                }
            }
            Link::Lp(c) => {
                drop(c.stdin.take());
                let status = c.wait().map_err(|e| e.to_string());
                match status {
                    Ok(s) if s.success() => {}
                    Ok(s) => return Err(self.gone(format!("lp exited with {s}"))),
                    Err(e) => return Err(self.gone(e)),
                }
            }
        }
        Ok(self.sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printers_parse() {
        assert_eq!(
            Printer::parse("tcp://10.0.0.5").unwrap(),
            Printer::Tcp("10.0.0.5:9100".into())
        );
        assert_eq!(
            Printer::parse("tcp://p1:6101").unwrap(),
            Printer::Tcp("p1:6101".into())
        );
        assert_eq!(
            Printer::parse("tcp://[::1]").unwrap(),
            Printer::Tcp("[::1]:9100".into())
        );
        assert_eq!(
            Printer::parse("lp:zebra_line2").unwrap(),
            Printer::Lp("zebra_line2".into())
        );
        assert!(Printer::parse("lp:a;rm").is_err());
        assert!(Printer::parse("http://x").is_err());
        assert!(Printer::parse("tcp://").is_err());
    }

    #[test]
    fn refused_connection_is_a_clear_error() {
        // Bind then drop: the port is closed now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let p = Printer::parse(&format!("tcp://127.0.0.1:{port}")).unwrap();
        let Err(e) = Connection::open(&p, Duration::from_secs(2), 0, 9) else {
            panic!("connected to a closed port")
        };
        assert!(
            e.to_string()
                .starts_with(&format!("cannot connect to printer tcp://127.0.0.1:{port}")),
            "{e}"
        );
    }
}
