//! The CRDs on a current Kubernetes API server (`hack/current-apiserver.sh`, 1.36): every
//! validation rule refuses what it should with its message (the cases in
//! `tests/admission/cases.yaml`, one at least per rule of every CRD), every file of `examples/`
//! is stored by server-side apply together with a status, and a current kubectl shows the
//! printer columns, short names and categories and explains every kind.
//!
//! The server has no core API, so namespaces are just names here: each case and test uses its
//! own, never created.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use htx_operator::api::{crds, rules};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde::Deserialize;
use serde_json::{Value, json};
use support::{current_client, current_kubectl, install_crds, unique_name};

/// One case of `tests/admission/cases.yaml` (its header explains the fields).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Case {
    kind: String,
    rule: String,
    object: Value,
    #[serde(default)]
    status: Option<Value>,
    #[serde(default)]
    refused_changes: Vec<Value>,
    #[serde(default)]
    allowed_changes: Vec<Value>,
    #[serde(default)]
    refused_creates: Vec<Value>,
    #[serde(default)]
    allowed_creates: Vec<Value>,
}

impl Case {
    fn refuses_something(&self) -> bool {
        !self.refused_changes.is_empty() || !self.refused_creates.is_empty()
    }
}

fn cases() -> Vec<Case> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/admission/cases.yaml");
    let text = std::fs::read_to_string(&path).expect("tests/admission/cases.yaml exists");
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn crd_of(kind: &str) -> CustomResourceDefinition {
    crds()
        .into_iter()
        .find(|crd| crd.spec.names.kind == kind)
        .unwrap_or_else(|| panic!("no CRD of kind {kind}"))
}

/// Every rule of every CRD has a message of its own there and a case that it refuses, and every
/// case names a rule its kind has.
#[test]
fn every_rule_has_a_case() {
    let cases = cases();
    let mut missing = Vec::new();
    for crd in crds() {
        let kind = &crd.spec.names.kind;
        let mut messages = BTreeSet::new();
        for rule in rules::rules_of(&crd) {
            let message = rule.message.unwrap_or_default();
            assert!(
                messages.insert(message.clone()),
                "two rules of {kind} have the message {message:?}: a case could not tell them apart"
            );
            let covered = cases
                .iter()
                .any(|c| &c.kind == kind && c.rule == message && c.refuses_something());
            if !covered {
                missing.push(format!("{kind}: {message}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "rules without a case that they refuse in tests/admission/cases.yaml:\n{}",
        missing.join("\n")
    );
    for case in &cases {
        let messages: Vec<String> = rules::rules_of(&crd_of(&case.kind))
            .into_iter()
            .filter_map(|rule| rule.message)
            .collect();
        assert!(
            messages.contains(&case.rule),
            "tests/admission/cases.yaml names a rule {} does not have: {}",
            case.kind,
            case.rule
        );
    }
}

/// The current server with the CRDs installed (idempotent across test processes).
async fn server() -> Client {
    let client = current_client().await;
    install_crds(&client, crds()).await;
    client
}

fn api_of(client: &Client, kind: &str, namespace: &str) -> Api<DynamicObject> {
    let crd = crd_of(kind);
    let resource = ApiResource {
        group: crd.spec.group.clone(),
        version: crd.spec.versions[0].name.clone(),
        api_version: format!("{}/{}", crd.spec.group, crd.spec.versions[0].name),
        kind: kind.to_owned(),
        plural: crd.spec.names.plural.clone(),
    };
    Api::namespaced_with(client.clone(), namespace, &resource)
}

/// RFC 7386: `patch` merged into `target`.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    merge(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

fn object_of(case: &Case, default_name: &str, patch: &Value) -> DynamicObject {
    let crd = crd_of(&case.kind);
    let mut object = json!({
        "apiVersion": format!("{}/{}", crd.spec.group, crd.spec.versions[0].name),
        "kind": case.kind,
        "metadata": {"name": default_name},
    });
    merge(&mut object, &case.object);
    merge(&mut object, patch);
    serde_json::from_value(object).expect("a case's object is an object")
}

/// A change through the object or, when it has `status`, through the status subresource.
async fn change(api: &Api<DynamicObject>, name: &str, patch: &Value) -> Result<(), kube::Error> {
    let params = PatchParams::default();
    if patch.get("status").is_some() {
        api.patch_status(name, &params, &Patch::Merge(patch))
            .await?;
    } else {
        api.patch(name, &params, &Patch::Merge(patch)).await?;
    }
    Ok(())
}

/// What is wrong with a refusal: `None` when it is the rule's own (422 with its message).
fn wrong_refusal(result: Result<(), kube::Error>, rule: &str) -> Option<String> {
    match result {
        Ok(()) => Some("it was accepted".to_owned()),
        Err(kube::Error::Api(status)) if status.code == 422 && status.message.contains(rule) => {
            None
        }
        Err(error) => Some(format!("refused, but not by the rule: {error}")),
    }
}

/// Runs one case; the list of what went wrong.
async fn run_case(client: &Client, index: usize, case: &Case) -> Vec<String> {
    let namespace = unique_name(&format!("case-{index}"));
    let api = api_of(client, &case.kind, &namespace);
    let valid = object_of(case, "valid", &json!({}));
    let name = valid.metadata.name.clone().expect("named");
    let mut problems = Vec::new();
    if let Err(error) = api.create(&PostParams::default(), &valid).await {
        return vec![format!("the valid object is refused: {error}")];
    }
    if let Some(status) = &case.status
        && let Err(error) = change(&api, &name, &json!({ "status": status })).await
    {
        return vec![format!("its status is refused: {error}")];
    }
    for patch in &case.refused_changes {
        let before = api.get(&name).await.expect("the object is stored");
        if let Some(wrong) = wrong_refusal(change(&api, &name, patch).await, &case.rule) {
            problems.push(format!("change {patch}: {wrong}"));
        }
        let after = api.get(&name).await.expect("the object is stored");
        if after.metadata.resource_version != before.metadata.resource_version {
            problems.push(format!("change {patch}: the object changed all the same"));
        }
    }
    for patch in &case.allowed_changes {
        if let Err(error) = change(&api, &name, patch).await {
            problems.push(format!("change {patch} is refused: {error}"));
        }
    }
    for (j, patch) in case.refused_creates.iter().enumerate() {
        let object = object_of(case, &format!("refused-{j}"), patch);
        let result = api.create(&PostParams::default(), &object).await.map(drop);
        if let Some(wrong) = wrong_refusal(result, &case.rule) {
            problems.push(format!("create with {patch}: {wrong}"));
        }
    }
    for (j, patch) in case.allowed_creates.iter().enumerate() {
        let object = object_of(case, &format!("allowed-{j}"), patch);
        if let Err(error) = api.create(&PostParams::default(), &object).await {
            problems.push(format!("create with {patch} is refused: {error}"));
        }
    }
    problems
}

/// Each case: its valid object is stored, each refused change or create is refused with the
/// rule's message and stores nothing, each allowed one passes.
#[tokio::test]
async fn every_rule_refuses_its_cases_with_its_message() {
    let client = server().await;
    let cases = cases();
    let results = futures::future::join_all(
        cases
            .iter()
            .enumerate()
            .map(|(i, c)| run_case(&client, i, c)),
    )
    .await;
    let mut failures = Vec::new();
    for (case, problems) in cases.iter().zip(results) {
        let verdict = if problems.is_empty() { "ok" } else { "FAILED" };
        println!("{verdict}: {} / {}", case.kind, case.rule);
        failures.extend(
            problems
                .into_iter()
                .map(|p| format!("{} / {}: {p}", case.kind, case.rule)),
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

const ENGINE_RULE: &str = "engine cannot change: the portal cannot move a database to another engine; create a new Database instead";

fn database_yaml(namespace: &str, engine: &str) -> String {
    format!(
        "apiVersion: htx.vinacis.com/v1alpha1\nkind: Database\nmetadata:\n  name: orders\n  namespace: {namespace}\nspec:\n  engine: {engine}\n  sku: db-s-1vcpu-2gb\n"
    )
}

/// What a user sees: `kubectl apply` of a changed engine is refused with the rule's message, by
/// client-side and by server-side apply, and the stored object keeps its engine.
#[tokio::test]
async fn kubectl_apply_of_a_changed_engine_says_why() {
    server().await;
    for mode in ["--server-side=false", "--server-side=true"] {
        let namespace = unique_name("kubectl-apply");
        let (ok, _, stderr) = current_kubectl(
            &["apply", mode, "-f", "-"],
            Some(&database_yaml(&namespace, "postgresql")),
        );
        assert!(ok, "kubectl apply {mode} of a Database: {stderr}");
        let (ok, stdout, stderr) = current_kubectl(
            &["apply", mode, "-f", "-"],
            Some(&database_yaml(&namespace, "mysql")),
        );
        assert!(
            !ok,
            "kubectl apply {mode} of a changed engine passed: {stdout}"
        );
        assert!(
            stderr.contains(ENGINE_RULE) && stderr.contains("spec.engine"),
            "kubectl apply {mode} does not say why: {stderr}"
        );
        let (_, engine, _) = current_kubectl(
            &[
                "get",
                "-n",
                &namespace,
                "database",
                "orders",
                "-o",
                "jsonpath={.spec.engine}",
            ],
            None,
        );
        assert_eq!(engine, "postgresql", "{mode}");
    }
}

/// Every document of every file in `examples/`.
fn examples() -> Vec<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut documents = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for document in serde_norway::Deserializer::from_str(&text) {
            let value =
                Value::deserialize(document).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            if !value.is_null() {
                documents.push(value);
            }
        }
    }
    documents
}

/// `kubectl apply --server-side -f examples/` into `namespace`.
fn apply_examples(namespace: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let (ok, stdout, stderr) = current_kubectl(
        &[
            "apply",
            "--server-side",
            "-n",
            namespace,
            "-f",
            dir.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        ok,
        "kubectl apply --server-side -f examples/: {stdout}{stderr}"
    );
}

fn kind_and_name(example: &Value) -> (String, String) {
    let kind = example["kind"].as_str().expect("an example has a kind");
    let name = example["metadata"]["name"]
        .as_str()
        .expect("an example has a name");
    (kind.to_owned(), name.to_owned())
}

/// The status the operator would write for a Ready object, by server-side apply on the status
/// subresource under its field manager.
async fn write_ready_status(client: &Client, namespace: &str, example: &Value) -> DynamicObject {
    let (kind, name) = kind_and_name(example);
    let status = json!({
        "apiVersion": example["apiVersion"],
        "kind": kind,
        "status": {
            "observedGeneration": 1,
            "conditions": [{
                "type": "Ready",
                "status": "True",
                "reason": "Available",
                "message": "written by tests/admission.rs",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
                "observedGeneration": 1
            }]
        }
    });
    api_of(client, &kind, namespace)
        .patch_status(
            &name,
            &PatchParams::apply("htx-operator").force(),
            &Patch::Apply(&status),
        )
        .await
        .unwrap_or_else(|e| panic!("the status of {kind} {name} is refused: {e}"))
}

/// Every example is stored as written by `kubectl apply --server-side`, takes a status by
/// server-side apply on the status subresource, and every kind has an example.
#[tokio::test]
async fn every_example_is_stored_by_server_side_apply_with_its_status() {
    let client = server().await;
    let namespace = unique_name("examples");
    apply_examples(&namespace);
    let examples = examples();
    for example in &examples {
        let (kind, name) = kind_and_name(example);
        let stored = api_of(&client, &kind, &namespace).get(&name).await.unwrap();
        assert_eq!(stored.data["spec"], example["spec"], "{kind} {name}");
        let written = write_ready_status(&client, &namespace, example).await;
        assert_eq!(
            written.data["status"]["conditions"][0]["reason"],
            "Available"
        );
        assert_eq!(
            written.data["spec"], example["spec"],
            "{kind} {name}: the spec is kept"
        );
        let managers: Vec<_> = written
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .map(|f| (f.manager.as_deref(), f.subresource.as_deref()))
            .collect();
        assert!(
            managers.contains(&(Some("htx-operator"), Some("status"))),
            "{kind} {name}: {managers:?}"
        );
    }
    let example_kinds: BTreeSet<String> = examples.iter().map(|e| kind_and_name(e).0).collect();
    for crd in crds() {
        assert!(
            example_kinds.contains(&crd.spec.names.kind),
            "examples/ has no {}: add one",
            crd.spec.names.kind
        );
    }
}

/// The cells of a table that `kubectl get` printed, cut where the header's columns start (a cell
/// may be empty).
fn table_cells(table: &str) -> Vec<Vec<String>> {
    let header = table.lines().next().unwrap_or_default();
    let starts: Vec<usize> = header
        .char_indices()
        .filter(|&(i, c)| c != ' ' && (i == 0 || header.as_bytes()[i - 1] == b' '))
        .map(|(i, _)| i)
        .collect();
    table
        .lines()
        .map(|line| {
            starts
                .iter()
                .enumerate()
                .map(|(k, &start)| {
                    let end = starts
                        .get(k + 1)
                        .copied()
                        .unwrap_or(line.len())
                        .min(line.len());
                    line.get(start.min(end)..end)
                        .unwrap_or_default()
                        .trim()
                        .to_owned()
                })
                .collect()
        })
        .collect()
}

/// `kubectl get` shows each kind's printer columns (Ready from the status), finds the examples
/// by every short name and by category, and `kubectl explain` documents the kind and every field
/// of its spec.
#[tokio::test]
async fn kubectl_shows_and_explains_every_kind() {
    let client = server().await;
    let namespace = unique_name("kubectl");
    apply_examples(&namespace);
    let examples = examples();
    for example in &examples {
        write_ready_status(&client, &namespace, example).await;
    }
    let kubectl = |args: &[&str]| {
        let (ok, stdout, stderr) = current_kubectl(args, None);
        assert!(ok, "kubectl {}: {stderr}", args.join(" "));
        stdout
    };
    for crd in crds() {
        let names = &crd.spec.names;
        let version = &crd.spec.versions[0];
        let mine: Vec<String> = examples
            .iter()
            .map(kind_and_name)
            .filter(|(kind, _)| *kind == names.kind)
            .map(|(_, name)| name)
            .collect();

        let table = kubectl(&["get", &names.plural, "-n", &namespace]);
        let rows = table_cells(&table);
        let columns = version.additional_printer_columns.iter().flatten();
        let expected: Vec<String> = std::iter::once("NAME".to_owned())
            .chain(columns.map(|c| c.name.to_uppercase()))
            .collect();
        assert_eq!(rows[0], expected, "kubectl get {}:\n{table}", names.plural);
        let ready_column = rows[0].iter().position(|c| c == "READY");
        for name in &mine {
            let row = rows
                .iter()
                .find(|cells| cells[0] == *name)
                .unwrap_or_else(|| {
                    panic!("kubectl get {} lists no {name}:\n{table}", names.plural)
                });
            if let Some(ready) = ready_column {
                assert_eq!(row[ready], "True", "{}:\n{table}", names.kind);
            }
        }

        let expected_names: BTreeSet<String> = mine
            .iter()
            .map(|name| format!("{}.{}/{name}", names.kind.to_lowercase(), crd.spec.group))
            .collect();
        let short_names = names.short_names.iter().flatten();
        let categories = names.categories.iter().flatten();
        for alias in short_names.chain(categories) {
            let listed = kubectl(&["get", alias, "-n", &namespace, "-o", "name"]);
            let listed: BTreeSet<String> = listed.lines().map(str::to_owned).collect();
            assert!(
                expected_names.is_subset(&listed),
                "kubectl get {alias} lists {listed:?}, not {expected_names:?}"
            );
        }

        let explained = kubectl(&["explain", &names.plural]);
        let description = version
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .and_then(|s| s.description.clone())
            .unwrap_or_default();
        let first_words: String = description
            .split_whitespace()
            .take(6)
            .collect::<Vec<_>>()
            .join(" ");
        assert!(
            explained
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .contains(&first_words),
            "kubectl explain {} does not show the kind's description:\n{explained}",
            names.plural
        );
        let spec = kubectl(&["explain", &format!("{}.spec", names.plural)]);
        let fields = version
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref())
            .and_then(|s| s.properties.as_ref())
            .and_then(|p| p.get("spec"))
            .and_then(|s| s.properties.clone())
            .unwrap_or_default();
        for field in fields.keys() {
            assert!(
                spec.lines()
                    .any(|line| line.trim_start().starts_with(&format!("{field}\t"))
                        || line.trim_start().starts_with(&format!("{field} "))),
                "kubectl explain {}.spec does not list {field}:\n{spec}",
                names.plural
            );
        }
    }
}
