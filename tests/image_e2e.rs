//! The operator's image as users deploy it: `hack/image.sh` builds it (a static binary, CA
//! certificates, the non-root user 65532, no shell), the same commit gives the same digest, and
//! the chart's pod runs from it under runc with exactly the chart's security context and its
//! ServiceAccount token mounted as a kubelet mounts it, managing a Database end to end.
//! Needs root (runc, umoci); `HTX_E2E_IMAGE` names a prebuilt image (see `support::Image`).

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use support::{
    HelmRelease, Image, PodContainer, PodIdentity, Stack, StackOptions, TOKEN_SECRET, TempDir,
    database_lifecycle, service_account_token,
};

const NONROOT: &str = "65532";
/// The compressed image may grow, but not by a base image or debug symbols.
const MAX_COMPRESSED_BYTES: u64 = 16 << 20;

/// Every file of `root` (not directories), relative to it.
fn files(root: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() && !path.is_symlink() {
                dirs.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap();
                found.insert(relative.to_string_lossy().into_owned());
            }
        }
    }
    found
}

#[test]
fn the_image_holds_the_operator_its_user_and_certificates_and_no_shell() {
    let image = Image::get();
    let config = image.config();
    assert_eq!(config["os"], "linux");
    assert_eq!(config["config"]["User"], format!("{NONROOT}:{NONROOT}"));
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/usr/local/bin/htx-operator"])
    );
    assert_eq!(config["config"]["Cmd"], serde_json::json!(["run"]));
    assert_eq!(config["created"], serde_json::Value::Null, "no timestamp");

    let layers = image.manifest()["layers"].as_array().unwrap().clone();
    let compressed: u64 = layers.iter().map(|l| l["size"].as_u64().unwrap()).sum();
    assert!(
        compressed <= MAX_COMPRESSED_BYTES,
        "the image is {compressed} bytes compressed"
    );

    let dir = TempDir::new("unpacked");
    image.unpack(&dir.0.join("bundle"));
    let root = dir.0.join("bundle/rootfs");
    let expected: BTreeSet<String> = [
        "etc/group",
        "etc/nsswitch.conf",
        "etc/passwd",
        "etc/ssl/certs/ca-certificates.crt",
        "usr/local/bin/htx-operator",
    ]
    .map(String::from)
    .into();
    assert_eq!(
        files(&root),
        expected,
        "nothing else: no shell, no libraries"
    );
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    assert!(
        passwd
            .lines()
            .any(|l| l.starts_with(&format!("nonroot:x:{NONROOT}:{NONROOT}:"))),
        "{passwd}"
    );
    let certificates = std::fs::read_to_string(root.join("etc/ssl/certs/ca-certificates.crt"))
        .expect("the CA certificates");
    assert!(certificates.matches("BEGIN CERTIFICATE").count() > 50);

    // The docker-archive beside the layout holds the same image under its repository and tag.
    let output = Command::new("tar")
        .arg("-xOf")
        .arg(image.archive())
        .arg("manifest.json")
        .output()
        .expect("tar runs");
    assert!(output.status.success(), "{}", image.archive().display());
    let manifest: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let tags = manifest[0]["RepoTags"].as_array().unwrap();
    assert!(
        tags[0]
            .as_str()
            .unwrap()
            .ends_with(&format!("/htx-operator:{}", image.tag())),
        "{manifest}"
    );
}

#[test]
fn the_same_commit_gives_the_same_digest() {
    // Two builds of this checkout, at different times (HTX_E2E_IMAGE may be older).
    let first = Image::build();
    let second = Image::build();
    assert_eq!(first.digest(), second.digest());
    assert_eq!(
        std::fs::read(first.archive()).unwrap(),
        std::fs::read(second.archive()).unwrap(),
        "the docker-archive differs"
    );
}

/// `/proc/PID/status`'s field `name`.
fn status_field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {status}"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// `GET path` as a kubelet's httpGet probe: success is a status from 200 to 399.
async fn probe(container: &PodContainer, path: &str) -> bool {
    let (status, _) = container.operator.get(path).await;
    (200..400).contains(&status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_charts_pod_runs_from_the_image_and_manages_a_database() {
    let image = Image::get();
    let stack = Stack::start_without_operator(StackOptions::default()).await;
    let ns = stack.ns.name().to_owned();
    let release = HelmRelease::install(
        &ns,
        &ns,
        &[format!("portal.tokenSecret.name=\"{TOKEN_SECRET}\"")],
    );
    let pod = release.pod_spec(&stack.client).await;
    let token = service_account_token(&stack.client, &ns, &release.fullname()).await;
    // The portal by name, not address: a static glibc must still read /etc/hosts.
    let portal = stack.sim.url().replace("127.0.0.1", "localhost");
    let mut args = vec!["run".to_owned()];
    args.extend(release.operator_args(&stack.client, &portal).await);
    // The ClusterRole allows every namespace; in this shared cluster it keeps to its own.
    args.push(format!("--namespace={ns}"));
    let pod_name = format!("{}-0", release.fullname());
    let identity = PodIdentity {
        name: &pod_name,
        namespace: &ns,
        token: &token,
    };
    let container = PodContainer::run(&stack, &image, &pod, &args, identity).await;

    // The chart's probes: they ask the port the operator serves on, and it answers them.
    let chart_container = &pod.containers[0];
    let metrics_port = chart_container
        .ports
        .iter()
        .flatten()
        .find(|port| port.name.as_deref() == Some("metrics"))
        .expect("the container names its metrics port")
        .container_port;
    assert!(
        chart_container
            .args
            .iter()
            .flatten()
            .any(|arg| *arg == format!("--metrics-addr=0.0.0.0:{metrics_port}")),
        "the operator serves the probes on the metrics port, on every address of the pod"
    );
    for chart_probe in [
        &chart_container.liveness_probe,
        &chart_container.readiness_probe,
    ] {
        let http = chart_probe.as_ref().unwrap().http_get.as_ref().unwrap();
        assert_eq!(
            serde_json::to_value(&http.port).unwrap(),
            "metrics",
            "the probes use the metrics port"
        );
    }
    let ready_path = chart_container.readiness_probe.as_ref().unwrap();
    let ready_path = ready_path.http_get.as_ref().unwrap().path.clone().unwrap();
    let live_path = chart_container.liveness_probe.as_ref().unwrap();
    let live_path = live_path.http_get.as_ref().unwrap().path.clone().unwrap();
    assert!(
        container
            .operator
            .wait_ready(Duration::from_secs(90))
            .await
            .contains("leader")
    );
    assert!(
        probe(&container, &ready_path).await,
        "readiness {ready_path}"
    );
    assert!(probe(&container, &live_path).await, "liveness {live_path}");
    let lease = Api::<Lease>::namespaced(stack.client.clone(), &ns)
        .get(&format!("{}-leader", release.fullname()))
        .await
        .expect("the operator took the chart's Lease");
    assert_eq!(
        lease.spec.unwrap().holder_identity.as_deref(),
        Some(pod_name.as_str()),
        "the Lease names the pod (POD_NAME)"
    );

    // Exactly the chart's pod security, as the kernel sees the process.
    let status = container.proc("status");
    let ids = [NONROOT; 4].join(" ");
    assert_eq!(status_field(&status, "Uid"), ids);
    assert_eq!(status_field(&status, "Gid"), ids);
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(status_field(&status, set), "0000000000000000", "{set}");
    }
    assert_eq!(status_field(&status, "NoNewPrivs"), "1");
    let mountinfo = container.proc("mountinfo");
    let root = mountinfo
        .lines()
        .map(|line| line.split(' ').collect::<Vec<_>>())
        .find(|fields| fields[4] == "/")
        .expect("the root mount");
    assert!(
        root[5].split(',').any(|option| option == "ro"),
        "the root filesystem is read-only: {root:?}"
    );

    database_lifecycle(&stack, &container.operator).await;
    eprintln!(
        "the operator's RSS in its container after a Database's life: {}",
        status_field(&container.proc("status"), "VmRSS")
    );

    release.uninstall();
    stack.finish().await;
    drop(container);
}
