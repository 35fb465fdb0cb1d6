//! Real output validates against the JSON Schemas in schemas/.

use std::path::Path;

use crate::harness::{self, unstuck};

pub fn validator(name: &str) -> jsonschema::Validator {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas").join(name);
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("schema file")).expect("schema JSON");
    jsonschema::validator_for(&schema).unwrap_or_else(|e| panic!("{name} is not a valid schema: {e}"))
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
