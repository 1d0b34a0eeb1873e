//! README's property tables say what the elements really register.

mod common;

use gst::glib;
use gst::prelude::*;

/// Rows of the table under "### `<element>` properties" in README.md: (name, type, default).
fn readme_rows(element: &str) -> Vec<(String, String, String)> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let heading = format!("### `{element}` properties");
    let section = readme
        .split(heading.as_str())
        .nth(1)
        .unwrap_or_else(|| panic!("no '{heading}' in README.md"));
    let section = section.split("\n### ").next().unwrap();
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<String> = l.split('|').map(|c| c.trim().to_string()).collect();
            (
                cells[1].trim_matches('`').to_string(),
                cells[2].clone(),
                cells[3].clone(),
            )
        })
        .collect()
}

fn default_text(p: &glib::ParamSpec) -> String {
    let v = p.default_value();
    if let Some(s) = p.downcast_ref::<glib::ParamSpecString>() {
        return match s.default_value() {
            None => "(none)".into(),
            Some(d) => format!("`\"{d}\"`"),
        };
    }
    if let Some((_, e)) = glib::EnumValue::from_value(v) {
        return format!("`{}`", e.nick());
    }
    if p.value_type() == gst::Structure::static_type() {
        return String::new();
    }
    let s = if let Ok(d) = v.get::<f64>() {
        format!("{d}")
    } else if let Ok(u) = v.get::<u32>() {
        u.to_string()
    } else if let Ok(i) = v.get::<i32>() {
        i.to_string()
    } else if let Ok(u) = v.get::<u64>() {
        u.to_string()
    } else if let Ok(b) = v.get::<bool>() {
        b.to_string()
    } else {
        panic!("unhandled type for {}", p.name())
    };
    format!("`{s}`")
}

fn range_text(p: &glib::ParamSpec) -> Option<String> {
    if let Some(d) = p.downcast_ref::<glib::ParamSpecDouble>() {
        return Some(format!("{}–{}", d.minimum(), d.maximum()));
    }
    if let Some(u) = p.downcast_ref::<glib::ParamSpecUInt>() {
        return Some(format!("{}–{}", u.minimum(), u.maximum()));
    }
    if let Some(i) = p.downcast_ref::<glib::ParamSpecInt>() {
        return Some(format!("{}–{}", i.minimum(), i.maximum()));
    }
    None
}

#[test]
fn property_tables_match_the_elements() {
    for name in ["fessdetect", "fessface", "fessoverlay", "fesskafkasink"] {
        check_element(name);
    }
}

fn check_element(factory: &str) {
    common::init();
    let element = gst::ElementFactory::make(factory).build().unwrap();
    let own: Vec<glib::ParamSpec> = element
        .list_properties()
        .iter()
        .filter(|p| p.owner_type() == element.type_())
        .cloned()
        .collect();
    let rows = readme_rows(factory);
    let mut names: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let mut registered: Vec<&str> = own.iter().map(|p| p.name()).collect();
    names.sort();
    registered.sort();
    assert_eq!(
        names, registered,
        "README property names differ from the element's"
    );
    for (name, ty, default) in &rows {
        let p = own.iter().find(|p| p.name() == name).unwrap();
        assert_eq!(default, &default_text(p), "{factory}: default of {name}");
        if let Some(range) = range_text(p) {
            assert!(
                ty.ends_with(&range),
                "{name}: README says '{ty}', element range {range}"
            );
        }
        let kind = match p.value_type() {
            t if t == glib::Type::STRING => "string",
            t if t == glib::Type::F64 => "double",
            t if t == glib::Type::U32 => "uint",
            t if t == glib::Type::I32 => "int",
            t if t == glib::Type::U64 => "uint64",
            t if t == glib::Type::BOOL => "boolean",
            t if t == gst::Structure::static_type() => "structure",
            _ => "enum",
        };
        assert!(
            ty.starts_with(kind),
            "{name}: README type '{ty}', element {kind}"
        );
    }
}

/// Every element's long description (what `gst-inspect-1.0` prints) ends with an example
/// pipeline that parses.
#[test]
fn gst_inspect_examples_parse() {
    common::init();
    for element in ["fessdetect", "fessface", "fessoverlay", "fesskafkasink"] {
        let factory = gst::ElementFactory::find(element).unwrap();
        let description = factory
            .metadata(gst::ELEMENT_METADATA_DESCRIPTION)
            .unwrap()
            .to_string();
        let (_, example) = description
            .split_once("Example: gst-launch-1.0 ")
            .unwrap_or_else(|| panic!("{element}: no example in '{description}'"));
        assert!(example.contains(element), "{element}: {example}");
        if let Err(e) = gst::parse::launch(example) {
            panic!("{element}: the example '{example}' does not parse: {e}");
        }
    }
}
