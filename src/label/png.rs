//! PNG: one 1-bit greyscale image per label, with its dpi in the pHYs chunk
//! so that printing it at "actual size" puts every dot where it was computed.

use super::canvas::Canvas;
use super::LabelError;

/// Encodes a label bitmap as a 1-bit PNG at `dpi`.
pub fn encode(canvas: &Canvas, dpi: u32) -> Result<Vec<u8>, LabelError> {
    let err = |e: png::EncodingError| LabelError::Encode {
        format: "png",
        message: e.to_string(),
    };
    let (_, rows) = canvas.packed_rows(false);
    let mut out = Vec::with_capacity(rows.len() / 8 + 256);
    let mut enc = png::Encoder::new(&mut out, canvas.width(), canvas.height());
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::One);
    // fdeflate with the Up filter: identical rows (most of a label) cost
    // almost nothing, and the adaptive filter search of `Fast` is skipped.
    enc.set_compression(png::Compression::Fastest);
    // Pixels per metre, rounded as every reader rounds it back.
    let ppm = (f64::from(dpi) / 0.0254).round() as u32;
    enc.set_pixel_dims(Some(png::PixelDimensions {
        xppu: ppm,
        yppu: ppm,
        unit: png::Unit::Meter,
    }));
    let mut w = enc.write_header().map_err(err)?;
    w.write_image_data(&rows).map_err(err)?;
    w.finish().map_err(err)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_one_bit_png_with_dpi() {
        let mut c = Canvas::new(20, 10);
        c.fill(0, 0, 5, 5);
        let bytes = encode(&c, 300).unwrap();
        let dec = png::Decoder::new(std::io::Cursor::new(&bytes));
        let reader = dec.read_info().unwrap();
        let info = reader.info();
        assert_eq!((info.width, info.height), (20, 10));
        assert_eq!(info.bit_depth, png::BitDepth::One);
        assert_eq!(info.pixel_dims.unwrap().xppu, 11811);
    }
}
