//! `fess recognize`: who the faces in still images are, as fessface would tell them against the
//! gallery in Redis — to check an enrolment without running a pipeline.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use gst::prelude::*;

use fess::gallery::{Gallery, GalleryStore, Identity};
use fess_vision::face::engine::{Face, FaceEngine, Region};
use fess_vision::preprocess::FrameView;

#[derive(clap::Args)]
pub struct RecognizeArgs {
    #[command(flatten)]
    redis: crate::redis_args::RedisArgs,
    /// Key prefix of the gallery in Redis (fessface's `gallery-key`).
    #[arg(long, default_value = fess::gallery::DEFAULT_GALLERY_KEY)]
    key: String,
    /// fessface properties deciding what is found and matched, as in a pipeline (defaults:
    /// fessface's): detection-size, face-threshold, min-face-size, max-faces,
    /// match-threshold, detector-model, embedder-model; e.g. `--face-set match-threshold=0.6`.
    #[arg(long = "face-set", value_name = "PROPERTY=VALUE")]
    face_set: Vec<String>,
    /// Print one JSON document: `{"gallery_version", "match_threshold", "images": [{"path",
    /// "faces": [{"status", "person_id", "name", "authorized", "similarity", "score", "box":
    /// {"x1", "y1", "x2", "y2"}}]}]}`; an image that could not be read has `"error"` instead
    /// of `"faces"`.
    #[arg(long)]
    json: bool,
    /// Images (anything GStreamer decodes: PNG, JPEG, ...).
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<PathBuf>,
}

/// fessface's knobs for finding and matching faces, read from a configured element so the
/// command applies the very defaults and limits of the element.
struct Rules {
    detector_model: Option<PathBuf>,
    embedder_model: Option<PathBuf>,
    detection_size: usize,
    face_threshold: f32,
    min_face_size: f32,
    max_faces: usize,
    match_threshold: f32,
}

impl Rules {
    fn of(face: &gst::Element) -> Rules {
        let path = |name: &str| {
            face.property::<Option<String>>(name)
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
        };
        Rules {
            detector_model: path("detector-model"),
            embedder_model: path("embedder-model"),
            detection_size: face.property::<u32>("detection-size") as usize,
            face_threshold: face.property::<f64>("face-threshold") as f32,
            min_face_size: face.property::<u32>("min-face-size") as f32,
            max_faces: face.property::<u32>("max-faces") as usize,
            match_threshold: face.property::<f64>("match-threshold") as f32,
        }
    }
}

/// One face of an image and who it is.
struct Recognised {
    face: Face,
    identity: Identity,
}

pub fn run(args: RecognizeArgs) -> anyhow::Result<()> {
    crate::elements::require_plugin()?;
    let face = gst::ElementFactory::make("fessface").build()?;
    crate::elements::set_properties(&face, &args.face_set)?;
    let rules = Rules::of(&face);
    let mut store =
        GalleryStore::connect(&args.redis.settings(), &args.key, Duration::from_secs(5))?;
    let mut engine =
        crate::gallery::face_engine(rules.detector_model.clone(), rules.embedder_model.clone())?;
    let (gallery, warnings) = store.load(Some(engine.dim()))?;
    for w in warnings {
        eprintln!("fess: warning: {w}");
    }
    let results: Vec<(&Path, anyhow::Result<Vec<Recognised>>)> = args
        .images
        .iter()
        .map(|path| {
            let found = crate::image::with_decoded(path, |view| {
                recognise(&mut engine, &gallery, view, &rules)
            });
            (path.as_path(), found)
        })
        .collect();
    if args.json {
        print_json(&gallery, &rules, &results);
    } else {
        print_text(&results);
    }
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    if failed > 0 {
        bail!("{failed} of {} images could not be read", results.len());
    }
    Ok(())
}

/// The faces of `view`, best first, each matched against `gallery` as fessface matches them.
fn recognise(
    engine: &mut FaceEngine,
    gallery: &Gallery,
    view: &FrameView,
    rules: &Rules,
) -> anyhow::Result<Vec<Recognised>> {
    let whole = Region {
        x: 0,
        y: 0,
        width: view.width,
        height: view.height,
    };
    let faces = engine.detect(
        view,
        whole,
        rules.detection_size,
        rules.face_threshold,
        rules.max_faces,
    )?;
    // A face whose landmarks cannot be aligned is not embedded by fessface either.
    let (faces, aligned): (Vec<Face>, Vec<Vec<u8>>) = faces
        .into_iter()
        .filter(|f| f.size() >= rules.min_face_size)
        .filter_map(|f| engine.align(view, &f).map(|a| (f, a)))
        .unzip();
    if faces.is_empty() {
        return Ok(Vec::new());
    }
    let embeddings = engine.embed(&aligned)?;
    Ok(faces
        .into_iter()
        .zip(embeddings)
        .map(|(face, e)| Recognised {
            face,
            identity: gallery.identify(&e, rules.match_threshold),
        })
        .collect())
}

fn print_text(results: &[(&Path, anyhow::Result<Vec<Recognised>>)]) {
    // Names come from whoever wrote to Redis: never let them drive the terminal.
    let printable = fess::gallery::printable;
    for (path, found) in results {
        let shown = path.display();
        match found {
            Err(e) => eprintln!("fess: error: {shown}: {e:#}"),
            Ok(faces) if faces.is_empty() => outln!("{shown}: no face found"),
            Ok(faces) => {
                let s = if faces.len() == 1 { "" } else { "s" };
                outln!("{shown}: {} face{s}", faces.len());
                for (i, r) in faces.iter().enumerate() {
                    let b = r.face.bbox;
                    let who = match (&r.identity.person_id, &r.identity.name) {
                        (Some(id), Some(name)) => format!(
                            "{} ({}), {}",
                            printable(name),
                            printable(id),
                            r.identity.status().as_str()
                        ),
                        _ => "unknown".to_string(),
                    };
                    outln!(
                        "  face {}: {who}, similarity {:.2}, box {:.0},{:.0} {:.0}x{:.0}",
                        i + 1,
                        r.identity.similarity,
                        b.x1,
                        b.y1,
                        b.width(),
                        b.height()
                    );
                }
            }
        }
    }
}

fn print_json(
    gallery: &Gallery,
    rules: &Rules,
    results: &[(&Path, anyhow::Result<Vec<Recognised>>)],
) {
    let images: Vec<serde_json::Value> = results
        .iter()
        .map(|(path, found)| match found {
            Err(e) => serde_json::json!({"path": path, "error": format!("{e:#}")}),
            Ok(faces) => {
                let faces: Vec<serde_json::Value> = faces
                    .iter()
                    .map(|r| {
                        let (b, id) = (r.face.bbox, &r.identity);
                        serde_json::json!({
                            "status": id.status().as_str(),
                            "person_id": id.person_id,
                            "name": id.name,
                            "authorized": id.authorized,
                            "similarity": id.similarity,
                            "score": r.face.score,
                            "box": {"x1": b.x1, "y1": b.y1, "x2": b.x2, "y2": b.y2},
                        })
                    })
                    .collect();
                serde_json::json!({"path": path, "faces": faces})
            }
        })
        .collect();
    outln!(
        "{}",
        serde_json::json!({
            "gallery_version": gallery.version,
            "match_threshold": rules.match_threshold,
            "images": images,
        })
    );
}
