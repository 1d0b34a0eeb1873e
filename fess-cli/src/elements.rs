//! The fess elements as the commands use them: found in the plugin, configured from
//! `PROPERTY=VALUE` arguments the way gst-launch-1.0 reads them.

use anyhow::{bail, Context};
use gst::prelude::*;

/// Fails with what to do when the fess plugin is not where GStreamer looks.
pub fn require_plugin() -> anyhow::Result<()> {
    gst::init()?;
    if gst::ElementFactory::find("fessdetect").is_none() {
        bail!("the fess elements are not installed: build the plugin (cargo build --release) and set GST_PLUGIN_PATH to the folder holding libgstfess.so");
    }
    Ok(())
}

/// Applies `PROPERTY=VALUE` settings to `element`, refusing unknown names and bad values.
pub fn set_properties(element: &gst::Element, settings: &[String]) -> anyhow::Result<()> {
    let factory = element
        .factory()
        .map(|f| f.name().to_string())
        .unwrap_or_default();
    for kv in settings {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("{kv}: expected PROPERTY=VALUE"))?;
        let pspec = element.find_property(k).with_context(|| {
            format!("{factory} has no property '{k}' (see gst-inspect-1.0 {factory})")
        })?;
        let value = glib_value_from_str(&pspec, v)
            .with_context(|| format!("{kv}: not a valid value for {k}"))?;
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
