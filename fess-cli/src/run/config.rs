//! The cameras file of `fess run` (TOML): a `[defaults]` table and one `[[camera]]` table per
//! camera, whose keys are the elements' own property names (see the README's "Running
//! cameras"). This module reads the file into [`CameraSpec`]s and says where a mistake is; which
//! element takes which key is checked against the elements themselves (`pipeline::check`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::backoff;

/// Keys `fess run` reads itself; every other key is a property of the elements.
pub const ID: &str = "id";
pub const SOURCE: &str = "source";
pub const FACES: &str = "faces";
pub const STALL_TIMEOUT: &str = "stall-timeout";
pub const RETRY_DELAY: &str = "retry-delay";
pub const MAX_RETRY_DELAY: &str = "max-retry-delay";
const OWN_KEYS: [&str; 6] = [
    ID,
    SOURCE,
    FACES,
    STALL_TIMEOUT,
    RETRY_DELAY,
    MAX_RETRY_DELAY,
];
/// Longest camera id: it names the spool folder and labels every metric.
pub const MAX_ID_LEN: usize = 64;
/// A live source with no frame reaching the analysis this long is restarted.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A mistake in the cameras file, with where it is.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}:{line}: {reason}", file.display())]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the whole file is at fault (it cannot be read).
    pub line: usize,
    pub reason: String,
}

/// One camera as the file describes it, with `[defaults]` applied. Two specs are equal when
/// the camera would run the same way: a camera that only moved in the file is not restarted.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraSpec {
    pub id: String,
    /// Any URI `uridecodebin` plays; may hold credentials (never shown: see `secrets`).
    pub source: String,
    /// Whether `fessface` is in the chain.
    pub faces: bool,
    /// `None`: the default for live sources, no stall detection for the others.
    pub stall_timeout: Option<Duration>,
    /// The first delay before a failed camera is tried again, and the longest.
    pub retry_delay: Duration,
    pub max_retry_delay: Duration,
    /// Element properties by name, values as gst-launch-1.0 would read them.
    pub properties: BTreeMap<String, Setting>,
}

/// One property value and where it was set.
#[derive(Debug, Clone)]
pub struct Setting {
    pub value: String,
    pub line: usize,
    /// Set in `[defaults]` (then an element without this property is not an error).
    pub from_defaults: bool,
}

/// Where a value was set is not part of what it means.
impl PartialEq for Setting {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value && self.from_defaults == other.from_defaults
    }
}

/// The whole file: the cameras in the order they appear, and where each one's table starts.
#[derive(Debug, Clone)]
pub struct Config {
    pub file: PathBuf,
    pub cameras: Vec<CameraSpec>,
    lines: BTreeMap<String, usize>,
}

impl Config {
    /// The line of camera `id`'s `[[camera]]` table.
    pub fn line_of(&self, id: &str) -> usize {
        self.lines.get(id).copied().unwrap_or(0)
    }

    /// An error about camera `id`'s table, or about its key `key` when set there.
    pub fn error(&self, camera: &CameraSpec, key: Option<&str>, reason: String) -> ConfigError {
        let line = key
            .and_then(|k| camera.properties.get(k))
            .map_or_else(|| self.line_of(&camera.id), |s| s.line);
        ConfigError {
            file: self.file.clone(),
            line,
            reason,
        }
    }
}

type SpannedTable = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    defaults: SpannedTable,
    #[serde(default)]
    camera: Vec<Spanned<SpannedTable>>,
}

/// Reads and parses `file`; `${NAME}` in values comes from the environment.
pub fn load(file: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|e| ConfigError {
        file: file.to_path_buf(),
        line: 0,
        reason: format!("cannot read the cameras file: {e}"),
    })?;
    parse(file, &text, &|name| std::env::var(name).ok())
}

/// Parses the text of a cameras file; `env` resolves `${NAME}`.
pub fn parse(
    file: &Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let at = |offset: usize, reason: String| ConfigError {
        file: file.to_path_buf(),
        line: line_at(text, offset),
        reason,
    };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        at(offset, e.message().trim().to_string())
    })?;
    let defaults = settings(&raw.defaults, text, env, true).map_err(|(o, r)| at(o, r))?;
    for key in [ID, SOURCE] {
        if let Some(s) = defaults.get(key) {
            return Err(ConfigError {
                file: file.to_path_buf(),
                line: s.line,
                reason: format!("'{key}' belongs in a [[camera]] table, not in [defaults]"),
            });
        }
    }
    if raw.camera.is_empty() {
        return Err(at(text.len(), "no [[camera]] table: nothing to run".into()));
    }
    let mut cameras: Vec<CameraSpec> = Vec::new();
    let mut lines = BTreeMap::new();
    for table in &raw.camera {
        let start = table.span().start;
        let own = settings(table.get_ref(), text, env, false).map_err(|(o, r)| at(o, r))?;
        let mut merged = defaults.clone();
        merged.extend(own);
        let camera = spec(merged).map_err(|(line, reason)| ConfigError {
            file: file.to_path_buf(),
            line: line.unwrap_or_else(|| line_at(text, start)),
            reason,
        })?;
        if let Some(first) = lines.get(&camera.id) {
            return Err(at(
                start,
                format!("camera id '{}' is already used on line {first}", camera.id),
            ));
        }
        lines.insert(camera.id.clone(), line_at(text, start));
        cameras.push(camera);
    }
    Ok(Config {
        file: file.to_path_buf(),
        cameras,
        lines,
    })
}

/// 1-based line of byte `offset`.
fn line_at(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A table's keys as settings (values as text, `${NAME}` expanded), or (offset, reason).
fn settings(
    table: &SpannedTable,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
    from_defaults: bool,
) -> Result<BTreeMap<String, Setting>, (usize, String)> {
    let mut out = BTreeMap::new();
    for (key, value) in table {
        let offset = key.span().start;
        let name = key.get_ref();
        let value = match value.get_ref() {
            toml::Value::String(s) => {
                expand(s, env).map_err(|r| (offset, format!("{name}: {r}")))?
            }
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err((
                    offset,
                    format!(
                        "{name}: a {} cannot be a property value (a string, number or boolean \
                         can)",
                        other.type_str()
                    ),
                ))
            }
        };
        out.insert(
            name.clone(),
            Setting {
                value,
                line: line_at(text, offset),
                from_defaults,
            },
        );
    }
    Ok(out)
}

/// `s` with every `${NAME}` replaced by the variable's value (`$$` is a `$`).
fn expand(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(tail) = after.strip_prefix('{') {
            let end = tail
                .find('}')
                .ok_or_else(|| "an unclosed ${ (write $$ for a literal $)".to_string())?;
            let name = &tail[..end];
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                return Err(format!("'${{{name}}}' is not an environment variable name"));
            }
            let value =
                env(name).ok_or_else(|| format!("the environment variable {name} is not set"))?;
            out.push_str(&value);
            rest = &tail[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// A camera from its merged settings, or (line, reason).
fn spec(mut all: BTreeMap<String, Setting>) -> Result<CameraSpec, (Option<usize>, String)> {
    let id = all
        .remove(ID)
        .ok_or((None, "a [[camera]] without an 'id'".to_string()))?;
    check_id(&id.value).map_err(|r| (Some(id.line), r))?;
    let source = all.remove(SOURCE).ok_or((
        None,
        format!(
            "camera '{}' has no 'source' (a URI, e.g. rtsp://…)",
            id.value
        ),
    ))?;
    if !source.value.contains("://") {
        return Err((
            Some(source.line),
            format!(
                "camera '{}': 'source' is not a URI (rtsp://…, file:///…)",
                id.value
            ),
        ));
    }
    let faces = match all.remove(FACES) {
        None => false,
        Some(s) => match s.value.as_str() {
            "true" => true,
            "false" => false,
            _ => return Err((Some(s.line), "'faces' is true or false".into())),
        },
    };
    let stall_timeout = all
        .remove(STALL_TIMEOUT)
        .map(|s| seconds(STALL_TIMEOUT, &s, 1.0))
        .transpose()?;
    let retry_delay = all
        .remove(RETRY_DELAY)
        .map(|s| seconds(RETRY_DELAY, &s, 0.1))
        .transpose()?
        .unwrap_or(backoff::FIRST_DELAY);
    let max_retry_delay = match all.remove(MAX_RETRY_DELAY) {
        Some(s) => {
            let max = seconds(MAX_RETRY_DELAY, &s, 0.1)?;
            if max < retry_delay {
                return Err((
                    Some(s.line),
                    format!("'{MAX_RETRY_DELAY}' is shorter than '{RETRY_DELAY}'"),
                ));
            }
            max
        }
        None => backoff::MAX_DELAY.max(retry_delay),
    };
    if let Some(s) = all.get("camera-id") {
        return Err((
            Some(s.line),
            "'camera-id' is the camera's 'id' here: set 'id' (it is given to every element)".into(),
        ));
    }
    debug_assert!(OWN_KEYS.iter().all(|k| !all.contains_key(*k)));
    Ok(CameraSpec {
        id: id.value,
        source: source.value,
        faces,
        stall_timeout,
        retry_delay,
        max_retry_delay,
        properties: all,
    })
}

/// A setting of `key` in seconds, from `min` to an hour.
fn seconds(key: &str, s: &Setting, min: f64) -> Result<Duration, (Option<usize>, String)> {
    s.value
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= min && *v <= 3600.0)
        .map(Duration::from_secs_f64)
        .ok_or((
            Some(s.line),
            format!("'{key}' is seconds from {min} to 3600, not '{}'", s.value),
        ))
}

/// Camera ids name spool folders and label metrics: short, printable, no path separators.
fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        && !id.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "camera id '{id}': use 1 to {MAX_ID_LEN} letters, digits, '-', '_', '.' or ':' \
             (not starting with '.')"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        (name == "GATE_PASSWORD").then(|| "s3cret".to_string())
    }

    fn parse_text(text: &str) -> Result<Config, ConfigError> {
        parse(Path::new("cams.toml"), text, &env)
    }

    const EXAMPLE: &str = r#"
[defaults]
bootstrap-servers = "kafka-1:9092"
detect-fps = 5
faces = true
threshold = 0.45

[[camera]]
id = "gate-1"
source = "rtsp://viewer:${GATE_PASSWORD}@cam-gate.example/stream2"
object-class = "person"

[[camera]]
id = "yard"
source = "file:///media/yard.mp4"
faces = false
stall-timeout = 3
detect-fps = 2
"#;

    #[test]
    fn defaults_apply_and_cameras_override_them() {
        let c = parse_text(EXAMPLE).unwrap();
        let [gate, yard] = &c.cameras[..] else {
            panic!("two cameras")
        };
        assert_eq!(gate.source, "rtsp://viewer:s3cret@cam-gate.example/stream2");
        assert!(gate.faces);
        assert_eq!(gate.stall_timeout, None);
        let values = |c: &CameraSpec| {
            c.properties
                .iter()
                .map(|(k, s)| format!("{k}={}", s.value))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            values(gate),
            [
                "bootstrap-servers=kafka-1:9092",
                "detect-fps=5",
                "object-class=person",
                "threshold=0.45"
            ]
        );
        assert!(!yard.faces);
        assert_eq!(yard.stall_timeout, Some(Duration::from_secs(3)));
        assert_eq!(
            (gate.retry_delay, gate.max_retry_delay),
            (backoff::FIRST_DELAY, backoff::MAX_DELAY)
        );
        assert_eq!(yard.properties["detect-fps"].value, "2");
        assert!(!yard.properties["detect-fps"].from_defaults);
        assert!(yard.properties["threshold"].from_defaults);
        assert_eq!(c.line_of("gate-1"), 8);
        assert_eq!(c.line_of("yard"), 13);
        assert_eq!(gate.properties["object-class"].line, 11);
    }

    #[test]
    fn mistakes_are_refused_with_their_line() {
        let err = |text: &str| parse_text(text).unwrap_err();
        let cam = "[[camera]]\nid = \"a\"\nsource = \"rtsp://h/s\"\n";
        let e = err(&format!("{cam}detect-fps = [1, 2]\n"));
        assert_eq!((e.line, e.reason.contains("array")), (4, true), "{e}");
        let e = err(&format!("{cam}x = \"${{NOPE}}\"\n"));
        assert_eq!(e.line, 4);
        assert!(e.reason.contains("NOPE is not set"), "{e}");
        let e = err(&format!("{cam}{cam}"));
        assert_eq!(e.line, 4);
        assert!(e.reason.contains("already used on line 1"), "{e}");
        let e = err("[[camera]]\nsource = \"rtsp://h/s\"\n");
        assert!(e.reason.contains("without an 'id'") && e.line == 1, "{e}");
        let e = err("[[camera]]\nid = \"../x\"\nsource = \"rtsp://h/s\"\n");
        assert_eq!(e.line, 2);
        let e = err("[[camera]]\nid = \"a\"\nsource = \"cam-gate\"\n");
        assert!(e.reason.contains("not a URI") && e.line == 3, "{e}");
        let e = err(&format!("{cam}stall-timeout = 0\n"));
        assert_eq!(e.line, 4);
        let e = err(&format!("{cam}retry-delay = 2\nmax-retry-delay = 1\n"));
        assert!(e.reason.contains("shorter") && e.line == 5, "{e}");
        let e = err(&format!("{cam}retry-delay = 0.01\n"));
        assert_eq!(e.line, 4);
        let e = err(&format!("{cam}faces = \"yes\"\n"));
        assert_eq!(e.line, 4);
        let e = err(&format!("{cam}camera-id = \"b\"\n"));
        assert!(e.reason.contains("'id'") && e.line == 4, "{e}");
        let e = err("[defaults]\nid = \"a\"\n[[camera]]\nid = \"b\"\nsource = \"rtsp://h\"\n");
        assert_eq!(e.line, 2);
        let e = err("[cameras]\n");
        assert!(e.reason.contains("unknown field"), "{e}");
        assert_eq!(err("[defaults]\ndetect-fps = 5\n").line, 3);
        let e = err("[[camera]]\nid = \"a\nsource = 1\n");
        assert_eq!(e.line, 2, "{e}");
        assert!(e.to_string().starts_with("cams.toml:2: "), "{e}");
    }

    #[test]
    fn variables_expand_and_dollars_escape() {
        assert_eq!(expand("a${GATE_PASSWORD}b", &env).unwrap(), "as3cretb");
        assert_eq!(expand("$$5 and $x", &env).unwrap(), "$5 and $x");
        assert!(expand("${GATE_PASSWORD", &env).is_err());
        assert!(expand("${1A}", &env).is_err());
        assert!(expand("${}", &env).is_err());
    }

    #[test]
    fn a_camera_that_moved_in_the_file_is_the_same_camera() {
        let a = parse_text(EXAMPLE).unwrap();
        let b = parse_text(&format!("\n\n# moved\n{EXAMPLE}")).unwrap();
        assert_eq!(a.cameras, b.cameras);
        let c = parse_text(&EXAMPLE.replace("detect-fps = 2", "detect-fps = 3")).unwrap();
        assert_eq!(a.cameras[0], c.cameras[0]);
        assert_ne!(a.cameras[1], c.cameras[1]);
    }
}
