//! The fess elements as the commands use them: found in the plugin, configured from
//! `PROPERTY=VALUE` arguments the way gst-launch-1.0 reads them.

use anyhow::bail;
use gst::prelude::*;

/// Fails with what to do when the fess plugin is not where GStreamer looks.
pub fn require_plugin() -> anyhow::Result<()> {
    gst::init()?;
    if gst::ElementFactory::find("fessdetect").is_none() {
        bail!("the fess elements are not installed: build the plugin (cargo build --release) and set GST_PLUGIN_PATH to the folder holding libgstfess.so");
    }
    Ok(())
}

/// A mistake in the command line that only the elements can see (a property they do not have,
/// cannot be written, or a value they refuse): bad usage, exit status 2 like clap's own.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Applies `PROPERTY=VALUE` settings to `element`, refusing unknown names, read-only properties
/// and bad values with a [`UsageError`].
pub fn set_properties(element: &gst::Element, settings: &[String]) -> anyhow::Result<()> {
    for kv in settings {
        let usage = |why: String| anyhow::Error::new(UsageError(why));
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| usage(format!("{kv}: expected PROPERTY=VALUE")))?;
        set_property(element, k, v).map_err(usage)?;
    }
    Ok(())
}

/// The name of `element`'s factory (`fessdetect`, …).
pub fn factory_name(element: &gst::Element) -> String {
    element
        .factory()
        .map(|f| f.name().to_string())
        .unwrap_or_default()
}

/// Sets `element`'s property `key` from text as gst-launch-1.0 reads it, or says why not (no
/// such property, read-only, a value it refuses).
pub fn set_property(element: &gst::Element, key: &str, value: &str) -> Result<(), String> {
    let factory = factory_name(element);
    let pspec = element.find_property(key).ok_or_else(|| {
        format!("{factory} has no property '{key}' (see gst-inspect-1.0 {factory})")
    })?;
    // GLib aborts the process on a write to a property that cannot be written.
    let flags = pspec.flags();
    if !flags.contains(gst::glib::ParamFlags::WRITABLE)
        || flags.contains(gst::glib::ParamFlags::CONSTRUCT_ONLY)
    {
        return Err(format!(
            "{factory}'s property '{key}' is read-only (see gst-inspect-1.0 {factory})"
        ));
    }
    let v = glib_value_from_str(&pspec, value)
        .map_err(|e| format!("{key}={value}: not a valid value for {factory}'s {key}: {e}"))?;
    element.set_property_from_value(key, &v);
    Ok(())
}

/// Parses `s` as a value of `pspec`'s type the way gst-launch does.
fn glib_value_from_str(pspec: &gst::glib::ParamSpec, s: &str) -> anyhow::Result<gst::glib::Value> {
    let v = gst::glib::Value::deserialize(s, pspec.value_type())
        .map_err(|_| anyhow::anyhow!("cannot parse '{s}' as {}", pspec.value_type().name()))?;
    if !pspec.value_is_valid(&v) {
        bail!("'{s}' is out of range for {}", pspec.name());
    }
    Ok(v)
}

/// An error or warning from the bus as a person reads it, and which element said it. Our
/// elements put their own text in the debug string (its last line) under a generic message;
/// other elements' messages say what failed and the debug string why.
pub fn bus_text(
    error: &gst::glib::Error,
    debug: Option<gst::glib::GString>,
    src: Option<&gst::Object>,
) -> String {
    let detail = debug
        .as_deref()
        .and_then(|d| d.rsplit('\n').next())
        .map(str::trim)
        .filter(|d| !d.is_empty() && !d.ends_with(':'));
    let ours = src
        .and_then(|s| s.downcast_ref::<gst::Element>())
        .and_then(|e| e.factory())
        .is_some_and(|f| f.name().starts_with("fess"));
    let text = match detail {
        Some(d) if ours => d.to_string(),
        Some(d) => format!("{error} ({d})"),
        None => error.to_string(),
    };
    match src {
        Some(s) => format!("{text} (from {})", s.name()),
        None => text,
    }
}
