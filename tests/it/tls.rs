//! HTTPS with a certificate from a private CA (a TLS-terminating proxy in front of the real Prefect 3
//! server): refused with a clear hint by default, trusted through PREFECT_API_SSL_CERT_FILE or
//! SSL_CERT_FILE, accepted with a warning under PREFECT_API_TLS_INSECURE_SKIP_VERIFY.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::harness::{self, TempDir, unstuck_env};

struct TlsProxy {
    child: Child,
    url: String,
    dir: TempDir,
}

impl TlsProxy {
    fn start(upstream: &str) -> TlsProxy {
        let dir = TempDir::new("tls");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("python").join("tls_proxy.py");
        let mut child = Command::new(harness::p3().venv.join("bin").join("python"))
            .arg(script)
            .args(["--upstream", upstream, "--dir", dir.path().to_str().expect("utf8")])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the TLS proxy");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("port");
        let port: u16 = line.trim().parse().unwrap_or_else(|_| panic!("TLS proxy printed {line:?}"));
        TlsProxy { child, url: format!("https://127.0.0.1:{port}/api"), dir }
    }

    fn ca(&self) -> String {
        self.dir.path().join("ca.pem").to_str().expect("utf8").to_string()
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private CA: untrusted by default (exit 3 with a hint), trusted via the CA settings, skippable.
#[test]
fn private_ca() {
    let s = harness::p3();
    let case = crate::doctor_real::setup_no_worker(s);
    let proxy = TlsProxy::start(&s.url);
    let args = ["doctor", case.run.id.as_str(), "--api-url", proxy.url.as_str(), "-o", "json"];

    let out = unstuck_env(&args, &[]);
    out.expect_code(3);
    assert!(out.stderr.contains("certificate") && out.stderr.contains("PREFECT_API_SSL_CERT_FILE"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);

    let ca = proxy.ca();
    for var in ["PREFECT_API_SSL_CERT_FILE", "SSL_CERT_FILE"] {
        let out = unstuck_env(&args, &[(var, ca.as_str())]);
        out.expect_code(2);
        assert_eq!(out.json()["verdict"]["primary"], "worker.none", "over HTTPS with {var}");
    }

    let out = unstuck_env(&args, &[("PREFECT_API_TLS_INSECURE_SKIP_VERIFY", "true")]);
    out.expect_code(2);
    assert!(out.stderr.contains("NOT verified"), "{}", out.stderr);
}
