//! deploy/ for `fess run`: the Kubernetes manifests and the systemd units hand the real `fess`
//! and `fess-exporter` command lines they take, files `fess run --check` accepts, and probe paths
//! the exporter answers; config/cameras.example.toml passes `fess run --check`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use serde_norway::Value;

use fess_testkit::{tmp_dir, verify_unit, workspace_binary, ExporterProcess};

const FESS: &str = env!("CARGO_BIN_EXE_fess");
/// The label Kubernetes (1.28+) puts on every StatefulSet pod: its ordinal.
const POD_INDEX_FIELD: &str = "metadata.labels['apps.kubernetes.io/pod-index']";
/// Variables of the manifests naming paths inside the image: this machine's defaults instead.
const IMAGE_PATHS: [&str; 3] = ["FESS_CACHE", "FESS_STATE", "GST_REGISTRY_1_0"];

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn test_dir(name: &str) -> PathBuf {
    let d = tmp_dir(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `fess ARGS --check` with `env` (and the plugin built beside `fess`): the ids of the cameras
/// it would run. Fails the test if the check fails.
fn check(args: &[String], env: &[(String, String)]) -> Vec<String> {
    let plugin_dir = Path::new(FESS).parent().unwrap();
    let out = Command::new(FESS)
        .args(args)
        .arg("--check")
        .env_remove("FESS_SHARD")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("GST_PLUGIN_PATH", plugin_dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "fess {args:?} --check with {env:?}:\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter(|l| !l.starts_with("no camera of this file"))
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect()
}

/// The `${NAME}`s a cameras file uses, each set to a dummy value.
fn dummy_variables(cameras: &str) -> Vec<(String, String)> {
    let names: BTreeSet<&str> = cameras
        .split("${")
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name))
        .collect();
    names
        .into_iter()
        .map(|n| (n.to_string(), format!("dummy-{n}")))
        .collect()
}

/// The camera ids of a cameras file, in file order.
fn camera_ids(cameras: &str) -> Vec<String> {
    let file: toml::Table = toml::from_str(cameras).expect("a TOML cameras file");
    file["camera"]
        .as_array()
        .expect("[[camera]] tables")
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// `args` with the cameras file (the argument ending in .toml) replaced by `file`.
fn with_cameras_file(args: &[String], file: &Path) -> Vec<String> {
    let mut replaced = 0;
    let out = args
        .iter()
        .map(|a| {
            if a.ends_with(".toml") {
                replaced += 1;
                file.display().to_string()
            } else {
                a.clone()
            }
        })
        .collect();
    assert_eq!(replaced, 1, "one cameras file in {args:?}");
    out
}

/// The value of `--flag V` or `--flag=V` in `args`.
fn flag(args: &[String], name: &str) -> Option<String> {
    let eq = format!("{name}=");
    args.iter().enumerate().find_map(|(i, a)| {
        if a == name {
            args.get(i + 1).cloned()
        } else {
            a.strip_prefix(&eq).map(String::from)
        }
    })
}

/// `fess run`'s stop timeout in `args` (its default when not given).
fn stop_timeout(args: &[String]) -> u64 {
    flag(args, "--stop-timeout").map_or(30, |v| v.parse().unwrap())
}

// --- Kubernetes -----------------------------------------------------------------------------

/// Every document of every YAML file in deploy/kubernetes/, by file name.
fn manifests() -> Vec<(String, Value)> {
    let dir = repo("deploy/kubernetes");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no manifests in {}", dir.display());
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        for doc in serde_norway::Deserializer::from_str(&text) {
            let value = Value::deserialize(doc).unwrap_or_else(|e| panic!("{name}: {e}"));
            docs.push((name.clone(), value));
        }
    }
    docs
}

fn of_kind(docs: &[(String, Value)], kind: &str) -> Value {
    let found: Vec<&Value> = docs
        .iter()
        .map(|(_, d)| d)
        .filter(|d| d["kind"].as_str() == Some(kind))
        .collect();
    assert_eq!(found.len(), 1, "one {kind} in deploy/kubernetes/");
    found[0].clone()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| s.iter().map(|x| x.as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

/// The entry called `name` of the pod template's list `list` (containers, volumes).
fn pod_item(set: &Value, list: &str, name: &str) -> Value {
    set["spec"]["template"]["spec"][list]
        .as_sequence()
        .unwrap_or_else(|| panic!("no {list}"))
        .iter()
        .find(|c| c["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {name} in {list}"))
        .clone()
}

fn container(set: &Value, name: &str) -> Value {
    pod_item(set, "containers", name)
}

/// The container's command line: command then args.
fn command_line(c: &Value) -> Vec<String> {
    let mut line = strings(&c["command"]);
    line.extend(strings(&c["args"]));
    line
}

/// The container's environment as the kubelet sets it in pod `index`: the pod-index label as
/// `index`, secrets as dummy values, `$(NAME)` expanded from the variables above it (a
/// reference to one below or unknown stays as it is, as Kubernetes leaves it).
fn pod_env(c: &Value, index: u64) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::new();
    for var in c["env"].as_sequence().into_iter().flatten() {
        let name = var["name"].as_str().unwrap().to_string();
        let value = if let Some(v) = var["value"].as_str() {
            env.iter().fold(v.to_string(), |v, (k, val)| {
                v.replace(&format!("$({k})"), val)
            })
        } else if let Some(field) = var["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            assert_eq!(field, POD_INDEX_FIELD, "{name}: an unexpected field");
            index.to_string()
        } else if let Some(key) = var["valueFrom"]["secretKeyRef"]["key"].as_str() {
            format!("dummy-{key}")
        } else {
            panic!("{name}: neither a value, the pod index nor a secret: {var:?}")
        };
        env.push((name, value));
    }
    env
}

fn env_value(c: &Value, name: &str) -> Option<String> {
    pod_env(c, 0)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// (volume name, mount path) of the container's mounts.
fn mounts(c: &Value) -> Vec<(String, String)> {
    c["volumeMounts"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["name"].as_str().unwrap().to_string(),
                m["mountPath"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn volume(set: &Value, name: &str) -> Value {
    pod_item(set, "volumes", name)
}

#[test]
fn every_kubernetes_manifest_parses_and_kustomize_lists_them() {
    let docs = manifests();
    for (file, doc) in &docs {
        assert!(
            doc["apiVersion"].as_str().is_some() && doc["kind"].as_str().is_some(),
            "{file}: a document without apiVersion or kind"
        );
    }
    let listed: BTreeSet<String> = strings(&of_kind(&docs, "Kustomization")["resources"])
        .into_iter()
        .collect();
    let files: BTreeSet<String> = docs
        .iter()
        .filter(|(_, d)| d["kind"].as_str() != Some("Kustomization"))
        .map(|(f, _)| f.clone())
        .collect();
    assert_eq!(listed, files, "kustomization.yaml's resources");
    let service = of_kind(&docs, "Service");
    let set = of_kind(&docs, "StatefulSet");
    assert_eq!(
        service["spec"]["clusterIP"].as_str(),
        Some("None"),
        "headless"
    );
    assert_eq!(set["spec"]["serviceName"], service["metadata"]["name"]);
}

#[test]
fn each_pod_runs_its_shard_of_the_configmap() {
    let docs = manifests();
    let set = of_kind(&docs, "StatefulSet");
    let config_map = of_kind(&docs, "ConfigMap");
    let fess = container(&set, "fess");
    let line = command_line(&fess);
    assert_eq!(line.first().map(String::as_str), Some("fess"), "{line:?}");
    let args = line[1..].to_vec();

    // The cameras file is the ConfigMap's key, where the ConfigMap's volume is mounted.
    let path = args
        .iter()
        .find(|a| a.ends_with(".toml"))
        .expect("a cameras file");
    let (dir, key) = path.rsplit_once('/').unwrap();
    let (volume_name, _) = mounts(&fess)
        .into_iter()
        .find(|(_, at)| at == dir)
        .unwrap_or_else(|| panic!("nothing is mounted at {dir}"));
    assert_eq!(
        volume(&set, &volume_name)["configMap"]["name"],
        config_map["metadata"]["name"]
    );
    let cameras = config_map["data"][key]
        .as_str()
        .unwrap_or_else(|| panic!("the ConfigMap has no key {key}"));
    let file = test_dir("deploy-k8s").join(key);
    std::fs::write(&file, cameras).unwrap();
    let args = with_cameras_file(&args, &file);

    // Every pod's shard: disjoint, together every camera, none empty (an exporter with no
    // camera reporting stays unhealthy, and its pod never ready).
    let replicas = set["spec"]["replicas"].as_u64().expect("replicas");
    let mut seen = Vec::new();
    for index in 0..replicas {
        let mut env = pod_env(&fess, index);
        let shard = env.iter().find(|(k, _)| k == "FESS_SHARD").map(|(_, v)| v);
        assert_eq!(shard, Some(&format!("{index}/{replicas}")), "FESS_SHARD");
        env.retain(|(k, _)| !IMAGE_PATHS.contains(&k.as_str()));
        let ids = check(&args, &env);
        assert!(!ids.is_empty(), "shard {index}/{replicas} has no camera");
        seen.extend(ids);
    }
    seen.sort();
    let mut all = camera_ids(cameras);
    all.sort();
    assert_eq!(seen, all);

    let grace = set["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("terminationGracePeriodSeconds");
    assert!(
        grace > stop_timeout(&args),
        "the grace period ends the flush"
    );
}

#[test]
fn the_exporter_sidecar_takes_its_args_and_answers_the_probes() {
    let set = of_kind(&manifests(), "StatefulSet");
    let exporter = container(&set, "fess-exporter");
    let line = command_line(&exporter);
    assert_eq!(
        line.first().map(String::as_str),
        Some("fess-exporter"),
        "{line:?}"
    );
    let args = line[1..].to_vec();
    let out = Command::new(workspace_binary("fess-exporter"))
        .args(&args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "fess-exporter {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let listen = flag(&args, "--listen").expect("--listen (the default is loopback only)");
    let port: u64 = listen.rsplit_once(':').unwrap().1.parse().unwrap();
    let named = |name: &str| {
        exporter["ports"]
            .as_sequence()
            .into_iter()
            .flatten()
            .find(|p| p["name"].as_str() == Some(name))
            .and_then(|p| p["containerPort"].as_u64())
    };
    let mut paths = Vec::new();
    for probe in ["livenessProbe", "readinessProbe"] {
        let get = &exporter[probe]["httpGet"];
        let probe_port = get["port"]
            .as_u64()
            .or_else(|| get["port"].as_str().and_then(named));
        assert_eq!(probe_port, Some(port), "{probe}'s port is not --listen's");
        paths.push(get["path"].as_str().expect("a probe path").to_string());
    }

    // A real exporter with the manifest's arguments (its own address instead of --listen's
    // port), answering as a healthy pod's: this test has no Kafka, Redis or camera.
    let mut own: Vec<&str> = Vec::new();
    let mut skip = false;
    for a in &args {
        if std::mem::take(&mut skip) || a.starts_with("--listen=") {
            continue;
        }
        skip = a == "--listen";
        if !skip {
            own.push(a.as_str());
        }
    }
    own.extend(["--no-redis", "--no-kafka", "--min-cameras", "0"]);
    let ex = ExporterProcess::start("k8s-sidecar", &own);
    for path in &paths {
        let answer = ex.get(path);
        assert_eq!(answer.status, 200, "GET {path}: {}", answer.body);
    }
}

#[test]
fn the_containers_share_the_stats_socket() {
    let set = of_kind(&manifests(), "StatefulSet");
    let (fess, exporter) = (container(&set, "fess"), container(&set, "fess-exporter"));
    let socket = env_value(&fess, "FESS_STATS_SOCKET").expect("FESS_STATS_SOCKET in fess");
    assert_eq!(
        env_value(&exporter, "FESS_STATS_SOCKET").as_ref(),
        Some(&socket),
        "the exporter listens where fess sends"
    );
    let folder = Path::new(&socket).parent().unwrap();
    let shared = |c: &Value| {
        mounts(c)
            .into_iter()
            .find(|(_, at)| folder.starts_with(at))
            .unwrap_or_else(|| panic!("{socket} is on no volume of {:?}", c["name"]))
    };
    let (volume_name, at) = shared(&fess);
    assert_eq!(shared(&exporter), (volume_name.clone(), at.clone()));
    assert!(volume(&set, &volume_name)["emptyDir"].is_mapping());
    // An emptyDir is writable by all, a folder the exporter refuses: the socket needs a folder
    // of its own below it.
    assert_ne!(
        folder,
        Path::new(&at),
        "the socket sits in the emptyDir itself"
    );
}

// --- systemd and the example ----------------------------------------------------------------

#[test]
fn the_fess_run_units_verify_and_their_command_lines_check_the_example() {
    let example = repo("config/cameras.example.toml");
    let env = dummy_variables(&std::fs::read_to_string(&example).unwrap());
    let all = check(&["run".to_string(), example.display().to_string()], &env);

    let unit = repo("deploy/fess-run.service");
    let args = verify_unit(&unit, "/usr/local/bin/fess", Path::new(FESS));
    assert_eq!(check(&with_cameras_file(&args, &example), &env), all);
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains("\nExecReload=/bin/kill -HUP $MAINPID\n"),
        "{text}"
    );
    assert_spool_in_state(&text);
    let stop: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .expect("TimeoutStopSec")
        .parse()
        .unwrap();
    assert!(
        stop > stop_timeout(&args),
        "systemd kills before the flush ends"
    );

    // The template: the instance systemd-escape makes of 0/3 comes back as 0/3 through %I.
    let template = repo("deploy/fess-run@.service");
    let args = verify_unit(&template, "/usr/local/bin/fess", Path::new(FESS));
    let text = std::fs::read_to_string(&template).unwrap();
    assert!(text.contains("\nEnvironment=FESS_SHARD=%I\n"), "{text}");
    assert_spool_in_state(&text);
    let escape = |args: &[&str]| {
        let out = Command::new("systemd-escape").args(args).output().unwrap();
        assert!(out.status.success(), "systemd-escape {args:?}");
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let instance = escape(&["--template", "fess-run@.service", "0/3"]);
    assert_eq!(instance, "fess-run@0-3.service");
    let shard = escape(&["--unescape", "--instance", &instance]);
    assert_eq!(shard, "0/3");
    let mut shard_env = env.clone();
    shard_env.push(("FESS_SHARD".into(), shard));
    let ids = check(&with_cameras_file(&args, &example), &shard_env);
    assert!(
        !ids.is_empty() && ids.len() < all.len() && ids.iter().all(|id| all.contains(id)),
        "shard 0/3 of {all:?}: {ids:?}"
    );
}

/// The spools in /var/lib/fess, which systemd makes (and keeps across reboots); the models in
/// the cache, which it may clean.
fn assert_spool_in_state(unit: &str) {
    for line in [
        "StateDirectory=fess",
        "Environment=FESS_STATE=/var/lib/fess",
        "CacheDirectory=fess",
        "Environment=FESS_CACHE=/var/cache/fess",
    ] {
        assert!(unit.contains(&format!("\n{line}\n")), "{line} in {unit}");
    }
}

#[test]
fn the_example_cameras_file_passes_check() {
    let example = repo("config/cameras.example.toml");
    let text = std::fs::read_to_string(&example).unwrap();
    let env = dummy_variables(&text);
    assert!(
        env.len() >= 2,
        "the example's passwords come from variables"
    );
    let ids = check(&["run".to_string(), example.display().to_string()], &env);
    assert_eq!(ids, camera_ids(&text));
}
