//! The meson build as a user or packager runs it: configured on the cargo target dir these tests
//! were built in (`-Dcargo_target_dir`, so nothing is built twice), compiled, installed into a
//! prefix of its own, and `meson test`, whose "installed tree" test installs again with
//! `meson install --destdir` and checks that tree (scripts/check-install.sh).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use fess_testkit::tmp_dir;

/// Runs `cmd`, fails the test with its output unless it succeeds, returns stdout and stderr.
fn run(mut cmd: Command) -> String {
    let started = Instant::now();
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("{cmd:?}: {e} (meson and ninja: scripts/setup.sh installs them)")
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    eprintln!("{cmd:?}: {:.1} s", started.elapsed().as_secs_f64());
    text
}

/// The target dir holding the `fess` these tests run: `<target>/release/fess`.
fn cargo_target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_fess"))
        .parent()
        .and_then(Path::parent)
        .expect("fess is built in <target>/release")
        .to_path_buf()
}

fn meson(args: &[&str]) -> Command {
    let mut c = Command::new("meson");
    c.args(args)
        // The workspace's whole selection, as `cargo build --release --workspace` (scripts/test.sh)
        // built it: cargo then finds every crate fresh. meson's own `-p gst-plugin-fess -p fess-cli
        // -p fess-exporter` resolves some features differently (serde_json without the
        // float_roundtrip that fess-testkit's dependencies turn on) and would rebuild about ten
        // crates, the plugin among them, the first time (2-3 minutes on 2 cores).
        // --offline: every crate is already there.
        .env("FESS_CARGO_ARGS", "--offline --workspace")
        .env("NO_AT_BRIDGE", "1");
    c
}

#[test]
fn meson_builds_installs_and_checks_the_installed_tree() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("fess-cli is in the workspace");
    let tmp = tmp_dir("meson");
    let build = tmp.join("build");
    let prefix = tmp.join("prefix");
    let (build_s, prefix_s) = (build.to_str().unwrap(), prefix.to_str().unwrap());
    let target = cargo_target_dir();

    let setup = run(meson(&[
        "setup",
        build_s,
        src.to_str().unwrap(),
        &format!("-Dprefix={prefix_s}"),
        &format!("-Dcargo_target_dir={}", target.display()),
    ]));
    assert!(setup.contains(&target.display().to_string()), "{setup}");

    let compile = run(meson(&["compile", "-C", build_s]));
    let rebuilt: Vec<&str> = compile
        .lines()
        .filter(|l| l.trim_start().starts_with("Compiling "))
        .collect();
    eprintln!("cargo rebuilt {} crates: {rebuilt:?}", rebuilt.len());

    // A plain install into the prefix: everything lands under it, the unit included.
    run(meson(&[
        "install",
        "-C",
        build_s,
        "--no-rebuild",
        "--quiet",
    ]));
    for f in [
        "bin/fess",
        "bin/fess-exporter",
        "lib/systemd/system/fess-exporter.service",
        "lib/systemd/system/fess-run.service",
        "lib/systemd/system/fess-run@.service",
        "share/fess/prometheus/prometheus.yml",
        "share/fess/prometheus/alerts.yml",
        "share/fess/prometheus/alerts.test.yml",
        "share/fess/grafana/grafana-dashboard.json",
        "share/fess/examples/alert-rules.example.toml",
        "share/fess/examples/cameras.example.toml",
        "share/fess/examples/99-fess.conf",
    ] {
        assert!(
            prefix.join(f).is_file(),
            "meson install did not install {f}"
        );
    }
    let unit =
        std::fs::read_to_string(prefix.join("lib/systemd/system/fess-exporter.service")).unwrap();
    let exec = format!("ExecStart={prefix_s}/bin/fess-exporter ");
    assert!(
        unit.lines().any(|l| l.starts_with(&exec)),
        "the installed unit does not start {prefix_s}/bin/fess-exporter:\n{unit}"
    );

    // Every meson test, the installed tree's among them.
    let tests = run(meson(&["test", "-C", build_s, "--print-errorlogs"]));
    assert!(tests.contains("installed tree"), "{tests}");
    assert!(
        build
            .join("install-check")
            .join(prefix.strip_prefix("/").unwrap())
            .join("bin/fess-exporter")
            .is_file(),
        "meson test did not install into <builddir>/install-check"
    );

    std::fs::remove_dir_all(&tmp).unwrap();
}
