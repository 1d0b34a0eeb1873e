//! `fess detect --kafka` and `fess events` against a broker reached only over TLS with a SCRAM
//! user, configured the one way the README gives ("Secure Kafka: TLS, SASL and secrets"):
//! `FESS_KAFKA_CONFIG` with the password in a systemd-style credential file. A wrong password is
//! named, its events wait in the spool and arrive once it is right; no output shows a password.

use std::path::Path;
use std::process::{Command, Output};

use fess_testkit::{media, tmp_dir, SecureBroker, SecureOptions};

const PASSWORD: &str = "Cli-pw-4Tq8z";
const WRONG: &str = "Cli-wrong-9Vv1";

fn fess() -> Command {
    let exe = Path::new(env!("CARGO_BIN_EXE_fess"));
    let mut c = Command::new(exe);
    c.env("GST_PLUGIN_PATH", exe.parent().unwrap());
    c
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn detect_and_events_over_sasl_ssl_with_the_password_in_a_credential() {
    let broker = SecureBroker::start(
        &tmp_dir("cli-sasl-ssl"),
        &SecureOptions {
            users: vec![("fess".into(), PASSWORD.into(), "scram256")],
            ..Default::default()
        },
    );
    // Two credential folders as systemd would make them: the same name, one wrong.
    let credentials = |name: &str, password: &str| {
        let dir = broker.dir().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("kafka-password"), format!("{password}\n")).unwrap();
        dir
    };
    let (right, wrong) = (credentials("right", PASSWORD), credentials("wrong", WRONG));
    let config = format!(
        "security.protocol=SASL_SSL;sasl.mechanism=SCRAM-SHA-256;sasl.username=fess;\
         sasl.password=@kafka-password;ssl.ca.location={}",
        broker.pki.ca.display()
    );
    let spool = broker.dir().join("spool");
    let detect = |credentials: &Path| {
        fess()
            .env("FESS_KAFKA_CONFIG", &config)
            .env("CREDENTIALS_DIRECTORY", credentials)
            .args(["detect", "--input"])
            .arg(media("carphone_pristine.mp4"))
            .args(["--kafka", &broker.bootstrap(), "--camera-id", "car_cam"])
            .arg("--sheet")
            .arg(broker.dir().join("sheet.png"))
            .args(["--set", "motion-gate=false", "--sink-set"])
            .arg(format!("spool-dir={}", spool.display()))
            .args(["--sink-set", "flush-timeout=3000"])
            // tansu's SQL storage (the one keeping SCRAM users) cannot serve snappy back.
            .args(["--sink-set", "compression=zstd"])
            .output()
            .unwrap()
    };
    let events = |credentials: &Path| {
        fess()
            .env("FESS_KAFKA_CONFIG", &config)
            .env("CREDENTIALS_DIRECTORY", credentials)
            .args(["events", "--bootstrap-servers", &broker.bootstrap()])
            .args(["--summary", "--json", "--idle-timeout", "5"])
            .output()
            .unwrap()
    };
    let mut outputs = Vec::new();

    // The wrong password: the run finishes, says why nothing was delivered, keeps the events.
    let run = detect(&wrong);
    outputs.push(text(&run));
    assert!(run.status.success(), "{}", text(&run));
    assert!(
        text(&run).contains("Kafka authentication failed"),
        "{}",
        text(&run)
    );
    let built: u64 = String::from_utf8_lossy(&run.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("events built: "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no events line in {}", text(&run)));
    assert!(built >= 1);
    let read = events(&wrong);
    outputs.push(text(&read));
    assert!(!read.status.success(), "read with a wrong password");
    assert!(
        text(&read).contains("Kafka authentication failed"),
        "{}",
        text(&read)
    );

    // The right one: the spooled events and the new ones arrive.
    let run = detect(&right);
    outputs.push(text(&run));
    assert!(run.status.success(), "{}", text(&run));
    let read = events(&right);
    outputs.push(text(&read));
    assert!(read.status.success(), "{}", text(&read));
    let json: serde_json::Value = serde_json::from_slice(&read.stdout).unwrap();
    let motion = &json["topics"]["motion.detection.events"];
    assert_eq!(motion["events"], 2 * built, "both runs' events, each once");
    assert_eq!(motion["example"]["camera_id"], "car_cam");

    for out in &outputs {
        assert!(!out.contains(PASSWORD) && !out.contains(WRONG), "{out}");
    }
}
