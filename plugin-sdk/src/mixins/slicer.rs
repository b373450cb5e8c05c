//! SlicerPlugin.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::UNIX_EPOCH;

use serde_json::{json, Value};

use super::{mixin_marker, serve, serve_result};
use crate::abi::CallOutcome;
use crate::host::Host;
use crate::methods::plugin::*;
use crate::plugin::Plugin;
use crate::types::{
    PluginError, PluginResult, SliceError, SliceRequest, SlicerProperties, SlicingProfile,
};

/// A running slicing job, handed to [`SlicerPlugin::do_slice`]: report progress through it.
pub struct SlicingJob<'a> {
    host: &'a Host,
    /// The request: model, profile, destination and position.
    pub request: SliceRequest,
}

impl SlicingJob<'_> {
    /// Reports progress as a fraction from 0.0 to 1.0 (the seed's `on_progress(_progress=…)`).
    /// The host forwards whole-percent steps to every ProgressPlugin.
    pub fn report_progress(&self, fraction: f64) {
        let _ = self
            .host
            .report_slicing_progress(self.request.job, fraction);
    }
}

/// Adds a slicing engine to the host's slicing subsystem.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not implement `SlicerPlugin`, but `Slicer` is in its export_plugin! `mixins:` list",
    label = "implement `SlicerPlugin` for `{Self}`, or remove `Slicer` from `mixins:`"
)]
pub trait SlicerPlugin: Plugin {
    /// Whether the slicer is ready; only configured slicers are registered at start-up.
    fn is_slicer_configured(&self) -> bool {
        false
    }

    /// The slicer's properties.
    fn get_slicer_properties(&self) -> SlicerProperties;

    /// Entries to add to the extension tree of accepted files; by default
    /// `model` files with the `stl` extension.
    fn get_slicer_extension_tree(&self) -> Value {
        json!({"model": {"stl": ["stl"]}})
    }

    /// The default profile.
    fn get_slicer_default_profile(&self) -> SlicingProfile;

    /// Parses the profile stored at `path`.
    fn get_slicer_profile(&self, path: &str) -> PluginResult<SlicingProfile>;

    /// All profiles stored in `profile_path`; by default every `*.profile` file,
    /// read with [`get_slicer_profile`](SlicerPlugin::get_slicer_profile), by file stem.
    fn get_slicer_profiles(
        &self,
        profile_path: &str,
    ) -> PluginResult<BTreeMap<String, SlicingProfile>> {
        let mut out = BTreeMap::new();
        for path in profile_files(profile_path)? {
            let name = path
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            out.insert(name, self.get_slicer_profile(&path.to_string_lossy())?);
        }
        Ok(out)
    }

    /// The newest modification time (seconds since the epoch) of the stored
    /// profiles; by default that of the `*.profile` files.
    fn get_slicer_profiles_lastmodified(&self, profile_path: &str) -> Option<f64> {
        profile_files(profile_path)
            .ok()?
            .iter()
            .filter_map(|p| {
                p.metadata()
                    .ok()?
                    .modified()
                    .ok()?
                    .duration_since(UNIX_EPOCH)
                    .ok()
            })
            .map(|d| d.as_secs_f64())
            .reduce(f64::max)
    }

    /// Saves `profile` to `path` after applying `overrides`; fails if the file
    /// exists and `allow_overwrite` is false.
    fn save_slicer_profile(
        &self,
        path: &str,
        profile: &SlicingProfile,
        allow_overwrite: bool,
        overrides: Option<&Value>,
    ) -> PluginResult<()>;

    /// Slices the model; returns the result (with an `analysis` key) or why it did not finish.
    /// Must end with [`SliceError::Cancelled`] when [`cancel_slicing`](SlicerPlugin::cancel_slicing)
    /// was called for its machine code path.
    fn do_slice(&self, job: &SlicingJob<'_>) -> Result<Value, SliceError>;

    /// Cancels the job writing to `machinecode_path`.
    fn cancel_slicing(&self, machinecode_path: &str);
}

fn profile_files(dir: &str) -> PluginResult<Vec<std::path::PathBuf>> {
    let mut files: Vec<_> = std::fs::read_dir(Path::new(dir))
        .map_err(|e| PluginError::new(format!("{dir}: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "profile"))
        .collect();
    files.sort();
    Ok(files)
}

mixin_marker!(Slicer, SlicerPlugin, |inst, method, args| {
    let p = &inst.plugin;
    match method {
        IsSlicerConfigured::ID => serve::<IsSlicerConfigured>(args, |()| p.is_slicer_configured()),
        GetSlicerProperties::ID => {
            serve::<GetSlicerProperties>(args, |()| p.get_slicer_properties())
        }
        GetSlicerExtensionTree::ID => {
            serve::<GetSlicerExtensionTree>(args, |()| p.get_slicer_extension_tree())
        }
        GetSlicerDefaultProfile::ID => {
            serve::<GetSlicerDefaultProfile>(args, |()| p.get_slicer_default_profile())
        }
        GetSlicerProfile::ID => {
            serve_result::<GetSlicerProfile>(args, |path| p.get_slicer_profile(&path))
        }
        GetSlicerProfiles::ID => {
            serve_result::<GetSlicerProfiles>(args, |path| p.get_slicer_profiles(&path))
        }
        GetSlicerProfilesLastmodified::ID => serve::<GetSlicerProfilesLastmodified>(args, |path| {
            p.get_slicer_profiles_lastmodified(&path)
        }),
        SaveSlicerProfile::ID => serve_result::<SaveSlicerProfile>(args, |(path, prof, ow, ov)| {
            p.save_slicer_profile(&path, &prof, ow, ov.as_ref())
        }),
        DoSlice::ID => serve::<DoSlice>(args, |request| {
            p.do_slice(&SlicingJob {
                host: p.host(),
                request,
            })
        }),
        CancelSlicing::ID => serve::<CancelSlicing>(args, |path| p.cancel_slicing(&path)),
        _ => CallOutcome::Unsupported,
    }
});
