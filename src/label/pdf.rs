//! PDF: A4 sheets with a grid of labels and cut marks, written as a stream.
//!
//! Written by hand rather than with a PDF crate so that pages go to the file
//! as soon as they are full: memory stays flat for a million labels (only the
//! object offsets and page ids are kept). The QR symbol is vector rectangles
//! in module units, exact at any zoom; text is a 1-bit image mask rendered
//! at the printer's dpi, so Chinese prints without embedding a font.

use std::io::Write;

use super::canvas::{symbol_origin, Canvas};
use super::layout::{Layout, Spec};
use super::qr::Matrix;
use super::LabelError;

/// A4 in points.
pub const A4: (f64, f64) = (595.276, 841.89);
/// Page margin, mm: inside what office printers can reach.
const MARGIN_MM: f64 = 10.0;
/// Space between labels, mm: room for the cut marks.
const GAP_MM: f64 = 4.0;
/// Length of a cut mark, mm.
const MARK_MM: f64 = 2.5;

fn pt(mm: f64) -> f64 {
    mm * 72.0 / 25.4
}

/// Where labels go on a sheet, in points from the bottom-left.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    /// Columns of labels.
    pub cols: u32,
    /// Rows of labels.
    pub rows: u32,
    /// Label width, pt.
    pub label_w: f64,
    /// Label height, pt.
    pub label_h: f64,
    /// Left edge of the first column, pt.
    pub left: f64,
    /// Top edge of the first row, pt from the bottom.
    pub top: f64,
    /// Distance between label origins, pt.
    pub pitch_x: f64,
    /// Distance between label origins, pt.
    pub pitch_y: f64,
}

impl Sheet {
    /// The grid for labels of `spec` on A4: `grid` (cols, rows) if given, else as many as fit.
    pub fn a4(spec: &Spec, grid: Option<(u32, u32)>) -> Result<Self, LabelError> {
        let (w, h) = (spec.size.width_mm(), spec.size.height_mm());
        let avail_w = 210.0 - 2.0 * MARGIN_MM;
        let avail_h = 297.0 - 2.0 * MARGIN_MM;
        let fit = |avail: f64, size: f64| ((avail + GAP_MM) / (size + GAP_MM)).floor() as u32;
        let (max_c, max_r) = (fit(avail_w, w), fit(avail_h, h));
        let (cols, rows) = grid.unwrap_or((max_c, max_r));
        if cols == 0 || rows == 0 || cols > max_c || rows > max_r {
            return Err(LabelError::BadOption(format!(
                "a {cols}x{rows} grid of {}x{}mm labels does not fit on A4 with {MARGIN_MM} mm margins \
                 and {GAP_MM} mm gaps; at most {max_c}x{max_r} fits",
                w, h
            )));
        }
        // Centre the grid on the page.
        let used_w = f64::from(cols) * w + f64::from(cols - 1) * GAP_MM;
        let used_h = f64::from(rows) * h + f64::from(rows - 1) * GAP_MM;
        Ok(Sheet {
            cols,
            rows,
            label_w: pt(w),
            label_h: pt(h),
            left: pt((210.0 - used_w) / 2.0),
            top: A4.1 - pt((297.0 - used_h) / 2.0),
            pitch_x: pt(w + GAP_MM),
            pitch_y: pt(h + GAP_MM),
        })
    }

    /// Labels per page.
    pub fn per_page(&self) -> u32 {
        self.cols * self.rows
    }

    /// Top-left corner (pt from bottom-left) of slot `i` on a page, row by row.
    pub fn slot(&self, i: u32) -> (f64, f64) {
        let (c, r) = (i % self.cols, i / self.cols);
        (
            self.left + f64::from(c) * self.pitch_x,
            self.top - f64::from(r) * self.pitch_y,
        )
    }
}

/// One label's drawing: its symbol and its variable text.
#[derive(Debug, Clone)]
pub struct PdfLabel {
    /// The QR matrix.
    pub matrix: Matrix,
    /// Variable text, drawn over the run's fixed text.
    pub text: Canvas,
}

/// A PDF being streamed to `W`.
pub struct PdfWriter<W: Write> {
    out: W,
    pos: u64,
    offsets: Vec<u64>,
    pages: Vec<u32>,
    sheet: Sheet,
    layout: Layout,
    fixed_text: u32,
    pending: Vec<(u32, Matrix)>,
}

const CATALOG: u32 = 1;
const PAGES: u32 = 2;

impl<W: Write> PdfWriter<W> {
    /// Starts a PDF; `fixed` is the text common to every label, stored once.
    pub fn new(out: W, sheet: Sheet, layout: Layout, fixed: &Canvas) -> Result<Self, LabelError> {
        let mut w = PdfWriter {
            out,
            pos: 0,
            offsets: vec![0, 0, 0],
            pages: Vec::new(),
            sheet,
            layout,
            fixed_text: 0,
            pending: Vec::new(),
        };
        // A binary comment line tells transfer tools the file is not text.
        w.raw(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")?;
        w.fixed_text = w.image(fixed)?;
        Ok(w)
    }

    fn raw(&mut self, b: &[u8]) -> Result<(), LabelError> {
        self.out
            .write_all(b)
            .map_err(|e| LabelError::io("PDF output", e))?;
        self.pos += b.len() as u64;
        Ok(())
    }

    fn begin(&mut self) -> u32 {
        self.offsets.push(self.pos);
        (self.offsets.len() - 1) as u32
    }

    fn object(&mut self, id: u32, dict: &str, stream: Option<&[u8]>) -> Result<(), LabelError> {
        self.offsets[id as usize] = self.pos;
        match stream {
            Some(data) => {
                self.raw(
                    format!("{id} 0 obj\n<<{dict} /Length {}>>\nstream\n", data.len()).as_bytes(),
                )?;
                self.raw(data)?;
                self.raw(b"\nendstream\nendobj\n")
            }
            None => self.raw(format!("{id} 0 obj\n<<{dict}>>\nendobj\n").as_bytes()),
        }
    }

    // A 1-bit stencil mask: set dots paint in the fill colour (black).
    fn image(&mut self, c: &Canvas) -> Result<u32, LabelError> {
        let (_, rows) = c.packed_rows(true);
        let data = miniz_oxide::deflate::compress_to_vec_zlib(&rows, 6);
        let id = self.begin();
        let dict = format!(
            "/Type /XObject /Subtype /Image /Width {} /Height {} /ImageMask true \
             /BitsPerComponent 1 /Decode [1 0] /Filter /FlateDecode",
            c.width(),
            c.height()
        );
        self.object(id, &dict, Some(&data))?;
        Ok(id)
    }

    /// Adds a label; a page is written out whenever one is full.
    pub fn add(&mut self, label: PdfLabel) -> Result<(), LabelError> {
        let img = self.image(&label.text)?;
        self.pending.push((img, label.matrix));
        if self.pending.len() as u32 == self.sheet.per_page() {
            self.flush_page()?;
        }
        Ok(())
    }

    fn flush_page(&mut self) -> Result<(), LabelError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let l = &self.layout;
        let dot = 72.0 / f64::from(l.dpi);
        let mut c = String::with_capacity(pending.len() * 4096);
        let mut xobjects = format!("/F {} 0 R", self.fixed_text);
        // Cut marks first, thin and outside the labels.
        c.push_str("0.25 w 0 G\n");
        let (gap, mark) = (pt(GAP_MM) / 2.0 - pt(MARK_MM) / 2.0, pt(MARK_MM));
        for i in 0..pending.len() as u32 {
            let (x, y) = self.sheet.slot(i);
            let (x1, y1) = (x + self.sheet.label_w, y - self.sheet.label_h);
            for (cx, cy, dx, dy) in [
                (x, y, -1.0, 1.0),
                (x1, y, 1.0, 1.0),
                (x, y1, -1.0, -1.0),
                (x1, y1, 1.0, -1.0),
            ] {
                c.push_str(&format!(
                    "{:.2} {:.2} m {:.2} {:.2} l S {:.2} {:.2} m {:.2} {:.2} l S\n",
                    cx + dx * gap,
                    cy,
                    cx + dx * (gap + mark),
                    cy,
                    cx,
                    cy + dy * gap,
                    cx,
                    cy + dy * (gap + mark)
                ));
            }
        }
        for (i, (img, m)) in pending.iter().enumerate() {
            let (x, y) = self.sheet.slot(i as u32);
            xobjects.push_str(&format!(" /T{i} {img} 0 R"));
            // Label space: origin top-left, y down, unit = one printer dot.
            c.push_str(&format!("q {dot:.6} 0 0 {:.6} {x:.3} {y:.3} cm\n", -dot));
            let t = l.text;
            for name in ["F".to_owned(), format!("T{i}")] {
                c.push_str(&format!(
                    "q {} 0 0 -{} {} {} cm /{name} Do Q\n",
                    t.w,
                    t.h,
                    t.x,
                    t.y + t.h
                ));
            }
            let (x0, y0) = symbol_origin(m, l);
            c.push_str(&format!("q {d} 0 0 {d} {x0} {y0} cm 0 g\n", d = l.module));
            for row in 0..m.width() {
                for (col, len) in m.runs(row) {
                    c.push_str(&format!("{col} {row} {len} 1 re\n"));
                }
            }
            c.push_str("f Q Q\n");
        }
        let data = miniz_oxide::deflate::compress_to_vec_zlib(c.as_bytes(), 6);
        let content = self.begin();
        self.object(content, "/Filter /FlateDecode", Some(&data))?;
        let page = self.begin();
        self.object(
            page,
            &format!(
                "/Type /Page /Parent {PAGES} 0 R /MediaBox [0 0 {} {}] /Contents {content} 0 R \
                 /Resources << /XObject << {xobjects} >> >>",
                A4.0, A4.1
            ),
            None,
        )?;
        self.pages.push(page);
        Ok(())
    }

    /// Writes the last page, the page tree, the cross-reference table and the trailer.
    pub fn finish(mut self) -> Result<W, LabelError> {
        self.flush_page()?;
        let kids: Vec<String> = self.pages.iter().map(|p| format!("{p} 0 R")).collect();
        let dict = format!(
            "/Type /Pages /Kids [{}] /Count {}",
            kids.join(" "),
            self.pages.len()
        );
        self.object(PAGES, &dict, None)?;
        self.object(CATALOG, &format!("/Type /Catalog /Pages {PAGES} 0 R"), None)?;
        let xref = self.pos;
        let mut x = format!("xref\n0 {}\n0000000000 65535 f \n", self.offsets.len());
        for off in &self.offsets[1..] {
            x.push_str(&format!("{off:010} 00000 n \n"));
        }
        x.push_str(&format!(
            "trailer\n<< /Size {} /Root {CATALOG} 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            self.offsets.len()
        ));
        self.raw(x.as_bytes())?;
        self.out
            .flush()
            .map_err(|e| LabelError::io("PDF output", e))?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::label::layout::{Ecc, LabelSize};

    #[test]
    fn a4_grid_fits_and_is_checked() {
        let spec = Spec::new(LabelSize::mm(50, 30), 300, Ecc::M).unwrap();
        let s = Sheet::a4(&spec, None).unwrap();
        // (190 + 4) / 54 = 3 columns, (277 + 4) / 34 = 8 rows.
        assert_eq!((s.cols, s.rows), (3, 8));
        let (x, y) = s.slot(23);
        assert!(x > 0.0 && y - s.label_h > 0.0);
        assert!(x + s.label_w < A4.0);
        let e = Sheet::a4(&spec, Some((4, 8))).unwrap_err().to_string();
        assert!(e.contains("at most 3x8"), "{e}");
        assert_eq!(Sheet::a4(&spec, Some((2, 2))).unwrap().per_page(), 4);
    }

    #[test]
    fn xref_offsets_point_at_objects() {
        let spec = Spec::new(LabelSize::mm(50, 30), 300, Ecc::M).unwrap();
        let layout = Layout::compute(&spec, 21, 1, 1).unwrap();
        let sheet = Sheet::a4(&spec, Some((1, 2))).unwrap();
        let fixed = Canvas::new(layout.text.w, layout.text.h);
        let mut w = PdfWriter::new(Vec::new(), sheet, layout.clone(), &fixed).unwrap();
        for _ in 0..3 {
            w.add(PdfLabel {
                matrix: Matrix::encode("x", Ecc::M).unwrap(),
                text: Canvas::new(layout.text.w, layout.text.h),
            })
            .unwrap();
        }
        let pdf = w.finish().unwrap();
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/Count 2"));
        let xref_at: usize = text
            .rsplit("startxref\n")
            .next()
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let xref = std::str::from_utf8(&pdf[xref_at..]).unwrap();
        let mut n = 0;
        for line in xref.lines().skip(3).take_while(|l| l.ends_with(" n ")) {
            n += 1;
            let off: usize = line[..10].parse().unwrap();
            assert!(
                pdf[off..].starts_with(format!("{n} 0 obj").as_bytes()),
                "object {n}"
            );
        }
        assert!(n > 5);
    }
}
