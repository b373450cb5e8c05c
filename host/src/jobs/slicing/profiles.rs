//! Slicing profiles: `<basedir>/slicingProfiles/<type>/<name>.profile`,
//! written by the slicer and moved into place only once it reads them back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use plinth_abi::methods::plugin as m;
use plinth_abi::{json, SlicingProfile, Value};

use super::{Slicer, Slicing};
use crate::jobs::uploads;
use crate::jobs::JobError;

impl Slicing {
    /// The folder of a slicer type's profiles (created when missing).
    pub fn profile_folder(&self, kind: &str) -> Result<PathBuf, JobError> {
        let dir = self
            .manager
            .paths()
            .basedir
            .join("slicingProfiles")
            .join(kind);
        std::fs::create_dir_all(&dir)
            .map_err(|e| JobError::Failed(format!("cannot create {}: {e}", dir.display())))?;
        Ok(dir)
    }

    /// Every stored profile of a slicer.
    pub fn profiles(&self, slicer: &Slicer) -> Result<BTreeMap<String, SlicingProfile>, JobError> {
        let dir = self.profile_folder(&slicer.properties.slicer_type)?;
        self.manager
            .call::<m::GetSlicerProfiles>(&slicer.plugin, &dir.to_string_lossy().into_owned())
            .map_err(|e| {
                JobError::Failed(format!(
                    "plugin `{}` failed to list its profiles: {e}",
                    slicer.plugin
                ))
            })
    }

    pub(super) fn profile_path(&self, slicer: &Slicer, name: &str) -> Result<PathBuf, JobError> {
        check_profile_name(name)?;
        Ok(self
            .profile_folder(&slicer.properties.slicer_type)?
            .join(format!("{name}.profile")))
    }

    /// The stored profile `name`.
    pub fn profile(&self, slicer: &Slicer, name: &str) -> Result<SlicingProfile, JobError> {
        let path = self.profile_path(slicer, name)?;
        if !path.is_file() {
            return Err(JobError::NotFound(format!(
                "slicer `{}` has no profile `{name}`",
                slicer.properties.slicer_type
            )));
        }
        self.read_profile(slicer, &path)
    }

    fn read_profile(&self, slicer: &Slicer, path: &Path) -> Result<SlicingProfile, JobError> {
        self.manager
            .call::<m::GetSlicerProfile>(&slicer.plugin, &path.to_string_lossy().into_owned())
            .map_err(|e| {
                JobError::Failed(format!(
                    "plugin `{}` cannot read {}: {e}",
                    slicer.plugin,
                    path.display()
                ))
            })
    }

    /// Stores profile `name`: the slicer's default profile with `data` as
    /// overrides. Written beside its place and renamed into it once the
    /// slicer reads it back, so a failure leaves the old profile (or none).
    pub fn save_profile(
        &self,
        slicer: &Slicer,
        name: &str,
        display_name: Option<String>,
        description: Option<String>,
        data: Option<Value>,
    ) -> Result<SlicingProfile, JobError> {
        let path = self.profile_path(slicer, name)?;
        if data.as_ref().is_some_and(|d| !d.is_object()) {
            return Err(JobError::Invalid(
                "`data` must be an object of profile settings".into(),
            ));
        }
        let mut profile = self
            .manager
            .call::<m::GetSlicerDefaultProfile>(&slicer.plugin, &())
            .map_err(|e| {
                JobError::Failed(format!(
                    "plugin `{}` has no default profile: {e}",
                    slicer.plugin
                ))
            })?;
        profile.slicer = slicer.properties.slicer_type.clone();
        profile.name = name.to_owned();
        profile.default = false;
        profile.display_name = display_name.or(Some(name.to_owned()));
        profile.description = description;
        let temp = path.with_file_name(format!(
            ".{name}.profile.{}.tmp",
            self.next.fetch_add(1, Ordering::Relaxed)
        ));
        let result = self
            .manager
            .call::<m::SaveSlicerProfile>(
                &slicer.plugin,
                &(temp.to_string_lossy().into_owned(), profile, true, data),
            )
            .map_err(|e| {
                JobError::Failed(format!(
                    "plugin `{}` cannot save profile `{name}`: {e}",
                    slicer.plugin
                ))
            })
            .and_then(|()| self.read_profile(slicer, &temp))
            .and_then(|saved| {
                std::fs::rename(&temp, &path).map_err(|e| {
                    JobError::Failed(format!("cannot store {}: {e}", path.display()))
                })?;
                Ok(saved)
            });
        if result.is_err() {
            let _ = std::fs::remove_file(&temp);
        }
        result
    }

    /// Deletes profile `name`.
    pub fn delete_profile(&self, slicer: &Slicer, name: &str) -> Result<(), JobError> {
        let path = self.profile_path(slicer, name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(JobError::NotFound(format!(
                "slicer `{}` has no profile `{name}`",
                slicer.properties.slicer_type
            ))),
            Err(e) => Err(JobError::Failed(format!(
                "cannot delete {}: {e}",
                path.display()
            ))),
        }
    }

    /// `GET /api/slicing`: every slicer with its profiles.
    pub fn overview(&self) -> Value {
        let mut out = serde_json::Map::new();
        for (kind, slicer) in self.slicers() {
            let profiles: serde_json::Map<String, Value> = match self.profiles(&slicer) {
                Ok(profiles) => profiles
                    .into_iter()
                    .map(|(name, p)| (name.clone(), profile_summary(&kind, &name, &p)))
                    .collect(),
                Err(e) => {
                    tracing::error!(plugin = %slicer.plugin, "{e}");
                    serde_json::Map::new()
                }
            };
            let p = &slicer.properties;
            out.insert(
                kind.clone(),
                json!({
                    "key": kind,
                    "displayName": p.name,
                    "plugin": slicer.plugin,
                    "configured": true,
                    "sameDevice": p.same_device,
                    "progressReport": p.progress_report,
                    "extensions": {"source": p.source_file_types, "destination": p.destination_extensions},
                    "profiles": profiles,
                }),
            );
        }
        Value::Object(out)
    }
}

/// A profile as the REST API shows it.
pub fn profile_json(p: &SlicingProfile) -> Value {
    json!({
        "key": p.name,
        "slicer": p.slicer,
        "displayName": p.display_name,
        "description": p.description,
        "default": p.default,
        "data": p.data,
        "resource": format!("/api/slicing/{}/profiles/{}", p.slicer, p.name),
    })
}

fn profile_summary(kind: &str, name: &str, p: &SlicingProfile) -> Value {
    json!({
        "key": name,
        "displayName": p.display_name,
        "description": p.description,
        "default": p.default,
        "resource": format!("/api/slicing/{kind}/profiles/{name}"),
    })
}

/// A profile name that is safe as a file name.
fn check_profile_name(name: &str) -> Result<(), JobError> {
    if uploads::clean_name(name).is_some() {
        Ok(())
    } else {
        Err(JobError::Invalid(format!(
            "{name:?} is not a usable profile name (letters, digits, `.`, `_`, `-`; no leading dot)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_must_be_plain_file_names() {
        assert!(check_profile_name("fast_0.2").is_ok());
        for bad in ["../x", ".hidden", "a b", "", "x/y"] {
            assert!(
                matches!(check_profile_name(bad), Err(JobError::Invalid(_))),
                "{bad}"
            );
        }
    }
}
