//! systemd units as shipped in deploy/, checked with `systemd-analyze verify`.

use std::path::Path;
use std::process::Command;

use crate::tmp_dir;

/// Runs `systemd-analyze verify` on a copy of the unit file `unit` whose `ExecStart=installed`
/// names `exe` instead: verify insists that ExecStart's program exists, and the shipped units
/// name where it is installed. The copy keeps the file name (a template stays a template).
/// Settings shipped commented out as examples (`#Key=value`) are verified as if enabled.
/// Fails the test on any complaint; returns ExecStart's arguments.
pub fn verify_unit(unit: &Path, installed: &str, exe: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(unit).unwrap_or_else(|e| panic!("{}: {e}", unit.display()));
    let exec = text
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap_or_else(|| panic!("{}: no ExecStart line", unit.display()));
    let mut words = exec.split_whitespace();
    assert_eq!(
        words.next(),
        Some(installed),
        "{}: ExecStart does not start {installed}",
        unit.display()
    );
    let args = words.map(String::from).collect();
    let name = unit.file_name().expect("a unit file name");
    let dir = tmp_dir(&format!("unit-{}", name.to_string_lossy()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join(name);
    let line = format!("ExecStart={exec}");
    let replaced = line.replacen(installed, &exe.to_string_lossy(), 1);
    let enabled: Vec<String> = text
        .replacen(&line, &replaced, 1)
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest)
                if rest.starts_with(|c: char| c.is_ascii_uppercase()) && rest.contains('=') =>
            {
                rest.to_string()
            }
            _ => l.to_string(),
        })
        .collect();
    std::fs::write(&copy, enabled.join("\n") + "\n").unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap_or_else(|e| panic!("systemd-analyze: {e} (installed by scripts/setup.sh?)"));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // verify exits 0 on unknown keys and only warns: any word from it is a finding.
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify {} (a copy of {}):\n{said}",
        copy.display(),
        unit.display()
    );
    std::fs::remove_dir_all(&dir).unwrap();
    args
}
