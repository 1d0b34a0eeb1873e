//! `fess gallery` against a real redis-server with the real face models.

use std::path::Path;
use std::process::{Command, Output};

use fess_testkit::{media, tmp_dir, RedisServer};

fn gallery(redis: &RedisServer, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fess"))
        .arg("gallery")
        .args(args)
        .env("REDIS_URL", redis.url())
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn enrol_list_authorise_export_import_remove() {
    let redis = RedisServer::with_password("gallery-secret");
    let astronaut = media("astronaut.png");
    let astronaut = astronaut.to_str().unwrap();
    let out = ok(&gallery(
        &redis,
        &[
            "enroll",
            "--name",
            "Eileen Collins",
            "--unauthorized",
            astronaut,
        ],
    ));
    assert!(
        out.contains("enrolled eileen-collins (Eileen Collins), unauthorized, 1 embeddings"),
        "{out}"
    );
    // A second image of the same person adds an embedding.
    let out = ok(&gallery(
        &redis,
        &[
            "enroll",
            "--name",
            "Eileen Collins",
            "--authorized",
            astronaut,
        ],
    ));
    assert!(out.contains("authorized, 2 embeddings"), "{out}");
    ok(&gallery(&redis, &["deauthorize", "eileen-collins"]));
    let json: serde_json::Value =
        serde_json::from_str(&ok(&gallery(&redis, &["list", "--json"]))).unwrap();
    assert_eq!(
        json["persons"],
        serde_json::json!([{"id": "eileen-collins", "name": "Eileen Collins",
                            "authorized": false, "embeddings": 2}])
    );
    assert!(json["version"].as_u64().unwrap() > 0);
    let list = ok(&gallery(&redis, &["list"]));
    assert!(
        list.contains("eileen-collins") && list.contains(" no "),
        "{list}"
    );
    assert!(list.contains("1 persons, gallery version 3"), "{list}");

    let dir = tmp_dir("gallery-export");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("gallery.json");
    ok(&gallery(&redis, &["export", file.to_str().unwrap()]));
    ok(&gallery(&redis, &["remove", "eileen-collins"]));
    assert!(ok(&gallery(&redis, &["list"])).contains("0 persons"));
    let err = refused(&gallery(&redis, &["remove", "eileen-collins"]));
    assert!(err.contains("no person with id 'eileen-collins'"), "{err}");
    assert!(
        ok(&gallery(&redis, &["import", file.to_str().unwrap()])).contains("imported 1 persons")
    );
    let list = ok(&gallery(&redis, &["list"]));
    assert!(
        list.contains("Eileen Collins") && list.contains(" 2"),
        "{list}"
    );
    // The password never shows, even in errors.
    let bad = Command::new(env!("CARGO_BIN_EXE_fess"))
        .args([
            "gallery",
            "--redis-url",
            "redis://:gallery-secret@127.0.0.1:9/",
            "list",
        ])
        .output()
        .unwrap();
    let err = refused(&bad);
    assert!(
        err.contains("127.0.0.1:9") && !err.contains("gallery-secret"),
        "{err}"
    );
}

#[test]
fn bad_enrolment_images_are_refused_with_the_reason() {
    let redis = RedisServer::start();
    let enrol = |path: &Path| {
        refused(&gallery(
            &redis,
            &["enroll", "--name", "X", path.to_str().unwrap()],
        ))
    };
    let err = enrol(&media("dog.jpg"));
    assert!(
        err.contains("dog.jpg refused") && err.contains("no face found"),
        "{err}"
    );
    let dir = tmp_dir("gallery-bad");
    std::fs::create_dir_all(&dir).unwrap();
    let text = dir.join("notes.png");
    std::fs::write(&text, "this is not an image").unwrap();
    let err = enrol(&text);
    assert!(err.contains("not an image"), "{err}");
    let err = enrol(&dir.join("missing.png"));
    assert!(err.contains("no such file"), "{err}");
    let err = refused(&gallery(&redis, &["import", text.to_str().unwrap()]));
    assert!(err.contains("not a FESS gallery file"), "{err}");
    // Nothing was enrolled by any of these.
    assert!(ok(&gallery(&redis, &["list"])).contains("0 persons"));
}

/// `fess recognize` with the plugin built next to the binary (it takes fessface's settings).
fn recognize(redis_url: &str, args: &[&str]) -> Output {
    let exe = Path::new(env!("CARGO_BIN_EXE_fess"));
    Command::new(exe)
        .arg("recognize")
        .args(args)
        .env("REDIS_URL", redis_url)
        .env("GST_PLUGIN_PATH", exe.parent().unwrap())
        .output()
        .unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&ok(out)).unwrap()
}

#[test]
fn recognize_tells_an_enrolled_person_from_a_stranger() {
    let redis = RedisServer::start();
    let astronaut = media("astronaut.png");
    let astronaut = astronaut.to_str().unwrap();
    // The cameraman: one face, someone else.
    let stranger = media("camera.png");
    let stranger = stranger.to_str().unwrap();
    ok(&gallery(
        &redis,
        &[
            "enroll",
            "--name",
            "Eileen Collins",
            "--authorized",
            astronaut,
        ],
    ));

    let text = ok(&recognize(&redis.url(), &[astronaut, stranger]));
    assert!(
        text.contains("astronaut.png: 1 face\n  face 1: Eileen Collins (eileen-collins), authorized, similarity 0."),
        "{text}"
    );
    assert!(
        text.contains("camera.png: 1 face\n  face 1: unknown, similarity 0."),
        "{text}"
    );

    let v = json(&recognize(&redis.url(), &["--json", astronaut, stranger]));
    let threshold = v["match_threshold"].as_f64().unwrap();
    assert!(threshold > 0.0 && threshold < 1.0, "{v}");
    assert_eq!(v["gallery_version"], 1);
    let known = &v["images"][0]["faces"];
    assert_eq!(known.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(known[0]["status"], "authorized");
    assert_eq!(known[0]["person_id"], "eileen-collins");
    assert_eq!(known[0]["name"], "Eileen Collins");
    assert_eq!(known[0]["authorized"], true);
    assert!(known[0]["similarity"].as_f64().unwrap() > 0.9, "{v}");
    let b = &known[0]["box"];
    let (x1, x2) = (b["x1"].as_f64().unwrap(), b["x2"].as_f64().unwrap());
    assert!(0.0 <= x1 && x1 + 64.0 < x2 && x2 <= 512.0, "{b}");
    let unknown = &v["images"][1]["faces"];
    assert_eq!(unknown.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(unknown[0]["status"], "unknown");
    assert!(unknown[0]["person_id"].is_null() && unknown[0]["name"].is_null());
    assert!(
        unknown[0]["similarity"].as_f64().unwrap() < threshold,
        "{v}"
    );

    // The gallery's flag and fessface's threshold decide, as in a pipeline.
    ok(&gallery(&redis, &["deauthorize", "eileen-collins"]));
    let v = json(&recognize(&redis.url(), &["--json", astronaut]));
    assert_eq!(v["images"][0]["faces"][0]["status"], "unauthorized", "{v}");
    assert_eq!(v["images"][0]["faces"][0]["authorized"], false);
    let strict = ["--json", "--face-set", "match-threshold=1.0", astronaut];
    let v = json(&recognize(&redis.url(), &strict));
    assert_eq!(v["images"][0]["faces"][0]["status"], "unknown", "{v}");
}

#[test]
fn recognize_explains_what_it_cannot_read() {
    let redis = RedisServer::start();
    let dir = tmp_dir("recognize-bad");
    std::fs::create_dir_all(&dir).unwrap();
    let text = dir.join("notes.png");
    std::fs::write(&text, "this is not an image").unwrap();
    let missing = dir.join("missing.png");
    let astronaut = media("astronaut.png");
    let run = recognize(
        &redis.url(),
        &[
            missing.to_str().unwrap(),
            text.to_str().unwrap(),
            astronaut.to_str().unwrap(),
        ],
    );
    let err = refused(&run);
    assert_eq!(run.status.code(), Some(1));
    assert!(err.contains("missing.png: no such file"), "{err}");
    assert!(err.contains("notes.png: not an image"), "{err}");
    assert!(err.contains("2 of 3 images could not be read"), "{err}");
    // The readable image is still reported (unknown: the gallery is empty).
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        out.contains("astronaut.png: 1 face\n  face 1: unknown"),
        "{out}"
    );
    // In JSON, each unreadable image says why.
    let run = recognize(&redis.url(), &["--json", missing.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(v["images"][0]["error"], "no such file");

    let dead = recognize(
        "redis://:secret@127.0.0.1:9/",
        &[astronaut.to_str().unwrap()],
    );
    let err = refused(&dead);
    assert_eq!(dead.status.code(), Some(1));
    assert!(
        err.contains("127.0.0.1:9") && !err.contains("secret"),
        "{err}"
    );
    let bad = recognize(
        &redis.url(),
        &["--face-set", "no-such=1", astronaut.to_str().unwrap()],
    );
    assert!(refused(&bad).contains("fessface has no property 'no-such'"));
    // Usage errors are 2, and --help says so.
    assert_eq!(recognize(&redis.url(), &[]).status.code(), Some(2));
    let help = ok(&recognize(&redis.url(), &["--help"]));
    assert!(help.contains("Exit status: 0 when"), "{help}");
}

/// The forged-insider attack: an export file whose one person, authorised, has an embedding of
/// length 1000 built from two genuine ones would name every face "insider" at similarity 1.
/// The import is refused naming the person and the gallery stays as it was; a file whose 3rd
/// of 4 persons is bad stores none of them.
#[test]
fn a_forged_gallery_file_is_refused_whole() {
    let redis = RedisServer::start();
    let media_arg = |name: &str| media(name).to_str().unwrap().to_string();
    let astronaut = &media_arg("astronaut.png");
    // A stranger: a face too small to enrol, recognised as unknown.
    let stranger = &media_arg("camera.png");
    // Two enrolments: two genuine embeddings to forge from.
    for _ in 0..2 {
        ok(&gallery(
            &redis,
            &[
                "enroll",
                "--name",
                "Eileen Collins",
                "--unauthorized",
                astronaut,
            ],
        ));
    }
    let dir = tmp_dir("gallery-forged");
    std::fs::create_dir_all(&dir).unwrap();
    let exported = dir.join("gallery.json");
    ok(&gallery(&redis, &["export", exported.to_str().unwrap()]));
    let genuine: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&exported).unwrap()).unwrap();
    let embedding = |i: usize| -> Vec<f64> {
        serde_json::from_value(genuine["persons"][0]["embeddings"][i].clone()).unwrap()
    };
    let sum: Vec<f64> = embedding(0)
        .iter()
        .zip(embedding(1))
        .map(|(a, b)| a + b)
        .collect();
    let norm = sum.iter().map(|x| x * x).sum::<f64>().sqrt();
    let forged: Vec<f64> = sum.iter().map(|x| x * 1000.0 / norm).collect();
    let insider = serde_json::json!({"id": "insider", "name": "Insider", "authorized": true,
                                     "embeddings": [forged]});
    let write = |name: &str, persons: Vec<serde_json::Value>| {
        let path = dir.join(name);
        let file = serde_json::json!({"format": genuine["format"], "persons": persons});
        std::fs::write(&path, file.to_string()).unwrap();
        path
    };
    let list = || ok(&gallery(&redis, &["list", "--json"]));
    let before = list();

    let err = refused(&gallery(
        &redis,
        &[
            "import",
            write("forged.json", vec![insider]).to_str().unwrap(),
        ],
    ));
    assert!(
        err.contains("person 1 of 1 ('insider')") && err.contains("has length 1000"),
        "{err}"
    );
    assert_eq!(list(), before);
    // Everyone is still who they are.
    let v = json(&recognize(&redis.url(), &["--json", astronaut, stranger]));
    let face = |i: usize| &v["images"][i]["faces"][0];
    assert_eq!(face(0)["person_id"], "eileen-collins", "{v}");
    assert_eq!(face(0)["status"], "unauthorized", "{v}");
    assert_eq!(face(1)["status"], "unknown", "{v}");

    // Four persons, the 3rd with an empty id: none stored, not even the two before it.
    let mut four: Vec<serde_json::Value> = (0..4)
        .map(|i| {
            let mut p = genuine["persons"][0].clone();
            p["id"] = format!("copy-{i}").into();
            p
        })
        .collect();
    four[2]["id"] = "".into();
    let err = refused(&gallery(
        &redis,
        &["import", write("four.json", four).to_str().unwrap()],
    ));
    assert!(err.contains("person 3 of 4 ('')"), "{err}");
    assert_eq!(list(), before);
}
