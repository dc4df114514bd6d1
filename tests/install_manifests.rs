//! The CRDs ship three times: `crds/`, the Helm chart's `crds/` and kustomize's `config/crd`.
//! All must be what the code generates (`hack/update-crds.sh` rewrites them).

use std::path::Path;

fn yaml_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".yaml"))
        .collect();
    names.sort();
    names
}

fn assert_same_crds(dir: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut expected = Vec::new();
    for (name, yaml) in htx_operator::api::crd_files(&htx_operator::api::crds()) {
        let on_disk = std::fs::read_to_string(dir.join(&name)).unwrap_or_default();
        assert!(
            on_disk == yaml,
            "{} is out of date with the code: run hack/update-crds.sh and commit the result",
            dir.join(&name).display()
        );
        expected.push(name);
    }
    expected.sort();
    assert_eq!(
        yaml_files(&dir),
        expected,
        "{} holds other CRDs than the code defines: run hack/update-crds.sh",
        dir.display()
    );
}

#[test]
fn the_chart_ships_the_generated_crds() {
    assert_same_crds("charts/htx-operator/crds");
}

#[test]
fn kustomize_ships_the_generated_crds() {
    assert_same_crds("config/crd/bases");
    let kustomization = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("config/crd/kustomization.yaml"),
    )
    .expect("config/crd/kustomization.yaml exists");
    for (name, _) in htx_operator::api::crd_files(&htx_operator::api::crds()) {
        assert!(
            kustomization.contains(&format!("- bases/{name}\n")),
            "config/crd/kustomization.yaml does not list {name}: run hack/update-crds.sh"
        );
    }
}
