//! Human formatting of durations and ages, shared by checks and renderers.

use std::time::Duration;

use jiff::SignedDuration;

/// "45s", "14m 2s", "3h 5m", "2d 3h": two units at most, rounded down.
pub fn human(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return if d.is_zero() { "0s".into() } else { "<1s".into() };
    }
    let (days, hours, mins, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match (days, hours, mins) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) if s == 0 => format!("{m}m"),
        (0, 0, m) => format!("{m}m {s}s"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// The magnitude of a signed duration, humanised.
pub fn human_signed(d: SignedDuration) -> String {
    human(d.unsigned_abs())
}

/// "1 worker", "3 workers".
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// "3s ago".
/// The first `max` items joined with ", ", and how many more: `a, b, c and 4 more`.
pub fn list(items: &[&str], max: usize) -> String {
    match items.len().checked_sub(max) {
        Some(more) if more > 0 => format!("{} and {more} more", items[..max].join(", ")),
        _ => items.join(", "),
    }
}

pub fn ago(d: Duration) -> String {
    format!("{} ago", human(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let s = Duration::from_secs;
        assert_eq!(human(s(0)), "0s");
        assert_eq!(human(Duration::from_millis(300)), "<1s");
        assert_eq!(human(s(45)), "45s");
        assert_eq!(human(s(300)), "5m");
        assert_eq!(human(s(842)), "14m 2s");
        assert_eq!(human(s(3600 * 3 + 300 + 9)), "3h 5m");
        assert_eq!(human(s(86_400 * 2 + 3600 * 3)), "2d 3h");
        assert_eq!(ago(s(3)), "3s ago");
    }
}
