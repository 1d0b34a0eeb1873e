//! The stats socket's folder (README "Stats protocol"): the exporter refuses to bind in a folder
//! another user owns or anyone could write to, saying which folder, its owner and mode and what
//! to do; a source sends nothing to a socket someone put there.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fess::observability::stats::StatsReporter;
use fess_testkit::tmp_dir;

fn mkdir(path: &Path, mode: u32) {
    std::fs::create_dir_all(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs the exporter with its socket at `socket`; returns its exit code and stderr.
fn exporter_with_socket(socket: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fess-exporter"))
        .args(["--listen", "127.0.0.1:0", "--no-redis", "--no-kafka"])
        .env("FESS_STATS_SOCKET", socket)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the exporter served {}:\n{}",
                socket.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn exporter_and_sources_refuse_a_folder_others_could_write_to() {
    let base = tmp_dir("stats-folder");
    mkdir(&base, 0o755);
    // World-writable; and the attack of issue 20: another user's `fess` in a folder like /tmp.
    let open = base.join("open");
    mkdir(&open, 0o777);
    let theirs = base.join("tmp/fess");
    mkdir(&theirs, 0o755);
    std::fs::set_permissions(base.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534))
        .expect("giving a folder to another user needs root, as the test command runs");

    for (folder, owner, mode) in [
        (&open, "owner uid 0,", "mode 0777"),
        (&theirs, "owner uid 65534,", "mode 0755"),
    ] {
        let socket = folder.join("stats.sock");
        let (code, log) = exporter_with_socket(&socket);
        assert_eq!(code, Some(1), "{log}");
        let folder_name = format!("folder {} ", folder.display());
        for part in [&folder_name, owner, mode, "FESS_STATS_SOCKET", "chmod 700"] {
            assert!(log.contains(part), "{part:?} not in: {log}");
        }
        assert!(!socket.exists(), "{}", socket.display());

        // Someone else's socket there gets nothing.
        let listener = UnixDatagram::bind(&socket).unwrap();
        listener.set_nonblocking(true).unwrap();
        let mut reporter = StatsReporter::to_path(socket, "fessdetect", "detect0", "cam_01");
        assert!(!reporter.send(vec![]));
        assert_eq!((reporter.sent, reporter.refused), (0, 1));
        assert!(listener.recv(&mut [0u8; 1024]).is_err());
    }
    let _ = std::fs::remove_dir_all(&base);
}
