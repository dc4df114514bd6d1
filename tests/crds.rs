//! `crds/` must be what the code generates: regenerate with `hack/update-crds.sh`.

use std::path::Path;

#[test]
fn checked_in_crds_match_the_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds");
    let mut expected_files = Vec::new();
    for (name, yaml) in htx_operator::api::crd_files(&htx_operator::api::crds()) {
        let path = dir.join(&name);
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == yaml,
            "{} is out of date with the code: run hack/update-crds.sh and commit the result",
            path.display()
        );
        expected_files.push(name);
    }
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .expect("crds/ exists")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    present.sort();
    expected_files.sort();
    assert_eq!(
        present, expected_files,
        "crds/ holds a CRD the code no longer defines"
    );
}
