//! Shell quoting for the copy-pasteable commands in findings (`kubectl describe pod 'my pod'`).

/// Quotes a value for a POSIX shell: unchanged when it is plainly safe, single-quoted otherwise.
pub fn sh(s: &str) -> String {
    // shlex leaves safe words alone and quotes the rest; it refuses only strings with a NUL byte,
    // which no Prefect or Kubernetes name can hold: drop those bytes rather than fail.
    match shlex::try_quote(s) {
        Ok(q) => q.into_owned(),
        Err(_) => shlex::try_quote(&s.replace('\0', "")).map(|q| q.into_owned()).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Safe words stay as they are; spaces, quotes and empty strings are quoted so a shell reads them back.
    #[test]
    fn shell_quoting() {
        assert_eq!(sh("k8s-pool"), "k8s-pool");
        assert_eq!(sh("prefect-jobs/diag:1"), "prefect-jobs/diag:1");
        for s in ["my pool", "it's", "", "a\"b", "$(rm -rf /)", "x\ny"] {
            let q = sh(s);
            assert_eq!(shlex::split(&q), Some(vec![s.to_string()]), "{s:?} quoted as {q:?}");
        }
        assert_eq!(sh("nul\0byte"), "nulbyte");
    }
}
