use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::service::{Recipe, ServiceProcess};

/// A local RTSP camera (the `fess-test-rtsp-server` binary of this crate, built with the
/// workspace) serving a video file in real time; killed on drop.
pub struct RtspServer {
    pub port: u16,
    file: PathBuf,
    process: ServiceProcess,
}

/// Whether an RTSP server answers `OPTIONS` on `port` with 200.
fn answers_options(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = [0u8; 64];
    write!(
        s,
        "OPTIONS rtsp://127.0.0.1:{port}/cam RTSP/1.0\r\nCSeq: 1\r\n\r\n"
    )
    .is_ok()
        && s.read(&mut buf)
            .is_ok_and(|n| buf[..n].starts_with(b"RTSP/1.0 200"))
}

impl RtspServer {
    pub fn start(file: &Path) -> RtspServer {
        RtspServer::start_with(None, file)
    }

    fn start_with(port: Option<u16>, file: &Path) -> RtspServer {
        let binary = crate::workspace_binary("fess-test-rtsp-server");
        let command = |port: u16| {
            let mut cmd = Command::new(&binary);
            cmd.arg(port.to_string()).arg(file);
            cmd
        };
        let recipe = Recipe {
            name: "rtsp-server",
            command: &command,
            ready: &answers_options,
            timeout: Duration::from_secs(20),
        };
        let process = match port {
            Some(port) => ServiceProcess::start_on(&recipe, port),
            None => ServiceProcess::start(&recipe),
        };
        RtspServer {
            port: process.port,
            file: file.to_path_buf(),
            process,
        }
    }

    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/cam", self.port)
    }

    /// The camera goes away (its clients lose the connection).
    pub fn kill(&mut self) {
        self.process.kill();
    }

    /// The camera stops answering without closing anything (SIGSTOP), as a hung camera does.
    pub fn freeze(&self) {
        self.process.signal("STOP");
    }

    /// The camera comes back on the same address.
    pub fn restart(&mut self) {
        self.kill();
        *self = RtspServer::start_with(Some(self.port), &self.file.clone());
    }
}
