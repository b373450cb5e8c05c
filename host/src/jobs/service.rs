//! The server's jobs as plugins reach them through their handle: each call
//! is the REST API's operation of the same name, refused the same way
//! (a [`JobError`] becomes the plugin's [`Refusal`]).

use plinth_abi::files::{FileCall, SlicingCall};
use plinth_abi::printer::PrinterCall;
use plinth_abi::{json, Refusal, RefusalKind, Value};

use super::files::Transfer;
use super::slicing::SliceOrder;
use super::{JobError, Jobs};
use crate::plugins::services::ServerServices;

impl From<JobError> for Refusal {
    fn from(e: JobError) -> Self {
        let kind = match &e {
            JobError::NotFound(_) => RefusalKind::NotFound,
            JobError::Invalid(_) => RefusalKind::Invalid,
            JobError::Unsupported(_) => RefusalKind::Unsupported,
            JobError::Conflict(_) => RefusalKind::Conflict,
            JobError::Failed(_) => RefusalKind::Failed,
        };
        Refusal {
            kind,
            message: e.to_string(),
        }
    }
}

/// `null` for an operation that answers nothing.
fn done<T>(result: Result<T, JobError>) -> Result<Value, JobError> {
    result.map(|_| Value::Null)
}

impl ServerServices for Jobs {
    fn printer(&self, plugin: &str, call: PrinterCall) -> Result<Value, Refusal> {
        self.printer.serve(plugin, call)
    }

    fn files(&self, _plugin: &str, call: FileCall) -> Result<Value, Refusal> {
        let files = &self.files;
        let answer = match call {
            FileCall::List { path, recursive } => files.list(&path, recursive).map(Value::from),
            FileCall::FileExists { path } => Ok(json!(files.file_exists(&path))),
            FileCall::FolderExists { path } => Ok(json!(files.folder_exists(&path))),
            FileCall::AddFile {
                path,
                content,
                allow_overwrite,
            } => files
                .add_bytes(&path, &content, allow_overwrite)
                .map(Value::from),
            FileCall::RemoveFile { path } => done(files.remove_file(&path)),
            FileCall::Copy {
                source,
                destination,
                allow_overwrite,
            } => files
                .transfer(&source, &destination, allow_overwrite, Transfer::Copy)
                .map(Value::from),
            FileCall::Move {
                source,
                destination,
                allow_overwrite,
            } => files
                .transfer(&source, &destination, allow_overwrite, Transfer::Move)
                .map(Value::from),
            FileCall::AddFolder {
                path,
                ignore_existing,
            } => files.add_folder(&path, ignore_existing).map(Value::from),
            FileCall::RemoveFolder { path, recursive } => {
                done(files.remove_folder(&path, recursive))
            }
            FileCall::GetMetadata { path } => files.metadata(&path),
            FileCall::SetAdditionalMetadata {
                path,
                key,
                data,
                overwrite,
                merge,
            } => files
                .set_additional_metadata(&path, &key, data, overwrite, merge)
                .map(Value::from),
            FileCall::RemoveAdditionalMetadata { path, key } => {
                done(files.remove_additional_metadata(&path, &key))
            }
            FileCall::PathOnDisk { path } => files.path_on_disk(&path).map(Value::from),
            FileCall::Stat { path } => files
                .size_and_date(&path)
                .map(|(size, date)| json!({"size": size, "date": date})),
            FileCall::Analyse { path } => done(files.analyse(&path)),
        };
        answer.map_err(Refusal::from)
    }

    fn connectivity(&self, call: plinth_abi::ConnectivityCall) -> Value {
        if call == plinth_abi::ConnectivityCall::CheckImmediately {
            self.connectivity.check_immediately();
        }
        self.connectivity.as_dict()
    }

    fn slicing(&self, _plugin: &str, call: SlicingCall) -> Result<Value, Refusal> {
        let slicing = &self.slicing;
        let answer = match call {
            SlicingCall::Slicers => Ok(slicing.overview()),
            SlicingCall::Profiles { slicer } => slicing
                .slicer(&slicer)
                .map(|_| slicing.overview()[&slicer]["profiles"].clone()),
            SlicingCall::Profile { slicer, name } => slicing
                .slicer(&slicer)
                .and_then(|s| slicing.profile(&s, &name))
                .map(|p| super::slicing::profile_json(&p)),
            SlicingCall::Slice {
                slicer,
                source,
                destination,
                profile,
                position,
                select,
                print,
            } => {
                let order = SliceOrder {
                    source: self.files.existing_file(&source).map_err(Refusal::from)?,
                    slicer,
                    profile,
                    destination,
                    position,
                    select,
                    print,
                    printer_profile: None,
                };
                slicing.slice(order).map(|job| job.to_json())
            }
            SlicingCall::Jobs => Ok(json!(slicing
                .jobs()
                .iter()
                .map(|j| j.to_json())
                .collect::<Vec<_>>())),
            SlicingCall::Cancel { job } => done(slicing.cancel(job)),
        };
        answer.map_err(Refusal::from)
    }
}
