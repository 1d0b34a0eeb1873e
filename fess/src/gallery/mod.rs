//! The gallery of known persons and the recognition cache, both in Redis so every pipeline on
//! every host shares them.
//!
//! # Key layout (prefix `fess:gallery` by default)
//! | key | type | holds |
//! |---|---|---|
//! | `{prefix}:version` | integer | bumped (`INCR`) by every change; pipelines poll it |
//! | `{prefix}:persons` | set | the person ids |
//! | `{prefix}:person:{id}` | hash | `name`, `authorized` (`1`/`0`), `embeddings` (JSON array of L2-normalised float arrays), `updated` (RFC 3339) |
//! | `fess:face:cache:{camera_id}:{track_id}` | string, TTL | a [`CachedRecognition`] as JSON |
//!
//! Every change is one `MULTI`/`EXEC` transaction, so a reader never sees half a person.

pub mod redis_link;
pub mod redis_settings;
pub mod redis_url;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::gallery::redis_settings::RedisSettings;

pub const DEFAULT_GALLERY_KEY: &str = "fess:gallery";
pub const DEFAULT_CACHE_KEY: &str = "fess:face:cache";
/// Marks a gallery export file.
pub const EXPORT_FORMAT: &str = "fess-gallery/1";

#[derive(Debug, thiserror::Error)]
pub enum GalleryError {
    /// `url` is redacted; `reason` is the client's text.
    #[error("Redis at {url}: {fault} ({reason})")]
    Redis {
        url: String,
        fault: RedisFault,
        reason: String,
    },
    /// The Redis settings cannot be used (a missing certificate file, a conflict).
    #[error("{0}")]
    Settings(String),
    #[error("no person with id '{0}' in the gallery")]
    NoSuchPerson(String),
    #[error("{0}")]
    Invalid(String),
}

/// Why Redis did not answer a request: each asks the operator for a different fix, so each is
/// said as such (README, "fessface").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisFault {
    /// The ACL user may not run `command` (`NOPERM`).
    NoPermission { command: String },
    /// The server refused the credentials (`WRONGPASS`, `NOAUTH`).
    Authentication,
    /// The TLS handshake failed: the certificate did not verify, or no TLS at all.
    Tls,
    /// The server asks for a client certificate and got none (or one it does not trust).
    ClientCertificate,
    /// No connection, or no answer in time.
    Unreachable,
    /// Any other error reply.
    Refused,
}

impl RedisFault {
    /// Classifies an error of `command` (the command, or the step, that failed).
    pub fn of(e: &redis::RedisError, command: &str) -> RedisFault {
        use redis::ErrorKind;
        let text = e.to_string();
        // A refused MULTI/EXEC reports its commands' NOPERMs inside a "transaction aborted".
        if let Some(refused) = refused_command(&text).filter(|_| e.code() != Some("NOPERM")) {
            return RedisFault::NoPermission {
                command: refused.to_ascii_uppercase(),
            };
        }
        // TLS alerts from the server arrive as I/O errors of the first request.
        if text.contains("certificate required") {
            return RedisFault::ClientCertificate;
        }
        if text.contains("SSL routines") {
            return RedisFault::Tls;
        }
        match (e.kind(), e.code()) {
            (_, Some("NOPERM")) => RedisFault::NoPermission {
                command: command.to_string(),
            },
            (ErrorKind::AuthenticationFailed, _) | (_, Some("WRONGPASS" | "NOAUTH")) => {
                RedisFault::Authentication
            }
            // The client wraps every OS error; the TLS handshake is the one I/O step that
            // fails without one.
            (ErrorKind::Io, _) if std::error::Error::source(e).is_none() => RedisFault::Tls,
            (ErrorKind::Io, _) => RedisFault::Unreachable,
            _ => RedisFault::Refused,
        }
    }

    /// One word for the class, as a label or a key.
    pub fn as_str(&self) -> &'static str {
        match self {
            RedisFault::NoPermission { .. } => "no_permission",
            RedisFault::Authentication => "authentication",
            RedisFault::Tls => "tls",
            RedisFault::ClientCertificate => "client_certificate",
            RedisFault::Unreachable => "unreachable",
            RedisFault::Refused => "refused",
        }
    }
}

/// The command a `NOPERM` reply inside a longer error names ("… no permissions to run the
/// 'multi' command"), for replies whose own code is not `NOPERM` (an aborted transaction).
fn refused_command(text: &str) -> Option<&str> {
    let (_, rest) = text.split_once("no permissions to run the '")?;
    rest.split_once('\'').map(|(command, _)| command)
}

impl std::fmt::Display for RedisFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisFault::NoPermission { command } => write!(
                f,
                "no permission: the Redis user may not run {command} (grant it with ACL SETUSER)"
            ),
            RedisFault::Authentication => {
                f.write_str("authentication failed: check the user and password of the URL")
            }
            RedisFault::Tls => f.write_str(
                "TLS verification failed: check the server's certificate and the trusted CA \
                 (REDIS_TLS_CA_FILE)",
            ),
            RedisFault::ClientCertificate => f.write_str(
                "TLS refused: the server asks for a client certificate its CA signed \
                 (REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE)",
            ),
            RedisFault::Unreachable => f.write_str("unreachable"),
            RedisFault::Refused => f.write_str("request refused"),
        }
    }
}

impl GalleryError {
    /// The error of `command` against the Redis at `url` (already redacted).
    pub fn redis(url: &str, command: &str, e: &redis::RedisError) -> GalleryError {
        GalleryError::Redis {
            url: url.to_string(),
            fault: RedisFault::of(e, command),
            reason: e.to_string(),
        }
    }
}

/// One known person.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub id: String,
    pub name: String,
    pub authorized: bool,
    /// L2-normalised face embeddings, one per enrolled image.
    pub embeddings: Vec<Vec<f32>>,
}

/// A snapshot of the gallery, as the elements match against it. [`GalleryStore::load`] gives
/// every embedding unit length, so no entry can score above 1 (README, "The gallery").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gallery {
    pub version: u64,
    pub persons: Vec<Person>,
}

/// The three outcomes of recognition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Authorized,
    Unauthorized,
    Unknown,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Authorized, Status::Unauthorized, Status::Unknown];

    /// The `status` label value of `fess_face_recognitions_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Authorized => "authorized",
            Status::Unauthorized => "unauthorized",
            Status::Unknown => "unknown",
        }
    }
}

/// Who a face is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// The matched person, `None` when unknown.
    pub person_id: Option<String>,
    pub name: Option<String>,
    pub authorized: bool,
    /// Cosine similarity to the best match in the gallery (0 with an empty gallery).
    pub similarity: f32,
}

impl Identity {
    pub fn status(&self) -> Status {
        match (&self.person_id, self.authorized) {
            (None, _) => Status::Unknown,
            (Some(_), true) => Status::Authorized,
            (Some(_), false) => Status::Unauthorized,
        }
    }
}

/// Scales `v` to unit length; false (and `v` untouched) when it has no length or is not finite.
pub fn normalize(v: &mut [f32]) -> bool {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !n.is_finite() || n == 0.0 {
        return false;
    }
    v.iter_mut().for_each(|x| *x /= n);
    true
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn norm(v: &[f32]) -> f32 {
    dot(v, v).sqrt()
}

impl Gallery {
    /// The best-matching person for `embedding` (normalised here, so only its direction
    /// counts): known when its similarity reaches `threshold`, else unknown (with the best
    /// similarity seen). An embedding without a direction (zero, not finite) is unknown.
    pub fn identify(&self, embedding: &[f32], threshold: f32) -> Identity {
        let mut query = embedding.to_vec();
        let usable = normalize(&mut query);
        let query = &query;
        let best = self
            .persons
            .iter()
            .filter(|_| usable)
            .flat_map(|p| {
                p.embeddings
                    .iter()
                    .filter(|e| e.len() == query.len())
                    .map(move |e| (p, dot(e, query)))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        match best {
            Some((p, s)) if s >= threshold => Identity {
                person_id: Some(p.id.clone()),
                name: Some(p.name.clone()),
                authorized: p.authorized,
                similarity: s.clamp(0.0, 1.0),
            },
            other => Identity {
                person_id: None,
                name: None,
                authorized: false,
                similarity: other.map_or(0.0, |(_, s)| s.clamp(0.0, 1.0)),
            },
        }
    }

    pub fn person(&self, id: &str) -> Option<&Person> {
        self.persons.iter().find(|p| p.id == id)
    }
}

/// A person id from a name: lower case, runs of anything but letters and digits as one `-`.
pub fn person_id(name: &str) -> String {
    let mut id = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            id.push(c);
        } else if !id.ends_with('-') && !id.is_empty() {
            id.push('-');
        }
    }
    id.trim_end_matches('-').to_string()
}

/// A recognition result cached per (camera, face track).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedRecognition {
    pub identity: Identity,
    /// Quality of the face the embedding came from (see the element's recheck rule).
    pub quality: f32,
    /// The gallery version it was matched against; another version makes it stale.
    pub gallery_version: u64,
}

/// The cache key of one face track.
pub fn cache_key(prefix: &str, camera_id: &str, track_id: u64) -> String {
    format!("{prefix}:{camera_id}:{track_id}")
}

/// A gallery file as `fess gallery export` writes it and `import` reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GalleryExport {
    pub format: String,
    pub persons: Vec<Person>,
}

/// One connection to the gallery in Redis. Every call is bounded by the connection's timeout.
pub struct GalleryStore {
    con: redis::Connection,
    key: String,
    url: String,
}

impl GalleryStore {
    /// Connects to the Redis of `redis` (password never shown in errors) with `timeout` for
    /// the connection and for every reply.
    pub fn connect(
        redis: &RedisSettings,
        key: &str,
        timeout: Duration,
    ) -> Result<GalleryStore, GalleryError> {
        let shown = redis.shown_url();
        // Connecting authenticates and selects the database.
        let err = |e: redis::RedisError| GalleryError::Redis {
            url: shown.clone(),
            fault: redis.new_connection_fault(&e, "AUTH/SELECT"),
            reason: e.to_string(),
        };
        let client = redis
            .client()
            .map_err(|e| GalleryError::Settings(e.to_string()))?;
        let con = client.get_connection_with_timeout(timeout).map_err(err)?;
        con.set_read_timeout(Some(timeout)).map_err(err)?;
        con.set_write_timeout(Some(timeout)).map_err(err)?;
        Ok(GalleryStore {
            con,
            key: key.to_string(),
            url: shown,
        })
    }

    fn err(&self, command: &str, e: redis::RedisError) -> GalleryError {
        GalleryError::redis(&self.url, command, &e)
    }

    /// An error of `command` reading `key`: a key of the wrong type (or a value that does not
    /// parse) is the gallery's fault and named as such; anything else is Redis's.
    fn err_at(&self, command: &str, key: &str, e: redis::RedisError) -> GalleryError {
        if e.code() == Some("WRONGTYPE") || e.kind() == redis::ErrorKind::UnexpectedReturnType {
            GalleryError::Invalid(format!("gallery key {key}: {e}"))
        } else {
            self.err(&format!("{command} {key}"), e)
        }
    }

    fn person_key(&self, id: &str) -> String {
        format!("{}:person:{id}", self.key)
    }

    /// The raw connection, for cache reads and writes beside the gallery.
    pub fn connection(&mut self) -> &mut redis::Connection {
        &mut self.con
    }

    pub fn version(&mut self) -> Result<u64, GalleryError> {
        let key = format!("{}:version", self.key);
        let v: Option<u64> = redis::cmd("GET")
            .arg(&key)
            .query(&mut self.con)
            .map_err(|e| self.err_at("GET", &key, e))?;
        Ok(v.unwrap_or(0))
    }

    /// The whole gallery. Entries that do not parse, or whose embeddings are not `dim` long,
    /// are left out and described in the returned warnings.
    pub fn load(&mut self, dim: Option<usize>) -> Result<(Gallery, Vec<String>), GalleryError> {
        let version = self.version()?;
        let persons_key = format!("{}:persons", self.key);
        let mut ids: Vec<String> = redis::cmd("SMEMBERS")
            .arg(&persons_key)
            .query(&mut self.con)
            .map_err(|e| self.err_at("SMEMBERS", &persons_key, e))?;
        ids.sort();
        let mut pipe = redis::pipe();
        // One entry of the wrong type fails its own reply, not the others'.
        pipe.ignore_errors();
        for id in &ids {
            pipe.cmd("HGETALL").arg(self.person_key(id));
        }
        // An empty pipeline has no reply to read.
        type Hash = std::collections::HashMap<String, String>;
        let hashes: Vec<redis::RedisResult<Hash>> = if ids.is_empty() {
            Vec::new()
        } else {
            pipe.query(&mut self.con)
                .map_err(|e| self.err(&format!("HGETALL {}", self.person_key("*")), e))?
        };
        let mut persons = Vec::new();
        let mut skipped = Vec::new();
        let mut dangling = Vec::new();
        for (id, h) in ids.into_iter().zip(hashes) {
            let parsed = match h {
                Ok(h) if h.is_empty() => {
                    dangling.push(id);
                    continue;
                }
                Ok(h) => parse_person(&id, &h, dim),
                Err(e) => Err(format!("{} is not a hash ({e})", self.person_key(&id))),
            };
            match parsed {
                Ok(p) => persons.push(p),
                Err(why) => {
                    skipped.push(format!("gallery entry '{}' skipped: {why}", printable(&id)))
                }
            }
        }
        let mut warnings = summarised(skipped);
        if let Some(first) = dangling.first() {
            warnings.push(format!(
                "{} ids in {persons_key} have no entry (the first: '{}'); `fess gallery remove` \
                 takes them out",
                dangling.len(),
                printable(first)
            ));
        }
        Ok((Gallery { version, persons }, warnings))
    }

    /// Stores `person` (replacing any entry with its id) and bumps the version.
    pub fn put(&mut self, person: &Person) -> Result<(), GalleryError> {
        check_person(person, None).map_err(|why| {
            GalleryError::Invalid(format!("person '{}': {why}", shown_id(&person.id)))
        })?;
        self.commit(std::slice::from_ref(person))
    }

    /// Stores `persons` (replacing entries with their ids) and bumps the version, in one
    /// `MULTI`/`EXEC`: a reader sees all of them or none.
    fn commit(&mut self, persons: &[Person]) -> Result<(), GalleryError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        let updated = chrono::Utc::now().to_rfc3339();
        for p in persons {
            // Checked finite before: they serialise.
            let embeddings = serde_json::to_string(&p.embeddings).expect("floats serialise");
            pipe.cmd("DEL")
                .arg(self.person_key(&p.id))
                .ignore()
                .cmd("HSET")
                .arg(self.person_key(&p.id))
                .arg("name")
                .arg(&p.name)
                .arg("authorized")
                .arg(if p.authorized { "1" } else { "0" })
                .arg("embeddings")
                .arg(embeddings)
                .arg("updated")
                .arg(&updated)
                .ignore()
                .cmd("SADD")
                .arg(format!("{}:persons", self.key))
                .arg(&p.id)
                .ignore();
        }
        pipe.cmd("INCR")
            .arg(format!("{}:version", self.key))
            .ignore()
            .query::<()>(&mut self.con)
            .map_err(|e| self.err("MULTI/DEL/HSET/SADD/INCR/EXEC", e))
    }

    pub fn get(&mut self, id: &str) -> Result<Person, GalleryError> {
        let h: std::collections::HashMap<String, String> = redis::cmd("HGETALL")
            .arg(self.person_key(id))
            .query(&mut self.con)
            .map_err(|e| self.err("HGETALL", e))?;
        if h.is_empty() {
            return Err(GalleryError::NoSuchPerson(id.to_string()));
        }
        parse_person(id, &h, None).map_err(GalleryError::Invalid)
    }

    /// Removes a person; false when there was none.
    pub fn remove(&mut self, id: &str) -> Result<bool, GalleryError> {
        let (removed,): (u64,) = redis::pipe()
            .atomic()
            .cmd("DEL")
            .arg(self.person_key(id))
            .ignore()
            .cmd("SREM")
            .arg(format!("{}:persons", self.key))
            .arg(id)
            .cmd("INCR")
            .arg(format!("{}:version", self.key))
            .ignore()
            .query(&mut self.con)
            .map_err(|e| self.err("MULTI/DEL/SREM/INCR/EXEC", e))?;
        Ok(removed > 0)
    }

    pub fn set_authorized(&mut self, id: &str, authorized: bool) -> Result<(), GalleryError> {
        let mut p = self.get(id)?;
        p.authorized = authorized;
        self.put(&p)
    }

    pub fn export(&mut self) -> Result<GalleryExport, GalleryError> {
        let (g, warnings) = self.load(None)?;
        if let Some(w) = warnings.first() {
            return Err(GalleryError::Invalid(w.clone()));
        }
        Ok(GalleryExport {
            format: EXPORT_FORMAT.into(),
            persons: g.persons,
        })
    }

    /// Stores every person of `export` (replacing same ids) and returns how many, or nothing
    /// at all: every person is checked first (see [`check_person`]; embeddings `dim` long, the
    /// embedder's output length), then all are stored in one transaction.
    pub fn import(&mut self, export: &GalleryExport, dim: usize) -> Result<usize, GalleryError> {
        if export.format != EXPORT_FORMAT {
            return Err(GalleryError::Invalid(format!(
                "not a FESS gallery file (format '{}', expected '{EXPORT_FORMAT}')",
                export.format
            )));
        }
        let n = export.persons.len();
        let mut ids = std::collections::HashSet::new();
        for (i, p) in export.persons.iter().enumerate() {
            let refused = |why: &dyn std::fmt::Display| {
                GalleryError::Invalid(format!(
                    "person {} of {n} ('{}'): {why}; nothing was imported",
                    i + 1,
                    shown_id(&p.id)
                ))
            };
            check_person(p, Some(dim)).map_err(|e| refused(&e))?;
            if !ids.insert(p.id.as_str()) {
                return Err(refused(&"the id appears twice in the file"));
            }
        }
        if n > 0 {
            self.commit(&export.persons)?;
        }
        Ok(n)
    }
}

/// How far from 1 the length of a stored embedding may be. The embedder's output is normalised
/// in `f32` and exported exactly, so a genuine one is within about 1e-6; a vector farther off
/// was not made by the embedder (README, "The gallery").
pub const UNIT_LENGTH_TOLERANCE: f32 = 1e-3;

/// Longest person id (in characters).
pub const MAX_ID_CHARS: usize = 128;

/// Characters of an id shown in a message: an over-long id is cut.
const SHOWN_ID_CHARS: usize = 40;

/// `id` as a message shows it: printable, and cut when long.
fn shown_id(id: &str) -> String {
    let mut shown = printable(&id.chars().take(SHOWN_ID_CHARS).collect::<String>());
    if id.chars().count() > SHOWN_ID_CHARS {
        shown.push('…');
    }
    shown
}

/// A person id: letters, digits, `-`, `_` and `.` (what [`person_id`] makes and a Redis key
/// carries plainly), at most [`MAX_ID_CHARS`].
fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("the id is empty".into());
    }
    let n = id.chars().count();
    if n > MAX_ID_CHARS {
        return Err(format!(
            "the id has {n} characters, more than {MAX_ID_CHARS}"
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "the id holds '{}': only letters, digits, '-', '_' and '.' are allowed",
            c.escape_default()
        ));
    }
    Ok(())
}

/// Whether `p` may be stored: a sane id, a name, and embeddings as the embedder makes them
/// (`dim` long when given, finite, unit length).
pub fn check_person(p: &Person, dim: Option<usize>) -> Result<(), PersonError> {
    check_id(&p.id).map_err(PersonError::Id)?;
    check_name(&p.name).map_err(PersonError::Name)?;
    check_embeddings(&p.embeddings, dim).map_err(PersonError::Embeddings)
}

/// Why a person may not be stored, by the part at fault (the reason says what is wrong).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonError {
    #[error("{0}")]
    Id(String),
    #[error("{0}")]
    Name(String),
    #[error("{0}")]
    Embeddings(String),
}

fn check_embeddings(e: &[Vec<f32>], dim: Option<usize>) -> Result<(), String> {
    let Some(first) = e.first() else {
        return Err("no embeddings".into());
    };
    let want = dim.unwrap_or(first.len());
    if want == 0 {
        return Err("empty embedding".into());
    }
    if let Some(bad) = e.iter().find(|v| v.len() != want) {
        return Err(format!(
            "embedding of length {} where {want} is expected",
            bad.len()
        ));
    }
    if e.iter().flatten().any(|x| !x.is_finite()) {
        return Err("embedding holds a value that is not a finite number".into());
    }
    // A longer vector would outscore every genuine match (similarity is a dot product).
    if let Some((i, n)) = e
        .iter()
        .map(|v| norm(v))
        .enumerate()
        .find(|(_, n)| (n - 1.0).abs() > UNIT_LENGTH_TOLERANCE)
    {
        return Err(format!(
            "embedding {} has length {n}, not 1 (±{UNIT_LENGTH_TOLERANCE}): not an embedding \
             the face model makes",
            i + 1
        ));
    }
    Ok(())
}

/// Longest person name kept (in characters); a longer one is refused at enrolment and its entry
/// skipped when read.
pub const MAX_NAME_CHARS: usize = 200;

/// Warnings shown one by one before the rest are counted in one line.
const MAX_WARNINGS: usize = 10;

/// At most [`MAX_WARNINGS`] warnings, then one line counting the others: a gallery of 100,000
/// dangling ids must not post 100,000 warnings per reload.
fn summarised(mut warnings: Vec<String>) -> Vec<String> {
    if warnings.len() > MAX_WARNINGS {
        let more = warnings.len() - MAX_WARNINGS;
        warnings.truncate(MAX_WARNINGS);
        warnings.push(format!("… and {more} more gallery entries skipped"));
    }
    warnings
}

/// `text` safe to print on a terminal or in a log line: control characters (escape sequences,
/// newlines) are shown escaped, never interpreted.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("no name".into());
    }
    let n = name.chars().count();
    if n > MAX_NAME_CHARS {
        return Err(format!(
            "the name has {n} characters, more than {MAX_NAME_CHARS}"
        ));
    }
    Ok(())
}

fn parse_person(
    id: &str,
    h: &std::collections::HashMap<String, String>,
    dim: Option<usize>,
) -> Result<Person, String> {
    let name = h.get("name").ok_or("no name")?;
    check_name(name)?;
    let authorized = match h.get("authorized").map(String::as_str) {
        Some("1") => true,
        Some("0") => false,
        other => return Err(format!("authorized is {other:?}, not \"1\" or \"0\"")),
    };
    let embeddings: Vec<Vec<f32>> =
        serde_json::from_str(h.get("embeddings").ok_or("no embeddings")?)
            .map_err(|e| format!("embeddings are not a JSON array of number arrays: {e}"))?;
    check_embeddings(&embeddings, dim)?;
    // Exactly unit length, whatever rounding the writer left.
    let embeddings = embeddings
        .into_iter()
        .map(|mut v| {
            normalize(&mut v);
            v
        })
        .collect();
    Ok(Person {
        id: id.to_string(),
        name: name.clone(),
        authorized,
        embeddings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(id: &str, authorized: bool, e: Vec<f32>) -> Person {
        Person {
            id: id.into(),
            name: id.to_uppercase(),
            authorized,
            embeddings: vec![e],
        }
    }

    #[test]
    fn identify_picks_the_best_match_above_the_threshold() {
        let g = Gallery {
            version: 3,
            persons: vec![
                person("ann", true, vec![1.0, 0.0, 0.0]),
                person("bob", false, vec![0.0, 1.0, 0.0]),
            ],
        };
        let mut q = vec![0.2, 0.9, 0.1];
        assert!(normalize(&mut q));
        let id = g.identify(&q, 0.5);
        assert_eq!(id.person_id.as_deref(), Some("bob"));
        assert_eq!(id.status(), Status::Unauthorized);
        assert!((id.similarity - 0.9 / (0.86f32).sqrt()).abs() < 1e-5);
        let id = g.identify(&q, 0.99);
        assert_eq!(id.status(), Status::Unknown);
        assert_eq!(id.name, None);
        assert!(id.similarity > 0.9);
        assert_eq!(
            Gallery::default().identify(&q, 0.5).status(),
            Status::Unknown
        );
        let id = g.identify(&[1.0, 0.0, 0.0], 0.5);
        assert_eq!((id.status(), id.similarity), (Status::Authorized, 1.0));
    }

    #[test]
    fn only_the_direction_of_the_query_counts() {
        let g = Gallery {
            version: 1,
            persons: vec![
                person("ann", true, vec![1.0, 0.0]),
                person("bob", false, vec![0.6, 0.8]),
            ],
        };
        let long = g.identify(&[0.0, 1000.0], 0.5);
        assert_eq!(long.person_id.as_deref(), Some("bob"));
        assert!((long.similarity - 0.8).abs() < 1e-6, "{long:?}");
        for nothing in [[0.0, 0.0], [f32::NAN, 1.0]] {
            let id = g.identify(&nothing, 0.0);
            assert_eq!((id.status(), id.similarity), (Status::Unknown, 0.0));
        }
    }

    #[test]
    fn only_embeddings_as_the_model_makes_them_are_stored() {
        let p = |id: &str, e: Vec<Vec<f32>>| Person {
            id: id.into(),
            name: "N".into(),
            authorized: true,
            embeddings: e,
        };
        assert!(check_person(&p("zoë_1.a-b", vec![vec![0.6, 0.8]]), Some(2)).is_ok());
        // The forged insider: two embeddings added and scaled to length 1000.
        let forged = check_person(&p("insider", vec![vec![600.0, 800.0]]), Some(2))
            .unwrap_err()
            .to_string();
        assert!(forged.contains("embedding 1 has length 1000"), "{forged}");
        let near = 1.0 + UNIT_LENGTH_TOLERANCE / 2.0;
        assert!(check_person(&p("a", vec![vec![near, 0.0]]), Some(2)).is_ok());
        let off = 1.0 + UNIT_LENGTH_TOLERANCE * 2.0;
        assert!(check_person(&p("a", vec![vec![off, 0.0]]), Some(2)).is_err());
        let e = check_person(&p("a", vec![vec![0.6, 0.8]]), Some(3))
            .unwrap_err()
            .to_string();
        assert!(e.contains("length 2 where 3"), "{e}");
        let e = check_person(&p("a", vec![vec![f32::NAN, 1.0]]), None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("finite"), "{e}");
        let unit = vec![vec![1.0, 0.0]];
        for (id, why) in [
            ("", "empty"),
            ("a b", "' '"),
            ("a:b", "':'"),
            ("x\u{1b}", "'\\u{1b}'"),
            (&"i".repeat(MAX_ID_CHARS + 1), "more than 128"),
        ] {
            let e = check_person(&p(id, unit.clone()), Some(2))
                .unwrap_err()
                .to_string();
            assert!(e.contains(why), "{id:?}: {e}");
        }
        let mut nameless = p("a", unit);
        nameless.name = " ".into();
        assert!(check_person(&nameless, Some(2))
            .unwrap_err()
            .to_string()
            .contains("no name"));
        assert_eq!(
            shown_id(&"x".repeat(1 << 20)),
            format!("{}…", "x".repeat(40))
        );
    }

    #[test]
    fn redis_failures_are_classified_by_their_kind() {
        use redis::{ErrorKind, RedisError};
        let noperm = redis::make_extension_error(
            "NOPERM".into(),
            Some("User fess has no permissions to run the 'smembers' command".into()),
        );
        let f = RedisFault::of(&noperm, "SMEMBERS fess:gallery:persons");
        assert_eq!(f.as_str(), "no_permission");
        assert!(
            f.to_string()
                .contains("may not run SMEMBERS fess:gallery:persons"),
            "{f}"
        );
        let wrongpass = redis::make_extension_error("WRONGPASS".into(), None);
        let auth = RedisError::from((
            ErrorKind::AuthenticationFailed,
            "Password authentication failed",
        ));
        // As the client reports a failed TLS handshake (certificate not verified).
        let tls = RedisError::from((
            ErrorKind::Io,
            "SSL Handshake error",
            "certificate verify failed".to_string(),
        ));
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let timeout = RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        let loading = redis::make_extension_error("LOADING".into(), None);
        let aborted = RedisError::from((
            ErrorKind::Client,
            "Transaction aborted",
            "(Index 0, error: NoPerm: this user has no permissions to run the 'multi' command)"
                .to_string(),
        ));
        assert_eq!(
            RedisFault::of(&aborted, "MULTI"),
            RedisFault::NoPermission {
                command: "MULTI".into()
            }
        );
        let no_cert = RedisError::from(std::io::Error::other(
            "error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required",
        ));
        assert_eq!(
            RedisFault::of(&no_cert, "GET"),
            RedisFault::ClientCertificate
        );
        for (e, class) in [
            (wrongpass, RedisFault::Authentication),
            (auth, RedisFault::Authentication),
            (tls, RedisFault::Tls),
            (refused, RedisFault::Unreachable),
            (timeout, RedisFault::Unreachable),
            (loading, RedisFault::Refused),
        ] {
            assert_eq!(RedisFault::of(&e, "GET"), class, "{e}");
        }
        let shown = GalleryError::redis("redis://:***@h:1/", "GET k", &noperm).to_string();
        assert!(
            shown.starts_with("Redis at redis://:***@h:1/: no permission"),
            "{shown}"
        );
    }

    #[test]
    fn normalize_refuses_zero_and_nan() {
        let mut z = vec![0.0; 4];
        assert!(!normalize(&mut z));
        let mut n = vec![f32::NAN, 1.0];
        assert!(!normalize(&mut n));
        let mut v = vec![3.0, 4.0];
        assert!(normalize(&mut v));
        assert_eq!(v, vec![0.6, 0.8]);
    }

    #[test]
    fn warnings_are_bounded_and_names_printable() {
        let w = summarised((0..25).map(|i| format!("w{i}")).collect());
        assert_eq!(w.len(), MAX_WARNINGS + 1);
        assert_eq!(w[MAX_WARNINGS], "… and 15 more gallery entries skipped");
        assert_eq!(printable("a\u{1b}[2Jb\nc é"), "a\\u{1b}[2Jb\\nc é");
    }

    #[test]
    fn person_ids_from_names() {
        assert_eq!(person_id("  John  Doe "), "john-doe");
        assert_eq!(person_id("Ann-Marie O'Neil"), "ann-marie-o-neil");
        assert_eq!(person_id("Zoë"), "zoë");
        assert_eq!(person_id("!!"), "");
    }

    #[test]
    fn corrupt_entries_are_described() {
        let h = |emb: &str, auth: &str| {
            [("name", "X"), ("authorized", auth), ("embeddings", emb)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(parse_person("x", &h("[[1.0,0.0]]", "1"), Some(2)).is_ok());
        let e = parse_person("x", &h("[[1.0,0.0,0.0]]", "1"), Some(2)).unwrap_err();
        assert!(e.contains("length 3 where 2"), "{e}");
        let e = parse_person("x", &h("garbage", "1"), None).unwrap_err();
        assert!(e.contains("JSON"), "{e}");
        let e = parse_person("x", &h("[[1.0]]", "yes"), None).unwrap_err();
        assert!(e.contains("authorized"), "{e}");
        let e = parse_person("x", &h("[]", "0"), None).unwrap_err();
        assert!(e.contains("no embeddings"), "{e}");
        // A hostile entry written straight into Redis is skipped; a rounded one made exact.
        let e = parse_person("x", &h("[[600.0,800.0]]", "1"), Some(2)).unwrap_err();
        assert!(e.contains("length 1000"), "{e}");
        let p = parse_person("x", &h("[[0.6004,0.8]]", "1"), Some(2)).unwrap();
        assert!((norm(&p.embeddings[0]) - 1.0).abs() < 1e-6, "{p:?}");
    }
}
