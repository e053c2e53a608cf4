//! `SPILLWAY_TLS=self-signed`: a certificate for `localhost` and `127.0.0.1`,
//! made once and kept in the data dir so clients can trust it
//! (`AWS_CA_BUNDLE`, `SSL_CERT_FILE`, `NODE_EXTRA_CA_CERTS`) across restarts.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The certificate (PEM) in the data dir: the file clients trust.
pub const CERT_FILE: &str = "tls-cert.pem";
/// Its private key (PEM, mode 0600), beside it.
pub const KEY_FILE: &str = "tls-key.pem";

/// The names the certificate is for.
const NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

#[derive(Debug, thiserror::Error)]
pub enum SelfSignedError {
    #[error("self-signed certificate at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// The certificate and key files in `data_dir`, made if either is missing.
/// Returns `(cert, key)` paths.
pub fn load_or_create(data_dir: &Path) -> Result<(PathBuf, PathBuf), SelfSignedError> {
    let cert = data_dir.join(CERT_FILE);
    let key = data_dir.join(KEY_FILE);
    if cert.is_file() && key.is_file() {
        return Ok((cert, key));
    }
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SelfSignedError::Io { path, source }
    };
    std::fs::create_dir_all(data_dir).map_err(io(data_dir))?;
    let made = rcgen::generate_simple_self_signed(NAMES.map(String::from).to_vec())?;
    // The key first: a certificate on disk always has its key beside it.
    replace(&key, made.signing_key.serialize_pem().as_bytes(), 0o600).map_err(io(&key))?;
    replace(&cert, made.cert.pem().as_bytes(), 0o644).map_err(io(&cert))?;
    tracing::info!(cert = %cert.display(), "made a self-signed certificate for localhost and 127.0.0.1");
    Ok((cert, key))
}

/// Write `contents` to `path` whole (a temporary file renamed over it), with `mode`.
fn replace(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn made_once_with_a_private_key_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = load_or_create(dir.path()).unwrap();
        assert_eq!(cert, dir.path().join(CERT_FILE));
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key is private");
        let first = std::fs::read(&cert).unwrap();
        assert!(first.starts_with(b"-----BEGIN CERTIFICATE-----"));
        load_or_create(dir.path()).unwrap();
        assert_eq!(
            std::fs::read(&cert).unwrap(),
            first,
            "reused across restarts"
        );
    }
}
