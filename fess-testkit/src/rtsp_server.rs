use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

/// A local RTSP camera (the `fess-test-rtsp-server` binary of this crate, built with the
/// workspace) serving a video file in real time; killed on drop.
pub struct RtspServer {
    pub port: u16,
    file: PathBuf,
    child: Option<Child>,
}

fn binary() -> PathBuf {
    // Tests run from target/<profile>/deps; the workspace's binaries sit one level up.
    let exe = std::env::current_exe().expect("the test executable's path");
    let dir = exe.parent().and_then(Path::parent).expect("a target dir");
    let bin = dir.join("fess-test-rtsp-server");
    assert!(
        bin.is_file(),
        "{} is not built (cargo build --release --workspace first)",
        bin.display()
    );
    bin
}

impl RtspServer {
    pub fn start(file: &Path) -> RtspServer {
        RtspServer::start_on(free_port(), file)
    }

    fn start_on(port: u16, file: &Path) -> RtspServer {
        let child = Command::new(binary())
            .arg(port.to_string())
            .arg(file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting the RTSP server");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "RTSP server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        RtspServer {
            port,
            file: file.to_path_buf(),
            child: Some(child),
        }
    }

    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/cam", self.port)
    }

    /// The camera goes away (its clients lose the connection).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The camera comes back on the same address.
    pub fn restart(&mut self) {
        self.kill();
        *self = RtspServer::start_on(self.port, &self.file.clone());
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.kill();
    }
}
