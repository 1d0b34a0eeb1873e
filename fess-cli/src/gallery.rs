//! `fess gallery`: the known persons in Redis — enrol from images, list, remove, (de)authorise,
//! export and import as JSON.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::{Args, Subcommand};
use gst::prelude::*;

use fess::gallery::{GalleryExport, GalleryStore, Person};
use gstfess::face::engine::FaceEngine;
use gstfess::face::enrol::enrol;

#[derive(Args)]
pub struct GalleryArgs {
    /// Redis holding the gallery: redis://[:password@]host:port/db or rediss:// (TLS).
    #[arg(long, env = "REDIS_URL", default_value = fess::redis_url::DEFAULT_REDIS_URL, hide_env_values = true)]
    redis_url: String,
    /// Key prefix of the gallery in Redis (fessface's `gallery-key`).
    #[arg(long, default_value = fess::gallery::DEFAULT_GALLERY_KEY)]
    key: String,
    #[command(subcommand)]
    command: GalleryCommand,
}

#[derive(Subcommand)]
enum GalleryCommand {
    /// Enrol a person from one or more face images (each must show exactly one face, at least
    /// 64 pixels wide and sharp). Enrolling an existing person adds the new images.
    Enroll {
        /// The person's name (their id is derived from it unless --id is given).
        #[arg(long)]
        name: String,
        #[arg(long)]
        id: Option<String>,
        /// Allowed here (the default for a new person).
        #[arg(long, conflicts_with = "unauthorized")]
        authorized: bool,
        /// Known but not allowed: seeing them raises a CRITICAL alert.
        #[arg(long)]
        unauthorized: bool,
        /// Face detection model (default: the FESS model cache).
        #[arg(long)]
        detector_model: Option<PathBuf>,
        /// Face embedding model (default: the FESS model cache).
        #[arg(long)]
        embedder_model: Option<PathBuf>,
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// List the persons: id, name, authorised, number of embeddings.
    List {
        /// As one JSON document: `{"version": …, "persons": [{"id", "name", "authorized",
        /// "embeddings"}]}`.
        #[arg(long)]
        json: bool,
    },
    /// Remove a person.
    Remove { id: String },
    /// Allow a person.
    Authorize { id: String },
    /// Disallow a person.
    Deauthorize { id: String },
    /// Write the gallery as JSON to a file (or stdout with `-`).
    Export { file: PathBuf },
    /// Read persons from a JSON file written by export (same ids are replaced).
    Import { file: PathBuf },
}

pub fn run(args: GalleryArgs) -> anyhow::Result<()> {
    let mut store = GalleryStore::connect(&args.redis_url, &args.key, Duration::from_secs(5))?;
    match args.command {
        GalleryCommand::Enroll {
            name,
            id,
            authorized: _,
            unauthorized,
            detector_model,
            embedder_model,
            images,
        } => {
            let id = id.unwrap_or_else(|| fess::gallery::person_id(&name));
            if id.is_empty() {
                bail!("cannot make a person id from the name '{name}': pass --id");
            }
            let models = gstfess::paths::models_dir();
            let mut engine = FaceEngine::load(
                &detector_model.unwrap_or_else(|| models.join("retinaface_mnet025.onnx")),
                &embedder_model.unwrap_or_else(|| models.join("mobilefacenet.onnx")),
                0,
            )?;
            let mut embeddings = Vec::new();
            for image in &images {
                let e = enrol_image(&mut engine, image)
                    .with_context(|| format!("{} refused", image.display()))?;
                embeddings.push(e);
            }
            let mut person = match store.get(&id) {
                Ok(p) => p,
                Err(fess::gallery::GalleryError::NoSuchPerson(_)) => Person {
                    id: id.clone(),
                    name: name.clone(),
                    authorized: !unauthorized,
                    embeddings: Vec::new(),
                },
                Err(e) => return Err(e.into()),
            };
            person.name = name;
            person.authorized = !unauthorized;
            person.embeddings.extend(embeddings);
            store.put(&person)?;
            println!(
                "enrolled {} ({}), {}, {} embeddings",
                person.id,
                person.name,
                if person.authorized {
                    "authorized"
                } else {
                    "unauthorized"
                },
                person.embeddings.len()
            );
        }
        GalleryCommand::List { json } => {
            let (g, warnings) = store.load(None)?;
            for w in warnings {
                eprintln!("fess: warning: {w}");
            }
            if json {
                let persons: Vec<serde_json::Value> = g
                    .persons
                    .iter()
                    .map(|p| {
                        serde_json::json!({
                            "id": p.id, "name": p.name, "authorized": p.authorized,
                            "embeddings": p.embeddings.len(),
                        })
                    })
                    .collect();
                println!(
                    "{}",
                    serde_json::json!({"version": g.version, "persons": persons})
                );
                return Ok(());
            }
            println!(
                "{:<24} {:<28} {:<12} embeddings",
                "id", "name", "authorized"
            );
            // Names come from whoever wrote to Redis: never let them drive the terminal.
            let printable = fess::gallery::printable;
            for p in &g.persons {
                println!(
                    "{:<24} {:<28} {:<12} {}",
                    printable(&p.id),
                    printable(&p.name),
                    if p.authorized { "yes" } else { "no" },
                    p.embeddings.len()
                );
            }
            println!("{} persons, gallery version {}", g.persons.len(), g.version);
        }
        GalleryCommand::Remove { id } => {
            if !store.remove(&id)? {
                bail!("no person with id '{id}' in the gallery");
            }
            println!("removed {id}");
        }
        GalleryCommand::Authorize { id } => {
            store.set_authorized(&id, true)?;
            println!("{id} is authorized");
        }
        GalleryCommand::Deauthorize { id } => {
            store.set_authorized(&id, false)?;
            println!("{id} is unauthorized");
        }
        GalleryCommand::Export { file } => {
            let text = serde_json::to_string_pretty(&store.export()?)?;
            if file == Path::new("-") {
                println!("{text}");
            } else {
                std::fs::write(&file, text + "\n")
                    .with_context(|| format!("cannot write {}", file.display()))?;
            }
        }
        GalleryCommand::Import { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let export: GalleryExport = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a FESS gallery file", file.display()))?;
            let n = store.import(&export)?;
            println!("imported {n} persons");
        }
    }
    Ok(())
}

/// Decodes `path` (any image decodebin reads) and returns its one face's embedding.
fn enrol_image(engine: &mut FaceEngine, path: &Path) -> anyhow::Result<Vec<f32>> {
    if !path.is_file() {
        bail!("no such file");
    }
    gst::init()?;
    let pipeline = gst::parse::launch(
        "filesrc name=src ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink",
    )?
    .downcast::<gst::Pipeline>()
    .map_err(|_| anyhow!("not a pipeline"))?;
    pipeline
        .by_name("src")
        .expect("named in the launch line")
        .set_property("location", path.to_string_lossy().as_ref());
    let sink = pipeline
        .by_name("sink")
        .expect("named in the launch line")
        .downcast::<gst_app::AppSink>()
        .map_err(|_| anyhow!("not an appsink"))?;
    pipeline.set_state(gst::State::Playing)?;
    let sample = sink.try_pull_sample(gst::ClockTime::from_seconds(10));
    let bus_error = pipeline.bus().and_then(|b| {
        b.pop_filtered(&[gst::MessageType::Error])
            .map(|m| match m.view() {
                gst::MessageView::Error(e) => e.error().to_string(),
                _ => unreachable!("filtered"),
            })
    });
    let _ = pipeline.set_state(gst::State::Null);
    let sample = sample.ok_or_else(|| {
        anyhow!(
            "not an image this system can decode{}",
            bus_error.map(|e| format!(" ({e})")).unwrap_or_default()
        )
    })?;
    let caps = sample
        .caps()
        .ok_or_else(|| anyhow!("decoded image without caps"))?;
    let info = gst_video::VideoInfo::from_caps(caps)?;
    let buffer = sample.buffer().ok_or_else(|| anyhow!("no image data"))?;
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, &info)
        .map_err(|_| anyhow!("cannot map the decoded image"))?;
    let view = gstfess::video_frame::view(&frame).ok_or_else(|| anyhow!("unexpected format"))?;
    Ok(enrol(engine, &view)?.embedding)
}
