//! The QR matrix (ISO/IEC 18004) of a label URL, as a square of dark/light modules.

use qrcode::EcLevel;

use super::layout::Ecc;
use super::mask;
use super::LabelError;

/// A square QR symbol without quiet zone; `true` is a dark module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    width: u32,
    dark: Vec<bool>,
}

fn level(ecc: Ecc) -> EcLevel {
    match ecc {
        Ecc::L => EcLevel::L,
        Ecc::M => EcLevel::M,
        Ecc::Q => EcLevel::Q,
        Ecc::H => EcLevel::H,
    }
}

impl Matrix {
    /// Encodes `data` at the given error correction level (smallest version that fits).
    pub fn encode(data: &str, ecc: Ecc) -> Result<Self, LabelError> {
        let bits = qrcode::bits::encode_auto(data.as_bytes(), level(ecc))
            .map_err(|_| LabelError::PayloadTooLong(data.len()))?;
        Self::from_bits(bits, ecc, data.len())
    }

    /// Encodes `data` as a symbol exactly `width` modules wide, so every label
    /// of a run has the same size and the layout made for it fits.
    pub fn encode_width(data: &str, ecc: Ecc, width: u32) -> Result<Self, LabelError> {
        let version = qrcode::Version::Normal(((width.saturating_sub(17)) / 4) as i16);
        let too_long = |_| LabelError::PayloadTooLong(data.len());
        let mut bits = qrcode::bits::Bits::new(version);
        bits.push_optimal_data(data.as_bytes()).map_err(too_long)?;
        bits.push_terminator(level(ecc)).map_err(too_long)?;
        Self::from_bits(bits, ecc, data.len())
    }

    // What `QrCode::with_bits` does, with the mask chosen by `mask::best_masked`
    // (the same mask and modules, without the crate's slow scoring).
    fn from_bits(bits: qrcode::bits::Bits, ecc: Ecc, len: usize) -> Result<Self, LabelError> {
        let version = bits.version();
        let qrcode::Version::Normal(v @ 1..=40) = version else {
            return Err(LabelError::PayloadTooLong(len));
        };
        let codewords = bits.into_bytes();
        let (data, ec) = qrcode::ec::construct_codewords(&codewords, version, level(ecc))
            .map_err(|_| LabelError::PayloadTooLong(len))?;
        let m = mask::best_masked(v, level(ecc), &data, &ec);
        // A QR symbol is at most 177 modules wide, so this never truncates.
        Ok(Matrix {
            width: m.width as u32,
            dark: (0..m.width * m.width)
                .map(|i| m.get(i % m.width, i / m.width))
                .collect(),
        })
    }

    /// Builds a matrix from rows of modules (for decoders and tests).
    pub fn from_rows(width: u32, dark: Vec<bool>) -> Option<Self> {
        (dark.len() == (width as usize) * (width as usize)).then_some(Matrix { width, dark })
    }

    /// Modules across.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Whether the module at column `x`, row `y` is dark (false outside).
    pub fn dark(&self, x: u32, y: u32) -> bool {
        x < self.width
            && y < self.width
            && self.dark[(y as usize) * (self.width as usize) + x as usize]
    }

    /// Runs of dark modules in row `y`, as (first column, length).
    ///
    /// Writers draw runs rather than single modules: fewer rectangles in SVG
    /// and PDF, and no hairline seams between neighbours in rasterisers.
    pub fn runs(&self, y: u32) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        self.runs_into(y, &mut out);
        out
    }

    /// [`Matrix::runs`] into a buffer the caller reuses from row to row.
    pub fn runs_into(&self, y: u32, out: &mut Vec<(u32, u32)>) {
        out.clear();
        if y >= self.width {
            return;
        }
        let w = self.width as usize;
        let row = &self.dark[y as usize * w..][..w];
        let mut x = 0;
        while x < w {
            if row[x] {
                let start = x;
                while x < w && row[x] {
                    x += 1;
                }
                out.push((start as u32, (x - start) as u32));
            } else {
                x += 1;
            }
        }
    }
}

/// Modules across the symbol a payload of `len` bytes needs at `ecc`.
///
/// Measured by encoding a stand-in of that length: the version depends only
/// on the segment lengths, and a byte-mode stand-in is never smaller than the
/// real URL (whose digits the encoder may pack denser).
pub fn modules_for_len(len: usize, ecc: Ecc) -> Result<u32, LabelError> {
    let stand_in = "a".repeat(len);
    Ok(Matrix::encode(&stand_in, ecc)?.width())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_grows_with_payload_and_ecc() {
        let m = modules_for_len(150, Ecc::M).unwrap();
        // 150 bytes at M is version 8 (49 modules) or 9 (53) depending on mode overhead.
        assert!((49..=53).contains(&m), "{m}");
        assert!(modules_for_len(150, Ecc::H).unwrap() > m);
        assert!(modules_for_len(150, Ecc::L).unwrap() <= m);
        assert!(modules_for_len(4000, Ecc::M).is_err());
    }

    #[test]
    fn runs_cover_dark_modules() {
        let m = Matrix::encode("https://example.com/00/306901234500000018?s=x", Ecc::M).unwrap();
        for y in 0..m.width() {
            let dark: u32 = (0..m.width()).filter(|&x| m.dark(x, y)).count() as u32;
            let runs: u32 = m.runs(y).iter().map(|r| r.1).sum();
            assert_eq!(dark, runs);
        }
        // Finder pattern: the top-left 7 modules of row 0 are dark.
        assert_eq!(m.runs(0)[0], (0, 7));
    }

    #[test]
    fn real_url_never_needs_more_than_the_stand_in() {
        let url = "https://id.example.com/01/06901234567892/10/L20261015A/21/999?s=".to_owned()
            + &"A".repeat(86);
        let real = Matrix::encode(&url, Ecc::M).unwrap().width();
        assert!(real <= modules_for_len(url.len(), Ecc::M).unwrap());
    }
}
