//! The gallery over TLS from a real `redis-server --tls-port … --aclfile …`: a CA file and a
//! client certificate as settings of their own, the password from a file, `#insecure` warned
//! about, and the least privileges the README gives for recognition and for enrolment, each
//! shown to be enough, and a missing one named.

use std::time::Duration;

use fess::gallery::redis_settings::RedisSettings;
use fess::gallery::{CachedRecognition, GalleryStore, Identity, Person, DEFAULT_GALLERY_KEY};
use fess_testkit::{start_link, RedisServer};

const T: Duration = Duration::from_secs(5);
const ADMIN: &str = "user fess-admin on >Admin-pw-31 ~* &* +@all";
/// README, "Redis with TLS and ACL users": what fessface needs, and `fess gallery`.
const CAMERA: &str = "user fess-camera on >Camera-pw-77 resetkeys ~fess:* resetchannels -@all \
                      +get +smembers +hgetall +mget +set";
const ENROL: &str = "user fess-gallery on >Gallery-pw-52 resetkeys ~fess:gallery:* \
                     resetchannels -@all +get +smembers +hgetall +multi +exec +del +hset +sadd \
                     +srem +incr";
const HEALTH: &str = "user fess-health on >Health-pw-64 resetkeys resetchannels -@all +ping";
/// The camera's rights without SMEMBERS.
const NO_SMEMBERS: &str = "user fess-blind on >Blind-pw-18 resetkeys ~fess:* resetchannels \
                           -@all +get +hgetall +mget +set";

fn person(id: &str) -> Person {
    Person {
        id: id.into(),
        name: format!("Person {id}"),
        authorized: true,
        embeddings: vec![vec![1.0, 0.0]],
    }
}

fn connect_err(settings: &RedisSettings) -> String {
    GalleryStore::connect(settings, DEFAULT_GALLERY_KEY, T)
        .and_then(|mut s| s.version())
        .map(drop)
        .expect_err("refused")
        .to_string()
}

#[test]
fn the_camera_user_recognises_over_mutual_tls_with_exactly_its_rights() {
    let redis = RedisServer::with_tls(true, &[ADMIN, CAMERA, ENROL, NO_SMEMBERS]);
    // Enrolment with the enrolment user's rights, its password from a file.
    let dir = fess_testkit::tmp_dir("redis-tls-files");
    std::fs::create_dir_all(&dir).unwrap();
    let password_file = dir.join("redis-password");
    std::fs::write(&password_file, "Gallery-pw-52\n").unwrap();
    let mut enrol = redis.settings_for(&redis.user_url("fess-gallery", "").replace(":@", "@"));
    enrol.password_file = Some(password_file.display().to_string());
    let mut store = GalleryStore::connect(&enrol, DEFAULT_GALLERY_KEY, T).unwrap();
    store.put(&person("ann")).unwrap();
    store.put(&person("bob")).unwrap();
    store.remove("bob").unwrap();
    assert_eq!(store.load(Some(2)).unwrap().0.persons.len(), 1);

    // Recognition with the camera user's rights: the gallery loads, the cache is written and
    // read back.
    let camera = redis.settings_for(&redis.user_url("fess-camera", "Camera-pw-77"));
    let (mut link, rx) = start_link(camera.clone(), Duration::from_secs(2));
    assert_eq!(
        link.unreadable(),
        None,
        "{:?}",
        rx.try_iter().collect::<Vec<_>>()
    );
    assert_eq!(link.gallery().persons.len(), 1);
    let key = link.cache_key("cam_01", 7);
    let seen = CachedRecognition {
        identity: Identity {
            person_id: Some("ann".into()),
            name: Some("Person ann".into()),
            authorized: true,
            similarity: 0.9,
        },
        quality: 40.0,
        gallery_version: link.gallery().version,
    };
    link.store(key.clone(), &seen, Duration::from_secs(60));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let found = loop {
        let got = link.lookup(vec![key.clone()], Duration::from_millis(500));
        let hit = got
            .as_ref()
            .is_some_and(|g| g.first().is_some_and(Option::is_some));
        if hit || std::time::Instant::now() > deadline {
            break got;
        }
    };
    assert_eq!(found, Some(vec![Some(seen)]));
    // The camera user cannot change the gallery.
    let e = GalleryStore::connect(&camera, DEFAULT_GALLERY_KEY, T)
        .unwrap()
        .put(&person("eve"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no permission") && e.contains("MULTI"), "{e}");

    // Without SMEMBERS the gallery is unreadable, and the reason names it.
    let blind = redis.settings_for(&redis.user_url("fess-blind", "Blind-pw-18"));
    let (link, _rx) = start_link(blind, Duration::from_secs(2));
    let reason = link.unreadable().expect("unreadable").reason;
    assert!(
        reason.contains("no permission") && reason.contains("SMEMBERS"),
        "{reason}"
    );
    for secret in [
        "Camera-pw-77",
        "Gallery-pw-52",
        "Blind-pw-18",
        "Admin-pw-31",
    ] {
        assert!(!reason.contains(secret) && !e.contains(secret));
    }
}

#[test]
fn tls_failures_say_what_to_fix() {
    let redis = RedisServer::with_tls(true, &[ADMIN]);
    let url = redis.user_url("fess-admin", "Admin-pw-31");
    let good = redis.settings_for(&url);
    GalleryStore::connect(&good, DEFAULT_GALLERY_KEY, T)
        .unwrap()
        .version()
        .unwrap();
    // The test CA is not among the system's.
    let mut untrusted = good.clone();
    untrusted.ca_file = None;
    let e = connect_err(&untrusted);
    assert!(e.contains("TLS verification failed"), "{e}");
    // No client certificate for a server that asks for one.
    let mut anonymous = good.clone();
    anonymous.cert_file = None;
    anonymous.key_file = None;
    let e = connect_err(&anonymous);
    assert!(e.contains("asks for a client certificate"), "{e}");
    // A wrong password.
    let e = connect_err(&redis.settings_for(&redis.user_url("fess-admin", "nope")));
    assert!(
        e.contains("authentication failed") && !e.contains("nope"),
        "{e}"
    );
    // Plain text to the TLS port.
    let e = connect_err(&RedisSettings::for_url(
        &url.replace("rediss://", "redis://"),
    ));
    assert!(!e.contains("Admin-pw-31"), "{e}");
}

#[test]
fn insecure_connects_but_is_warned_and_refuses_tls_files() {
    let redis = RedisServer::with_tls(false, &[ADMIN]);
    let url = format!("{}#insecure", redis.user_url("fess-admin", "Admin-pw-31"));
    let insecure = RedisSettings::for_url(&url);
    let warning = insecure.warnings().join(" ");
    assert!(
        warning.starts_with("INSECURE") && !warning.contains("Admin-pw-31"),
        "{warning}"
    );
    GalleryStore::connect(&insecure, DEFAULT_GALLERY_KEY, T)
        .unwrap()
        .version()
        .unwrap();
    let with_ca = redis.settings_for(&url);
    let e = GalleryStore::connect(&with_ca, DEFAULT_GALLERY_KEY, T)
        .map(drop)
        .unwrap_err()
        .to_string();
    assert!(e.contains("drop #insecure"), "{e}");
}

#[test]
fn the_health_check_needs_only_ping_and_names_what_fails() {
    use fess::observability::health::{HealthChecker, Status};
    let redis = RedisServer::with_tls(true, &[ADMIN, HEALTH, CAMERA]);
    let check = |user: &str, password: &str| {
        let settings = redis.settings_for(&redis.user_url(user, password));
        HealthChecker::new(Some(&settings), None)
            .unwrap()
            .get_health_status()
            .components
            .redis
    };
    let ok = check("fess-health", "Health-pw-64");
    assert_eq!(ok.status, Status::Healthy, "{:?}", ok.error);
    // The camera user may not PING: said as such.
    let refused = check("fess-camera", "Camera-pw-77");
    let error = refused.error.expect("unhealthy");
    assert!(
        error.contains("no permission") && error.contains("PING"),
        "{error}"
    );
    let wrong = check("fess-health", "Wrong-pw-1").error.expect("unhealthy");
    assert!(
        wrong.contains("authentication failed") && !wrong.contains("Wrong-pw-1"),
        "{wrong}"
    );
}
