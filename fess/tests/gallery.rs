//! The gallery and the recognition cache against a real redis-server.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use fess::gallery::redis_link::{LinkEvent, RedisLink};
use fess::gallery::redis_settings::RedisSettings;
use fess::gallery::{
    CachedRecognition, GalleryExport, GalleryStore, Identity, Person, DEFAULT_GALLERY_KEY,
};
use fess_testkit::{start_link, RedisServer};

const T: Duration = Duration::from_secs(2);

fn person(id: &str, authorized: bool, e: Vec<f32>) -> Person {
    Person {
        id: id.into(),
        name: format!("Person {id}"),
        authorized,
        embeddings: vec![e],
    }
}

#[test]
fn store_round_trip_with_password_export_and_import() {
    let redis = RedisServer::with_password("pa55-word");
    let mut store = GalleryStore::connect(&redis.settings(), DEFAULT_GALLERY_KEY, T).unwrap();
    assert_eq!(store.version().unwrap(), 0);
    store.put(&person("ann", true, vec![1.0, 0.0])).unwrap();
    store.put(&person("bob", false, vec![0.0, 1.0])).unwrap();
    let (g, warnings) = store.load(Some(2)).unwrap();
    assert!(warnings.is_empty());
    assert_eq!(g.version, 2);
    assert_eq!(
        g.persons.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["ann", "bob"]
    );
    store.set_authorized("bob", true).unwrap();
    assert!(store.get("bob").unwrap().authorized);
    assert!(store.remove("ann").unwrap());
    assert!(!store.remove("ann").unwrap());
    assert!(matches!(
        store.set_authorized("ann", true),
        Err(fess::gallery::GalleryError::NoSuchPerson(_))
    ));
    let export = store.export().unwrap();
    assert_eq!(export.persons.len(), 1);

    // Into another Redis, through the JSON file format.
    let other = RedisServer::start();
    let mut store2 = GalleryStore::connect(&other.settings(), DEFAULT_GALLERY_KEY, T).unwrap();
    let text = serde_json::to_string(&export).unwrap();
    let back: GalleryExport = serde_json::from_str(&text).unwrap();
    assert_eq!(store2.import(&back, 2).unwrap(), 1);
    assert_eq!(store2.load(None).unwrap().0.persons, export.persons);

    // A wrong password is refused, and the password is not in the message.
    let bad = redis.url().replace("pa55-word", "wrong-one");
    let err = GalleryStore::connect(&RedisSettings::for_url(&bad), DEFAULT_GALLERY_KEY, T)
        .and_then(|mut s| s.version())
        .expect_err("a wrong password fails");
    assert!(!err.to_string().contains("wrong-one"), "{err}");
}

#[test]
fn corrupt_entries_are_skipped_with_a_warning() {
    let redis = RedisServer::start();
    let mut store = GalleryStore::connect(&redis.settings(), DEFAULT_GALLERY_KEY, T).unwrap();
    store.put(&person("good", true, vec![0.6, 0.8])).unwrap();
    redis.cli(&["SADD", "fess:gallery:persons", "short", "junk"]);
    redis.cli(&[
        "HSET",
        "fess:gallery:person:short",
        "name",
        "Short",
        "authorized",
        "1",
        "embeddings",
        "[[1.0]]",
    ]);
    redis.cli(&["HSET", "fess:gallery:person:junk", "name", "Junk"]);
    let (g, warnings) = store.load(Some(2)).unwrap();
    assert_eq!(g.persons.len(), 1);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings
        .iter()
        .any(|w| w.contains("'short'") && w.contains("length 1 where 2")));
    assert!(store.export().is_err(), "export refuses a corrupt gallery");
}

/// Defects found by trying to break it: a key of the wrong type, hostile names, thousands of
/// dangling ids. Each bad entry is skipped and named, the rest kept, warnings bounded.
#[test]
fn hostile_gallery_contents_are_skipped_named_and_bounded() {
    let redis = RedisServer::start();
    let mut store = GalleryStore::connect(&redis.settings(), DEFAULT_GALLERY_KEY, T).unwrap();
    store.put(&person("good", true, vec![0.6, 0.8])).unwrap();
    // A person key that is a string, not a hash.
    redis.cli(&["SET", "fess:gallery:person:evil", "x"]);
    redis.cli(&["SADD", "fess:gallery:persons", "evil"]);
    // A name far too long, and one with terminal escapes and a newline.
    let long = "N".repeat(10_000);
    for (id, name) in [
        ("long", long.as_str()),
        ("ansi", "\u{1b}[2J\u{1b}[31mMallory\nroot"),
    ] {
        redis.cli(&["SADD", "fess:gallery:persons", id]);
        redis.cli(&[
            "HSET",
            &format!("fess:gallery:person:{id}"),
            "name",
            name,
            "authorized",
            "0",
            "embeddings",
            "[[0.8,0.6]]",
        ]);
    }
    // 500 ids with no entry at all.
    let dangling: Vec<String> = (0..500).map(|i| format!("ghost{i}")).collect();
    let mut sadd = vec!["SADD", "fess:gallery:persons"];
    sadd.extend(dangling.iter().map(String::as_str));
    redis.cli(&sadd);
    redis.cli(&["INCR", "fess:gallery:version"]);

    let (g, warnings) = store.load(Some(2)).unwrap();
    let mut ids: Vec<&str> = g.persons.iter().map(|p| p.id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["ansi", "good"], "the good entries are kept");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("fess:gallery:person:evil is not a hash")),
        "{warnings:?}"
    );
    assert!(warnings
        .iter()
        .any(|w| w.contains("'long'") && w.contains("characters")));
    // 500 dangling ids: one line, not 500.
    assert_eq!(warnings.len(), 3, "{warnings:?}");
    assert!(warnings[2].starts_with("500 ids in fess:gallery:persons have no entry"));
    // Shown, the hostile name cannot drive a terminal.
    let ansi = g.persons.iter().find(|p| p.id == "ansi").unwrap();
    let shown = fess::gallery::printable(&ansi.name);
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\n'),
        "{shown}"
    );
    assert!(shown.contains("Mallory"));
    // Enrolment refuses a name that long.
    let mut too_long = person("x", true, vec![0.6, 0.8]);
    too_long.name = long;
    assert!(store
        .put(&too_long)
        .unwrap_err()
        .to_string()
        .contains("characters"));

    // The persons set itself of the wrong type: an error that names the key, not "Redis down".
    redis.cli(&["DEL", "fess:gallery:persons"]);
    redis.cli(&["SET", "fess:gallery:persons", "x"]);
    let e = store.load(Some(2)).unwrap_err();
    assert!(
        matches!(e, fess::gallery::GalleryError::Invalid(_))
            && e.to_string().contains("fess:gallery:persons"),
        "{e}"
    );
}

/// An import is checked whole before anything is stored: a bad 3rd person of 4 (an empty id,
/// beside a 1 MB one) stores none of them, and a forged embedding is refused by name.
#[test]
fn imports_are_all_or_nothing() {
    let redis = RedisServer::start();
    let mut store = GalleryStore::connect(&redis.settings(), DEFAULT_GALLERY_KEY, T).unwrap();
    store.put(&person("ann", true, vec![1.0, 0.0])).unwrap();
    let before = store.load(Some(2)).unwrap().0;
    let file = |persons: Vec<Person>| GalleryExport {
        format: fess::gallery::EXPORT_FORMAT.into(),
        persons,
    };
    let refused = |store: &mut GalleryStore, export: &GalleryExport| {
        let e = store.import(export, 2).unwrap_err().to_string();
        assert_eq!(store.load(Some(2)).unwrap().0, before, "{e}");
        e
    };
    let four = file(vec![
        person("bob", true, vec![0.0, 1.0]),
        person(&"x".repeat(1 << 20), true, vec![0.6, 0.8]),
        person("", true, vec![0.8, 0.6]),
        person("dan", false, vec![1.0, 0.0]),
    ]);
    let e = refused(&mut store, &four);
    assert!(
        e.contains("person 2 of 4 ('xxxx") && e.contains("more than 128"),
        "{e}"
    );
    let mut empty_third = four.clone();
    empty_third.persons[1] = person("carl", true, vec![0.6, 0.8]);
    let e = refused(&mut store, &empty_third);
    assert!(
        e.contains("person 3 of 4 ('')") && e.contains("nothing was imported"),
        "{e}"
    );
    let forged = file(vec![person("insider", true, vec![600.0, 800.0])]);
    let e = refused(&mut store, &forged);
    assert!(e.contains("'insider'") && e.contains("length 1000"), "{e}");
    let wrong_dim = file(vec![person("carl", true, vec![0.0, 0.0, 1.0])]);
    assert!(refused(&mut store, &wrong_dim).contains("length 3 where 2"));
    let twice = file(vec![
        person("carl", true, vec![1.0, 0.0]),
        person("carl", false, vec![0.0, 1.0]),
    ]);
    assert!(refused(&mut store, &twice).contains("appears twice"));

    // The good persons of the file, alone: all stored at once, one version step.
    let good = file(vec![
        person("bob", true, vec![0.0, 1.0]),
        person("dan", false, vec![1.0, 0.0]),
    ]);
    assert_eq!(store.import(&good, 2).unwrap(), 2);
    let after = store.load(Some(2)).unwrap().0;
    assert_eq!(after.version, before.version + 1);
    assert_eq!(after.persons.len(), 3);
}

/// A forged entry written straight into Redis (not through import) never names anyone: it is
/// skipped with a warning, and genuine persons are matched as before.
#[test]
fn a_forged_entry_in_redis_is_skipped() {
    let redis = RedisServer::start();
    let mut store = GalleryStore::connect(&redis.settings(), DEFAULT_GALLERY_KEY, T).unwrap();
    store.put(&person("ann", false, vec![0.6, 0.8])).unwrap();
    redis.cli(&["SADD", "fess:gallery:persons", "insider"]);
    redis.cli(&[
        "HSET",
        "fess:gallery:person:insider",
        "name",
        "Insider",
        "authorized",
        "1",
        "embeddings",
        "[[1000.0,1000.0]]",
    ]);
    let (g, warnings) = store.load(Some(2)).unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("'insider' skipped") && w.contains("length 1414")),
        "{warnings:?}"
    );
    let id = g.identify(&[0.6, 0.8], 0.5);
    assert_eq!(id.person_id.as_deref(), Some("ann"));
    assert!(id.similarity <= 1.0);
}

fn link(url: &str) -> (RedisLink, mpsc::Receiver<LinkEvent>) {
    start_link(RedisSettings::for_url(url), Duration::from_millis(500))
}

fn wait_for(rx: &mpsc::Receiver<LinkEvent>, pred: impl Fn(&LinkEvent) -> bool) -> LinkEvent {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = rx.recv_timeout(left).expect("the expected link event");
        if pred(&e) {
            return e;
        }
    }
}

#[test]
fn link_follows_gallery_changes_and_survives_redis_restarts() {
    let mut redis = RedisServer::start();
    let mut store = GalleryStore::connect(&redis.settings(), DEFAULT_GALLERY_KEY, T).unwrap();
    store.put(&person("ann", true, vec![1.0, 0.0])).unwrap();
    let (mut link, rx) = link(&redis.url());
    assert!(link.is_up());
    assert_eq!(link.gallery().persons.len(), 1);

    // A change while running is picked up by polling.
    store.put(&person("bob", false, vec![0.0, 1.0])).unwrap();
    wait_for(&rx, |e| {
        matches!(e, LinkEvent::GalleryLoaded { persons: 2, .. })
    });
    assert_eq!(link.gallery().persons.len(), 2);

    // Cache write, then read back.
    let entry = CachedRecognition {
        identity: Identity {
            person_id: Some("bob".into()),
            name: Some("Person bob".into()),
            authorized: false,
            similarity: 0.93,
        },
        quality: 40.0,
        gallery_version: link.gallery().version,
    };
    let key = link.cache_key("cam_01", 7);
    link.store(key.clone(), &entry, Duration::from_secs(30));
    let deadline = Instant::now() + Duration::from_secs(5);
    let got = loop {
        let r = link.lookup(vec![key.clone(), link.cache_key("cam_01", 8)], T);
        if let Some(v) = r.filter(|v| v[0].is_some()) {
            break v;
        }
        assert!(Instant::now() < deadline, "cache entry never readable");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(got, vec![Some(entry.clone()), None]);
    let ttl: i64 = redis.cli(&["TTL", &key]).trim().parse().unwrap();
    assert!((1..=30).contains(&ttl), "ttl {ttl}");

    // Redis dies: reported once, reads answer None at once, the snapshot stays.
    redis.kill();
    wait_for(
        &rx,
        |e| matches!(e, LinkEvent::Unreadable(r) if r.contains("unreachable")),
    );
    assert!(!link.is_up());
    assert!(link.unreadable().is_some());
    let t0 = Instant::now();
    assert_eq!(link.lookup(vec![key.clone()], T), None);
    assert!(t0.elapsed() < Duration::from_millis(100));
    link.store(key.clone(), &entry, Duration::from_secs(30));
    assert_eq!(link.writes_dropped, 1);
    assert_eq!(link.gallery().persons.len(), 2);

    // Back (empty): the link reconnects and loads the (now empty) gallery.
    redis.restart();
    wait_for(&rx, |e| *e == LinkEvent::Readable);
    assert!(link.is_up());
    assert_eq!(link.unreadable(), None);
    assert_eq!(link.gallery().persons.len(), 0);
    assert!(rx
        .try_iter()
        .all(|e| !matches!(e, LinkEvent::Unreadable(_))));
}

#[test]
fn link_to_a_dead_redis_starts_down_and_comes_up() {
    let mut redis = RedisServer::start();
    redis.kill();
    let (link, rx) = link(&redis.url());
    assert!(!link.is_up());
    wait_for(&rx, |e| matches!(e, LinkEvent::Unreadable(_)));
    redis.restart();
    wait_for(&rx, |e| *e == LinkEvent::Readable);
    assert!(link.is_up());
}

/// An ACL user that may connect but not read the gallery: the reason is the missing
/// permission (with the command), never "unreachable", and the link says the gallery is
/// unreadable until the permission is granted.
#[test]
fn a_gallery_the_user_may_not_read_is_unreadable_with_the_reason() {
    let redis = RedisServer::start();
    let mut store = GalleryStore::connect(&redis.settings(), DEFAULT_GALLERY_KEY, T).unwrap();
    store.put(&person("ann", false, vec![1.0, 0.0])).unwrap();
    let rules = ["~*", "+@all", "-smembers"];
    let url = redis.acl_user("camera", "camera-pw", &rules);
    let (link, rx) = link(&url);
    let Some(LinkEvent::Unreadable(reason)) = rx.try_iter().next() else {
        panic!("the first event is the unreadable gallery");
    };
    assert!(
        reason.contains("no permission") && reason.contains("SMEMBERS fess:gallery:persons"),
        "{reason}"
    );
    assert!(
        !reason.contains("camera-pw") && !reason.contains("unreachable"),
        "{reason}"
    );
    assert_eq!(link.unreadable().map(|u| u.reason), Some(reason));
    assert_eq!(link.gallery().persons.len(), 0);

    // GET refused: the version cannot be read either.
    let no_get = redis.acl_user("camera", "camera-pw", &["~*", "+@all", "-get"]);
    let e = GalleryStore::connect(&RedisSettings::for_url(&no_get), DEFAULT_GALLERY_KEY, T)
        .and_then(|mut s| s.version())
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("may not run GET fess:gallery:version"),
        "{e}"
    );
    // A wrong password is an authentication failure.
    let e = GalleryStore::connect(
        &RedisSettings::for_url(&url.replace("camera-pw", "nope")),
        DEFAULT_GALLERY_KEY,
        T,
    )
    .map(drop)
    .unwrap_err();
    assert!(e.to_string().contains("authentication failed"), "{e}");

    // Granted: read at the next attempt.
    redis.acl_user("camera", "camera-pw", &["~*", "+@all"]);
    wait_for(&rx, |e| *e == LinkEvent::Readable);
    assert_eq!(link.gallery().persons.len(), 1);
    assert_eq!(link.unreadable(), None);
}
