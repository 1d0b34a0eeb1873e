//! Caption text rasterised from a TrueType/OpenType font file, so names in any script the font
//! covers ("José Müller", "Łukasz", "Дмитрий") read as written.

use std::path::{Path, PathBuf};

/// DejaVu Sans from Debian's `fonts-dejavu-core` (installed by `scripts/setup.sh`): it covers
/// Latin, Greek, Cyrillic, Armenian, Georgian, Hebrew and Arabic.
pub const DEFAULT_FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

#[derive(Debug, thiserror::Error)]
pub enum FontError {
    #[error(
        "cannot read the font file {path}: {source} (install fonts-dejavu-core, or point the \
         font property at a .ttf/.otf file)"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a usable TrueType/OpenType font: {reason}")]
    Parse { path: PathBuf, reason: String },
}

/// A text line as coverage (0 = background, 255 = ink), `width × height`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct TextMask {
    pub width: usize,
    pub height: usize,
    pub coverage: Vec<u8>,
}

impl TextMask {
    pub fn at(&self, x: usize, y: usize) -> u8 {
        self.coverage[y * self.width + x]
    }
}

pub struct CaptionFont {
    font: fontdue::Font,
}

impl CaptionFont {
    pub fn load(path: &Path) -> Result<Self, FontError> {
        let data = std::fs::read(path).map_err(|source| FontError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let parse_error = |reason: &str| FontError::Parse {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        let font = fontdue::Font::from_bytes(data, fontdue::FontSettings::default())
            .map_err(parse_error)?;
        // A font without horizontal metrics (a vertical-only or broken one) cannot lay out a line.
        if font.horizontal_line_metrics(16.0).is_none() {
            return Err(parse_error("it has no horizontal line metrics"));
        }
        Ok(CaptionFont { font })
    }

    /// One line of `text` at `px` pixels per em: as high as the font's ascent plus descent, as
    /// wide as the glyphs' advances (kerned). Characters the font lacks show its "missing" glyph.
    pub fn render(&self, text: &str, px: f32) -> TextMask {
        let Some(line) = self.font.horizontal_line_metrics(px) else {
            return TextMask {
                width: 0,
                height: 0,
                coverage: Vec::new(),
            };
        };
        let baseline = line.ascent.ceil() as i32;
        let height = (line.ascent - line.descent).ceil().max(0.0) as usize;
        let mut glyphs = Vec::new();
        let mut pen = 0.0f32;
        let mut width = 0i32;
        let mut previous = None;
        for c in text.chars() {
            if let Some(kern) = previous.and_then(|p| self.font.horizontal_kern(p, c, px)) {
                pen += kern;
            }
            let (m, bitmap) = self.font.rasterize(c, px);
            let x = pen.round() as i32 + m.xmin;
            let y = baseline - m.ymin - m.height as i32;
            width = width.max(x + m.width as i32);
            glyphs.push((x, y, m.width, m.height, bitmap));
            pen += m.advance_width;
            previous = Some(c);
        }
        let width = width.max(pen.ceil() as i32).max(0) as usize;
        let mut coverage = vec![0u8; width * height];
        for (gx, gy, gw, gh, bitmap) in glyphs {
            for row in 0..gh {
                let y = gy + row as i32;
                if y < 0 || y as usize >= height {
                    continue;
                }
                for col in 0..gw {
                    let x = gx + col as i32;
                    if x < 0 || x as usize >= width {
                        continue;
                    }
                    // Max, not sum: overlapping glyphs (a combining accent) stay within 0–255.
                    let dst = &mut coverage[y as usize * width + x as usize];
                    *dst = (*dst).max(bitmap[row * gw + col]);
                }
            }
        }
        TextMask {
            width,
            height,
            coverage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn font() -> CaptionFont {
        CaptionFont::load(Path::new(DEFAULT_FONT)).unwrap()
    }

    fn ink(m: &TextMask) -> u64 {
        m.coverage.iter().map(|&v| v as u64).sum()
    }

    #[test]
    fn accents_are_drawn() {
        let f = font();
        let (plain, acute) = (f.render("e", 20.0), f.render("é", 20.0));
        assert_eq!(plain.height, acute.height);
        assert_ne!(plain.coverage, acute.coverage);
        // The accent is extra ink above the letter, in the top half of the line.
        assert!(ink(&acute) > ink(&plain));
        let top = |m: &TextMask| -> u64 {
            (0..m.height / 2)
                .flat_map(|y| (0..m.width).map(move |x| (x, y)))
                .map(|(x, y)| m.at(x, y) as u64)
                .sum()
        };
        assert!(
            top(&acute) > top(&plain) + 500,
            "{} vs {}",
            top(&acute),
            top(&plain)
        );

        let (jose, jose_accent) = (f.render("Jose", 20.0), f.render("José", 20.0));
        assert_eq!(jose.width, jose_accent.width);
        assert_ne!(jose.coverage, jose_accent.coverage);
        // Lower case is not upper case any more.
        assert_ne!(f.render("müller", 20.0), f.render("MÜLLER", 20.0));
    }

    #[test]
    fn size_follows_px_and_text_length() {
        let f = font();
        let small = f.render("José Müller", 10.0);
        let large = f.render("José Müller", 30.0);
        assert!(large.height >= 3 * small.height - 3);
        assert!(large.width >= 3 * small.width - 6);
        assert!(f.render("José Müller ok", 10.0).width > small.width);
        assert_eq!(f.render("", 10.0).width, 0);
        assert!(ink(&small) > 0);
    }

    #[test]
    fn unusable_font_files_are_reported() {
        let missing = CaptionFont::load(Path::new("/nonexistent/font.ttf"))
            .err()
            .unwrap();
        assert!(matches!(missing, FontError::Read { .. }));
        assert!(missing.to_string().contains("/nonexistent/font.ttf"));
        assert!(missing.to_string().contains("fonts-dejavu-core"));

        let dir = std::env::temp_dir().join(format!("fess-font-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bogus = dir.join("bogus.ttf");
        std::fs::write(&bogus, b"not a font at all").unwrap();
        let invalid = CaptionFont::load(&bogus).err().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(invalid, FontError::Parse { .. }), "{invalid}");
        assert!(invalid.to_string().contains("bogus.ttf"));
        // A directory is not a font either.
        let dir_err = CaptionFont::load(Path::new("/usr")).err().unwrap();
        assert!(matches!(dir_err, FontError::Read { .. }), "{dir_err}");
    }
}
