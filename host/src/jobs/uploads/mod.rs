//! The uploads folder (`<basedir>/uploads`): file names and the extension tree
//! of accepted types ([`names`]), safe access to the files ([`folder`]: no
//! symlink is followed, files are written to a temporary file and renamed
//! into place), the metadata kept about each file ([`metadata`]: one
//! `.metadata.json` per folder, as OctoPrint), and the STL check ([`stl`]).

mod folder;
mod metadata;
mod names;
mod stl;

pub use folder::Folder;
pub use metadata::Entry;
pub use names::{
    clean_folder, clean_name, clean_path, extension_tree, is_machinecode, is_within, join_path,
    sanitize, split_path, type_of, MAX_NAME_BYTES,
};
pub use stl::check_stl;

use crate::plugins::manager::PluginManager;

/// The uploads folder of a host.
pub fn folder(manager: &PluginManager) -> Folder {
    Folder::new(manager.paths().basedir.join("uploads"))
}
