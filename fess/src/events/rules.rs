//! Alert rules: the built-in one (an unauthorised face is CRITICAL "Unauthorized access
//! detected") and those of a rules file, in TOML or JSON:
//!
//! ```toml
//! [[rule]]
//! name = "loading bay"
//! when = "object"            # object | unknown_face | unauthorized_face
//! class = "person"           # for `object`: the label to watch
//! zone = [[0.1, 0.5], [0.6, 0.5], [0.6, 1.0], [0.1, 1.0]]   # optional polygon, 0–1 of the frame
//! min_duration = 5.0         # optional: seconds the object must stay (in the zone)
//! level = "WARNING"          # INFO | WARNING | CRITICAL
//! message = "Person in the loading bay"
//! cooldown = 60.0            # seconds between two alerts of this rule on one camera (default 30)
//! cameras = ["cam_01"]       # optional: only these cameras
//! ```
//!
//! A zone contains an object when the centre of the object's box is inside the polygon.

use serde::Deserialize;

use crate::events::AlertLevel;

pub const DEFAULT_COOLDOWN_SECONDS: f64 = 30.0;
pub const UNAUTHORIZED_MESSAGE: &str = "Unauthorized access detected";
/// Longest `min_duration` or `cooldown` accepted.
pub const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Object,
    UnknownFace,
    UnauthorizedFace,
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
    pub zone: Option<Vec<[f64; 2]>>,
    #[serde(default)]
    pub min_duration: f64,
    pub level: String,
    pub message: String,
    #[serde(default = "default_cooldown")]
    pub cooldown: f64,
    #[serde(default)]
    pub cameras: Vec<String>,
}

fn default_cooldown() -> f64 {
    DEFAULT_COOLDOWN_SECONDS
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    rule: Vec<Rule>,
}

/// A checked rule, ready to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckedRule {
    pub name: String,
    pub when: Trigger,
    pub class: Option<String>,
    pub zone: Option<Vec<[f64; 2]>>,
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

    /// Whether a box centre `(x, y)` (0–1) is in the rule's zone (always, without a zone).
    pub fn in_zone(&self, x: f64, y: f64) -> bool {
        self.zone.as_ref().is_none_or(|z| point_in_polygon(x, y, z))
    }
}

/// Reads a rules file: JSON when it ends in `.json`, TOML otherwise.
pub fn load(path: &std::path::Path) -> Result<Vec<CheckedRule>, RulesError> {
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

/// Parses and checks rules text.
pub fn parse(text: &str, json: bool) -> Result<Vec<CheckedRule>, RulesError> {
    let file: RulesFile = if json {
        serde_json::from_str(text).map_err(|e| RulesError::Syntax(e.to_string()))?
    } else {
        toml::from_str(text).map_err(|e| RulesError::Syntax(e.to_string()))?
    };
    file.rule
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            check(r).map_err(|reason| RulesError::Rule {
                number: i + 1,
                reason,
            })
        })
        .collect()
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
    /// Rule `number` (from 1) is wrong.
    #[error("rule {number}: {reason}")]
    Rule { number: usize, reason: String },
}

fn check(r: Rule) -> Result<CheckedRule, String> {
    let name = r.name.trim().to_string();
    if name.is_empty() {
        return Err("name must not be empty".into());
    }
    let err = |m: String| format!("'{name}': {m}");
    let level: AlertLevel = r.level.parse().map_err(err)?;
    if r.message.trim().is_empty() {
        return Err(err("message must not be empty".into()));
    }
    match (r.when, &r.class) {
        (Trigger::Object, None) => return Err(err("`when = \"object\"` needs a class".into())),
        (Trigger::UnknownFace | Trigger::UnauthorizedFace, Some(_)) => {
            return Err(err("class only applies to `when = \"object\"`".into()))
        }
        _ => {}
    }
    if let Some(z) = &r.zone {
        if z.len() < 3 {
            return Err(err(format!(
                "a zone needs at least 3 points, got {}",
                z.len()
            )));
        }
        if z.iter().flatten().any(|v| !(0.0..=1.0).contains(v)) {
            return Err(err(
                "zone points are fractions of the frame, between 0 and 1".into(),
            ));
        }
    }
    for (what, v) in [("min_duration", r.min_duration), ("cooldown", r.cooldown)] {
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
        zone: r.zone,
        min_duration: r.min_duration,
        level,
        message: r.message,
        cooldown: r.cooldown,
        cameras: r.cameras,
    })
}

/// Even-odd test.
pub fn point_in_polygon(x: f64, y: f64, poly: &[[f64; 2]]) -> bool {
    let mut inside = false;
    let mut j = poly.len() - 1;
    for i in 0..poly.len() {
        let ([xi, yi], [xj, yj]) = (poly[i], poly[j]);
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
        j = i;
    }
    inside
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
        let r = parse(TOML, false).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].level, AlertLevel::Warning);
        assert_eq!(r[0].cooldown, 60.0);
        assert_eq!(r[1].cooldown, DEFAULT_COOLDOWN_SECONDS);
        assert!(r[0].in_zone(0.3, 0.7) && !r[0].in_zone(0.3, 0.2) && !r[0].in_zone(0.8, 0.7));
        assert!(r[1].in_zone(0.99, 0.01));
        let j = parse(
            r#"{"rule": [{"name": "car", "when": "object", "class": "car", "level": "CRITICAL", "message": "Car", "cameras": ["gate"]}]}"#,
            true,
        )
        .unwrap();
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
        assert!(e.contains("rule 1: 'a': unknown alert level 'LOUD'"), "{e}");
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
}
