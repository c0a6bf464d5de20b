"""Ratchet's probe of the cage on a Ray worker (docs/ARCHITECTURE.md, "Ray executor").

Runs INSIDE the sandbox, exactly where an experiment's command would (same bubblewrap command line, built by the
orchestrator, started by the entry script). It tries what a sandboxed command must never manage (read files
outside the sandbox, reach the network, write the tree) and what it must (read the split files, write the output
folder), and writes what happened to $RATCHET_OUTPUT/probe.json, which comes back through the output channel.
Standard library only.
"""

import json
import os
import socket
import sys


def attempt(fn):
    try:
        detail = fn()
        return {"ok": True, "detail": str(detail)[:200] if detail is not None else None}
    except Exception as e:  # the failure is the point
        return {"ok": False, "error": ("%s: %s" % (type(e).__name__, e))[:300]}


def read(path):
    def go():
        if not path:
            raise FileNotFoundError("no path given")
        with open(path, "rb") as f:
            return "read %d bytes" % len(f.read(4096))
    return go


def write(path):
    def go():
        with open(path, "w") as f:
            f.write("x")
        return "wrote"
    return go


def connect(hostport, timeout=3):
    def go():
        if not hostport or ":" not in hostport:
            raise ValueError("no address given")
        host, port = hostport.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=timeout)
        s.close()
        return "connected"
    return go


def status_field(name):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].strip()
    return None


env = os.environ
must_fail = {
    "read_outside_file": read(env.get("RATCHET_PROBE_OUTSIDE")),
    "read_job_folder": read(env.get("RATCHET_PROBE_ENTRY")),
    "read_etc_shadow": read("/etc/shadow"),
    "read_vault": read(env.get("RATCHET_PROBE_VAULT")),
    "connect_ray_gcs": connect(env.get("RATCHET_PROBE_GCS")),
    "connect_ray_dashboard": connect(env.get("RATCHET_PROBE_DASHBOARD")),
    "connect_internet": connect("1.1.1.1:443"),
    "write_workspace": write("/workspace/.ratchet-probe"),
    "write_root": write("/ratchet-probe"),
}
must_work = {
    "read_train_split": read(env.get("RATCHET_TRAIN")),
    "read_public_features": read(env.get("RATCHET_PUBLIC")),
    "write_output": write(os.path.join(env.get("RATCHET_OUTPUT", "/output"), ".probe-write")),
}
report = {
    "python": sys.version.split()[0],
    "hostname": socket.gethostname(),
    "cap_eff": status_field("CapEff"),
    "no_new_privs": status_field("NoNewPrivs"),
    "env": sorted(env.keys()),
    "must_fail": {k: attempt(fn) for k, fn in must_fail.items()},
    "must_work": {k: attempt(fn) for k, fn in must_work.items()},
}
with open(os.path.join(env.get("RATCHET_OUTPUT", "/output"), "probe.json"), "w") as f:
    json.dump(report, f, indent=1)
print(json.dumps({k: v["ok"] for k, v in report["must_fail"].items()}))
