//! Signed QR labels: what a label says ([`content`]), where things go on it
//! ([`layout`]), the QR matrix ([`qr`]), and one writer per output format
//! ([`png`], [`svg`], [`pdf`], [`zpl`]), plus streaming to printers
//! ([`print`]), zip archives of label files ([`archive`]) and the parallel,
//! resumable run over a range ([`job`]).
//!
//! Geometry is pure and unit-tested; the writers only turn a finished layout
//! into bytes. Every length inside a label is in printer dots at the chosen
//! dpi, so a QR module is always a whole number of dots and nothing is
//! resampled between what we compute and what the print head burns.

#![forbid(unsafe_code)]

pub mod archive;
pub mod canvas;
pub mod content;
pub mod font;
pub mod job;
pub mod layout;
pub mod mask;
pub mod pdf;
pub mod png;
pub mod print;
pub mod qr;
pub mod samples;
pub mod svg;
pub mod text;
pub mod zpl;

pub use content::{BatchInfo, LabelContent, Signer, Subject};
pub use layout::{Ecc, LabelSize, Layout, Spec};

/// Why labels could not be made.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    /// The label is too small for the QR code at this dpi.
    #[error(
        "a {size} label at {dpi} dpi is too small for this QR code ({modules}×{modules} modules \
         plus a 4-module quiet zone): each module would be {module_mm:.3} mm \
         ({module_dots:.2} dots), and at least {min_dots} whole dots are needed; \
         a {suggest} label would work{ecc_hint}"
    )]
    TooSmall {
        /// The size asked for, as given.
        size: String,
        /// Printer resolution.
        dpi: u32,
        /// Modules across the QR symbol (without quiet zone).
        modules: u32,
        /// What one module would measure, in mm.
        module_mm: f64,
        /// What one module would measure, in dots.
        module_dots: f64,
        /// Smallest module allowed, in dots.
        min_dots: u32,
        /// A size that would work, e.g. "56x34mm".
        suggest: String,
        /// Extra advice, e.g. a lower error correction level.
        ecc_hint: String,
    },
    /// A size, dpi, grid or other option that cannot be used.
    #[error("{0}")]
    BadOption(String),
    /// The payload does not fit in any QR version at this error correction level.
    #[error("the label URL ({0} bytes) does not fit in a QR code at this error correction level")]
    PayloadTooLong(usize),
    /// The batch answer from the server is not what a batch looks like.
    #[error("batch record: {0}")]
    BadBatch(String),
    /// The range asks for units the batch does not have.
    #[error("range {first}..{last} is beyond the batch: it has {quantity} units (0..{max})", max = quantity.saturating_sub(1))]
    RangeBeyondBatch {
        /// First index asked for.
        first: u64,
        /// Last index asked for.
        last: u64,
        /// Units in the batch.
        quantity: u64,
    },
    /// An SSCC run would leave the 17 digits of serial reference.
    #[error("SSCC {first} + {count} labels runs past 17 digits")]
    SsccOverflow {
        /// The first SSCC body (17 digits).
        first: String,
        /// Labels asked for.
        count: u64,
    },
    /// A GS1 value made for a label did not validate.
    #[error(transparent)]
    Gs1(#[from] crate::formats::gs1::Gs1Error),
    /// The font file could not be read or parsed.
    #[error("font {path}: {message}")]
    Font {
        /// The font file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Encoding an image failed.
    #[error("encoding {format}: {message}")]
    Encode {
        /// The format being written.
        format: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The printer could not be reached.
    #[error("cannot connect to printer {printer}: {message}")]
    PrinterUnreachable {
        /// The printer as given.
        printer: String,
        /// The cause.
        message: String,
    },
    /// The printer stopped taking data part-way.
    #[error(
        "printer {printer} stopped taking data after {sent} labels were sent ({message}); \
         the last ones sent may not have printed: check the last printed label and resume \
         with --range {resume}..{last}"
    )]
    PrinterGone {
        /// The printer as given.
        printer: String,
        /// Labels completely handed to the connection.
        sent: u64,
        /// Index of the first label not sent.
        resume: u64,
        /// Last index of the run.
        last: u64,
        /// The cause.
        message: String,
    },
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl LabelError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl std::fmt::Display, source: std::io::Error) -> Self {
        LabelError::Io {
            path: path.to_string(),
            source,
        }
    }
}

/// Output format of a render run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One 1-bit PNG per label.
    Png,
    /// One SVG per label.
    Svg,
    /// A4 sheets with a grid of labels and cut marks.
    Pdf,
    /// One ZPL II stream with one `^XA…^XZ` per label.
    Zpl,
}

impl Format {
    /// Parses `png`, `svg`, `pdf` or `zpl`.
    pub fn parse(s: &str) -> Result<Self, LabelError> {
        match s.to_ascii_lowercase().as_str() {
            "png" => Ok(Format::Png),
            "svg" => Ok(Format::Svg),
            "pdf" => Ok(Format::Pdf),
            "zpl" => Ok(Format::Zpl),
            _ => Err(LabelError::BadOption(format!(
                "format {s:?}: expected png, svg, pdf or zpl"
            ))),
        }
    }

    /// File extension without the dot.
    pub fn ext(self) -> &'static str {
        match self {
            Format::Png => "png",
            Format::Svg => "svg",
            Format::Pdf => "pdf",
            Format::Zpl => "zpl",
        }
    }
}
