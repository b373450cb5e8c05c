//! The test pattern: colour bars, a grey ramp, a frame and a white box with the
//! title and the current UTC time; and its JPEG encoding.
//!
//! Everything here is pure (the time is a parameter), so it can be tested
//! without a host.

use std::time::SystemTime;

use jpeg_encoder::{ColorType, Encoder, EncodingError};

use crate::canvas::{text_width, Canvas, Rect, Rgb, BLACK, GLYPH_SIZE, WHITE};
use crate::clock::UtcDateTime;

/// The title drawn above the time.
pub const TITLE: &str = "Plinth test picture";

/// The colour bars, left to right: the classic 75 % bars (grey, yellow, cyan,
/// green, magenta, red, blue).
pub const BARS: [Rgb; 7] = [
    [191, 191, 191],
    [191, 191, 0],
    [0, 191, 191],
    [0, 191, 0],
    [191, 0, 191],
    [191, 0, 0],
    [0, 0, 191],
];

/// The colour of the frame around the picture.
pub const FRAME: Rgb = WHITE;

/// One line of text: where it is drawn and how large.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextLine {
    /// The area the text covers.
    pub area: Rect,
    /// Image pixels per font pixel.
    pub scale: u32,
}

/// Where the parts of the pattern go in a picture of a given size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// The colour bars: the top two thirds, full width.
    pub bars: Rect,
    /// The grey ramp, black on the left to white on the right: the rest below the bars.
    pub ramp: Rect,
    /// Thickness of the frame along the edges.
    pub frame: u32,
    /// The white box behind the text, centred in the picture.
    pub text_box: Rect,
    /// The title line, [`TITLE`].
    pub title: TextLine,
    /// The time line.
    pub time: TextLine,
}

impl Layout {
    /// The layout of a `width`×`height` picture showing `time_text`.
    ///
    /// The time is scaled by the largest integer factor that keeps it within
    /// 90 % of the width and its glyphs within a fifth of the height (at least 1;
    /// pictures too small for the text clip it). The title is two thirds that size.
    pub fn new(width: u32, height: u32, time_text: &str) -> Self {
        let bars_height = height * 2 / 3;
        let frame = (width.min(height) / 80).max(1);

        let unscaled = text_width(time_text, 1).max(1);
        let scale = (width * 9 / 10 / unscaled)
            .min(height / 5 / GLYPH_SIZE)
            .max(1);
        let title_scale = (scale * 2 / 3).max(1);
        let padding = 2 * scale;
        let gap = 2 * scale;

        let time_size = (text_width(time_text, scale), GLYPH_SIZE * scale);
        let title_size = (text_width(TITLE, title_scale), GLYPH_SIZE * title_scale);
        let box_w = time_size.0.max(title_size.0) + 2 * padding;
        let box_h = title_size.1 + gap + time_size.1 + 2 * padding;
        let centred = |outer: u32, inner: u32| (i64::from(outer) - i64::from(inner)) / 2;
        let box_x = centred(width, box_w);
        let box_y = centred(height, box_h);
        let text_box = Rect::new(to_i32(box_x), to_i32(box_y), box_w, box_h);

        let title = TextLine {
            area: Rect::new(
                to_i32(box_x + centred(box_w, title_size.0)),
                to_i32(box_y + i64::from(padding)),
                title_size.0,
                title_size.1,
            ),
            scale: title_scale,
        };
        let time = TextLine {
            area: Rect::new(
                to_i32(box_x + centred(box_w, time_size.0)),
                to_i32(box_y + i64::from(padding + title_size.1 + gap)),
                time_size.0,
                time_size.1,
            ),
            scale,
        };

        Self {
            bars: Rect::new(0, 0, width, bars_height),
            ramp: Rect::new(0, to_i32(bars_height.into()), width, height - bars_height),
            frame,
            text_box,
            title,
            time,
        }
    }
}

/// `v` as an `i32`, saturating (coordinates here are far smaller).
fn to_i32(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

/// The bar colour of column `x` in a picture `width` pixels wide.
pub fn bar_colour(x: u32, width: u32) -> Rgb {
    let index = (u64::from(x) * BARS.len() as u64 / u64::from(width.max(1))) as usize;
    BARS[index.min(BARS.len() - 1)]
}

/// The ramp's grey level of column `x` in a picture `width` pixels wide:
/// 0 in the first column up to 255 in the last.
pub fn ramp_level(x: u32, width: u32) -> u8 {
    if width < 2 {
        return 0;
    }
    let level = u64::from(x.min(width - 1)) * 255 / u64::from(width - 1);
    u8::try_from(level).unwrap_or(u8::MAX)
}

/// Renders the test pattern at `width`×`height` with the time `now`:
/// `width * height * 3` bytes of RGB, rows top to bottom.
pub fn render(width: u16, height: u16, now: SystemTime) -> Vec<u8> {
    let (width, height) = (u32::from(width), u32::from(height));
    let time_text = UtcDateTime::from_system_time(now).to_string();
    let layout = Layout::new(width, height, &time_text);
    let mut canvas = Canvas::new(width, height, BLACK);

    canvas.fill_columns(layout.bars, |x| bar_colour(x, width));
    canvas.fill_columns(layout.ramp, |x| [ramp_level(x, width); 3]);

    let t = layout.frame;
    let far_x = to_i32(width.saturating_sub(t).into());
    let far_y = to_i32(height.saturating_sub(t).into());
    for edge in [
        Rect::new(0, 0, width, t),
        Rect::new(0, far_y, width, t),
        Rect::new(0, 0, t, height),
        Rect::new(far_x, 0, t, height),
    ] {
        canvas.fill_rect(edge, FRAME);
    }

    canvas.fill_rect(layout.text_box, WHITE);
    for (line, text) in [(layout.title, TITLE), (layout.time, time_text.as_str())] {
        canvas.draw_text(line.area.x, line.area.y, text, line.scale, BLACK);
    }

    canvas.into_rgb()
}

/// Encodes `rgb` (as [`render`] returns it) as a baseline JPEG of `quality`
/// (clamped to 1–100).
pub fn encode(rgb: &[u8], width: u16, height: u16, quality: u8) -> Result<Vec<u8>, EncodingError> {
    let mut jpeg = Vec::new();
    Encoder::new(&mut jpeg, quality.clamp(1, 100)).encode(rgb, width, height, ColorType::Rgb)?;
    Ok(jpeg)
}

/// Renders the test pattern and encodes it: the JPEG bytes of a snapshot.
pub fn snapshot(
    width: u16,
    height: u16,
    quality: u8,
    now: SystemTime,
) -> Result<Vec<u8>, EncodingError> {
    encode(&render(width, height, now), width, height, quality)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canvas::glyph;
    use std::time::{Duration, UNIX_EPOCH};
    use zune_jpeg::zune_core::bytestream::ZCursor;
    use zune_jpeg::JpegDecoder;

    /// 2026-11-21 12:34:56 UTC.
    fn instant() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_795_264_496)
    }

    /// Decodes a JPEG to `(width, height, rgb)`.
    fn decode(jpeg: &[u8]) -> (u32, u32, Vec<u8>) {
        let mut decoder = JpegDecoder::new(ZCursor::new(jpeg));
        let rgb = decoder.decode().expect("a valid JPEG");
        let info = decoder.info().expect("headers were decoded");
        assert_eq!(
            rgb.len(),
            usize::from(info.width) * usize::from(info.height) * 3
        );
        (info.width.into(), info.height.into(), rgb)
    }

    /// The top-left corner of `r`, which lies on the canvas.
    fn origin(r: Rect) -> (u32, u32) {
        (u32::try_from(r.x).unwrap(), u32::try_from(r.y).unwrap())
    }

    fn pixel(rgb: &[u8], width: u32, x: u32, y: u32) -> Rgb {
        let i = (y as usize * width as usize + x as usize) * 3;
        [rgb[i], rgb[i + 1], rgb[i + 2]]
    }

    fn assert_close(actual: Rgb, expected: Rgb, tolerance: u8, what: &str) {
        let close = actual
            .iter()
            .zip(expected)
            .all(|(a, e)| a.abs_diff(e) <= tolerance);
        assert!(
            close,
            "{what}: got {actual:?}, expected {expected:?} ± {tolerance}"
        );
    }

    #[test]
    fn the_jpeg_has_exactly_the_requested_size() {
        for (w, h) in [(640, 480), (321, 199), (16, 16), (17, 4096), (1280, 720)] {
            let jpeg = snapshot(w, h, 85, instant()).unwrap();
            assert_eq!(&jpeg[..3], &[0xFF, 0xD8, 0xFF], "JPEG magic for {w}×{h}");
            let (dw, dh, _) = decode(&jpeg);
            assert_eq!((dw, dh), (u32::from(w), u32::from(h)));
        }
    }

    #[test]
    fn the_raw_picture_has_three_bytes_per_pixel() {
        assert_eq!(render(321, 199, instant()).len(), 321 * 199 * 3);
    }

    #[test]
    fn quality_changes_the_size_and_is_clamped() {
        let rgb = render(320, 240, instant());
        let low = encode(&rgb, 320, 240, 10).unwrap();
        let high = encode(&rgb, 320, 240, 100).unwrap();
        assert!(low.len() < high.len(), "{} < {}", low.len(), high.len());
        assert_eq!(
            encode(&rgb, 320, 240, 0).unwrap(),
            encode(&rgb, 320, 240, 1).unwrap()
        );
    }

    #[test]
    fn the_colour_bars_grey_ramp_and_frame_are_where_expected() {
        let (w, h) = (640u32, 480u32);
        let layout = Layout::new(w, h, "2026-11-21 12:34:56 UTC");
        let (_, _, rgb) = decode(&snapshot(640, 480, 85, instant()).unwrap());

        let y = origin(layout.bars).1 + layout.bars.h / 4;
        for (i, expected) in BARS.iter().enumerate() {
            let x = (2 * i as u32 + 1) * w / 14;
            assert!(!layout.text_box.contains(x.into(), y.into()));
            assert_close(pixel(&rgb, w, x, y), *expected, 12, &format!("bar {i}"));
        }

        let y = origin(layout.ramp).1 + layout.ramp.h / 2;
        let mut previous = None;
        for x in [w / 10, w / 4, w / 2, 3 * w / 4, 9 * w / 10] {
            let grey = ramp_level(x, w);
            let got = pixel(&rgb, w, x, y);
            assert_close(got, [grey; 3], 10, &format!("ramp at x = {x}"));
            if let Some(previous) = previous {
                assert!(got[0] > previous, "the ramp gets lighter to the right");
            }
            previous = Some(got[0]);
        }

        let corner = pixel(&rgb, w, layout.frame / 2, h - 1 - layout.frame / 2);
        assert_close(corner, FRAME, 12, "the frame");
    }

    #[test]
    fn the_time_is_drawn_legibly_from_the_font() {
        let (w, h) = (640u32, 480u32);
        let text = "2026-11-21 12:34:56 UTC";
        let layout = Layout::new(w, h, text);
        assert!(layout.time.scale >= 3, "640 px wide: scaled at least 3×");
        assert!(
            layout.time.area.w >= w / 2,
            "spans a good part of the width"
        );
        assert!(layout.time.area.w <= w);

        let rgb = render(640, 480, instant());
        let at = |x: u32, y: u32| pixel(&rgb, w, x, y);
        let ((x0, y0), s) = (origin(layout.time.area), layout.time.scale);
        for (i, c) in text.chars().enumerate() {
            for (row, bits) in (0u32..).zip(glyph(c)) {
                for col in 0..8u32 {
                    let x = x0 + (i as u32 * 8 + col) * s + s / 2;
                    let y = y0 + row * s + s / 2;
                    let expected = if bits & (1 << col) != 0 { BLACK } else { WHITE };
                    assert_eq!(at(x, y), expected, "{c:?} row {row} col {col}");
                }
            }
        }

        // The title is there too, and the box around the text is white.
        let title = layout.title.area;
        let (tx, ty) = origin(title);
        let title_pixels = (0..title.h)
            .flat_map(|dy| (0..title.w).map(move |dx| (tx + dx, ty + dy)))
            .filter(|&(x, y)| at(x, y) == BLACK)
            .count();
        assert!(
            title_pixels > 100,
            "title drawn: {title_pixels} black pixels"
        );
        let (bx, by) = origin(layout.text_box);
        assert_eq!(at(bx + 1, by + 1), WHITE);
    }

    #[test]
    fn different_times_differ_only_in_the_time_text() {
        let (w, h) = (640u32, 480u32);
        let a = instant();
        let b = a + Duration::from_secs(86_400 + 3600 + 61);
        let layout = Layout::new(w, h, "2026-11-21 12:34:56 UTC");

        let (ra, rb) = (render(640, 480, a), render(640, 480, b));
        let mut inside = 0;
        for y in 0..h {
            for x in 0..w {
                if pixel(&ra, w, x, y) != pixel(&rb, w, x, y) {
                    assert!(
                        layout.time.area.contains(x.into(), y.into()),
                        "({x}, {y}) differs outside the time text"
                    );
                    inside += 1;
                }
            }
        }
        assert!(inside > 200, "the time text changed: {inside} pixels");

        // And it survives the JPEG encoding.
        let (_, _, ja) = decode(&encode(&ra, 640, 480, 85).unwrap());
        let (_, _, jb) = decode(&encode(&rb, 640, 480, 85).unwrap());
        let t = layout.time.area;
        let (tx, ty) = origin(t);
        let changed = (0..t.h)
            .flat_map(|dy| (0..t.w).map(move |dx| (tx + dx, ty + dy)))
            .filter(|&(x, y)| pixel(&ja, w, x, y)[0].abs_diff(pixel(&jb, w, x, y)[0]) > 100)
            .count();
        assert!(changed > 200, "decoded time text changed: {changed} pixels");
    }

    #[test]
    fn the_layout_fits_odd_and_tiny_sizes() {
        let text = "2026-11-21 12:34:56 UTC";
        let l = Layout::new(321, 199, text);
        assert_eq!(l.bars, Rect::new(0, 0, 321, 132));
        assert_eq!(l.ramp, Rect::new(0, 132, 321, 67));
        assert_eq!(l.time.scale, 1);
        assert!(l.text_box.x >= 0 && l.text_box.w <= 321);

        let big = Layout::new(4096, 4096, text);
        assert!(big.time.area.w <= 4096 && big.time.area.w > 3000);

        // Too small for the text: it is clipped, nothing panics.
        let tiny = Layout::new(16, 16, text);
        assert!(tiny.text_box.x < 0);
        assert_eq!(render(16, 16, instant()).len(), 16 * 16 * 3);
    }

    #[test]
    fn an_empty_picture_renders_but_does_not_encode() {
        assert!(render(0, 0, instant()).is_empty());
        assert!(render(0, 20, instant()).is_empty());
        assert!(snapshot(0, 20, 85, instant()).is_err());
    }

    #[test]
    fn bars_and_ramp_columns() {
        assert_eq!(bar_colour(0, 700), BARS[0]);
        assert_eq!(bar_colour(99, 700), BARS[0]);
        assert_eq!(bar_colour(100, 700), BARS[1]);
        assert_eq!(bar_colour(699, 700), BARS[6]);
        assert_eq!(ramp_level(0, 256), 0);
        assert_eq!(ramp_level(255, 256), 255);
        assert_eq!(ramp_level(0, 1), 0);
    }
}
