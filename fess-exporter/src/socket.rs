//! The stats socket: a Unix datagram socket that only its owner and group may write to
//! (mode 0660), in a folder only we (or root) can write to, bound without clobbering anything
//! that is not a stale socket of ours.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use fess::observability::stats::{check_folder, folder_of, SocketRole, MAX_DATAGRAM_BYTES};

use crate::exporter::Exporter;

/// How often the receiver looks at the stop flag while no datagram comes.
const POLL: Duration = Duration::from_millis(200);

/// The bound socket; the file is removed on drop.
pub struct StatsSocket {
    pub socket: UnixDatagram,
    path: PathBuf,
}

impl StatsSocket {
    /// Binds `path` with mode 0660, creating its folder (0700) if needed. A folder another user
    /// owns or could write to is refused (they could replace the socket and read the stats:
    /// README "Stats protocol"). A socket file nobody listens on is replaced; a live socket or
    /// any other file is an error.
    pub fn bind(path: &Path) -> anyhow::Result<StatsSocket> {
        let dir = folder_of(path);
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| {
                format!("creating the folder of the stats socket {}", dir.display())
            })?;
        // Checked after creating: a folder someone else made first is caught too.
        check_folder(path, SocketRole::Listener)
            .context("refusing the stats socket (--stats-socket)")?;
        match fs::symlink_metadata(path) {
            Ok(m) if !m.file_type().is_socket() => bail!(
                "{} exists and is not a socket: refusing to replace it (choose another --stats-socket)",
                path.display()
            ),
            Ok(_) => {
                let probe = UnixDatagram::unbound()?;
                match probe.connect(path) {
                    Ok(()) => bail!(
                        "another process already listens on {} (is an exporter running?)",
                        path.display()
                    ),
                    Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
                    Err(e) => {
                        return Err(e).with_context(|| format!("probing {}", path.display()))
                    }
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
        // Bound under a private name, made 0660, then renamed into place: the socket is never
        // reachable with looser permissions, and a stale one is replaced atomically.
        let file = path
            .file_name()
            .context("the stats socket path has no file name")?;
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            file.to_string_lossy(),
            std::process::id()
        ));
        let _ = fs::remove_file(&tmp);
        let socket =
            UnixDatagram::bind(&tmp).with_context(|| format!("binding {}", tmp.display()))?;
        let placed = fs::set_permissions(&tmp, fs::Permissions::from_mode(0o660))
            .and_then(|()| fs::rename(&tmp, path));
        if let Err(e) = placed {
            let _ = fs::remove_file(&tmp);
            return Err(e)
                .with_context(|| format!("placing the stats socket at {}", path.display()));
        }
        socket.set_read_timeout(Some(POLL))?;
        Ok(StatsSocket {
            socket,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Receives datagrams into `exporter` until `stop` is set.
    pub fn receive(&self, exporter: &Exporter, stop: &AtomicBool) {
        // One byte more than the cap, so an oversized datagram shows as too large, not as a
        // silently truncated one.
        let mut buf = vec![0u8; MAX_DATAGRAM_BYTES + 1];
        while !stop.load(Ordering::Relaxed) {
            match self.socket.recv(&mut buf) {
                Ok(n) => {
                    let _ = exporter.ingest(&buf[..n], Instant::now());
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => {
                    eprintln!("fess-exporter: reading the stats socket: {e}");
                    std::thread::sleep(POLL);
                }
            }
        }
    }
}

impl Drop for StatsSocket {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_stale_sockets_and_other_files() {
        let dir = std::env::temp_dir().join(format!("fess-exporter-sock-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let path = dir.join("sub/stats.sock");
        let s = StatsSocket::bind(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        for folder in [dir.as_path(), path.parent().unwrap()] {
            let mode = fs::metadata(folder).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o700, "{}", folder.display());
        }
        // A live socket is not taken over.
        let e = StatsSocket::bind(&path).err().unwrap().to_string();
        assert!(e.contains("already listens"), "{e}");
        // A stale one (its owner gone without cleaning up) is replaced.
        drop(s);
        drop(UnixDatagram::bind(&path).unwrap());
        assert!(path.exists());
        let s2 = StatsSocket::bind(&path).unwrap();
        drop(s2);
        assert!(!path.exists());
        // Anything else is left alone.
        fs::write(&path, "precious").unwrap();
        let e = StatsSocket::bind(&path).err().unwrap().to_string();
        assert!(e.contains("not a socket"), "{e}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "precious");
        let _ = fs::remove_dir_all(&dir);
    }
}
