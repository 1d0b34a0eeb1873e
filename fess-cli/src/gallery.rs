//! `fess gallery`: the known persons in Redis — enrol from images, list, remove, (de)authorise,
//! export and import as JSON.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};

use fess::gallery::{GalleryExport, GalleryStore, Person};
use fess_vision::face::engine::FaceEngine;
use fess_vision::face::enrol::enrol;

#[derive(Args)]
pub struct GalleryArgs {
    #[command(flatten)]
    redis: crate::redis_args::RedisArgs,
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
    /// Read persons from a JSON file written by export (same ids are replaced). Every person
    /// is checked first (id, name, embeddings as the embedding model makes them): one bad
    /// person refuses the whole file, naming it.
    Import {
        /// Face embedding model whose embeddings the file must hold (default: the FESS model
        /// cache's, as fessface).
        #[arg(long)]
        embedder_model: Option<PathBuf>,
        file: PathBuf,
    },
}

pub fn run(args: GalleryArgs) -> anyhow::Result<()> {
    let mut store =
        GalleryStore::connect(&args.redis.settings(), &args.key, Duration::from_secs(5))?;
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
            let mut engine = face_engine(detector_model, embedder_model)?;
            let mut embeddings = Vec::new();
            for image in &images {
                let e = crate::image::with_decoded(image, |view| {
                    Ok(enrol(&mut engine, view)?.embedding)
                })
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
            outln!(
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
                outln!(
                    "{}",
                    serde_json::json!({"version": g.version, "persons": persons})
                );
                return Ok(());
            }
            outln!(
                "{:<24} {:<28} {:<12} embeddings",
                "id",
                "name",
                "authorized"
            );
            // Names come from whoever wrote to Redis: never let them drive the terminal.
            let printable = fess::gallery::printable;
            for p in &g.persons {
                outln!(
                    "{:<24} {:<28} {:<12} {}",
                    printable(&p.id),
                    printable(&p.name),
                    if p.authorized { "yes" } else { "no" },
                    p.embeddings.len()
                );
            }
            outln!("{} persons, gallery version {}", g.persons.len(), g.version);
        }
        GalleryCommand::Remove { id } => {
            if !store.remove(&id)? {
                bail!("no person with id '{id}' in the gallery");
            }
            outln!("removed {id}");
        }
        GalleryCommand::Authorize { id } => {
            store.set_authorized(&id, true)?;
            outln!("{id} is authorized");
        }
        GalleryCommand::Deauthorize { id } => {
            store.set_authorized(&id, false)?;
            outln!("{id} is unauthorized");
        }
        GalleryCommand::Export { file } => {
            let text = serde_json::to_string_pretty(&store.export()?)?;
            if file == Path::new("-") {
                outln!("{text}");
            } else {
                std::fs::write(&file, text + "\n")
                    .with_context(|| format!("cannot write {}", file.display()))?;
            }
        }
        GalleryCommand::Import {
            embedder_model,
            file,
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let export: GalleryExport = serde_json::from_str(&text)
                .with_context(|| format!("{} is not a FESS gallery file", file.display()))?;
            use fess_vision::paths::{models_dir, FACE_EMBEDDER_FILE};
            let embedder = embedder_model.unwrap_or_else(|| models_dir().join(FACE_EMBEDDER_FILE));
            let dim = fess_vision::face::engine::embedding_dim(&embedder)?;
            let n = store
                .import(&export, dim)
                .with_context(|| format!("{} refused", file.display()))?;
            outln!("imported {n} persons");
        }
    }
    Ok(())
}

/// The face models fessface uses by default (the FESS model cache) unless paths are given.
pub fn face_engine(
    detector: Option<PathBuf>,
    embedder: Option<PathBuf>,
) -> anyhow::Result<FaceEngine> {
    use fess_vision::paths::{models_dir, FACE_DETECTOR_FILE, FACE_EMBEDDER_FILE};
    Ok(FaceEngine::load(
        &detector.unwrap_or_else(|| models_dir().join(FACE_DETECTOR_FILE)),
        &embedder.unwrap_or_else(|| models_dir().join(FACE_EMBEDDER_FILE)),
        0,
    )?)
}
