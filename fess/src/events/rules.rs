//! Alert rules, counting lines and zones: the built-in rule (an unauthorised face is CRITICAL
//! "Unauthorized access detected") and those of a rules file, in TOML or JSON (README, "Lines,
//! zones and alert rules"):
//!
//! ```toml
//! [[line]]
//! name = "door"
//! points = [[0.2, 0.6], [0.8, 0.6]]   # A and B, 0–1 of the frame
//! class = "person"                    # optional: a class or a list; all when absent
//! directions = ["in", "out"]          # optional: names of crossing A→B's left to its right, and back
//! point = "bottom_centre"             # optional: or "centre", the box point that must cross
//!
//! [[zone]]
//! name = "bay"
//! points = [[0.1, 0.5], [0.6, 0.5], [0.6, 1.0], [0.1, 1.0]]
//! class = ["person", "car"]           # optional
//! point = "bottom_centre"             # optional: or "centre"
//!
//! [[rule]]
//! name = "loading bay"
//! when = "object"            # object | crossing | occupancy | unknown_face | unauthorized_face
//! class = "person"           # object: the label to watch; crossing, occupancy: optional filter
//! zone = "bay"               # object: optional, a [[zone]] or an inline polygon; occupancy: a [[zone]]
//! min_duration = 5.0         # object, occupancy: seconds it must hold
//! level = "WARNING"          # INFO | WARNING | CRITICAL
//! message = "Person in the loading bay"
//! cooldown = 60.0            # seconds between two alerts of this rule on one camera (default 30; crossing: 0)
//! cameras = ["cam_01"]       # optional: only these cameras
//! ```
//!
//! A crossing rule names a `line` (and optionally one of its `direction`s); an occupancy rule
//! fires while more than `above` objects are in its zone. An inline zone polygon tests the
//! centre of the object's box, as it always has; a `[[zone]]` or `[[line]]` tests its `point`.
//! A mistake is refused with the table's line in the file and the reason.

use serde::Deserialize;

use crate::analytics::line::{Direction, LineGeometry, DEFAULT_BAND, DEFAULT_CONFIRM};
use crate::analytics::scene::{LineSpec, ZoneSpec};
use crate::analytics::zone::DEFAULT_INERTIA;
use crate::analytics::{EvalPoint, Point};
use crate::events::AlertLevel;
use crate::observability::metrics::{is_label_value, MAX_LABEL_VALUE_LEN};

pub const DEFAULT_COOLDOWN_SECONDS: f64 = 30.0;
pub const UNAUTHORIZED_MESSAGE: &str = "Unauthorized access detected";
/// Longest `min_duration` or `cooldown` accepted.
pub const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Object,
    Crossing,
    Occupancy,
    UnknownFace,
    UnauthorizedFace,
}

/// A zone as a rule gives it: the name of a `[[zone]]`, or a polygon of its own.
#[derive(Debug, Clone, PartialEq)]
pub enum ZoneRef {
    Name(String),
    Polygon(Vec<Vec<f64>>),
}

/// By hand rather than untagged, so a malformed polygon keeps serde's own message ("invalid
/// type: string \"a\", expected f64") instead of "did not match any variant".
impl<'de> Deserialize<'de> for ZoneRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ZoneRef;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("the name of a [[zone]] or a polygon [[x, y], …]")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ZoneRef, E> {
                Ok(ZoneRef::Name(v.to_string()))
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<ZoneRef, A::Error> {
                Deserialize::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
                    .map(ZoneRef::Polygon)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// One class or a list of them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
enum Classes {
    One(String),
    Many(Vec<String>),
}

/// One rule as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    pub when: Trigger,
    #[serde(default)]
    pub class: Option<String>,
    #[serde(default)]
    pub zone: Option<ZoneRef>,
    #[serde(default)]
    pub line: Option<String>,
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub above: Option<u32>,
    #[serde(default)]
    pub min_duration: f64,
    pub level: String,
    pub message: String,
    /// Seconds between two alerts: [`DEFAULT_COOLDOWN_SECONDS`] when absent, 0 for crossing
    /// rules (each crossing alerts).
    #[serde(default)]
    pub cooldown: Option<f64>,
    #[serde(default)]
    pub cameras: Vec<String>,
}

/// A `[[line]]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct LineTable {
    name: String,
    points: Vec<Vec<f64>>,
    #[serde(default)]
    class: Option<Classes>,
    #[serde(default)]
    directions: Option<[String; 2]>,
    #[serde(default)]
    point: EvalPoint,
    /// Half-width of the band with no side, a fraction of the frame's diagonal.
    #[serde(default)]
    band: Option<f64>,
    /// Points in a row on the new side that confirm a crossing.
    #[serde(default)]
    inertia: Option<u32>,
}

/// A `[[zone]]` as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct ZoneTable {
    name: String,
    points: Vec<Vec<f64>>,
    #[serde(default)]
    class: Option<Classes>,
    #[serde(default)]
    point: EvalPoint,
    /// Points in a row that make a track enter or leave.
    #[serde(default)]
    inertia: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    #[serde(default)]
    rule: Vec<toml::Spanned<Rule>>,
    #[serde(default)]
    line: Vec<toml::Spanned<LineTable>>,
    #[serde(default)]
    zone: Vec<toml::Spanned<ZoneTable>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonFile {
    #[serde(default)]
    rule: Vec<Rule>,
    #[serde(default)]
    line: Vec<LineTable>,
    #[serde(default)]
    zone: Vec<ZoneTable>,
}

/// Where a rule looks: its inline polygon (box centre) or a `[[zone]]` (index in
/// [`RuleSet::zones`]).
#[derive(Debug, Clone, PartialEq)]
pub enum RuleZone {
    Inline(Vec<[f64; 2]>),
    Named(usize),
}

/// A checked rule, ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedRule {
    pub name: String,
    pub when: Trigger,
    pub class: Option<String>,
    pub zone: Option<RuleZone>,
    /// For crossing rules: the index of the line in [`RuleSet::lines`].
    pub line: Option<usize>,
    /// For crossing rules: only this direction (both when `None`).
    pub direction: Option<Direction>,
    /// For occupancy rules: it holds while more objects than this are in the zone.
    pub above: u32,
    pub min_duration: f64,
    pub level: AlertLevel,
    pub message: String,
    pub cooldown: f64,
    pub cameras: Vec<String>,
}

impl CheckedRule {
    pub fn applies_to(&self, camera: &str) -> bool {
        self.cameras.is_empty() || self.cameras.iter().any(|c| c == camera)
    }
}

/// A checked rules file: its rules, counting lines and zones.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleSet {
    pub rules: Vec<CheckedRule>,
    pub lines: Vec<LineSpec>,
    pub zones: Vec<ZoneSpec>,
}

/// Reads a rules file: JSON when it ends in `.json`, TOML otherwise.
pub fn load(path: &std::path::Path) -> Result<RuleSet, RulesError> {
    let text = std::fs::read_to_string(path).map_err(|source| RulesError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    parse(&text, json).map_err(|e| RulesError::In {
        path: path.to_path_buf(),
        source: Box::new(e),
    })
}

/// The tables of a file, each with the line (from 1) it starts on.
type Tables = (
    Vec<(Option<usize>, Rule)>,
    Vec<(Option<usize>, LineTable)>,
    Vec<(Option<usize>, ZoneTable)>,
);

fn read_tables(text: &str, json: bool) -> Result<Tables, RulesError> {
    if json {
        let f: JsonFile =
            serde_json::from_str(text).map_err(|e| RulesError::Syntax(e.to_string()))?;
        fn located<T>(text: &str, key: &str, items: Vec<T>) -> Vec<(Option<usize>, T)> {
            let mut lines = json_element_lines(text, key).into_iter();
            items.into_iter().map(|t| (lines.next(), t)).collect()
        }
        return Ok((
            located(text, "rule", f.rule),
            located(text, "line", f.line),
            located(text, "zone", f.zone),
        ));
    }
    let f: TomlFile = toml::from_str(text).map_err(|e| RulesError::Syntax(e.to_string()))?;
    fn located<T>(text: &str, items: Vec<toml::Spanned<T>>) -> Vec<(Option<usize>, T)> {
        items
            .into_iter()
            .map(|s| (Some(line_at(text, s.span().start)), s.into_inner()))
            .collect()
    }
    Ok((
        located(text, f.rule),
        located(text, f.line),
        located(text, f.zone),
    ))
}

/// Parses and checks rules text.
pub fn parse(text: &str, json: bool) -> Result<RuleSet, RulesError> {
    let (rules, lines, zones) = read_tables(text, json)?;
    let refuse = |kind: &'static str, number: usize, line: Option<usize>| {
        move |reason: String| RulesError::Table {
            kind,
            number: number + 1,
            line,
            reason,
        }
    };
    let mut set = RuleSet::default();
    for (i, (at, l)) in lines.into_iter().enumerate() {
        let spec = check_line(l, &set.lines).map_err(refuse("line", i, at))?;
        set.lines.push(spec);
    }
    for (i, (at, z)) in zones.into_iter().enumerate() {
        let spec = check_zone(z, &set.zones).map_err(refuse("zone", i, at))?;
        set.zones.push(spec);
    }
    for (i, (at, r)) in rules.into_iter().enumerate() {
        let rule = check(r, &set).map_err(refuse("rule", i, at))?;
        set.rules.push(rule);
    }
    Ok(set)
}

/// Why a rules file was refused.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("cannot read alert rules {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("alert rules {}: {source}", path.display())]
    In {
        path: std::path::PathBuf,
        source: Box<RulesError>,
    },
    /// Not TOML (or JSON), or not the layout of a rules file.
    #[error("{0}")]
    Syntax(String),
    /// Table `number` (from 1) of its `kind` (`rule`, `line`, `zone`), starting on `line` of
    /// the file, is wrong.
    #[error("{}[[{kind}]] {number}: {reason}", at_line(*.line))]
    Table {
        kind: &'static str,
        number: usize,
        line: Option<usize>,
        reason: String,
    },
}

fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!("line {l}: ")).unwrap_or_default()
}

/// The line (from 1) of byte `offset` in `text`.
fn line_at(text: &str, offset: usize) -> usize {
    1 + text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
}

/// The line of each element of the top-level array `key` of a JSON text that parsed
/// (serde_json keeps no positions).
fn json_element_lines(text: &str, key: &str) -> Vec<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let (mut string_start, mut last_key, mut in_array, mut expect) = (0, "", false, false);
    let mut lines = Vec::new();
    for (i, c) in text.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    in_string = false;
                    if depth == 1 {
                        last_key = &text[string_start..i];
                    }
                }
                _ => {}
            }
            continue;
        }
        if in_array && depth == 2 && expect && !c.is_whitespace() && c != ']' {
            lines.push(line_at(text, i));
            expect = false;
        }
        match c {
            '"' => {
                in_string = true;
                string_start = i + 1;
            }
            '[' | '{' => {
                if depth == 1 && c == '[' && last_key == key {
                    (in_array, expect) = (true, true);
                }
                depth += 1;
            }
            ']' | '}' => {
                depth = depth.saturating_sub(1);
                if depth == 1 {
                    in_array = false;
                }
            }
            ',' if in_array && depth == 2 => expect = true,
            _ => {}
        }
    }
    lines
}

fn name_of(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("name must not be empty".into());
    }
    Ok(name.to_string())
}

/// A line's, zone's or direction's name, which becomes a metric label: printable ASCII.
fn label_of(what: &str, name: &str) -> Result<String, String> {
    let name = name.trim();
    if !is_label_value(name) {
        return Err(format!(
            "{what} '{name}' must be 1–{MAX_LABEL_VALUE_LEN} characters of printable ASCII \
             without quotes or backslashes (it labels the metrics)"
        ));
    }
    Ok(name.to_string())
}

/// Points as `[x, y]` pairs of fractions of the frame. (Read as lists: TOML would take the
/// first two numbers of `[x, y, z]` for a pair and say nothing.)
fn check_points(points: &[Vec<f64>]) -> Result<Vec<[f64; 2]>, String> {
    points
        .iter()
        .map(|p| match p[..] {
            [x, y] if [x, y].iter().all(|v| (0.0..=1.0).contains(v)) => Ok([x, y]),
            [_, _] => Err("points are fractions of the frame, between 0 and 1".into()),
            _ => Err(format!("a point is [x, y], got {} numbers", p.len())),
        })
        .collect()
}

fn classes(c: Option<Classes>) -> Result<Vec<String>, String> {
    let list = match c {
        None => Vec::new(),
        Some(Classes::One(c)) => vec![c],
        Some(Classes::Many(list)) if list.is_empty() => {
            return Err("class must name at least one class (or be left out for all)".into())
        }
        Some(Classes::Many(list)) => list,
    };
    if list.iter().any(|c| c.trim().is_empty()) {
        return Err("a class must not be empty".into());
    }
    Ok(list)
}

/// The widest dead band a line takes: a fifth of the diagonal already swallows most of a frame.
const MAX_BAND: f64 = 0.2;
/// The most points in a row a line or zone may ask for (over 3 s at 30 fps).
const MAX_INERTIA: u32 = 100;

fn check_inertia(inertia: Option<u32>, default: u32) -> Result<u32, String> {
    match inertia.unwrap_or(default) {
        n @ 1..=MAX_INERTIA => Ok(n),
        n => Err(format!(
            "inertia is the points in a row that confirm a change, 1 to {MAX_INERTIA}, got {n}"
        )),
    }
}

fn check_line(l: LineTable, earlier: &[LineSpec]) -> Result<LineSpec, String> {
    let name = label_of("the name", &l.name)?;
    let err = |m: String| format!("'{name}': {m}");
    if earlier.iter().any(|e| e.name == name) {
        return Err(err("another [[line]] has this name".into()));
    }
    let [a, b] = check_points(&l.points).map_err(err)?[..] else {
        return Err(err(format!(
            "a line needs 2 points, A and B, got {}",
            l.points.len()
        )));
    };
    if (a[0] - b[0]).hypot(a[1] - b[1]) < 1e-6 {
        return Err(err(
            "the line has zero length (A and B are the same point)".into()
        ));
    }
    let band = l.band.unwrap_or(DEFAULT_BAND);
    if !(0.0..=MAX_BAND).contains(&band) {
        return Err(err(format!(
            "band is a fraction of the frame's diagonal, 0 to {MAX_BAND}, got {band}"
        )));
    }
    let [d_in, d_out] = l.directions.unwrap_or(["in".into(), "out".into()]);
    let directions = [
        label_of("direction", &d_in).map_err(err)?,
        label_of("direction", &d_out).map_err(err)?,
    ];
    if directions[0] == directions[1] {
        return Err(err(
            "directions must be two different names, e.g. [\"in\", \"out\"]".into(),
        ));
    }
    Ok(LineSpec {
        geometry: LineGeometry {
            a: Point { x: a[0], y: a[1] },
            b: Point { x: b[0], y: b[1] },
            band,
            confirm: check_inertia(l.inertia, DEFAULT_CONFIRM).map_err(err)?,
        },
        classes: classes(l.class).map_err(err)?,
        directions,
        eval: l.point,
        name,
    })
}

fn check_polygon(points: &[Vec<f64>]) -> Result<Vec<[f64; 2]>, String> {
    if points.len() < 3 {
        return Err(format!(
            "a zone needs at least 3 points, got {}",
            points.len()
        ));
    }
    let points = check_points(points)?;
    // Shoelace: points all on one line enclose nothing.
    let twice_area: f64 = (0..points.len())
        .map(|i| {
            let ([x0, y0], [x1, y1]) = (points[i], points[(i + 1) % points.len()]);
            x0 * y1 - x1 * y0
        })
        .sum();
    if twice_area.abs() < 1e-9 {
        return Err("the zone has no area (its points are on one line)".into());
    }
    Ok(points)
}

fn check_zone(z: ZoneTable, earlier: &[ZoneSpec]) -> Result<ZoneSpec, String> {
    let name = label_of("the name", &z.name)?;
    let err = |m: String| format!("'{name}': {m}");
    if earlier.iter().any(|e| e.name == name) {
        return Err(err("another [[zone]] has this name".into()));
    }
    Ok(ZoneSpec {
        polygon: check_polygon(&z.points).map_err(err)?,
        classes: classes(z.class).map_err(err)?,
        eval: z.point,
        inertia: check_inertia(z.inertia, DEFAULT_INERTIA).map_err(err)?,
        name,
    })
}

/// A field given to a trigger that does not take it. (Face rules have always ignored `zone`
/// and `min_duration`, and still do.)
fn misplaced(r: &Rule) -> Option<String> {
    use Trigger::*;
    let fields: [(&str, bool, &[Trigger]); 4] = [
        ("class", r.class.is_some(), &[Object, Crossing, Occupancy]),
        ("line", r.line.is_some(), &[Crossing]),
        ("direction", r.direction.is_some(), &[Crossing]),
        ("above", r.above.is_some(), &[Occupancy]),
    ];
    if r.when == Crossing && (r.zone.is_some() || r.min_duration != 0.0) {
        return Some(
            "a crossing rule takes no zone or min_duration: it fires on each crossing of its line"
                .into(),
        );
    }
    fields
        .iter()
        .find(|(_, given, takes)| *given && !takes.contains(&r.when))
        .map(|(field, _, takes)| {
            let names: Vec<String> = takes
                .iter()
                .map(|t| format!("{t:?}").to_lowercase())
                .collect();
            format!(
                "{field} only applies to `when = \"{}\"`",
                names.join("\" | \"")
            )
        })
}

fn check(r: Rule, set: &RuleSet) -> Result<CheckedRule, String> {
    let name = name_of(&r.name)?;
    let err = |m: String| format!("'{name}': {m}");
    let level: AlertLevel = r.level.parse().map_err(err)?;
    if r.message.trim().is_empty() {
        return Err(err("message must not be empty".into()));
    }
    if let Some(m) = misplaced(&r) {
        return Err(err(m));
    }
    if r.when == Trigger::Object && r.class.is_none() {
        return Err(err("`when = \"object\"` needs a class".into()));
    }
    let zone = match &r.zone {
        None => None,
        Some(ZoneRef::Polygon(p)) => {
            let p = check_polygon(p).map_err(|m| err(format!("zone: {m}")))?;
            if r.when == Trigger::Occupancy {
                return Err(err(
                    "an occupancy rule counts a [[zone]]: give the polygon a [[zone]] table and name it here".into(),
                ));
            }
            Some(RuleZone::Inline(p))
        }
        Some(ZoneRef::Name(z)) => {
            let i = set
                .zones
                .iter()
                .position(|s| s.name == z.trim())
                .ok_or_else(|| err(format!("zone '{z}' is not defined by a [[zone]] table")))?;
            Some(RuleZone::Named(i))
        }
    };
    let line = match &r.line {
        None if r.when == Trigger::Crossing => {
            return Err(err("`when = \"crossing\"` needs a line".into()))
        }
        None => None,
        Some(l) => Some(
            set.lines
                .iter()
                .position(|s| s.name == l.trim())
                .ok_or_else(|| err(format!("line '{l}' is not defined by a [[line]] table")))?,
        ),
    };
    let direction = match (&r.direction, line) {
        (Some(d), Some(li)) => {
            let spec = &set.lines[li];
            let d = d.trim();
            Some(if d == spec.directions[0] {
                Direction::In
            } else if d == spec.directions[1] {
                Direction::Out
            } else {
                return Err(err(format!(
                    "direction '{d}' is not one of line '{}': '{}' or '{}'",
                    spec.name, spec.directions[0], spec.directions[1]
                )));
            })
        }
        _ => None,
    };
    // A class the line or zone does not count would never fire.
    if let Some(class) = &r.class {
        let counted = match (line, &zone) {
            (Some(li), _) => Some((&set.lines[li].name, set.lines[li].counts(class))),
            (_, Some(RuleZone::Named(zi))) => {
                Some((&set.zones[*zi].name, set.zones[*zi].counts(class)))
            }
            _ => None,
        };
        if let Some((what, false)) = counted {
            return Err(err(format!("'{what}' does not count class '{class}'")));
        }
    }
    if r.when == Trigger::Occupancy && zone.is_none() {
        return Err(err("`when = \"occupancy\"` needs a zone".into()));
    }
    let above = match (r.when, r.above) {
        (Trigger::Occupancy, None) => {
            return Err(err(
                "`when = \"occupancy\"` needs `above`: it fires while more objects than that are in the zone".into(),
            ))
        }
        (_, a) => a.unwrap_or(0),
    };
    let cooldown = r.cooldown.unwrap_or(if r.when == Trigger::Crossing {
        0.0
    } else {
        DEFAULT_COOLDOWN_SECONDS
    });
    for (what, v) in [("min_duration", r.min_duration), ("cooldown", cooldown)] {
        if !(0.0..=MAX_SECONDS).contains(&v) {
            return Err(err(format!(
                "{what} must be between 0 and {MAX_SECONDS} seconds (a year), got {v}"
            )));
        }
    }
    Ok(CheckedRule {
        name,
        when: r.when,
        class: r.class,
        zone,
        line,
        direction,
        above,
        min_duration: r.min_duration,
        level,
        message: r.message,
        cooldown,
        cameras: r.cameras,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = r#"
[[rule]]
name = "loading bay"
when = "object"
class = "person"
zone = [[0.1, 0.5], [0.6, 0.5], [0.6, 1.0], [0.1, 1.0]]
min_duration = 5.0
level = "WARNING"
message = "Person in the loading bay"
cooldown = 60

[[rule]]
name = "stranger"
when = "unknown_face"
level = "info"
message = "Unknown face"
"#;

    #[test]
    fn toml_and_json_rules() {
        let r = parse(TOML, false).unwrap().rules;
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].level, AlertLevel::Warning);
        assert_eq!(r[0].cooldown, 60.0);
        assert_eq!(r[1].cooldown, DEFAULT_COOLDOWN_SECONDS);
        assert!(matches!(&r[0].zone, Some(RuleZone::Inline(p)) if p.len() == 4));
        let j = parse(
            r#"{"rule": [{"name": "car", "when": "object", "class": "car", "level": "CRITICAL", "message": "Car", "cameras": ["gate"]}]}"#,
            true,
        )
        .unwrap()
        .rules;
        assert!(j[0].applies_to("gate") && !j[0].applies_to("lobby"));
    }

    #[test]
    fn errors_name_the_rule_and_the_problem() {
        let e = parse(
            "[[rule]]\nname='a'\nwhen='object'\nlevel='LOUD'\nmessage='m'\nclass='x'",
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("[[rule]] 1: 'a': unknown alert level 'LOUD'"),
            "{e}"
        );
        let e = parse(
            "[[rule]]\nname='b'\nwhen='object'\nlevel='INFO'\nmessage='m'",
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("needs a class"), "{e}");
        let e = parse("[[rule]]\nname='c'\nwhen='object'\nclass='p'\nlevel='INFO'\nmessage='m'\nzone=[[0,0],[1,1]]", false)
            .unwrap_err()
        .to_string();
        assert!(e.contains("at least 3 points"), "{e}");
        let e = parse(
            "[[rule]]\nname='d'\nwhen='teleport'\nlevel='INFO'\nmessage='m'",
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("teleport"), "{e}");
        let e = parse(
            "[[rule]]\nname='e'\nwhen='unknown_face'\nlevel='INFO'\nmessage='m'\ncolour='red'",
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("colour"), "{e}");
        assert!(parse("this is = not toml [", false).is_err());
        // Beyond a year: refused (a Duration of 1e300 s does not exist).
        let e = parse(
            "[[rule]]\nname='f'\nwhen='unknown_face'\nlevel='INFO'\nmessage='m'\ncooldown=1e300",
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("cooldown must be between 0 and"), "{e}");
    }

    const SCENE: &str = r#"
[[line]]
name = "door"
points = [[0.2, 0.6], [0.8, 0.6]]
class = "person"
directions = ["entering", "leaving"]

[[zone]]
name = "bay"
points = [[0.1, 0.5], [0.6, 0.5], [0.6, 1.0], [0.1, 1.0]]
point = "centre"

[[zone]]
name = "lawn"
points = [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0]]
class = ["person", "dog"]

[[rule]]
name = "came in"
when = "crossing"
line = "door"
direction = "entering"
level = "INFO"
message = "Someone came in"

[[rule]]
name = "crowded bay"
when = "occupancy"
zone = "bay"
class = "person"
above = 3
min_duration = 10
level = "WARNING"
message = "More than 3 people in the bay for 10 s"

[[rule]]
name = "loiterer"
when = "object"
class = "person"
zone = "lawn"
min_duration = 120
level = "WARNING"
message = "Someone has stood on the lawn for two minutes"
"#;

    #[test]
    fn lines_zones_and_the_rules_that_name_them() {
        let set = parse(SCENE, false).unwrap();
        assert_eq!(set.lines.len(), 1);
        let door = &set.lines[0];
        assert_eq!(door.directions, ["entering", "leaving"]);
        assert_eq!(
            door.eval,
            EvalPoint::BottomCentre,
            "the default of new tables"
        );
        assert_eq!(door.classes, ["person"]);
        assert_eq!(set.zones[0].eval, EvalPoint::Centre);
        assert_eq!(set.zones[1].classes, ["person", "dog"]);
        let r = &set.rules;
        assert_eq!(
            (r[0].when, r[0].line, r[0].direction),
            (Trigger::Crossing, Some(0), Some(Direction::In))
        );
        assert_eq!(
            (r[1].zone.clone(), r[1].above),
            (Some(RuleZone::Named(0)), 3)
        );
        assert_eq!(r[2].zone, Some(RuleZone::Named(1)));
        // The same file as JSON.
        let json = r#"{
  "line": [
    {"name": "door", "points": [[0.2, 0.6], [0.8, 0.6]]}
  ],
  "rule": [
    {"name": "out", "when": "crossing", "line": "door", "direction": "out",
     "level": "INFO", "message": "Left"}
  ]
}"#;
        let set = parse(json, true).unwrap();
        assert_eq!(set.rules[0].direction, Some(Direction::Out));
    }

    fn refused(text: &str, json: bool) -> String {
        parse(text, json).unwrap_err().to_string()
    }

    #[test]
    fn bad_lines_and_zones_are_refused_with_their_line_in_the_file() {
        let line =
            |points: &str| format!("# a comment\n\n[[line]]\nname = 'door'\npoints = {points}\n");
        let e = refused(&line("[[0.5, 0.5], [0.5, 0.5]]"), false);
        assert_eq!(
            e,
            "line 3: [[line]] 1: 'door': the line has zero length (A and B are the same point)"
        );
        let e = refused(&line("[[0.5, 0.5]]"), false);
        assert!(e.contains("needs 2 points"), "{e}");
        let e = refused(&line("[[0.5, 0.5], [1.5, 0.5]]"), false);
        assert!(
            e.starts_with("line 3: ") && e.contains("between 0 and 1"),
            "{e}"
        );
        let zones = "[[zone]]\nname = 'a'\npoints = [[0,0],[1,0],[1,1]]\n\n[[zone]]\nname = 'a'\npoints = [[0,0],[1,0],[1,1]]\n";
        assert_eq!(
            refused(zones, false),
            "line 5: [[zone]] 2: 'a': another [[zone]] has this name"
        );
        let e = refused("[[zone]]\nname = 'b'\npoints = [[0,0],[1,1]]\n", false);
        assert!(e.contains("at least 3 points, got 2"), "{e}");
        let rule = |body: &str| {
            format!("[[line]]\nname = 'door'\npoints = [[0,0.5],[1,0.5]]\nclass = 'person'\n\n[[rule]]\nname = 'r'\nlevel = 'INFO'\nmessage = 'm'\n{body}\n")
        };
        let e = refused(&rule("when = 'occupancy'\nzone = 'dock'\nabove = 1"), false);
        assert_eq!(
            e,
            "line 6: [[rule]] 1: 'r': zone 'dock' is not defined by a [[zone]] table"
        );
        let e = refused(&rule("when = 'crossing'\nline = 'gate'"), false);
        assert!(e.contains("line 'gate' is not defined"), "{e}");
        let e = refused(
            &rule("when = 'crossing'\nline = 'door'\ndirection = 'up'"),
            false,
        );
        assert!(
            e.contains("direction 'up' is not one of line 'door': 'in' or 'out'"),
            "{e}"
        );
        let e = refused(
            &rule("when = 'crossing'\nline = 'door'\nclass = 'car'"),
            false,
        );
        assert!(e.contains("'door' does not count class 'car'"), "{e}");
        let e = refused(&rule("when = 'crossing'"), false);
        assert!(e.contains("needs a line"), "{e}");
        let e = refused(
            &rule("when = 'object'\nclass = 'person'\nline = 'door'"),
            false,
        );
        assert!(
            e.contains("line only applies to `when = \"crossing\"`"),
            "{e}"
        );
        let e = refused(
            &rule("when = 'occupancy'\nzone = [[0,0],[1,0],[1,1]]\nabove = 1"),
            false,
        );
        assert!(e.contains("give the polygon a [[zone]] table"), "{e}");
        let e = refused("[[zone]]\nname = 'z'\npoints = [[0,0],[1,0],[1,1]]\n[[rule]]\nname = 'r'\nwhen = 'occupancy'\nzone = 'z'\nlevel = 'INFO'\nmessage = 'm'\n", false);
        assert!(e.contains("needs `above`"), "{e}");
        // JSON: the line of the table too.
        let json = "{\n  \"zone\": [\n    {\"name\": \"ok\", \"points\": [[0,0],[1,0],[1,1]]},\n    {\"name\": \"bad\",\n     \"points\": [[0,0]]}\n  ]\n}";
        assert_eq!(
            refused(json, true),
            "line 4: [[zone]] 2: 'bad': a zone needs at least 3 points, got 1"
        );
    }

    #[test]
    fn the_example_file_parses_and_old_files_keep_their_meaning() {
        let example = include_str!("../../../config/alert-rules.example.toml");
        let set = parse(example, false).unwrap();
        assert!(!set.lines.is_empty() && !set.zones.is_empty() && !set.rules.is_empty());
        // Crossing rules alert on every crossing unless told otherwise; the others keep 30 s.
        let set = parse(
            "[[line]]\nname='l'\npoints=[[0,0.5],[1,0.5]]\n[[rule]]\nname='c'\nwhen='crossing'\nline='l'\nlevel='INFO'\nmessage='m'\n",
            false,
        )
        .unwrap();
        assert_eq!(set.rules[0].cooldown, 0.0);
        // A face rule with a duration and a zone, as older files may have: still accepted.
        let set = parse(
            "[[rule]]\nname='f'\nwhen='unknown_face'\nmin_duration=2\nzone=[[0,0],[1,0],[1,1]]\nlevel='INFO'\nmessage='m'\n",
            false,
        )
        .unwrap();
        assert_eq!(set.rules[0].cooldown, DEFAULT_COOLDOWN_SECONDS);
        // A malformed inline polygon says what is wrong with it.
        let e = refused(
            "[[rule]]\nname='o'\nwhen='object'\nclass='p'\nzone=[[0,'a'],[1,0],[1,1]]\nlevel='INFO'\nmessage='m'\n",
            false,
        );
        assert!(
            e.contains("invalid type: string \"a\", expected f64"),
            "{e}"
        );
        let e = refused(
            "[[rule]]\nname='o'\nwhen='object'\nclass='p'\nzone=[[0,0,1],[1,0],[1,1]]\nlevel='INFO'\nmessage='m'\n",
            false,
        );
        assert!(e.contains("a point is [x, y], got 3 numbers"), "{e}");
        // Both spellings of the evaluation points.
        let set = parse(
            "[[zone]]\nname='z'\npoints=[[0,0],[1,0],[1,1]]\npoint='bottom_center'\n[[line]]\nname='l'\npoints=[[0,0.5],[1,0.5]]\npoint='center'\n",
            false,
        )
        .unwrap();
        assert_eq!(
            (set.zones[0].eval, set.lines[0].eval),
            (EvalPoint::BottomCentre, EvalPoint::Centre)
        );
    }

    #[test]
    fn band_and_inertia_are_set_per_table_within_bounds() {
        let set = parse(SCENE, false).unwrap();
        let g = &set.lines[0].geometry;
        assert_eq!((g.band, g.confirm), (DEFAULT_BAND, DEFAULT_CONFIRM));
        assert_eq!(set.zones[0].inertia, DEFAULT_INERTIA);
        let set = parse(
            "[[line]]\nname='l'\npoints=[[0,0.5],[1,0.5]]\nband=0\ninertia=1\n[[zone]]\nname='z'\npoints=[[0,0],[1,0],[1,1]]\ninertia=10\n",
            false,
        )
        .unwrap();
        let g = &set.lines[0].geometry;
        assert_eq!((g.band, g.confirm, set.zones[0].inertia), (0.0, 1, 10));
        let json =
            r#"{"line": [{"name": "l", "points": [[0,0.5],[1,0.5]], "band": 0.05, "inertia": 4}]}"#;
        let g = &parse(json, true).unwrap().lines[0].geometry;
        assert_eq!((g.band, g.confirm), (0.05, 4));
        let line = |extra: &str| format!("[[line]]\nname='l'\npoints=[[0,0.5],[1,0.5]]\n{extra}\n");
        let e = refused(&line("band = 0.5"), false);
        assert_eq!(
            e,
            "line 1: [[line]] 1: 'l': band is a fraction of the frame's diagonal, 0 to 0.2, got 0.5"
        );
        assert!(refused(&line("band = -0.01"), false).contains("0 to 0.2"));
        assert!(refused(&line("band = nan"), false).contains("got NaN"));
        let e = refused(&line("inertia = 0"), false);
        assert!(
            e.contains("inertia is the points in a row that confirm a change, 1 to 100, got 0"),
            "{e}"
        );
        let e = refused(
            "[[zone]]\nname='z'\npoints=[[0,0],[1,0],[1,1]]\ninertia=1000\n",
            false,
        );
        assert!(e.contains("'z': inertia") && e.contains("got 1000"), "{e}");
        assert!(refused(&line("inertia = -1"), false).contains("inertia"));
    }

    #[test]
    fn names_that_cannot_label_a_metric_and_flat_zones_are_refused() {
        let e = refused(
            "[[line]]\nname = 'Entrée'\npoints = [[0,0.5],[1,0.5]]\n",
            false,
        );
        assert!(e.contains("printable ASCII"), "{e}");
        let e = refused(
            "[[line]]\nname = 'door'\npoints = [[0,0.5],[1,0.5]]\ndirections = ['↓', 'up']\n",
            false,
        );
        assert!(e.contains("direction '↓'"), "{e}");
        let e = refused(
            "[[zone]]\nname = 'a\"b'\npoints = [[0,0],[1,0],[1,1]]\n",
            false,
        );
        assert!(e.contains("printable ASCII"), "{e}");
        let e = refused(
            "[[zone]]\nname = 'flat'\npoints = [[0,0],[0.5,0.5],[1,1]]\n",
            false,
        );
        assert!(e.contains("no area"), "{e}");
        // An object rule on a [[zone]] that does not count its class would never fire.
        let e = refused(
            "[[zone]]\nname = 'bay'\npoints = [[0,0],[1,0],[1,1]]\nclass = 'car'\n[[rule]]\nname='r'\nwhen='object'\nclass='person'\nzone='bay'\nlevel='INFO'\nmessage='m'\n",
            false,
        );
        assert!(e.contains("'bay' does not count class 'person'"), "{e}");
    }
}
