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
    let factory = element
        .factory()
        .map(|f| f.name().to_string())
        .unwrap_or_default();
    for kv in settings {
        let usage = |why: String| anyhow::Error::new(UsageError(why));
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| usage(format!("{kv}: expected PROPERTY=VALUE")))?;
        let pspec = element.find_property(k).ok_or_else(|| {
            usage(format!(
                "{factory} has no property '{k}' (see gst-inspect-1.0 {factory})"
            ))
        })?;
        // GLib aborts the process on a write to a property that cannot be written.
        let flags = pspec.flags();
        if !flags.contains(gst::glib::ParamFlags::WRITABLE)
            || flags.contains(gst::glib::ParamFlags::CONSTRUCT_ONLY)
        {
            return Err(usage(format!(
                "{factory}'s property '{k}' is read-only (see gst-inspect-1.0 {factory})"
            )));
        }
        let value = glib_value_from_str(&pspec, v)
            .map_err(|e| usage(format!("{kv}: not a valid value for {k}: {e}")))?;
        element.set_property_from_value(k, &value);
    }
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
