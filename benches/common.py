"""What every benchmark of benches/ shares: running rtds and measuring a
process (peak RSS, CPU seconds), reading Prometheus histograms, printing
tables."""

import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RTDS = os.path.join(ROOT, "target", "release", "rtds")
KAFKA = "127.0.0.1:9092"


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def unique(what):
    return f"rtds_bench_{what}_{uuid.uuid4().hex[:8]}"


def reap(process):
    """Waits for a child that has closed its stdout; returns the CPU seconds
    (user + system) it used, from the kernel's accounting at its exit."""
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


class PeakRss:
    """Follows a process's peak RSS (VmHWM in /proc) while it runs. Not
    getrusage: a child's ru_maxrss starts at the parent's peak (Linux keeps
    the high-water mark across fork and exec), which would count this
    script's own memory."""

    def __init__(self, pid):
        self.peak_kib, self.cpu_seconds = 0, 0.0
        self._thread = threading.Thread(target=self._follow, args=(pid,), daemon=True)
        self._thread.start()

    def _follow(self, pid):
        try:
            while True:
                with open(f"/proc/{pid}/status") as status:
                    for line in status:
                        if line.startswith("VmHWM:"):
                            self.peak_kib = max(self.peak_kib, int(line.split()[1]))
                time.sleep(0.02)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass  # the process has exited

    def mib(self):
        self._thread.join(timeout=1)
        return self.peak_kib / 1024

    def per_100k(self, records):
        """CPU seconds per 100,000 records (set by run_measured)."""
        return 100_000 * self.cpu_seconds / max(records, 1)


def run_measured(argv, env=None, stderr=None):
    """Runs a command to completion (with `env` added to the environment,
    its stderr to the file `stderr` if given, and then shown if it fails);
    returns its stdout and its PeakRss, with its CPU seconds."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True,
                               env={**os.environ, **(env or {})})
    rss = PeakRss(process.pid)
    stdout = process.stdout.read()
    rss.cpu_seconds = reap(process)
    if process.returncode:
        said = ""
        if stderr is not None:
            stderr.seek(0)
            said = ":\n" + stderr.read()[-4000:]
        sys.exit(f"bench: {' '.join(argv)} failed with status {process.returncode}{said}")
    return stdout, rss


def rtds(*args):
    return [RTDS, "--config", "/dev/null", *args]


def last_json(stdout):
    return json.loads(stdout.strip().splitlines()[-1])


def stack(*args):
    return subprocess.run([os.path.join(ROOT, "scripts", "stack"), *args], check=True,
                          capture_output=True, text=True).stdout.strip()


def kafka_tool(main_class, *args):
    java, classpath = stack("java"), stack("classpath", "kafka")
    result = subprocess.run([java, "-Xmx512m", "-cp", classpath, main_class, *args],
                            capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"bench: {main_class} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def table(rows, headers):
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(len(headers))]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    print(line(headers))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))


def histogram(metrics_text, name):
    """Cumulative buckets [(upper bound, count)] of a Prometheus histogram."""
    buckets = []
    for match in re.finditer(rf'^{name}_bucket{{le="([^"]+)"}} (\d+)', metrics_text, re.M):
        bound = float("inf") if match.group(1) == "+Inf" else float(match.group(1))
        buckets.append((bound, int(match.group(2))))
    return buckets


def quantiles(buckets, qs):
    """Quantiles of cumulative buckets, interpolated linearly within a bucket."""
    total = buckets[-1][1]
    results = []
    for q in qs:
        rank, lower, below = q * total, 0.0, 0
        for bound, cumulative in buckets:
            if cumulative >= rank:
                width = (bound if bound != float("inf") else lower) - lower
                share = (rank - below) / max(cumulative - below, 1)
                results.append(lower + width * share)
                break
            lower, below = bound, cumulative
    return total, results


def growth(end_text, start_text, name):
    """A histogram's buckets grown between two scrapes of /metrics."""
    return [(bound, count - was) for (bound, count), (_, was) in
            zip(histogram(end_text, name), histogram(start_text, name))]
