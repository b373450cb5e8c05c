//! A minimal RGB drawing surface: filled rectangles and 8×8 bitmap text, clipped
//! to the image.

use font8x8::legacy::BASIC_LEGACY;

/// An RGB colour.
pub type Rgb = [u8; 3];

/// Black.
pub const BLACK: Rgb = [0, 0, 0];
/// White.
pub const WHITE: Rgb = [255, 255, 255];

/// Width and height of one glyph of the font, in font pixels.
pub const GLYPH_SIZE: u32 = 8;

/// An axis-aligned rectangle. It may reach outside the canvas (negative `x`
/// or `y`, or past the far edges); drawing clips it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x: i32,
    /// Top edge.
    pub y: i32,
    /// Width.
    pub w: u32,
    /// Height.
    pub h: u32,
}

impl Rect {
    /// A rectangle from its top-left corner and size.
    pub const fn new(x: i32, y: i32, w: u32, h: u32) -> Self {
        Self { x, y, w, h }
    }

    /// Whether the pixel `(px, py)` lies inside.
    pub fn contains(&self, px: i64, py: i64) -> bool {
        let (x, y) = (i64::from(self.x), i64::from(self.y));
        (x..x + i64::from(self.w)).contains(&px) && (y..y + i64::from(self.h)).contains(&py)
    }
}

/// The width of `text` drawn at `scale`, in image pixels.
pub fn text_width(text: &str, scale: u32) -> u32 {
    let chars = u32::try_from(text.chars().count()).unwrap_or(u32::MAX);
    chars.saturating_mul(GLYPH_SIZE).saturating_mul(scale)
}

/// The 8×8 bitmap of `c`: one byte per row, top row first, bit 0 the leftmost
/// pixel. Characters outside ASCII are drawn as `?`.
pub fn glyph(c: char) -> [u8; 8] {
    let index = if c.is_ascii() {
        c as usize
    } else {
        '?' as usize
    };
    BASIC_LEGACY[index]
}

/// The part `start..start + len` of `0..limit`, as a range of indices.
fn clip(start: i32, len: u32, limit: u32) -> (usize, usize) {
    let start = i64::from(start);
    let end = (start + i64::from(len)).clamp(0, i64::from(limit));
    // Both ends are within `0..=limit`, a `u32`.
    (start.clamp(0, end) as usize, end as usize)
}

/// An RGB image, 3 bytes per pixel, rows top to bottom.
pub struct Canvas {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl Canvas {
    /// A `width`×`height` canvas filled with `background`.
    pub fn new(width: u32, height: u32, background: Rgb) -> Self {
        let len = width as usize * height as usize;
        Self {
            width,
            height,
            pixels: background.repeat(len),
        }
    }

    /// The width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// The height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The colour at `(x, y)`, or `None` outside the canvas.
    pub fn pixel(&self, x: u32, y: u32) -> Option<Rgb> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y as usize * self.width as usize + x as usize) * 3;
        Some([self.pixels[i], self.pixels[i + 1], self.pixels[i + 2]])
    }

    /// The rows `y0..y1`, each `width * 3` bytes.
    fn rows_mut(&mut self, y0: usize, y1: usize) -> impl Iterator<Item = &mut [u8]> {
        // A canvas without columns has no pixels; `max(1)` only avoids a chunk size of zero.
        let stride = (self.width as usize * 3).max(1);
        self.pixels.chunks_exact_mut(stride).take(y1).skip(y0)
    }

    /// Fills `rect`, clipped to the canvas, with `colour`.
    pub fn fill_rect(&mut self, rect: Rect, colour: Rgb) {
        let (x0, x1) = clip(rect.x, rect.w, self.width);
        let (y0, y1) = clip(rect.y, rect.h, self.height);
        for row in self.rows_mut(y0, y1) {
            for px in row[x0 * 3..x1 * 3].chunks_exact_mut(3) {
                px.copy_from_slice(&colour);
            }
        }
    }

    /// Fills `rect`, clipped to the canvas, column by column: column `x`
    /// (counted from the canvas's left edge) gets `colour(x)`.
    pub fn fill_columns(&mut self, rect: Rect, colour: impl Fn(u32) -> Rgb) {
        let (x0, x1) = clip(rect.x, rect.w, self.width);
        let (y0, y1) = clip(rect.y, rect.h, self.height);
        // Both ends are within `0..=width`, a `u32`.
        let row_colours: Vec<u8> = (x0 as u32..x1 as u32).flat_map(&colour).collect();
        for row in self.rows_mut(y0, y1) {
            row[x0 * 3..x1 * 3].copy_from_slice(&row_colours);
        }
    }

    /// Draws `text` with its top-left corner at `(x, y)`, each font pixel
    /// `scale`×`scale` image pixels, in `colour`. Only the set pixels of the
    /// glyphs are drawn; the background shows through.
    pub fn draw_text(&mut self, x: i32, y: i32, text: &str, scale: u32, colour: Rgb) {
        let step = i64::from(GLYPH_SIZE * scale);
        for (i, c) in text.chars().enumerate() {
            let gx = i64::from(x) + i64::try_from(i).unwrap_or(i64::MAX).saturating_mul(step);
            for (row, bits) in (0..).zip(glyph(c)) {
                for col in (0..GLYPH_SIZE).filter(|col| bits & (1 << col) != 0) {
                    let px = gx + i64::from(col * scale);
                    let py = i64::from(y) + i64::from(row * scale);
                    if let (Ok(px), Ok(py)) = (i32::try_from(px), i32::try_from(py)) {
                        self.fill_rect(Rect::new(px, py, scale, scale), colour);
                    }
                }
            }
        }
    }

    /// The pixels: `width * height * 3` bytes of RGB.
    pub fn into_rgb(self) -> Vec<u8> {
        self.pixels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rectangles_are_clipped_to_the_canvas() {
        let mut c = Canvas::new(4, 3, BLACK);
        c.fill_rect(Rect::new(-2, 1, 4, 10), WHITE);
        assert_eq!(c.pixel(0, 0), Some(BLACK));
        assert_eq!(c.pixel(0, 1), Some(WHITE));
        assert_eq!(c.pixel(1, 2), Some(WHITE));
        assert_eq!(c.pixel(2, 1), Some(BLACK));
        assert_eq!(c.pixel(4, 0), None);
        c.fill_rect(Rect::new(10, 10, 5, 5), WHITE);
        c.fill_rect(Rect::new(-10, -10, 5, 5), WHITE);
        assert_eq!(c.into_rgb().len(), 4 * 3 * 3);
    }

    #[test]
    fn text_is_drawn_from_the_font_bitmap_and_scaled() {
        let mut c = Canvas::new(40, 20, WHITE);
        c.draw_text(1, 2, "H", 2, BLACK);
        let bits = glyph('H');
        for row in 0..8 {
            for col in 0..8 {
                let set = bits[row as usize] & (1 << col) != 0;
                let expected = if set { BLACK } else { WHITE };
                for (dx, dy) in [(0, 0), (1, 1)] {
                    let p = c.pixel(1 + col * 2 + dx, 2 + row * 2 + dy);
                    assert_eq!(p, Some(expected), "row {row} col {col}");
                }
            }
        }
        assert_eq!(text_width("Hi!", 3), 72);
    }

    #[test]
    fn text_off_the_canvas_is_clipped_and_non_ascii_is_a_question_mark() {
        let mut c = Canvas::new(8, 8, WHITE);
        c.draw_text(-100, -3, "way off to the left and top", 4, BLACK);
        c.draw_text(5, 5, "é", 1, BLACK);
        assert_eq!(glyph('é'), glyph('?'));
    }

    #[test]
    fn columns_are_filled_by_a_function_of_x() {
        let mut c = Canvas::new(4, 4, BLACK);
        c.fill_columns(Rect::new(1, 2, 2, 5), |x| [x as u8, 0, 0]);
        assert_eq!(c.pixel(2, 1), Some(BLACK));
        assert_eq!(c.pixel(0, 2), Some(BLACK));
        assert_eq!(c.pixel(1, 3), Some([1, 0, 0]));
        assert_eq!(c.pixel(2, 2), Some([2, 0, 0]));
        assert_eq!(c.pixel(3, 2), Some(BLACK));
    }
}
