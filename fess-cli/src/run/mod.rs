//! `fess run CONFIG`: every camera of a cameras file in one process, each in a pipeline of its
//! own that fails, restarts and reloads alone, all sharing the inference engines (see the
//! README's "Running cameras").

mod backoff;
mod camera;
mod config;
mod pipeline;
mod shard;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use camera::Camera;
use config::{CameraSpec, Config, ConfigError};
use shard::Shard;

#[derive(clap::Args)]
pub struct RunArgs {
    /// The cameras file (TOML): a [defaults] table and one [[camera]] table per camera.
    config: PathBuf,
    /// Check the file and print each camera's pipeline (credentials masked); start nothing.
    #[arg(long)]
    check: bool,
    /// Run only the cameras of shard INDEX of COUNT (rendezvous hashing of the camera ids):
    /// every host reads the same file and runs its own share.
    #[arg(long, env = "FESS_SHARD", value_name = "INDEX/COUNT")]
    shard: Option<Shard>,
    /// Seconds the cameras have to flush their events after SIGTERM or Ctrl-C.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    stop_timeout: u64,
}

/// How often the service looks at signals, the cameras file and its cameras' reports.
const TICK: Duration = Duration::from_millis(200);
/// How often the cameras file is looked at for changes.
const WATCH_EVERY: Duration = Duration::from_secs(2);

pub fn run(args: RunArgs) -> anyhow::Result<()> {
    crate::elements::require_plugin()?;
    let config = load(&args.config, args.shard)?;
    if args.check {
        for spec in &config.cameras {
            outln!("{}: {}", spec.id, pipeline::describe(spec));
        }
        if config.cameras.is_empty() {
            outln!(
                "no camera of this file is in shard {}",
                shard_text(args.shard)
            );
        }
        return Ok(());
    }
    // Registered before any camera starts, so a signal never kills a camera half-flushed.
    let mut signals = Signals::new([SIGHUP, SIGINT, SIGTERM]).context("handling signals")?;
    let mut service = Service {
        file: args.config.clone(),
        shard: args.shard,
        cameras: BTreeMap::new(),
        seen: file_stamp(&args.config),
    };
    eprintln!(
        "fess run: {} camera(s) from {}{}",
        config.cameras.len(),
        args.config.display(),
        args.shard
            .map(|s| format!(" (shard {s})"))
            .unwrap_or_default()
    );
    service.apply(config);
    let mut watched = Instant::now();
    loop {
        for signal in signals.pending() {
            match signal {
                SIGHUP => service.reload("SIGHUP"),
                _ => return service.stop(&mut signals, signal, args.stop_timeout),
            }
        }
        if watched.elapsed() >= WATCH_EVERY {
            watched = Instant::now();
            let stamp = file_stamp(&service.file);
            if stamp != service.seen {
                service.seen = stamp;
                service.reload("the file changed");
            }
        }
        for camera in service.cameras.values_mut() {
            camera.report(false);
        }
        // Live cameras never end by themselves; files do: once all of them have, the run
        // is over.
        if !service.cameras.is_empty() && service.cameras.values().all(Camera::finished) {
            for camera in service.cameras.values_mut() {
                camera.join();
            }
            eprintln!("fess run: every camera has ended");
            return Ok(());
        }
        std::thread::sleep(TICK);
    }
}

fn shard_text(shard: Option<Shard>) -> String {
    shard.map_or_else(|| "0/1".into(), |s| s.to_string())
}

/// Reads the file, keeps this shard's cameras and checks each one's pipeline.
fn load(file: &Path, shard: Option<Shard>) -> Result<Config, ConfigError> {
    let mut config = config::load(file)?;
    check_spools(&config)?;
    if let Some(shard) = shard {
        config.cameras.retain(|c| shard.owns(&c.id));
    }
    for spec in &config.cameras {
        pipeline::build(&config, spec)?;
    }
    Ok(config)
}

/// Refuses two cameras set to one spool folder: a folder holds one publisher's events.
fn check_spools(config: &Config) -> Result<(), ConfigError> {
    let mut owners: BTreeMap<&str, &CameraSpec> = BTreeMap::new();
    for spec in &config.cameras {
        let Some(dir) = spec.properties.get("spool-dir") else {
            continue;
        };
        if let Some(first) = owners.insert(dir.value.as_str(), spec) {
            return Err(config.error(
                spec,
                Some("spool-dir"),
                format!(
                    "cameras '{}' and '{}' have the same spool-dir: each camera needs a folder \
                     of its own (unset, each camera gets one named after its id)",
                    first.id, spec.id
                ),
            ));
        }
    }
    Ok(())
}

/// What tells a changed file: its modification time and size.
fn file_stamp(file: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(file).ok()?;
    Some((m.modified().ok()?, m.len()))
}

struct Service {
    file: PathBuf,
    shard: Option<Shard>,
    cameras: BTreeMap<String, Camera>,
    seen: Option<(SystemTime, u64)>,
}

impl Service {
    /// Re-reads the file: added cameras start, removed ones stop, changed ones restart,
    /// the others are not touched. A file that does not load changes nothing.
    fn reload(&mut self, why: &str) {
        match load(&self.file, self.shard) {
            Ok(config) => {
                eprintln!("fess run: {why}: reloading {}", self.file.display());
                self.apply(config);
            }
            Err(e) => {
                eprintln!("fess run: {why}: the cameras file is refused, nothing changes: {e}")
            }
        }
    }

    /// Makes the running cameras those of `config`.
    fn apply(&mut self, config: Config) {
        let wanted: BTreeMap<&str, &CameraSpec> =
            config.cameras.iter().map(|c| (c.id.as_str(), c)).collect();
        let leaving: Vec<String> = self
            .cameras
            .iter()
            .filter(|(id, cam)| wanted.get(id.as_str()) != Some(&&cam.spec))
            .map(|(id, _)| id.clone())
            .collect();
        let mut stopping: Vec<Camera> = leaving
            .iter()
            .filter_map(|id| self.cameras.remove(id))
            .collect();
        for camera in &stopping {
            camera.stop(Duration::from_secs(10));
        }
        // Their events are flushed before the same ids start again (one spool per camera).
        for camera in &mut stopping {
            camera.join();
            eprintln!("fess run: camera {}: removed", camera.spec.id);
        }
        for spec in &config.cameras {
            if self.cameras.contains_key(&spec.id) {
                continue;
            }
            match pipeline::build(&config, spec) {
                Ok(built) => {
                    eprintln!("fess run: camera {}: starting", spec.id);
                    self.cameras
                        .insert(spec.id.clone(), Camera::start(&config, spec.clone(), built));
                }
                Err(e) => eprintln!("fess run: camera {}: not started: {e}", spec.id),
            }
        }
    }

    /// Ends every camera with an end of stream (events flushed or spooled) within
    /// `stop_timeout`; a second signal stops at once.
    fn stop(mut self, signals: &mut Signals, signal: i32, stop_timeout: u64) -> anyhow::Result<()> {
        let name = if signal == SIGINT {
            "SIGINT"
        } else {
            "SIGTERM"
        };
        eprintln!(
            "fess run: {name}: stopping {} camera(s), flushing their events (at most {stop_timeout} s; again to stop at once)",
            self.cameras.len()
        );
        for camera in self.cameras.values() {
            camera.stop(Duration::from_secs(stop_timeout));
        }
        // Each camera gives up on its own deadlines (the stop timeout for its end of stream,
        // then its sink's flush timeout and a margin to stop); this one covers the rest.
        let deadline = Instant::now() + Duration::from_secs(stop_timeout + 25);
        while !self.cameras.values().all(Camera::finished) {
            if signals.pending().next().is_some() {
                anyhow::bail!(
                    "stopped at once by a second signal: events not yet flushed stay in the spools"
                );
            }
            if Instant::now() >= deadline {
                anyhow::bail!("the cameras did not stop within {stop_timeout} s");
            }
            std::thread::sleep(TICK);
        }
        for camera in self.cameras.values_mut() {
            camera.join();
        }
        eprintln!("fess run: stopped");
        Ok(())
    }
}
