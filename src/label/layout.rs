//! Label geometry in printer dots: where the QR symbol goes, how big one
//! module is, and the box the human-readable text gets. Pure: no I/O.

use super::LabelError;

/// Quiet zone around the symbol, in modules (ISO/IEC 18004 asks for 4).
pub const QUIET: u32 = 4;
/// Below this many dots a module is not printed square on a thermal head.
pub const MIN_MODULE_DOTS: u32 = 2;
/// Modules under this size are hard for phone cameras: warn.
pub const WARN_MODULE_MM: f64 = 0.25;
/// Printer resolutions a module size is computed for.
pub const DPIS: [u32; 3] = [203, 300, 600];
/// Share of the label's long side the QR square may take; the rest is text.
const QR_SHARE: f64 = 0.6;
/// Margin between the text and the label edge, in mm.
const TEXT_MARGIN_MM: f64 = 1.0;
/// Text lines never grow beyond this height, in mm, on big labels.
const MAX_LINE_MM: f64 = 4.5;
/// A title line is this much taller than a body line.
pub const TITLE_SCALE: f64 = 1.2;

/// QR error correction level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ecc {
    /// About 7 % of codewords recoverable.
    L,
    /// About 15 %: the default, enough for scuffs on a can.
    #[default]
    M,
    /// About 25 %.
    Q,
    /// About 30 %.
    H,
}

impl Ecc {
    /// Parses L, M, Q or H (any case).
    pub fn parse(s: &str) -> Result<Self, LabelError> {
        match s.to_ascii_uppercase().as_str() {
            "L" => Ok(Ecc::L),
            "M" => Ok(Ecc::M),
            "Q" => Ok(Ecc::Q),
            "H" => Ok(Ecc::H),
            _ => Err(LabelError::BadOption(format!(
                "error correction {s:?}: expected L, M, Q or H"
            ))),
        }
    }

    /// The letter used by ZPL `^BQ` field data and on the command line.
    pub fn letter(self) -> char {
        match self {
            Ecc::L => 'L',
            Ecc::M => 'M',
            Ecc::Q => 'Q',
            Ecc::H => 'H',
        }
    }

    /// The next lower level, if any (a hint when a label is too small).
    pub fn lower(self) -> Option<Ecc> {
        match self {
            Ecc::L => None,
            Ecc::M => Some(Ecc::L),
            Ecc::Q => Some(Ecc::M),
            Ecc::H => Some(Ecc::Q),
        }
    }
}

/// Label size in micrometres, plus the text it was given as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSize {
    /// Width in µm.
    pub width_um: u32,
    /// Height in µm.
    pub height_um: u32,
}

impl LabelSize {
    /// Parses `50x30mm` (or `50x30`, `50.8x25.4mm`): width × height in millimetres.
    pub fn parse(s: &str) -> Result<Self, LabelError> {
        let bad = || {
            LabelError::BadOption(format!(
                "label size {s:?}: expected WIDTHxHEIGHTmm, e.g. 50x30mm"
            ))
        };
        let t = s.trim().to_ascii_lowercase();
        let t = t.strip_suffix("mm").unwrap_or(&t);
        let (w, h) = t.split_once('x').ok_or_else(bad)?;
        let um = |v: &str| -> Result<u32, LabelError> {
            let mm: f64 = v.trim().parse().map_err(|_| bad())?;
            // 1 m is far beyond any label printer; it also keeps µm in u32.
            if !(1.0..=1000.0).contains(&mm) {
                return Err(LabelError::BadOption(format!(
                    "label size {s:?}: each side must be between 1 and 1000 mm"
                )));
            }
            Ok((mm * 1000.0).round() as u32)
        };
        Ok(LabelSize {
            width_um: um(w)?,
            height_um: um(h)?,
        })
    }

    /// From whole millimetres.
    pub fn mm(width: u32, height: u32) -> Self {
        LabelSize {
            width_um: width * 1000,
            height_um: height * 1000,
        }
    }

    /// Width in mm.
    pub fn width_mm(&self) -> f64 {
        f64::from(self.width_um) / 1000.0
    }

    /// Height in mm.
    pub fn height_mm(&self) -> f64 {
        f64::from(self.height_um) / 1000.0
    }
}

impl std::fmt::Display for LabelSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}mm", self.width_mm(), self.height_mm())
    }
}

/// What the user asked for: size, resolution, error correction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// Physical label size.
    pub size: LabelSize,
    /// Printer resolution: 203, 300 or 600 dpi.
    pub dpi: u32,
    /// QR error correction level.
    pub ecc: Ecc,
}

impl Spec {
    /// A spec, checking the dpi is one printers have.
    pub fn new(size: LabelSize, dpi: u32, ecc: Ecc) -> Result<Self, LabelError> {
        if !DPIS.contains(&dpi) {
            return Err(LabelError::BadOption(format!(
                "dpi {dpi}: expected 203, 300 or 600 (the resolutions of label printers)"
            )));
        }
        Ok(Spec { size, dpi, ecc })
    }

    /// Millimetres to whole dots at this dpi.
    pub fn dots(&self, mm: f64) -> u32 {
        (mm * f64::from(self.dpi) / 25.4).round() as u32
    }

    /// Dots to millimetres at this dpi.
    pub fn mm(&self, dots: f64) -> f64 {
        dots * 25.4 / f64::from(self.dpi)
    }
}

/// A rectangle in dots, origin top-left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rect {
    /// Left edge.
    pub x: u32,
    /// Top edge.
    pub y: u32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

/// Where everything goes on one label, in dots.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Label width in dots.
    pub width: u32,
    /// Label height in dots.
    pub height: u32,
    /// Printer resolution.
    pub dpi: u32,
    /// Dots per QR module (a whole number, so nothing is resampled).
    pub module: u32,
    /// Modules across the symbol, without quiet zone.
    pub modules: u32,
    /// Top-left corner of the symbol's first module (the quiet zone lies around it).
    pub symbol_x: u32,
    /// Top of the symbol's first module.
    pub symbol_y: u32,
    /// The box for human-readable text.
    pub text: Rect,
    /// Height of one body text line, in dots.
    pub line: u32,
    /// Whether the text sits below the code (tall labels) rather than beside it.
    pub stacked: bool,
    /// Things that will print but may scan badly.
    pub warnings: Vec<String>,
}

impl Layout {
    /// Lays out a label for a symbol of `modules` modules and text of
    /// `title_lines` title lines plus `body_lines` body lines.
    ///
    /// Wide labels get the code on the left and text on the right; tall ones
    /// the code on top and text below. The module is the largest whole number
    /// of dots that fits the symbol plus its quiet zone in the code's share.
    pub fn compute(
        spec: &Spec,
        modules: u32,
        title_lines: u32,
        body_lines: u32,
    ) -> Result<Layout, LabelError> {
        let width = spec.dots(spec.size.width_mm());
        let height = spec.dots(spec.size.height_mm());
        let stacked = height > width;
        let (long, short) = if stacked {
            (height, width)
        } else {
            (width, height)
        };
        let side = short.min((f64::from(long) * QR_SHARE) as u32);
        let span = modules + 2 * QUIET;
        let module = side / span;
        if module < MIN_MODULE_DOTS {
            return Err(too_small(spec, modules, side, stacked));
        }
        let used = span * module;
        let offset = (side - used) / 2 + QUIET * module;
        let margin = spec.dots(TEXT_MARGIN_MM);
        let (symbol_x, symbol_y, text) = if stacked {
            let sx = (width - used) / 2 + QUIET * module;
            let top = side;
            let text = Rect {
                x: margin,
                y: top,
                w: width.saturating_sub(2 * margin),
                h: height.saturating_sub(top + margin),
            };
            (sx, offset, text)
        } else {
            // The quiet zone is the left margin; text starts where it ends.
            let left = side;
            let text = Rect {
                x: left,
                y: margin,
                w: width.saturating_sub(left + margin),
                h: height.saturating_sub(2 * margin),
            };
            (offset, (height - used) / 2 + QUIET * module, text)
        };
        let weight = f64::from(title_lines) * TITLE_SCALE + f64::from(body_lines);
        let max_line = spec.dots(MAX_LINE_MM);
        let line = if weight > 0.0 {
            ((f64::from(text.h) / weight) as u32).min(max_line)
        } else {
            0
        };
        let mut warnings = Vec::new();
        let module_mm = spec.mm(f64::from(module));
        if module_mm < WARN_MODULE_MM {
            warnings.push(format!(
                "QR module is {module_mm:.3} mm ({module} dots at {} dpi), under {WARN_MODULE_MM} mm: \
                 cheap phone cameras may not read it; use a larger label or --ecc L",
                spec.dpi
            ));
        }
        if weight > 0.0 && spec.mm(f64::from(line)) < 1.2 {
            warnings.push(format!(
                "text lines are only {:.2} mm high: hard to read by eye",
                spec.mm(f64::from(line))
            ));
        }
        Ok(Layout {
            width,
            height,
            dpi: spec.dpi,
            module,
            modules,
            symbol_x,
            symbol_y,
            text,
            line,
            stacked,
            warnings,
        })
    }

    /// Module size in mm.
    pub fn module_mm(&self) -> f64 {
        f64::from(self.module) * 25.4 / f64::from(self.dpi)
    }

    /// Width of the symbol itself (without quiet zone), in dots.
    pub fn symbol_dots(&self) -> u32 {
        self.modules * self.module
    }
}

// The error says how small a module would be, and proposes the smallest label
// of the same shape (rounded up to whole mm) that gives MIN_MODULE_DOTS.
fn too_small(spec: &Spec, modules: u32, side: u32, stacked: bool) -> LabelError {
    let span = modules + 2 * QUIET;
    let module_dots = f64::from(side) / f64::from(span);
    let need_side = spec.mm(f64::from(span * MIN_MODULE_DOTS));
    let (w, h) = (spec.size.width_mm(), spec.size.height_mm());
    let (need_w, need_h) = if stacked {
        (w.max(need_side), h.max(need_side / QR_SHARE))
    } else {
        (w.max(need_side / QR_SHARE), h.max(need_side))
    };
    let ecc_hint = match spec.ecc.lower() {
        Some(l) => format!(
            ", or --ecc {} makes the code smaller (less damage tolerance)",
            l.letter()
        ),
        None => String::new(),
    };
    LabelError::TooSmall {
        size: spec.size.to_string(),
        dpi: spec.dpi,
        modules,
        module_mm: spec.mm(module_dots),
        module_dots,
        min_dots: MIN_MODULE_DOTS,
        suggest: format!("{}x{}mm", need_w.ceil(), need_h.ceil()),
        ecc_hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(w: u32, h: u32, dpi: u32) -> Spec {
        Spec::new(LabelSize::mm(w, h), dpi, Ecc::M).unwrap()
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(LabelSize::parse("50x30mm").unwrap(), LabelSize::mm(50, 30));
        assert_eq!(LabelSize::parse("50X30").unwrap(), LabelSize::mm(50, 30));
        let s = LabelSize::parse("50.8x25.4mm").unwrap();
        assert_eq!((s.width_um, s.height_um), (50800, 25400));
        for bad in ["50", "ax30mm", "0x30mm", "50x30cm", "5000x30mm"] {
            assert!(LabelSize::parse(bad).is_err(), "{bad}");
        }
        assert!(Spec::new(LabelSize::mm(50, 30), 250, Ecc::M).is_err());
    }

    #[test]
    fn module_is_whole_dots_and_quiet_zone_fits() {
        for dpi in DPIS {
            for (w, h) in [(50, 30), (100, 150), (40, 40), (70, 25)] {
                let s = spec(w, h, dpi);
                let l = Layout::compute(&s, 53, 2, 4).unwrap();
                assert!(l.module >= MIN_MODULE_DOTS);
                // Quiet zone of 4 modules on every side, inside the label.
                assert!(l.symbol_x >= QUIET * l.module, "{w}x{h}@{dpi}");
                assert!(l.symbol_y >= QUIET * l.module, "{w}x{h}@{dpi}");
                assert!(l.symbol_x + l.symbol_dots() + QUIET * l.module <= l.width);
                assert!(l.symbol_y + l.symbol_dots() + QUIET * l.module <= l.height);
                // Text does not overlap the quiet zone.
                if l.stacked {
                    assert!(l.text.y >= l.symbol_y + l.symbol_dots() + QUIET * l.module);
                } else {
                    assert!(l.text.x >= l.symbol_x + l.symbol_dots() + QUIET * l.module);
                }
                assert!(l.text.x + l.text.w <= l.width && l.text.y + l.text.h <= l.height);
            }
        }
    }

    #[test]
    fn fifty_by_thirty_at_300_dpi() {
        let l = Layout::compute(&spec2(50, 30), 53, 2, 4).unwrap();
        // 30 mm = 354 dots; 354 / 61 modules = 5 dots = 0.423 mm.
        assert_eq!((l.width, l.height), (591, 354));
        assert_eq!(l.module, 5);
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        assert!(!l.stacked);
    }

    fn spec2(w: u32, h: u32) -> Spec {
        spec(w, h, 300)
    }

    #[test]
    fn too_small_says_module_size_and_a_size_that_works() {
        let err = Layout::compute(&spec(12, 8, 203), 53, 2, 4).unwrap_err();
        let msg = err.to_string();
        // 12x8 mm at 203 dpi = 96x64 dots; min(64, 0.6 * 96) = 57; 57 / 61 = 0.93 dots = 0.117 mm.
        assert!(msg.contains("0.117 mm (0.93 dots)"), "{msg}");
        assert!(msg.contains("at least 2 whole dots"), "{msg}");
        let LabelError::TooSmall { suggest, .. } = &err else {
            panic!("{err:?}")
        };
        let size = LabelSize::parse(suggest).unwrap();
        let ok = Spec::new(size, 203, Ecc::M).unwrap();
        let l = Layout::compute(&ok, 53, 2, 4).unwrap();
        assert_eq!(l.module, MIN_MODULE_DOTS);
        assert!(msg.contains("--ecc L"), "{msg}");
    }

    #[test]
    fn small_modules_warn() {
        // 20 mm at 600 dpi: 472 dots; min(472, 0.6*590)=354 / 61 = 5 dots = 0.21 mm.
        let l = Layout::compute(&spec(25, 20, 600), 53, 2, 4).unwrap();
        assert!(l.module_mm() < WARN_MODULE_MM);
        assert!(l.warnings.iter().any(|w| w.contains("under 0.25 mm")));
    }

    #[test]
    fn tall_labels_stack_text_below() {
        let l = Layout::compute(&spec2(100, 150), 33, 1, 3).unwrap();
        assert!(l.stacked);
        assert!(l.line <= spec2(100, 150).dots(MAX_LINE_MM));
    }

    #[test]
    fn ecc_letters() {
        assert_eq!(Ecc::parse("q").unwrap(), Ecc::Q);
        assert_eq!(Ecc::default().letter(), 'M');
        assert!(Ecc::parse("X").is_err());
    }
}
