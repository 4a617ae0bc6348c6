//! The lock on a data folder, shared by the control plane and the node: one process per folder.
//!
//! This is the one part of the crate that touches the disk, and it uses nothing beyond `std::fs`.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Why a data folder could not be locked.
#[derive(Debug)]
pub enum LockError {
    /// Creating the folder or opening its lock file failed.
    Io {
        /// The folder or lock file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another process holds the lock.
    Locked,
}

/// Creates `dir` (mode 0700) if needed and takes the lock on its `lock` file, held until the
/// returned file is dropped (or the process exits, however it exits).
pub fn lock_data_dir(dir: &Path) -> Result<File, LockError> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
    }
    let path = dir.join("lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(LockError::Locked),
        Err(std::fs::TryLockError::Error(e)) => Err(io(&path)(e)),
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LockError {
    let path = path.to_path_buf();
    move |source| LockError::Io { path, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_folder_is_refused_until_the_first_is_dropped() {
        let dir = std::env::temp_dir().join(format!("outpost-protocol-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = lock_data_dir(&dir).unwrap();
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        assert!(matches!(lock_data_dir(&dir), Err(LockError::Locked)));
        drop(first);
        drop(lock_data_dir(&dir).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
