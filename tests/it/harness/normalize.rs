//! Filters the unstable parts of output (ids, ports, times, durations, unique names) for snapshots.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

static FILTERS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "[UUID]"),
        (r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?", "[TIME]"),
        (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
        (r"\b\d{2}:\d{2}:\d{2}\b", "[HH:MM:SS]"),
        (r"\b(flow|dep|pool|nowork|offline|notpolled|paused|qpaused|deppaused|depmissing|orphan|late|crash|running|done|secret|csrf|slow|garbage|retry|proxy|bundle|[a-z]+)-[0-9a-f]{8}\b", "$1-[N]"),
        (r"\b\d+ ms\b", "[N] ms"),
        (r"\b\d+ requests\b", "[N] requests"),
        // Workers ship log lines in batches: how many arrived depends on timing.
        (r"\b\d+ log lines?\b", "[N] log lines"),
        (r"(<1s|\b\d+(d|h|m|s)( \d+(h|m|s))?)\b", "[DUR]"),
        (r"\b(pid|process) \d+\b", "$1 [PID]"),
        // The server's foreman updates the stored status every 15 s: when depends on timing.
        (r"stored status (ONLINE|OFFLINE)", "stored status [STATUS]"),
        // Prefect names runs at random ("grinning-chimera"); holders of slots are named too.
        (r"(?i)\b(run) '[a-z]+-[a-z]+'", "$1 '[RUN_NAME]'"),
    ]
    .into_iter()
    .map(|(re, with)| (Regex::new(re).expect("filter regex"), with))
    .collect()
});

pub fn text(s: &str) -> String {
    let mut out = s.to_string();
    for (re, with) in FILTERS.iter() {
        out = re.replace_all(&out, *with).into_owned();
    }
    out
}

/// Numbers and times that change between runs are replaced by their key's placeholder.
pub fn json(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match k.as_str() {
                        "generated_at" | "since" | "at" if !v.is_null() => Value::String("[TIME]".into()),
                        "seconds" | "millis" | "requests" | "seconds_in_state" | "oldest_seconds_late"
                            if !v.is_null() =>
                        {
                            Value::String("[N]".into())
                        }
                        _ => json(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(json).collect()),
        Value::String(s) => Value::String(text(s)),
        other => other.clone(),
    }
}

/// The JSON and the plain table of one scenario, normalised, as one snapshot.
pub fn snapshot(json_out: &str, table_out: &str) -> String {
    let v: Value = serde_json::from_str(json_out).expect("json output");
    format!(
        "== json ==\n{}\n== table ==\n{}",
        serde_json::to_string_pretty(&json(&v)).expect("pretty"),
        text(table_out)
    )
}
