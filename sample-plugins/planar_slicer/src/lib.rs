//! Planar Slicer: a small slicer plugin for Plinth.
//!
//! It reads STL models (ASCII or binary), cuts them into horizontal layers,
//! joins the cuts into closed outlines and writes perimeter-only G-code with
//! absolute extrusion, reporting progress per layer and honouring
//! cancellation. The pipeline lives in plain modules, testable without a
//! host; [`PlanarSlicer`] only adapts it to the SDK's [`SlicerPlugin`] mixin.
//!
//! - [`stl`]: reading the model.
//! - [`geometry`]: placement on the bed and polygon helpers.
//! - [`slice`](mod@slice): cutting layers and joining outlines.
//! - [`gcode`]: writing G-code and analysing it.
//! - [`profile`]: profile files and settings.
//! - [`pipeline`]: one job, file to file.
//! - [`jobs`]: the running jobs, for cancellation.

use std::path::{Path, PathBuf};
use std::time::Instant;

use plinth_sdk::prelude::*;
use plinth_sdk::{SliceError, SlicerProperties, SlicingProfile};

pub mod gcode;
pub mod geometry;
pub mod jobs;
pub mod pipeline;
pub mod profile;
pub mod slice;
pub mod stl;

use profile::{SliceSettings, SLICER_TYPE};

/// The plugin object.
pub struct PlanarSlicer {
    host: Host,
    jobs: jobs::Jobs,
}

impl Plugin for PlanarSlicer {
    fn new(host: Host) -> Self {
        PlanarSlicer {
            host,
            jobs: jobs::Jobs::default(),
        }
    }

    fn host(&self) -> &Host {
        &self.host
    }
}

/// Where the G-code goes when the request does not say: beside the model,
/// with the `.gcode` extension.
fn default_output(model_path: &str) -> PathBuf {
    Path::new(model_path).with_extension("gcode")
}

impl SlicerPlugin for PlanarSlicer {
    fn is_slicer_configured(&self) -> bool {
        true
    }

    fn get_slicer_properties(&self) -> SlicerProperties {
        SlicerProperties {
            slicer_type: SLICER_TYPE.into(),
            name: "Planar Slicer".into(),
            same_device: true,
            progress_report: true,
            source_file_types: vec!["model".into()],
            destination_extensions: vec!["gcode".into()],
        }
    }

    fn get_slicer_default_profile(&self) -> SlicingProfile {
        profile::default_profile()
    }

    fn get_slicer_profile(&self, path: &str) -> PluginResult<SlicingProfile> {
        profile::read_profile(Path::new(path)).map_err(PluginError::new)
    }

    fn save_slicer_profile(
        &self,
        path: &str,
        profile: &SlicingProfile,
        allow_overwrite: bool,
        overrides: Option<&Value>,
    ) -> PluginResult<()> {
        profile::save_profile(Path::new(path), profile, allow_overwrite, overrides)
            .map_err(PluginError::new)
    }

    fn do_slice(&self, job: &SlicingJob<'_>) -> Result<Value, SliceError> {
        let request = &job.request;
        let output = match &request.machinecode_path {
            Some(path) => path.clone(),
            None => default_output(&request.model_path)
                .to_string_lossy()
                .into_owned(),
        };
        let profile = match &request.profile_path {
            Some(path) => profile::read_profile(Path::new(path)).map_err(SliceError::Failed)?,
            None => profile::default_profile(),
        };
        let settings = SliceSettings::from_data(&profile.data).map_err(|e| {
            let source = request.profile_path.as_deref().unwrap_or("(default)");
            SliceError::Failed(format!("slicing profile {source}: {e}"))
        })?;
        let guard = self.jobs.start(&output).map_err(SliceError::Failed)?;
        let logger = self.host.logger();
        let task = pipeline::Task {
            model_path: Path::new(&request.model_path),
            output_path: Path::new(&output),
            settings: &settings,
            profile_name: &profile.name,
            printer_profile: &request.printer_profile,
            position: request.position,
        };
        let started = Instant::now();
        let result = pipeline::run(
            &task,
            &mut |fraction| job.report_progress(fraction),
            guard.flag(),
            &mut |warning| logger.warn(warning),
        );
        drop(guard);
        match &result {
            Ok(value) => logger.info(format_args!(
                "sliced {} to {output} in {:.2} s: {} layers",
                request.model_path,
                started.elapsed().as_secs_f64(),
                value["analysis"]["layerCount"]
            )),
            Err(SliceError::Cancelled) => {
                logger.info(format_args!("slicing {} was cancelled", request.model_path))
            }
            Err(SliceError::Failed(reason)) => logger.warn(format_args!(
                "slicing {} failed: {reason}",
                request.model_path
            )),
        }
        result
    }

    fn cancel_slicing(&self, machinecode_path: &str) {
        if self.jobs.cancel(machinecode_path) {
            self.host.logger().info(format_args!(
                "cancelling the slicing job writing to {machinecode_path}"
            ));
        }
    }
}

export_plugin! {
    plugin: PlanarSlicer,
    name: "Planar Slicer",
    description: "Slices STL models into perimeter-only G-code.",
    author: "The Plinth developers",
    license: "MIT OR Apache-2.0",
    mixins: [Slicer],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_output_sits_beside_the_model() {
        assert_eq!(
            default_output("/models/cube.stl"),
            PathBuf::from("/models/cube.gcode")
        );
        assert_eq!(
            default_output("/models/cube"),
            PathBuf::from("/models/cube.gcode")
        );
    }
}
