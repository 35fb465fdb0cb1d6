//! Real output validates against the JSON Schemas in schemas/.

use std::path::Path;

use crate::harness::{self, unstuck};

const SCHEMA_BASE: &str = "https://github.com/unstuck/unstuck/schemas/";

fn schema_file(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {e}")))
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Resolves the schemas' `$id` URLs to the files in schemas/ (no network).
struct LocalSchemas;

impl jsonschema::Retrieve for LocalSchemas {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<serde_json::Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri.as_str().strip_prefix(SCHEMA_BASE).ok_or_else(|| format!("not one of ours: {uri}"))?;
        Ok(schema_file(name))
    }
}

pub fn validator(name: &str) -> jsonschema::Validator {
    let schema = schema_file(name);
    assert_eq!(schema["$id"], format!("{SCHEMA_BASE}{name}"), "$id of {name}");
    jsonschema::options()
        .with_retriever(LocalSchemas)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{name} is not a valid schema: {e}"))
}

#[track_caller]
pub fn assert_valid(v: &jsonschema::Validator, doc: &serde_json::Value) {
    let errors: Vec<String> = v.iter_errors(doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "schema violations: {errors:#?}\nin {doc}");
}

/// Every bundled report, and live reports from both servers, match schemas/doctor.schema.json.
#[test]
fn doctor_output_matches_schema() {
    let v = validator("doctor.schema.json");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join("bundles");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("bundles dir") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if !name.ends_with(".json") || name.ends_with(".report.json") {
            continue;
        }
        let out = unstuck(&["doctor", "--evidence", path.to_str().expect("utf8"), "-o", "json"]);
        assert_valid(&v, &out.json());
        checked += 1;
    }
    assert!(checked >= 4, "only {checked} bundles");
    for s in [harness::p3(), harness::p2()] {
        let case = crate::doctor_real::setup_no_worker(s);
        let out = s.unstuck(&["doctor", &case.run.id, "-o", "json"]);
        assert_valid(&v, &out.json());
    }
}

/// The schema rejects what it should (it is not vacuous).
#[test]
fn schema_rejects_bad_documents() {
    let v = validator("doctor.schema.json");
    let bad = serde_json::json!({"schema_version": 2, "tool": {"name": "x", "version": "1"}});
    assert!(!v.is_valid(&bad));
}
