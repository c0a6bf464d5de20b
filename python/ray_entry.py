"""Ratchet's entry script for one Ray job (docs/ARCHITECTURE.md, "Ray executor").

Ray runs this script on a worker as the job's entrypoint, in the job's working directory (the package Ratchet
uploaded: `workspace/` = the tree CHECK approved, `binds/` = the split feature files and decoys the local sandbox
would bind, this script). It never runs the experiment's command itself: it starts bubblewrap with the argv the
orchestrator built with the local sandbox's own code (`bwrapArgs`), after replacing the placeholders for this
job's folders, and enforces what bubblewrap cannot (wall clock backstop, memory and task caps of the process
tree, the output folder's size). At the end it sends the output folder back through the job's logs, the only
channel the orchestrator is sure to reach.

Log protocol (one line each; the command's own lines can never look like Ratchet's):
  @@ratchet:<nonce>:start {json}           the script started (before it: Ray's own lines)
  O|<text> / o|<text>                      a stdout line of the command (o: no newline at its end)
  E|<text> / e|<text>                      a stderr line of the command
  @@ratchet:<nonce>:output {json}          then base64 lines of a zip of the output folder, then
  @@ratchet:<nonce>:end-output
  @@ratchet:<nonce>:result {json}          how the command ended (SandboxResult fields)
The nonce comes from the job's environment (never readable inside the sandbox). Standard library only; Python 3.8+.

GPUs (docs/ARCHITECTURE.md, "GPUs"): when the job's spec asks for GPUs (`gpus`, the contract's resources.gpus; Ray
then reserved them with entrypoint_num_gpus), the orchestrator cannot know this worker's device nodes: Ray names
the GPUs it assigned the job in CUDA_VISIBLE_DEVICES, and this script binds exactly their `/dev/nvidia<k>` nodes and
the NVIDIA control nodes present, nothing else of /dev, where the cage's `@@RATCHET_GPU_DEVICES@@` stands, and fills
in CUDA_VISIBLE_DEVICES / NVIDIA_VISIBLE_DEVICES of the sandbox's environment. No GPU assigned, or a node missing:
the job fails (sandbox_error), never runs on the CPU instead. The spec's `dev_dir` (tests only: stand-in nodes)
replaces /dev as where the nodes are looked up; the spec is the orchestrator's, the command never sees it.
"""

import base64
import hashlib
import io
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

SPEC_VAR = "RATCHET_JOB"
NONCE_VAR = "RATCHET_NONCE"
SYSTEM_DIRS = ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"]
POLL_S = 0.2
MIN_ENTRY_BYTES = 4096
B64_LINE = 16384
PAGE = os.sysconf("SC_PAGE_SIZE")
# Python's platform.machine() -> the orchestrator's names of the seccomp filters (Node's process.arch).
ARCH = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}
# GPUs: the cage's placeholders (src/executors/package.ts, PLACEHOLDERS) and the control nodes every CUDA process
# needs besides its GPUs' nodes (src/sandbox/gpu.ts, NVIDIA_CONTROL_NODES).
GPU_DEVICES = "@@RATCHET_GPU_DEVICES@@"
GPU_IDS = "@@RATCHET_GPU_IDS@@"
NVIDIA_CONTROL_NODES = ["nvidiactl", "nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset"]
DEVICE_TARGET = re.compile(r"^/dev/nvidia[A-Za-z0-9-]*$")

_out = sys.stdout.buffer
_lock = threading.Lock()


def emit(line):
    """Write one whole line to the job's log (lines of the relay threads never interleave)."""
    with _lock:
        _out.write(line + b"\n")
        _out.flush()


def frame(nonce, kind, payload=None):
    text = "@@ratchet:%s:%s" % (nonce, kind)
    if payload is not None:
        text += " " + json.dumps(payload, separators=(",", ":"))
    emit(text.encode())


def relay(stream, full, part, cap, state):
    """Copy a pipe of the command into the log, line by line, tagged, up to `cap` bytes (then count and drop)."""
    while True:
        line = stream.readline(65536)
        if not line:
            break
        # Charged with its tag, so a flood of empty lines cannot triple the log.
        cost = len(line) + 2
        if state["kept"] + cost > cap:
            state["dropped"] += len(line)
            continue
        state["kept"] += cost
        ended = line.endswith(b"\n")
        body = line[:-1] if ended else line
        # The log is JSON text at the other end: keep it valid UTF-8.
        body = body.decode("utf-8", "replace").encode("utf-8")
        emit((full if ended else part) + body)
    stream.close()


def find_bwrap(name):
    if os.path.isabs(name):
        return name if os.access(name, os.X_OK) else None
    for d in SYSTEM_DIRS:
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


def tree_pids(root):
    pids, i = [root], 0
    while i < len(pids):
        pid = pids[i]
        i += 1
        try:
            tids = os.listdir("/proc/%d/task" % pid)
        except OSError:
            continue
        for tid in tids:
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    pids.extend(int(x) for x in f.read().split())
            except (OSError, ValueError):
                pass
    return pids


def tree_usage(root, cap):
    """Memory (RSS sum; PSS near the cap, so shared pages count once) and tasks of the tree under `root`."""
    pids = tree_pids(root)
    rss, tasks = 0, 0
    for pid in pids:
        try:
            with open("/proc/%d/statm" % pid) as f:
                rss += int(f.read().split()[1]) * PAGE
            tasks += len(os.listdir("/proc/%d/task" % pid))
        except (OSError, ValueError, IndexError):
            pass
    if rss > cap * 0.8:
        pss = 0
        for pid in pids:
            try:
                with open("/proc/%d/smaps_rollup" % pid) as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            pss += int(line.split()[1]) * 1024
                            break
            except (OSError, ValueError, IndexError):
                pass
        rss = pss or rss
    return rss, tasks


def tree_bytes(root, stop_above):
    total, stack = 0, [root]
    while stack:
        cur = stack.pop()
        try:
            names = os.listdir(cur)
        except OSError:
            continue
        for name in names:
            p = os.path.join(cur, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            total += max(st.st_size, st.st_blocks * 512, MIN_ENTRY_BYTES)
            if stat.S_ISDIR(st.st_mode):
                stack.append(p)
            if total > stop_above:
                return total
    return total


def kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def collect_output(root, max_bytes):
    """Regular files of the output folder (relative paths), the special entries removed, and the total size."""
    files, removed, total, stack = [], [], 0, [""]
    while stack:
        rel = stack.pop()
        cur = os.path.join(root, rel) if rel else root
        try:
            os.chmod(cur, 0o755)
            names = sorted(os.listdir(cur))
        except OSError:
            removed.append(rel or ".")
            continue
        for name in names:
            r = rel + "/" + name if rel else name
            p = os.path.join(root, r)
            st = os.lstat(p)
            if stat.S_ISDIR(st.st_mode):
                stack.append(r)
            elif stat.S_ISREG(st.st_mode):
                files.append(r)
                total += st.st_size
            else:
                removed.append(r)
                try:
                    os.unlink(p)
                except OSError:
                    pass
        if total > max_bytes:
            break
    return files, removed, total


def zip_output(root, files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for rel in files:
            fd = os.open(os.path.join(root, rel), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            with os.fdopen(fd, "rb") as f:
                info = zipfile.ZipInfo(rel, date_time=(2000, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o100644 << 16
                with z.open(info, "w", force_zip64=True) as w:
                    shutil.copyfileobj(f, w, 1 << 20)
    return buf.getvalue()


def fmt_bytes(n):
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return "%g %s" % (round(n / size, 1), unit)
    return "%d B" % n


def parse_status(text):
    pid, code = None, None
    for line in text.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if "child-pid" in obj:
            pid = int(obj["child-pid"])
        if "exit-code" in obj:
            code = int(obj["exit-code"])
    return pid, code


DATA_MARKER = "ratchet_data.json"


def find_data_dir(files):
    """The folder Ray unpacked the job's data package in (a py_modules entry: on PYTHONPATH), found by its marker
    and checked to hold every file the job mounts; job_dir when the job mounts none. None when it is missing."""
    if not files:
        return os.path.realpath(os.getcwd())
    for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        if not entry or not os.path.isfile(os.path.join(entry, DATA_MARKER)):
            continue
        real = os.path.realpath(entry)
        if all(os.path.isfile(os.path.join(real, f)) and not os.path.islink(os.path.join(real, f)) for f in files):
            return real
    return None


class GpuError(Exception):
    """The job's GPUs cannot be bound on this worker (the message names the worker and the fix)."""


def device_node(path):
    """True for a character device, or a regular file (a stand-in in tests), as the local sandbox accepts."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISCHR(st.st_mode) or stat.S_ISREG(st.st_mode)


def gpu_binds(want, dev_dir, visible, host):
    """The `--dev-bind host target` arguments for the GPUs Ray assigned this job, and their indices.

    want: GPUs the job asks for (0: none, nothing is bound); dev_dir: where the device nodes are (/dev);
    visible: CUDA_VISIBLE_DEVICES of this process, which Ray sets to the assigned GPUs; host: this worker's name.
    Returns (arguments, "i,j" or None). Raises GpuError when Ray assigned fewer GPUs than asked for, names them in a
    way that is no device index, or a GPU's node is missing or not a device node.
    """
    if want <= 0:
        return [], None
    ids = [x.strip() for x in (visible or "").split(",") if x.strip()]
    if not ids:
        raise GpuError(
            "the job asks for %d GPU(s) (resources.gpus) but Ray assigned it none on the worker %s "
            "(CUDA_VISIBLE_DEVICES is %s): start that node's Ray with its GPUs (ray start --num-gpus N), "
            "or set resources.gpus: 0" % (want, host, "unset" if visible is None else "empty")
        )
    if not all(re.match(r"^[0-9]+$", x) for x in ids):
        raise GpuError(
            "Ray assigned the job GPUs %s on the worker %s, which are not device indices (/dev/nvidia<k>): "
            "start that node's Ray without CUDA_VISIBLE_DEVICES naming GPUs by UUID" % (",".join(ids), host)
        )
    if len(ids) < want:
        raise GpuError(
            "the job asks for %d GPU(s) (resources.gpus) but Ray assigned it %d on the worker %s (%s)"
            % (want, len(ids), host, ",".join(ids))
        )
    args = []
    names = ["nvidia%d" % int(x) for x in ids]
    for name in names:
        path = os.path.join(dev_dir, name)
        if not device_node(path):
            raise GpuError(
                "Ray assigned the job GPU %s on the worker %s, but %s is missing or not a device node: "
                "install the NVIDIA driver there, or start that node's Ray with --num-gpus no larger than "
                "its GPUs" % (name[6:], host, path)
            )
        args += ["--dev-bind", path, "/dev/" + name]
    for name in NVIDIA_CONTROL_NODES:
        path = os.path.join(dev_dir, name)
        if device_node(path):
            args += ["--dev-bind", path, "/dev/" + name]
    for i in range(2, len(args), 3):
        if not DEVICE_TARGET.match(args[i]):
            raise GpuError("refusing a device bind to %s (only /dev/nvidia... may be bound)" % args[i])
    return args, ",".join(str(int(x)) for x in ids)


def build_argv(spec, bwrap, subst, filt, sec_fd, gpu_args):
    """The worker's bwrap argv: the cage's arguments with the placeholders filled in (`subst`), without --seccomp
    when this machine's architecture has no filter, the GPUs' device binds (from `gpu_binds`) where the cage marks
    them, then the program."""
    raw = list(spec["bwrap"])
    argv = []
    i = 0
    while i < len(raw):
        a = raw[i]
        if a == "--seccomp" and not filt:
            i += 2  # no filter for this machine's architecture (as the local sandbox on an unknown one)
            continue
        if a == GPU_DEVICES:
            argv += gpu_args
            i += 1
            continue
        if a == "@@RATCHET_SECCOMP_FD@@":
            a = str(sec_fd)
        for k, v in subst.items():
            a = a.replace(k, v)
        argv.append(a)
        i += 1
    argv[0] = bwrap
    return argv + list(spec["inner"])


def run(spec, nonce):
    start = time.monotonic()
    usage = {"peakBytes": 0, "peakTasks": 0, "ticks": 0, "cpuMs": 0, "maxTickCpuMs": 0}

    def result(status, exit_code, sig, message, with_usage=True):
        r = {
            "status": status,
            "exitCode": exit_code,
            "signal": sig,
            "wallMs": int(round((time.monotonic() - start) * 1000)),
            "sandboxed": True,
            "message": message,
        }
        if with_usage:
            r["tree"] = usage
        return r

    host = socket.gethostname()
    bwrap = find_bwrap(spec["bwrap_path"])
    if bwrap is None:
        return result(
            "sandbox_error",
            None,
            None,
            'bubblewrap (%s) is not installed on the Ray worker %s: install the Debian package "bubblewrap" '
            "on every worker node, or set executor.bwrap to its path" % (spec["bwrap_path"], host),
            False,
        ), None
    job_dir = os.path.realpath(os.getcwd())
    data_dir = find_data_dir(spec.get("data_files") or [])
    if data_dir is None:
        return result(
            "sandbox_error",
            None,
            None,
            "the job's data package (a py_modules entry with %s) is not on PYTHONPATH on the Ray worker %s"
            % (DATA_MARKER, host),
            False,
        ), None
    want = int(spec.get("gpus") or 0)
    try:
        if (GPU_DEVICES in spec["bwrap"]) != (want > 0):
            raise GpuError("the job's spec and its command line disagree about GPUs (an orchestrator of another version?)")
        gpu_args, gpu_ids = gpu_binds(
            want, spec.get("dev_dir") or "/dev", os.environ.get("CUDA_VISIBLE_DEVICES"), host
        )
    except GpuError as e:
        return result("sandbox_error", None, None, str(e), False), None
    tmp = tempfile.mkdtemp(prefix="ratchet-job-")
    out_dir = os.path.join(tmp, "output")
    os.mkdir(out_dir, 0o755)
    outside = os.path.join(tmp, "outside-secret")
    with open(outside, "w") as f:
        f.write(secrets.token_hex(16) + "\n")
    os.chmod(outside, 0o644)

    filt = (spec.get("seccomp") or {}).get(ARCH.get(platform.machine(), ""))
    status_r, status_w = os.pipe()
    fds = [status_w]
    sec_r = None
    if filt:
        sec_r, sec_w = os.pipe()
        os.write(sec_w, base64.b64decode(filt))
        os.close(sec_w)
        fds.append(sec_r)
    subst = {
        "@@RATCHET_DATA@@": data_dir,
        "@@RATCHET_JOB@@": job_dir,
        "@@RATCHET_OUTPUT@@": out_dir,
        "@@RATCHET_OUTSIDE@@": outside,
        "@@RATCHET_RAY_ADDRESS@@": os.environ.get("RAY_ADDRESS", ""),
        "@@RATCHET_STATUS_FD@@": str(status_w),
    }
    if gpu_ids is not None:
        subst[GPU_IDS] = gpu_ids
    argv = build_argv(spec, bwrap, subst, filt, sec_r, gpu_args)

    log_cap = int(spec["max_log_bytes"])
    out_state = {"kept": 0, "dropped": 0}
    err_state = {"kept": 0, "dropped": 0}
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=fds,
            start_new_session=True,
            env={},
            cwd="/",
        )
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        return result("sandbox_error", None, None, "could not start %s on %s: %s" % (bwrap, host, e), False), None
    for fd in fds:
        os.close(fd)
    status_text = []

    def read_status():
        with os.fdopen(status_r, "rb") as f:
            status_text.append(f.read(1 << 16).decode("utf-8", "replace"))

    threads = [
        threading.Thread(target=relay, args=(proc.stdout, b"O|", b"o|", log_cap, out_state), daemon=True),
        threading.Thread(target=relay, args=(proc.stderr, b"E|", b"e|", log_cap, err_state), daemon=True),
        threading.Thread(target=read_status, daemon=True),
    ]
    for t in threads:
        t.start()

    killed = []

    def kill(status, message):
        if not killed:
            killed.append((status, message))
        kill_group(proc.pid)

    def on_term(signum, _frame):
        kill("aborted", "stopped through Ray (the kill switch or the timeout)")

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    memory_cap = int(spec["memory_bytes"])
    task_cap = int(spec["max_tasks"])
    disk_cap = int(spec["max_disk_bytes"])
    backstop_s = int(spec["timeout_ms"]) / 1000.0 + 60
    cpu_ms = 0.0
    while proc.poll() is None:
        time.sleep(POLL_S)
        if killed:
            continue
        c0 = time.process_time()
        mem, tasks = tree_usage(proc.pid, memory_cap)
        usage["ticks"] += 1
        usage["peakBytes"] = max(usage["peakBytes"], mem)
        usage["peakTasks"] = max(usage["peakTasks"], tasks)
        if mem > memory_cap:
            kill("memory_limit", "memory: the process tree reached %s (cap %s); killed" % (fmt_bytes(mem), fmt_bytes(memory_cap)))
        elif tasks > task_cap:
            kill("process_limit", "tasks: the process tree reached %d tasks (cap %d); killed" % (tasks, task_cap))
        elif tree_bytes(out_dir, disk_cap) > disk_cap:
            kill("output_limit", "killed: output folder passed its %s cap" % fmt_bytes(disk_cap))
        elif time.monotonic() - start > backstop_s:
            kill("timeout", "killed after %d s on the worker (the orchestrator did not stop the job)" % backstop_s)
        tick = (time.process_time() - c0) * 1000
        cpu_ms += tick
        usage["cpuMs"] = int(round(cpu_ms))
        usage["maxTickCpuMs"] = max(usage["maxTickCpuMs"], int(round(tick)))
    kill_group(proc.pid)
    for t in threads:
        t.join(2)
    child_pid, code = parse_status("".join(status_text))
    notes = []
    for name, st in (("stdout", out_state), ("stderr", err_state)):
        if st["dropped"]:
            notes.append("%s truncated at %s" % (name, fmt_bytes(log_cap)))

    payload = None
    status = None
    if killed:
        status, message = killed[0]
        res = (status, code, "SIGKILL", message)
    elif code is None:
        rc = proc.returncode
        if rc is not None and rc < 0:
            res = ("failed", None, signal.Signals(-rc).name, "bubblewrap was killed by %s (not by Ratchet)" % signal.Signals(-rc).name)
        else:
            res = ("sandbox_error", None, None, "sandbox setup failed on the Ray worker %s: bwrap exited with code %s (see stderr)" % (host, rc))
    elif code == 0:
        res = ("ok", 0, None, "exited with code 0")
    elif code > 128:
        try:
            name = signal.Signals(code - 128).name
        except ValueError:
            name = None
        res = ("failed", code, name, "killed by %s (exit status %d)" % (name, code) if name else "exited with code %d" % code)
    else:
        res = ("failed", code, None, "exited with code %d" % code)
    status, code, sig, message = res

    files, removed, total = collect_output(out_dir, disk_cap)
    if removed:
        notes.append("removed %d symlink/special file(s) from the output folder: %s" % (len(removed), ", ".join(removed[:5])))
    max_out = int(spec["max_output_bytes"])
    if status == "ok":
        if total > max_out:
            status, message = "output_limit", "output folder of %s passed the Ray output channel's cap of %s (executor.max_output)" % (fmt_bytes(total), fmt_bytes(max_out))
        else:
            payload = zip_output(out_dir, files)
            if len(payload) > max_out:
                status, message = "output_limit", "output folder passed the Ray output channel's cap of %s (executor.max_output)" % fmt_bytes(max_out)
                payload = None
            else:
                payload = (payload, len(files))
    if notes:
        message = message + "; " + "; ".join(notes)
    shutil.rmtree(tmp, ignore_errors=True)
    r = result(status, code, sig, message)
    if child_pid is None and status == "sandbox_error":
        r.pop("tree", None)
    return r, payload


def main():
    nonce = os.environ.get(NONCE_VAR, "")
    if len(nonce) < 16:
        sys.stderr.write("ratchet: this script runs only as a job Ratchet submitted\n")
        return 2
    spec = json.loads(os.environ[SPEC_VAR])
    frame(nonce, "start", {"host": socket.gethostname(), "python": sys.version.split()[0], "machine": platform.machine()})
    try:
        res, payload = run(spec, nonce)
    except Exception as e:  # report what broke, as a result the orchestrator reads
        res, payload = {"status": "sandbox_error", "exitCode": None, "signal": None, "wallMs": 0, "sandboxed": True,
                        "message": "the Ray entry script failed: %s: %s" % (type(e).__name__, e)}, None
    if payload is not None:
        data, count = payload
        frame(nonce, "output", {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), "files": count})
        text = base64.b64encode(data)
        for i in range(0, len(text), B64_LINE):
            emit(text[i:i + B64_LINE])
        frame(nonce, "end-output")
    frame(nonce, "result", res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
