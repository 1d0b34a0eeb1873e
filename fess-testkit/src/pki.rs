//! Certificates made for one test with the `openssl` command (installed by scripts/setup.sh): a
//! CA of its own, and server and client certificates it signs. Keys are PKCS#8 PEM (what
//! librdkafka, stunnel, redis-server and native-tls all read).

use std::path::{Path, PathBuf};
use std::process::Command;

/// A test CA in a folder of its own.
pub struct Pki {
    pub dir: PathBuf,
    /// The CA certificate (PEM): what clients trust.
    pub ca: PathBuf,
    ca_key: PathBuf,
}

/// A certificate and its private key.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(args: &[&str], what: &str) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl (the openssl package, installed by scripts/setup.sh)");
    assert!(
        out.status.success(),
        "openssl {what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

impl Pki {
    /// A new CA named `name`, its files in `dir` (created).
    pub fn new(dir: &Path, name: &str) -> Pki {
        std::fs::create_dir_all(dir).unwrap();
        let ca = dir.join(format!("{name}.crt"));
        let ca_key = dir.join(format!("{name}.key"));
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                path_str(&ca_key),
                "-out",
                path_str(&ca),
            ],
            "making the CA",
        );
        Pki {
            dir: dir.to_path_buf(),
            ca,
            ca_key,
        }
    }

    /// A certificate for `name` signed by this CA, valid for the subject alternative names
    /// `sans` (e.g. `IP:127.0.0.1,DNS:localhost`), for servers and clients alike.
    pub fn issue(&self, name: &str, sans: &str) -> Issued {
        let file = |ext: &str| self.dir.join(format!("{name}.{ext}"));
        let (cert, key, csr, ext) = (file("crt"), file("key"), file("csr"), file("ext"));
        std::fs::write(
            &ext,
            format!(
                "subjectAltName={sans}\nextendedKeyUsage=serverAuth,clientAuth\n\
                 basicConstraints=CA:FALSE\n"
            ),
        )
        .unwrap();
        openssl(
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                path_str(&key),
                "-out",
                path_str(&csr),
            ],
            "making a key and request",
        );
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                path_str(&csr),
                "-CA",
                path_str(&self.ca),
                "-CAkey",
                path_str(&self.ca_key),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                path_str(&ext),
                "-out",
                path_str(&cert),
            ],
            "signing a certificate",
        );
        Issued { cert, key }
    }
}
