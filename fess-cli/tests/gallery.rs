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
