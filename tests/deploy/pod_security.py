"""Offline checks of pod specs: the PodSecurity "restricted" profile, and the platform's own
hardening rules on top of it.

`restricted_violations` implements the published Pod Security Standards
(kubernetes.io/docs/concepts/security/pod-security-standards, policy version 1.32: every
"baseline" control plus the "restricted" ones), the rules the PodSecurity admission
controller enforces on a namespace labelled `pod-security.kubernetes.io/enforce: restricted`.
Each violation names its control as the admission controller's check IDs do. Conservative:
the relaxations for Windows pods and for user-namespaced pods (`hostUsers: false`) are not
applied (the platform uses neither), so this never passes a pod the controller would refuse.

`hardening_violations` adds what the platform requires beyond the profile: read-only root
filesystems, writable storage only as size-limited emptyDir volumes, requests and limits for
cpu and memory on every container, a dedicated service account and no service-account token
unless the pod is expected to call the API.

Manifests are API JSON (camelCase), as `helm template`, `kubectl` and
`ApiClient.sanitize_for_serialization` produce them.
"""

from __future__ import annotations

from collections.abc import Iterator

from kubernetes.utils import parse_quantity

CONTAINER_KINDS = ("initContainers", "containers", "ephemeralContainers")
BASELINE_CAPABILITIES = {
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
SECCOMP_ALLOWED = {"RuntimeDefault", "Localhost"}
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController"}


def pod_templates(manifest: dict) -> Iterator[tuple[str, dict, dict]]:
    """(where, pod metadata, pod spec) of every pod a manifest creates."""
    kind = manifest.get("kind")
    name = f"{kind}/{(manifest.get('metadata') or {}).get('name')}"
    if kind == "Pod":
        yield name, manifest.get("metadata") or {}, manifest["spec"]
    elif kind in WORKLOAD_KINDS:
        template = manifest["spec"]["template"]
        yield name, template.get("metadata") or {}, template["spec"]
    elif kind == "CronJob":
        template = manifest["spec"]["jobTemplate"]["spec"]["template"]
        yield name, template.get("metadata") or {}, template["spec"]


def containers(spec: dict) -> Iterator[dict]:
    for kind in CONTAINER_KINDS:
        yield from spec.get(kind) or []


def _sc(obj: dict) -> dict:
    return obj.get("securityContext") or {}


def _named(container: dict) -> str:
    return f"container {container.get('name')!r}"


def restricted_violations(metadata: dict, spec: dict) -> list[str]:
    """Violations of PodSecurity "restricted" (which includes "baseline"); empty: admitted."""
    found: list[str] = []
    pod_sc = _sc(spec)
    every = list(containers(spec))

    # --- baseline -------------------------------------------------------------------
    if (pod_sc.get("windowsOptions") or {}).get("hostProcess") or any(
        (_sc(c).get("windowsOptions") or {}).get("hostProcess") for c in every
    ):
        found.append("hostProcess: windowsOptions.hostProcess must not be true")
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            found.append(f"hostNamespaces: {field} must not be true")
    for c in every:
        sc = _sc(c)
        if sc.get("privileged"):
            found.append(f"privileged: {_named(c)} must not set privileged=true")
        added = set((sc.get("capabilities") or {}).get("add") or [])
        if added - BASELINE_CAPABILITIES:
            found.append(f"capabilities_baseline: {_named(c)} adds {sorted(added - BASELINE_CAPABILITIES)}")
        if any(port.get("hostPort") for port in c.get("ports") or []):
            found.append(f"hostPorts: {_named(c)} must not use hostPort")
        if sc.get("procMount", "Default") != "Default":
            found.append(f"procMount: {_named(c)} must use the Default procMount")
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            found.append(f"hostPathVolumes: volume {volume.get('name')!r} is a hostPath")
    for key, value in (metadata.get("annotations") or {}).items():
        if key.startswith(APPARMOR_ANNOTATION) and value != "runtime/default" and not value.startswith("localhost/"):
            found.append(f"appArmorProfile: annotation {key}={value!r}")
    for owner, sc in [("pod", pod_sc), *((_named(c), _sc(c)) for c in every)]:
        apparmor = (sc.get("appArmorProfile") or {}).get("type")
        if apparmor is not None and apparmor not in ("RuntimeDefault", "Localhost"):
            found.append(f"appArmorProfile: {owner} sets appArmorProfile.type={apparmor!r}")
        selinux = sc.get("seLinuxOptions") or {}
        if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
            found.append(f"seLinuxOptions: {owner} sets seLinuxOptions {selinux}")
        if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
            found.append(f"seccompProfile_baseline: {owner} sets seccompProfile.type=Unconfined")
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            found.append(f"sysctls: {sysctl.get('name')!r} is not a safe sysctl")

    # --- restricted -----------------------------------------------------------------
    for volume in spec.get("volumes") or []:
        types = set(volume) - {"name"}
        if not types <= RESTRICTED_VOLUME_TYPES:
            found.append(f"restrictedVolumes: volume {volume.get('name')!r} has type {sorted(types)}")
    pod_non_root = pod_sc.get("runAsNonRoot")
    if pod_non_root is False:
        found.append("runAsNonRoot: pod must not set runAsNonRoot=false")
    if pod_sc.get("runAsUser") == 0:
        found.append("runAsUser: pod must not set runAsUser=0")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    for c in every:
        sc = _sc(c)
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"allowPrivilegeEscalation: {_named(c)} must set allowPrivilegeEscalation=false")
        non_root = sc.get("runAsNonRoot")
        if non_root is False or (non_root is None and pod_non_root is not True):
            found.append(f"runAsNonRoot: pod or {_named(c)} must set runAsNonRoot=true")
        if sc.get("runAsUser") == 0:
            found.append(f"runAsUser: {_named(c)} must not set runAsUser=0")
        seccomp = (sc.get("seccompProfile") or {}).get("type")
        if (seccomp is not None and seccomp not in SECCOMP_ALLOWED) or (
            seccomp is None and pod_seccomp not in SECCOMP_ALLOWED
        ):
            found.append(f"seccompProfile_restricted: pod or {_named(c)} must set RuntimeDefault or Localhost")
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"capabilities_restricted: {_named(c)} must drop ALL capabilities")
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            found.append(f"capabilities_restricted: {_named(c)} may only add NET_BIND_SERVICE")
    if pod_seccomp is not None and pod_seccomp not in SECCOMP_ALLOWED:
        found.append(f"seccompProfile_restricted: pod sets seccompProfile.type={pod_seccomp!r}")
    return found


def hardening_violations(metadata: dict, spec: dict, *, api_access: bool = False) -> list[str]:
    """The platform's rules beyond "restricted" (empty: compliant). ``api_access``: the pod is
    one that must call the Kubernetes API (a run worker, a step that starts pods)."""
    found: list[str] = []
    volumes = {v.get("name"): v for v in spec.get("volumes") or []}
    for volume in volumes.values():
        if "emptyDir" in volume and not (volume["emptyDir"] or {}).get("sizeLimit"):
            found.append(f"emptyDir volume {volume.get('name')!r} has no sizeLimit")
    account = spec.get("serviceAccountName") or spec.get("serviceAccount")
    if not account or account == "default":
        found.append("pod must run under a dedicated serviceAccountName, not the namespace default")
    if not api_access and spec.get("automountServiceAccountToken") is not False:
        found.append("pod needs no API access: automountServiceAccountToken must be false")
    if api_access and spec.get("automountServiceAccountToken") is False:
        found.append("pod must call the API but mounts no service-account token")
    for c in containers(spec):
        if _sc(c).get("readOnlyRootFilesystem") is not True:
            found.append(f"{_named(c)} must set readOnlyRootFilesystem=true")
        resources = c.get("resources") or {}
        for kind in ("requests", "limits"):
            missing = {"cpu", "memory"} - set(resources.get(kind) or {})
            if missing:
                found.append(f"{_named(c)} has no {kind} for {sorted(missing)}")
        for resource, limit in (resources.get("limits") or {}).items():
            request = (resources.get("requests") or {}).get(resource)
            if request is not None and parse_quantity(request) > parse_quantity(limit):
                found.append(f"{_named(c)} requests more {resource} ({request}) than its limit ({limit})")
        for mount in c.get("volumeMounts") or []:
            volume = volumes.get(mount.get("name")) or {}
            if not mount.get("readOnly") and "emptyDir" not in volume:
                found.append(f"{_named(c)} mounts {mount.get('name')!r} writable but it is not an emptyDir")
    return found


def manifest_violations(manifest: dict, *, api_access: bool = False) -> list[str]:
    """Both rule sets for every pod of ``manifest``, each violation prefixed with its pod."""
    return [
        f"{where}: {violation}"
        for where, metadata, spec in pod_templates(manifest)
        for violation in [
            *restricted_violations(metadata, spec),
            *hardening_violations(metadata, spec, api_access=api_access),
        ]
    ]
