//! The quality gate of enrolment: a gallery image must show exactly one face, big enough and
//! sharp enough to be worth remembering; otherwise it is refused with the reason.

use super::engine::{aligned_sharpness, Face, FaceEngine, FaceError, Region};
use crate::preprocess::FrameView;

/// Enrolment needs a surer face than recognition.
pub const ENROL_FACE_THRESHOLD: f32 = 0.8;
/// Smallest face side, in image pixels.
pub const MIN_ENROL_FACE: f32 = 64.0;
/// Smallest variance of the Laplacian of the aligned face (a sharp portrait gives several
/// hundred; a strongly blurred one a few tens).
pub const MIN_SHARPNESS: f32 = 40.0;
/// Images are searched at this detector size.
const ENROL_DETECTOR_SIZE: usize = 640;

#[derive(Debug, thiserror::Error)]
pub enum EnrolError {
    #[error("no face found")]
    NoFace,
    #[error("{0} faces found; an enrolment image must show exactly one")]
    SeveralFaces(usize),
    #[error("the face is {size:.1} pixels wide; at least {min:.0} are needed")]
    TooSmall { size: f32, min: f32 },
    #[error("the face is too blurry (sharpness {sharpness:.0}, at least {min:.0} needed)")]
    Blurry { sharpness: f32, min: f32 },
    #[error("the face's landmarks are degenerate")]
    Degenerate,
    #[error(transparent)]
    Model(#[from] FaceError),
}

/// What enrolment keeps of one image.
#[derive(Debug, Clone)]
pub struct Enrolment {
    pub face: Face,
    pub sharpness: f32,
    pub embedding: Vec<f32>,
}

/// Checks `image` and returns its face's embedding, or why it is refused.
pub fn enrol(engine: &mut FaceEngine, image: &FrameView) -> Result<Enrolment, EnrolError> {
    let whole = Region {
        x: 0,
        y: 0,
        width: image.width,
        height: image.height,
    };
    let faces = engine.detect(image, whole, ENROL_DETECTOR_SIZE, ENROL_FACE_THRESHOLD, 16)?;
    let face = match faces.as_slice() {
        [] => return Err(EnrolError::NoFace),
        [one] => one.clone(),
        many => return Err(EnrolError::SeveralFaces(many.len())),
    };
    if face.size() < MIN_ENROL_FACE {
        return Err(EnrolError::TooSmall {
            size: face.size(),
            min: MIN_ENROL_FACE,
        });
    }
    let aligned = engine.align(image, &face).ok_or(EnrolError::Degenerate)?;
    let sharpness = aligned_sharpness(&aligned);
    if sharpness < MIN_SHARPNESS {
        return Err(EnrolError::Blurry {
            sharpness,
            min: MIN_SHARPNESS,
        });
    }
    let embedding = engine.embed(&[aligned])?.remove(0);
    Ok(Enrolment {
        face,
        sharpness,
        embedding,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_face_just_too_small_is_not_said_to_be_big_enough() {
        let e = EnrolError::TooSmall {
            size: 63.6,
            min: MIN_ENROL_FACE,
        };
        assert_eq!(
            e.to_string(),
            "the face is 63.6 pixels wide; at least 64 are needed"
        );
    }
}
