//! Shell quoting for the copy-pasteable commands in findings (`aws ecs describe-tasks --cluster 'my cluster'`).
//! Stands in for the repo's `src/shell.rs` (which uses shlex); same contract.

/// Quotes a value for a POSIX shell: unchanged when it is plainly safe, single-quoted otherwise.
pub fn sh(s: &str) -> String {
    let s = s.replace('\0', "");
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@=,+%".contains(c))
    {
        s
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ARNs and plain names stay as they are; spaces, quotes and empty strings are quoted.
    #[test]
    fn shell_quoting() {
        assert_eq!(
            sh("arn:aws:ecs:us-east-1:123456789012:task/prefect/abc"),
            "arn:aws:ecs:us-east-1:123456789012:task/prefect/abc"
        );
        assert_eq!(sh("prefect-flows:7"), "prefect-flows:7");
        assert_eq!(sh("my cluster"), "'my cluster'");
        assert_eq!(sh("it's"), r"'it'\''s'");
        assert_eq!(sh(""), "''");
        assert_eq!(sh("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(sh("nul\0byte"), "nulbyte");
    }
}
