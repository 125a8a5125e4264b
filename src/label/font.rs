//! Fonts for the human-readable text of raster labels (PNG, PDF, ZPL graphics).
//!
//! CJK fonts are tens of megabytes, so none is compiled in: a font file is
//! loaded from `--font` or a well-known system path. Without one, a built-in
//! 8×8 bitmap font draws ASCII and every other character as "?", and the
//! caller warns the user.

use ab_glyph::{Font as _, FontVec, GlyphId, PxScale, ScaleFont as _};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use super::canvas::Canvas;
use super::text::Placed;
use super::LabelError;

/// Where Debian and others put CJK fonts, most preferred first.
pub const SYSTEM_FONTS: [&str; 5] = [
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
];

/// A loaded font.
pub enum Font {
    /// A TrueType/OpenType font (first face of a collection).
    Outline {
        /// The parsed font.
        font: FontVec,
        /// Where it was loaded from.
        path: PathBuf,
        /// Glyphs already rasterised, by exact size and position.
        cache: GlyphCache,
    },
    /// The built-in 8×8 ASCII bitmap font.
    Builtin,
}

impl std::fmt::Debug for Font {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Font::Outline { path, .. } => write!(f, "Font({})", path.display()),
            Font::Builtin => f.write_str("Font(builtin 8x8 ASCII)"),
        }
    }
}

impl Font {
    /// Loads a font file (a `.ttc` collection's first face).
    pub fn load(path: &Path) -> Result<Self, LabelError> {
        let data = std::fs::read(path).map_err(|e| LabelError::io(path.display(), e))?;
        let font = FontVec::try_from_vec_and_index(data, 0).map_err(|e| LabelError::Font {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Ok(Font::Outline {
            font,
            path: path.to_owned(),
            cache: GlyphCache::default(),
        })
    }

    /// The font at `explicit`, or the first system CJK font found, or the
    /// built-in ASCII font with a warning saying what is missing.
    pub fn find(explicit: Option<&Path>) -> Result<(Self, Option<String>), LabelError> {
        if let Some(p) = explicit {
            return Ok((Font::load(p)?, None));
        }
        for p in SYSTEM_FONTS {
            let p = Path::new(p);
            if p.exists() {
                if let Ok(f) = Font::load(p) {
                    return Ok((f, None));
                }
            }
        }
        Ok((
            Font::Builtin,
            Some(format!(
                "no CJK font found (looked for {}); text is drawn ASCII-only with non-ASCII \
                 characters as '?'. Install fonts-wqy-microhei or fonts-noto-cjk, or pass --font FILE",
                SYSTEM_FONTS.join(", ")
            )),
        ))
    }

    /// Where the font came from, for messages and READMEs.
    pub fn name(&self) -> String {
        match self {
            Font::Outline { path, .. } => path.display().to_string(),
            Font::Builtin => "built-in 8x8 ASCII".into(),
        }
    }

    // The built-in font scales its 8×8 cells by a whole factor so dots stay square.
    fn builtin_scale(px: f32) -> u32 {
        ((px / 8.0) as u32).max(1)
    }

    /// Horizontal advance of `c` at `px` dots per em.
    pub fn advance(&self, c: char, px: f32) -> f32 {
        match self {
            Font::Outline { font, .. } => {
                let s = font.as_scaled(PxScale::from(px));
                s.h_advance(font.glyph_id(c))
            }
            Font::Builtin => (8 * Self::builtin_scale(px)) as f32,
        }
    }

    /// Draws a placed line onto the canvas; coverage over one half is black.
    pub fn draw(&self, canvas: &mut Canvas, line: &Placed) {
        match self {
            Font::Outline { font, cache, .. } => {
                let scaled = font.as_scaled(PxScale::from(line.px));
                let baseline = line.y as f32 + scaled.ascent();
                let mut x = line.x as f32;
                let mut prev = None;
                for c in line.text.chars() {
                    let id = font.glyph_id(c);
                    if let Some(p) = prev {
                        x += scaled.kern(p, id);
                    }
                    for &(px, py) in cache.dots(font, id, line.px, x, baseline).iter() {
                        canvas.set(px, py);
                    }
                    x += scaled.h_advance(id);
                    prev = Some(id);
                }
            }
            Font::Builtin => {
                let s = Self::builtin_scale(line.px);
                // Centre the 8-dot cell vertically in the em box.
                let top = line.y + ((line.px as u32).saturating_sub(8 * s)) / 2;
                for (i, c) in line.text.chars().enumerate() {
                    let code = if c.is_ascii() && !c.is_ascii_control() {
                        c as usize
                    } else {
                        b'?' as usize
                    };
                    let rows = font8x8::legacy::BASIC_LEGACY[code];
                    let left = line.x + (i as u32) * 8 * s;
                    for (ry, bits) in rows.iter().enumerate() {
                        for rx in 0..8u32 {
                            // font8x8 stores the leftmost dot in bit 0.
                            if bits & (1 << rx) != 0 {
                                canvas.fill(left + rx * s, top + ry as u32 * s, s, s);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Dots of glyphs already drawn, keyed by glyph, size and exact position.
///
/// A run draws the same serial-line glyphs at the same positions on every
/// label (digits share one advance), so rasterising each once per run and
/// copying its dots gives the very same bitmap for a fraction of the work.
#[derive(Default)]
pub struct GlyphCache {
    map: RwLock<HashMap<GlyphKey, GlyphDots>>,
}

/// Glyph, size and position, as [`GlyphCache`] keys them.
type GlyphKey = (GlyphId, u32, u32, u32);
/// The dots a glyph sets, as (x, y).
type GlyphDots = Arc<[(u32, u32)]>;

/// Entries kept before the cache starts over: bounds memory on odd runs.
const GLYPH_CACHE_MAX: usize = 4096;

impl GlyphCache {
    // The black dots (coverage over one half) of glyph `id` at `px` with its
    // origin at (x, baseline), clipped to non-negative coordinates.
    fn dots(
        &self,
        font: &FontVec,
        id: GlyphId,
        px: f32,
        x: f32,
        baseline: f32,
    ) -> Arc<[(u32, u32)]> {
        let key = (id, px.to_bits(), x.to_bits(), baseline.to_bits());
        if let Some(d) = self.map.read().ok().and_then(|m| m.get(&key).cloned()) {
            return d;
        }
        let mut dots = Vec::new();
        let glyph = id.with_scale_and_position(px, ab_glyph::point(x, baseline));
        if let Some(outlined) = font.outline_glyph(glyph) {
            let b = outlined.px_bounds();
            outlined.draw(|gx, gy, cov| {
                if cov > 0.5 {
                    let px = b.min.x as i64 + i64::from(gx);
                    let py = b.min.y as i64 + i64::from(gy);
                    if px >= 0 && py >= 0 {
                        dots.push((px as u32, py as u32));
                    }
                }
            });
        }
        let dots: Arc<[(u32, u32)]> = dots.into();
        if let Ok(mut m) = self.map.write() {
            if m.len() >= GLYPH_CACHE_MAX {
                m.clear();
            }
            m.insert(key, dots.clone());
        }
        dots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_draws_ascii_and_question_marks() {
        let f = Font::Builtin;
        let mut c = Canvas::new(64, 16);
        let line = Placed {
            text: "I奶".into(),
            x: 0,
            y: 0,
            px: 16.0,
            fixed: true,
        };
        f.draw(&mut c, &line);
        let black = (0..64).flat_map(|x| (0..16).map(move |y| (x, y)));
        assert!(black.filter(|&(x, y)| c.get(x, y)).count() > 10);
        assert_eq!(f.advance('奶', 16.0), 16.0);
    }

    #[test]
    fn missing_font_file_is_an_error() {
        let e = Font::load(Path::new("/nonexistent/font.ttf")).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/font.ttf"));
    }
}
