//! A render run: one [`Renderer`] per run holds everything that is the same
//! on every label (layout, fixed text already drawn, the SVG head already
//! serialised); [`run`] renders a range in parallel chunks and hands the
//! labels, in order, to a sink, and [`run_unordered`] lets each worker write
//! its own labels' files. Memory is a chunk or two, whatever the range.

use rayon::prelude::*;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::canvas::Canvas;
use super::content::{LabelContent, Signer, Subject};
use super::font::Font;
use super::layout::{Layout, Spec};
use super::pdf::PdfLabel;
use super::qr::{modules_for_len, Matrix};
use super::text::{self, Placed, Style};
use super::{png, svg, zpl, Format, LabelError};

/// Labels rendered in parallel before they are written in order.
pub const CHUNK: u64 = 1024;

/// One rendered label.
#[derive(Debug)]
pub enum Rendered {
    /// A file of its own (PNG, SVG).
    File {
        /// File name with extension.
        name: String,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// A piece of a stream (ZPL).
    Stream(Vec<u8>),
    /// A label for a PDF sheet.
    Pdf(PdfLabel),
}

/// Everything a run needs to render label `i`.
pub struct Renderer {
    subject: Subject,
    signer: Signer,
    spec: Spec,
    format: Format,
    zpl_mode: zpl::Mode,
    layout: Layout,
    font: Font,
    slots: Vec<Placed>,
    template: Canvas,
    fixed_text: Canvas,
    svg_head: String,
    zpl_native: zpl::Native,
    warnings: Vec<String>,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("format", &self.format)
            .field("layout", &self.layout)
            .finish_non_exhaustive()
    }
}

impl Renderer {
    /// Prepares a run over `first..=last`: checks the range, lays out the
    /// label for the longest URL in it, and draws the fixed text once.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        subject: Subject,
        signer: Signer,
        spec: Spec,
        format: Format,
        zpl_mode: zpl::Mode,
        font: Font,
        first: u64,
        last: u64,
    ) -> Result<Self, LabelError> {
        if first > last {
            return Err(LabelError::BadOption(format!(
                "range {first}..{last} is backwards"
            )));
        }
        subject.check_range(first, last)?;
        // The last index has the longest serial; SSCCs are all one length.
        let longest = LabelContent::make(&subject, &signer, last)?;
        let sample = LabelContent::make(&subject, &signer, first)?;
        if format == Format::Zpl {
            zpl::check_field(&longest.url)?;
        }
        let modules = modules_for_len(longest.url.len(), spec.ecc)?;
        let title = sample
            .lines
            .iter()
            .filter(|l| l.style == Style::Title)
            .map(|l| l.max_lines)
            .sum();
        let body = sample
            .lines
            .iter()
            .filter(|l| l.style == Style::Body)
            .map(|l| l.max_lines)
            .sum();
        let layout = Layout::compute(&spec, modules, title, body)?;
        let mut warnings = layout.warnings.clone();
        if format == Format::Zpl
            && zpl_mode == zpl::Mode::Native
            && layout.module > zpl::MAX_MAGNIFICATION
        {
            warnings.push(format!(
                "^BQ magnification is at most {}; the code prints at {} dots per module instead of {}",
                zpl::MAX_MAGNIFICATION,
                zpl::MAX_MAGNIFICATION,
                layout.module
            ));
        }
        let slots = if format == Format::Svg {
            text::place(&sample.lines, &layout, text::approx_advance)
        } else {
            text::place(&sample.lines, &layout, |c, px| font.advance(c, px))
        };
        let fixed: Vec<Placed> = slots.iter().filter(|p| p.fixed).cloned().collect();
        let mut template = Canvas::new(layout.width, layout.height);
        for p in &fixed {
            font.draw(&mut template, p);
        }
        let fixed_text = text_box(&font, &layout, &fixed);
        let svg_head =
            svg::head(&layout, spec.size.width_mm(), spec.size.height_mm()) + &svg::text(&fixed);
        let variable: Vec<Placed> = slots.iter().filter(|p| !p.fixed).cloned().collect();
        let zpl_native = zpl::Native::new(
            &layout,
            spec.ecc,
            Some((layout.text.x, layout.text.y)),
            &variable,
        );
        Ok(Renderer {
            subject,
            signer,
            spec,
            format,
            zpl_mode,
            layout,
            font,
            slots,
            template,
            fixed_text,
            svg_head,
            zpl_native,
            warnings,
        })
    }

    /// The format labels are rendered in.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The layout every label of the run shares.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Things that will print but may scan or read badly.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The run's fixed text, as a bitmap the size of the layout's text box.
    pub fn fixed_text(&self) -> &Canvas {
        &self.fixed_text
    }

    /// Label `i`: key, signed URL, text.
    pub fn content(&self, i: u64) -> Result<LabelContent, LabelError> {
        LabelContent::make(&self.subject, &self.signer, i)
    }

    /// The QR matrix of a URL, at the run's symbol size.
    pub fn matrix(&self, url: &str) -> Result<Matrix, LabelError> {
        Matrix::encode_width(url, self.spec.ecc, self.layout.modules)
    }

    // The variable slots, filled with this label's variable lines in order.
    fn variable(&self, c: &LabelContent) -> Vec<Placed> {
        let mut texts = c.lines.iter().filter(|l| !l.fixed).map(|l| l.text.clone());
        self.slots
            .iter()
            .filter(|p| !p.fixed)
            .map(|p| Placed {
                text: texts.next().unwrap_or_default(),
                ..p.clone()
            })
            .collect()
    }

    /// The whole label as a bitmap.
    pub fn raster(&self, c: &LabelContent) -> Result<Canvas, LabelError> {
        let mut canvas = self.template.clone();
        canvas.draw_qr(&self.matrix(&c.url)?, &self.layout);
        for p in self.variable(c) {
            self.font.draw(&mut canvas, &p);
        }
        Ok(canvas)
    }

    /// What a ZPL stream starts with: the fixed text stored on the printer (native mode).
    pub fn zpl_header(&self) -> String {
        match (self.format, self.zpl_mode) {
            (Format::Zpl, zpl::Mode::Native) => zpl::download_text(&self.fixed_text),
            _ => String::new(),
        }
    }

    /// Renders label `i` in the run's format.
    pub fn render(&self, i: u64) -> Result<Rendered, LabelError> {
        let c = self.content(i)?;
        let name = || format!("{}.{}", self.subject.file_stem(&c.key), self.format.ext());
        Ok(match self.format {
            Format::Png => Rendered::File {
                name: name(),
                bytes: png::encode(&self.raster(&c)?, self.spec.dpi)?,
            },
            Format::Svg => {
                let m = self.matrix(&c.url)?;
                let mut s = self.svg_head.clone();
                s.push_str(&svg::text(&self.variable(&c)));
                s.push_str(&svg::symbol(&m, &self.layout));
                s.push_str(svg::TAIL);
                Rendered::File {
                    name: name(),
                    bytes: s.into_bytes(),
                }
            }
            Format::Zpl => Rendered::Stream(
                match self.zpl_mode {
                    zpl::Mode::Native => {
                        let n = &self.zpl_native;
                        let mut s = String::with_capacity(n.fixed_len() + c.url.len() + 32);
                        let texts = c.lines.iter().filter(|l| !l.fixed);
                        n.push(&mut s, &c.url, texts.map(|l| l.text.as_str()));
                        s
                    }
                    zpl::Mode::Graphic => zpl::graphic(&self.layout, &self.raster(&c)?),
                }
                .into_bytes(),
            ),
            Format::Pdf => Rendered::Pdf(PdfLabel {
                matrix: self.matrix(&c.url)?,
                text: text_box(&self.font, &self.layout, &self.variable(&c)),
            }),
        })
    }
}

// Lines drawn on a bitmap the size of the layout's text box.
fn text_box(font: &Font, layout: &Layout, lines: &[Placed]) -> Canvas {
    let mut c = Canvas::new(layout.text.w.max(1), layout.text.h.max(1));
    for p in lines {
        let local = Placed {
            x: p.x - layout.text.x,
            y: p.y - layout.text.y,
            ..p.clone()
        };
        font.draw(&mut c, &local);
    }
    c
}

/// Renders `first..=last` in parallel chunks and gives each label, in index
/// order, to `sink`; `progress` is told how many are done after each chunk.
pub fn run(
    renderer: &Renderer,
    first: u64,
    last: u64,
    sink: impl FnMut(u64, Rendered) -> Result<(), LabelError>,
    progress: impl Fn(u64),
) -> Result<(), LabelError> {
    run_with(renderer, first, last, |_, r| Ok(r), sink, progress)
}

/// Like [`run`], but each label also goes through `prepare` on the worker
/// that rendered it (e.g. compressing a zip entry), so only the in-order
/// writing is left to the one thread that calls `sink`.
///
/// That thread writes one chunk while the workers render the next, so
/// neither waits for the other; memory is two chunks, whatever the range.
pub fn run_with<T: Send>(
    renderer: &Renderer,
    first: u64,
    last: u64,
    prepare: impl Fn(u64, Rendered) -> Result<T, LabelError> + Sync,
    mut sink: impl FnMut(u64, T) -> Result<(), LabelError>,
    progress: impl Fn(u64),
) -> Result<(), LabelError> {
    let render = |start: u64, end: u64| -> Result<Vec<T>, LabelError> {
        (start..=end)
            .into_par_iter()
            .map(|i| prepare(i, renderer.render(i)?))
            .collect()
    };
    let mut write = |start: u64, labels: Vec<T>| -> Result<(), LabelError> {
        let n = labels.len() as u64;
        for (i, r) in (start..).zip(labels) {
            sink(i, r)?;
        }
        progress(n);
        Ok(())
    };
    // The chunk rendered last, not yet written.
    let mut ready: Option<(u64, Vec<T>)> = None;
    chunks(first, last, |start, end| {
        let mut next = None;
        let written = rayon::in_place_scope(|s| {
            s.spawn(|_| next = Some(render(start, end)));
            // On this thread, while the workers render: the chunk before.
            ready
                .take()
                .map_or(Ok(()), |(at, labels)| write(at, labels))
        });
        written?;
        let labels = next.expect("the spawned render has finished with the scope")?;
        ready = Some((start, labels));
        Ok(())
    })?;
    ready.map_or(Ok(()), |(at, labels)| write(at, labels))
}

/// Renders `first..=last` and hands each label to `sink` on the worker that
/// rendered it, in no particular order: for one file per label, where
/// writing then overlaps rendering on every core instead of waiting for one
/// thread. A chunk at a time, so memory stays bounded and progress moves.
pub fn run_unordered(
    renderer: &Renderer,
    first: u64,
    last: u64,
    sink: impl Fn(u64, Rendered) -> Result<(), LabelError> + Sync,
    progress: impl Fn(u64),
) -> Result<(), LabelError> {
    chunks(first, last, |start, end| {
        (start..=end)
            .into_par_iter()
            .try_for_each(|i| sink(i, renderer.render(i)?))?;
        progress(end - start + 1);
        Ok(())
    })
}

// Calls `each` with consecutive chunks `start..=end` of at most CHUNK labels covering `first..=last`.
fn chunks(
    first: u64,
    last: u64,
    mut each: impl FnMut(u64, u64) -> Result<(), LabelError>,
) -> Result<(), LabelError> {
    let mut start = first;
    loop {
        let end = start.saturating_add(CHUNK - 1).min(last);
        each(start, end)?;
        if end == last {
            return Ok(());
        }
        start = end + 1;
    }
}

/// A file written under a temporary name and renamed into place only by
/// [`AtomicFile::commit`]: an interrupted run never leaves a file that looks complete.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates `{path}.part` to write into.
    pub fn create(path: &Path) -> Result<Self, LabelError> {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".part");
        let tmp = path.with_file_name(name);
        let f = File::create(&tmp).map_err(|e| LabelError::io(tmp.display(), e))?;
        Ok(AtomicFile {
            path: path.to_owned(),
            tmp,
            out: Some(BufWriter::with_capacity(1 << 20, f)),
        })
    }

    /// Flushes, syncs and renames the file to its real name.
    pub fn commit(mut self) -> Result<(), LabelError> {
        let out = self.out.take().expect("commit is called once");
        let f = out
            .into_inner()
            .map_err(|e| LabelError::io(self.tmp.display(), e.into_error()))?;
        f.sync_all()
            .map_err(|e| LabelError::io(self.tmp.display(), e))?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| LabelError::io(self.path.display(), e))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.out {
            Some(o) => o.write(buf),
            None => Err(std::io::Error::other("file already committed")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.out {
            Some(o) => o.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        // Not committed: remove the partial file rather than leave it about.
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Writes one label's file into a directory via a temporary name and a rename.
///
/// Unlike [`AtomicFile::commit`] this does not fsync: one sync per label
/// would cap a run at the disk's sync rate (a few hundred per second), and a
/// label lost to a power cut is re-rendered by resuming with `--range`.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), LabelError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.part"));
    std::fs::write(&tmp, bytes).map_err(|e| LabelError::io(tmp.display(), e))?;
    std::fs::rename(&tmp, &path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        LabelError::io(path.display(), e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::demo::{demo_gtin, demo_key, LOT};
    use crate::label::content::BatchInfo;
    use crate::label::layout::{Ecc, LabelSize};
    use serde_json::json;

    fn renderer(format: Format) -> Renderer {
        let batch = BatchInfo::from_api(&json!({
            "id": "ab", "quantity": 1000,
            "statement": {"party": "hengshan-dairy", "gtin": demo_gtin(), "product": "Infant formula",
                          "lot": LOT, "expires": "2028-10-14"}
        }))
        .unwrap();
        Renderer::new(
            Subject::Units(batch),
            Signer::new(demo_key("hengshan-dairy"), "https://id.example.com"),
            Spec::new(LabelSize::mm(50, 30), 203, Ecc::M).unwrap(),
            format,
            zpl::Mode::Native,
            Font::Builtin,
            0,
            999,
        )
        .unwrap()
    }

    #[test]
    fn run_is_in_order_and_complete() {
        let r = renderer(Format::Zpl);
        let done = std::cell::Cell::new(0);
        let mut seen = Vec::new();
        run(
            &r,
            5,
            999,
            |i, _| {
                seen.push(i);
                Ok(())
            },
            |n| done.set(done.get() + n),
        )
        .unwrap();
        assert_eq!(seen, (5..=999).collect::<Vec<_>>());
        assert_eq!(done.get(), 995);
    }

    #[test]
    fn atomic_file_leaves_nothing_unless_committed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.zpl");
        {
            let mut f = AtomicFile::create(&p).unwrap();
            f.write_all(b"^XA").unwrap();
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let mut f = AtomicFile::create(&p).unwrap();
        f.write_all(b"^XA").unwrap();
        assert!(!p.exists());
        f.commit().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"^XA");
    }

    #[test]
    fn every_label_has_the_same_symbol_size() {
        let r = renderer(Format::Png);
        let a = r.matrix(&r.content(0).unwrap().url).unwrap();
        let b = r.matrix(&r.content(999).unwrap().url).unwrap();
        assert_eq!(a.width(), b.width());
        assert_eq!(a.width(), r.layout().modules);
    }
}
