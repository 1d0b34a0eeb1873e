//! What a new user runs, with only the variables the README tells them to set: the README's own
//! examples (section "What FESS is") with `GST_PLUGIN_PATH`, and the quick start's gallery steps
//! with `REDIS_URL`, in an environment holding nothing the project's scripts export
//! (`ORT_DYLIB_PATH`, `FESS_MODELS`, `FESS_MEDIA`): the plugin and the command find the runtime,
//! the models and the media by themselves. A runtime that cannot be found is an error that says
//! where it was looked for, never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use fess_testkit::{media, tmp_dir, Broker, Reader, RedisServer};

fn release_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_fess"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A shell as the user has it after `export GST_PLUGIN_PATH=$PWD/target/release` and
/// `PATH=$PWD/target/release:$PATH`, in the checkout. `FESS_CACHE` is passed on only when the
/// cache is not at its default place (the README names the variable for that case).
fn user_shell(line: &str) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c").arg(line).current_dir(workspace()).env_clear();
    let path = std::env::var("PATH").unwrap_or_default();
    c.env("PATH", format!("{}:{path}", release_dir().display()))
        .env("GST_PLUGIN_PATH", release_dir());
    if let Some(home) = std::env::var_os("HOME") {
        c.env("HOME", home);
    }
    if let Some(cache) = std::env::var_os("FESS_CACHE") {
        c.env("FESS_CACHE", cache);
    }
    c
}

fn run(mut c: Command) -> Output {
    c.output().unwrap()
}

fn ok(out: &Output) -> String {
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{stderr}",
        out.status
    );
    assert!(!stderr.contains("anicked"), "{stderr}");
    format!("{stdout}{stderr}")
}

/// The commands of the README's first example block, continuation lines joined, with the
/// cache and broker addresses of this machine's test services put in.
fn readme_examples(broker: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let section = readme.split("## What FESS is").nth(1).unwrap();
    let block = section.split("```sh\n").nth(1).unwrap();
    let block = block.split("```").next().unwrap();
    let home_cache = std::env::var("HOME").map(|h| format!("{h}/.cache/fess"));
    let cache = fess_testkit::cache_dir().display().to_string();
    block
        .replace("\\\n", " ")
        .lines()
        .filter(|l| !l.starts_with("export ") && !l.trim().is_empty())
        .map(|l| {
            let l = l.replace("localhost:9092", broker);
            match &home_cache {
                Ok(h) if *h != cache => l.replace("$HOME/.cache/fess", &cache),
                _ => l,
            }
        })
        .collect()
}

#[test]
fn the_readme_examples_run_with_only_gst_plugin_path() {
    let broker = Broker::start();
    let examples = readme_examples(&broker.bootstrap());
    let find = |what: &dyn Fn(&str) -> bool, name: &str| {
        examples
            .iter()
            .find(|l| what(l))
            .unwrap_or_else(|| panic!("no {name} example in {examples:#?}"))
            .clone()
    };
    let detect = find(
        &|l| l.starts_with("gst-launch-1.0 filesrc") && l.ends_with("! fessdetect ! fakesink"),
        "fessdetect",
    );
    ok(&run(user_shell(&detect)));
    let sink = find(&|l| l.contains("fesskafkasink bootstrap-servers="), "sink");
    assert!(sink.contains("camera-id=cam_01"), "{sink}");
    ok(&run(user_shell(&sink)));
    let mut reader = Reader::new(&broker.bootstrap(), &["motion.detection.events"]);
    assert!(
        reader.read_until(Duration::from_secs(60), |s| !s.is_empty()),
        "no motion event from the README's sink example"
    );
    assert!(reader.seen.iter().all(|c| c.key == "cam_01"));
    ok(&run(user_shell(&find(
        &|l| l.starts_with("gst-inspect-1.0"),
        "inspect",
    ))));
    let events = find(&|l| l.starts_with("fess events"), "fess events");
    let summary = ok(&run(user_shell(&events)));
    assert!(summary.contains("motion.detection.events"), "{summary}");
}

#[test]
fn the_gallery_and_faces_run_with_only_the_readme_variables() {
    let redis = RedisServer::start();
    let astronaut = media("astronaut.png");
    let with_redis = |line: String| {
        let mut c = user_shell(&line);
        c.env("REDIS_URL", redis.url());
        c
    };
    let out = ok(&run(with_redis(format!(
        "fess gallery enroll --name 'Eileen Collins' --unauthorized {}",
        astronaut.display()
    ))));
    assert!(out.contains("enrolled eileen-collins"), "{out}");
    let out = ok(&run(with_redis(format!(
        "fess recognize {}",
        astronaut.display()
    ))));
    assert!(
        out.contains("Eileen Collins") && out.contains("unauthorized"),
        "{out}"
    );
    ok(&run(with_redis(format!(
        "gst-launch-1.0 filesrc location={} ! decodebin ! imagefreeze num-buffers=2 ! \
         videoconvert ! fessface ! fakesink",
        astronaut.display()
    ))));
}

#[test]
fn a_runtime_that_cannot_be_loaded_is_an_element_error_saying_where() {
    let line =
        "gst-launch-1.0 videotestsrc num-buffers=2 ! fessdetect motion-gate=false ! fakesink";
    let mut named = user_shell(line);
    named.env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1");
    let out = run(named);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(!err.contains("anicked"), "{err}");
    assert!(
        err.contains("cannot load the ONNX Runtime library /nonexistent/libonnxruntime.so.1")
            && err.contains("ORT_DYLIB_PATH="),
        "{err}"
    );

    // No variable and an empty cache: the error lists every place it tried.
    let cache = tmp_dir("first-run-cache");
    std::fs::create_dir_all(&cache).unwrap();
    let mut empty = user_shell(line);
    empty
        .env("FESS_CACHE", &cache)
        .env("FESS_MODELS", fess_testkit::cache_dir().join("models"));
    let out = run(empty);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(!err.contains("anicked"), "{err}");
    assert!(
        err.contains("ORT_DYLIB_PATH (unset)")
            && err.contains(&format!("{}/onnxruntime", cache.display()))
            && err.contains("libonnxruntime.so.1"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&cache);
}

/// The README's sink example, on a clip of 30 frames, as camera `camera` publishing to
/// `bootstrap`, with the cache in `home/cache` (the real models and runtime linked there; the
/// spools' former place) and the state folder (and so the default spools) in `home/state`.
fn sink_example(camera: &str, bootstrap: &str, home: &Path) -> Command {
    let line = readme_examples(bootstrap)
        .into_iter()
        .find(|l| l.contains("fesskafkasink bootstrap-servers="))
        .expect("the README's sink example");
    let clip = fess_testkit::clip(&media("vtest.avi"), 30);
    let line = line
        .replace("camera-id=cam_01", &format!("camera-id={camera}"))
        .replace(
            "location=$HOME/.cache/fess/media/vtest.avi",
            &format!("location={}", clip.display()),
        )
        // A dead broker: what cannot be delivered within a second waits in the spool.
        + " flush-timeout=1000";
    let cache = home.join("cache");
    std::fs::create_dir_all(&cache).unwrap();
    for part in ["onnxruntime", "models"] {
        if !cache.join(part).exists() {
            std::os::unix::fs::symlink(fess_testkit::cache_dir().join(part), cache.join(part))
                .unwrap();
        }
    }
    let mut c = user_shell(&line);
    c.env("FESS_CACHE", cache)
        .env("FESS_STATE", home.join("state"));
    c
}

#[test]
fn each_camera_has_its_own_default_spool() {
    let home = tmp_dir("first-run-spools");
    let dead = format!("127.0.0.1:{}", fess_testkit::free_port());
    ok(&run(sink_example("cam_01", &dead, &home)));
    let spool = home.join("state/spool");
    assert!(
        spool.join("cam_01").is_dir(),
        "{:?}",
        std::fs::read_dir(&spool).ok()
    );
    let waiting = std::fs::read_dir(spool.join("cam_01"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "log")
        })
        .count();
    assert!(waiting > 0, "cam_01's events did not wait in its spool");

    // Another camera on another broker: its own spool, its own events only.
    let broker = Broker::start();
    ok(&run(sink_example("cam_02", &broker.bootstrap(), &home)));
    let mut reader = Reader::new(&broker.bootstrap(), &["motion.detection.events"]);
    assert!(reader.read_until(Duration::from_secs(60), |s| !s.is_empty()));
    reader.read_until(Duration::from_secs(2), |_| false);
    assert!(
        reader.seen.iter().all(|c| c.key == "cam_02"),
        "{:?}",
        reader.seen.iter().map(|c| &c.key).collect::<Vec<_>>()
    );

    // Two cameras at once, both sinks named fesskafkasink0: no spool in use by the other.
    let start = |camera: &str| {
        sink_example(camera, &broker.bootstrap(), &home)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start("cam_03"), start("cam_04"));
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        ok(&out);
    }

    // cam_01's waiting events where an older version kept spools, under the cache: its next
    // run moves them into its spool in the state folder and delivers them.
    let former = home.join("cache/spool/cam_01");
    std::fs::create_dir_all(former.parent().unwrap()).unwrap();
    std::fs::rename(spool.join("cam_01"), &former).unwrap();
    let before = fess::events::now_timestamp();
    let said = ok(&run(sink_example("cam_01", &broker.bootstrap(), &home)));
    assert!(
        said.contains("picked up"),
        "no warning about the former spool: {said}"
    );
    assert!(!former.exists(), "the former spool stays");
    let mut reader = Reader::new(&broker.bootstrap(), &["motion.detection.events"]);
    let earlier = |seen: &[fess_testkit::Consumed]| {
        seen.iter().any(|c| {
            c.key == "cam_01"
                && c.json["timestamp"]
                    .as_str()
                    .is_some_and(|t| t < &before[..])
        })
    };
    assert!(
        reader.read_until(Duration::from_secs(60), earlier),
        "the events cam_01 spooled before were not delivered"
    );
    let _ = std::fs::remove_dir_all(&home);
}
