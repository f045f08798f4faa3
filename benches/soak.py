"""Benchmarks over time, on the local stack.

    soak: `rtds produce --max-rate R` and `rtds process` at once, millions of
          records, sampled once a second (rows/s, lag, end-to-end p50/p99,
          RSS and CPU of each process) into a CSV, drawn as one PNG.
    cron: `rtds run` on a short cron schedule for an hour, its processor
          running throughout: every slot produced once, every record stored.

Each prints what it checks (exact count, flat RSS, bounded lag, steady
p99, one run per slot) as figures, not as an exit code.
"""

import csv
import os
import re
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request

from common import growth, last_json, log, quantiles, rtds, unique

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Usage:
    """RSS and CPU of one process, from /proc, and the CPU's rise between two
    looks (percent of one core)."""

    def __init__(self, pid):
        self.pid, self.cpu_before, self.at_before = pid, None, None

    def look(self):
        """(RSS MiB, CPU % of one core since the last look); None once gone."""
        try:
            with open(f"/proc/{self.pid}/status") as status:
                rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
            with open(f"/proc/{self.pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            return None
        cpu, now = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS, time.monotonic()
        percent = None
        if self.cpu_before is not None:
            percent = 100 * (cpu - self.cpu_before) / max(now - self.at_before, 1e-9)
        self.cpu_before, self.at_before = cpu, now
        return rss / 1024, percent


def scrape(port):
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return None


def metric(text, name):
    """The sum of a counter's or gauge's samples (all labels); 0 when absent."""
    return sum(float(m[1]) for m in re.finditer(rf"^rtds_{name}(?:{{[^}}]*}})? (\S+)$", text or "", re.M))


def stored(keyspace):
    out = subprocess.run(rtds("users", "--count", "--keyspace", keyspace), check=True, capture_output=True,
                         text=True).stdout
    return int(out.strip().splitlines()[-1])


def spread(values):
    """(median, lowest and highest as % from it)."""
    middle = statistics.median(values)
    return middle, 100 * (min(values) / middle - 1), 100 * (max(values) / middle - 1)


# ------------------------------------------------------------------- soak

PRODUCER_PORT, PROCESSOR_PORT = 19121, 19122
COLUMNS = ["second", "produced_per_s", "written_per_s", "lag", "e2e_p50_ms", "e2e_p99_ms",
           "producer_rss_mib", "processor_rss_mib", "producer_cpu_pct", "processor_cpu_pct"]


class Soak:
    """One soak: the two processes, and what is sampled of them each second."""

    def __init__(self, records, rate):
        self.records, self.rate = records, rate
        self.topic, self.keyspace = unique("soak"), unique("ks")
        self.rows, self.minutes = [], []

    def start(self):
        # The topic first (one record), so that the processor starts on it at once.
        subprocess.run(rtds("produce", "--topic", self.topic, "--source", "builtin", "--count", "1"),
                       check=True, capture_output=True)
        self.processor = subprocess.Popen(
            rtds("process", "--topic", self.topic, "--keyspace", self.keyspace, "--group", unique("group"),
                 "--metrics-listen", f"127.0.0.1:{PROCESSOR_PORT}", "--json"),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        while metric(scrape(PROCESSOR_PORT), "rows_written_total") < 1:
            time.sleep(0.2)
        self.producer = subprocess.Popen(
            rtds("produce", "--topic", self.topic, "--source", "builtin", "--count", str(self.records),
                 "--max-rate", str(self.rate), "--metrics-listen", f"127.0.0.1:{PRODUCER_PORT}", "--json"),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.usage = {"producer": Usage(self.producer.pid), "processor": Usage(self.processor.pid)}

    def sample(self, second, before):
        """One second's row; `before` is the last scrape of each job."""
        produced, processed = scrape(PRODUCER_PORT) or before[0], scrape(PROCESSOR_PORT) or before[1]
        e2e = growth(processed, before[1], "rtds_end_to_end_seconds")
        seen, (p50, p99) = quantiles(e2e, [0.5, 0.99]) if e2e and e2e[-1][1] else (0, (None, None))
        usage = {name: u.look() or (None, None) for name, u in self.usage.items()}
        ms = lambda s: "" if s is None else f"{s * 1000:.2f}"
        num = lambda v: "" if v is None else f"{v:.1f}"
        self.rows.append([second,
                          int(metric(produced, "records_acked_total") - metric(before[0], "records_acked_total")),
                          int(metric(processed, "rows_written_total") - metric(before[1], "rows_written_total")),
                          int(metric(processed, "consumer_lag")), ms(p50), ms(p99),
                          num(usage["producer"][0]), num(usage["processor"][0]),
                          num(usage["producer"][1]), num(usage["processor"][1])])
        return produced, processed

    def run(self):
        self.start()
        started, before = time.monotonic(), (scrape(PRODUCER_PORT), scrape(PROCESSOR_PORT))
        minute_start, second = before[1], 0
        acked, done_at = None, None
        while True:
            second += 1
            time.sleep(max(0.0, started + second - time.monotonic()))
            before = self.sample(second, before)
            if second % 60 == 0:
                self.minutes.append(minute_p99(minute_start, before[1]))
                minute_start = before[1]
                log(f"soak: {second // 60} min: {self.rows[-1]}")
            if acked is None and self.producer.poll() is not None:
                acked = last_json(self.producer.stdout.read())["acked"]
                done_at = time.monotonic()
            written = metric(before[1], "rows_written_total")
            if acked is not None and (written >= acked + 1 or time.monotonic() - done_at > 300):
                break
        self.processor.send_signal(signal.SIGTERM)
        self.processor.communicate()
        return acked, stored(self.keyspace)


def minute_p99(start, end):
    delta = growth(end, start, "rtds_end_to_end_seconds")
    return quantiles(delta, [0.99])[1][0] * 1000 if delta and delta[-1][1] else None


def write_series(soak, directory):
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "soak.csv")
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(soak.rows)
    return path


def draw(csv_path, png_path, title):
    """The series as one PNG of five panels sharing the time axis."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    minutes = [int(r["second"]) / 60 for r in rows]
    col = lambda name: [float(r[name]) if r[name] else float("nan") for r in rows]
    figure, axes = plt.subplots(5, 1, figsize=(11, 12), sharex=True)
    panels = [
        ("records/s", [("produced", "produced_per_s"), ("written", "written_per_s")]),
        ("lag (records)", [("consumer lag", "lag")]),
        ("end to end, ms", [("p50", "e2e_p50_ms"), ("p99", "e2e_p99_ms")]),
        ("RSS MiB", [("rtds produce", "producer_rss_mib"), ("rtds process", "processor_rss_mib")]),
        ("CPU % of a core", [("rtds produce", "producer_cpu_pct"), ("rtds process", "processor_cpu_pct")]),
    ]
    for axis, (label, lines) in zip(axes, panels):
        for name, column in lines:
            axis.plot(minutes, col(column), label=name, linewidth=0.8)
        axis.set_ylabel(label)
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
        axis.legend(loc="upper right", fontsize="small")
    axes[-1].set_xlabel("minutes")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(png_path, dpi=90)


def report_soak(soak, acked, in_table):
    rows = soak.rows
    after_minute = [r for r in rows if r[0] > 60 and r[6] and r[7]]
    print(f"\nsoak: {soak.records:,} records at --max-rate {soak.rate:,} with default settings, "
          f"produced and processed at once, {len(rows)} s")
    print(f"exact count: {in_table:,} rows in the table for {acked + 1:,} records acknowledged (one made the "
          f"topic): {'yes' if in_table == acked + 1 else 'NO'}")
    for name, index in (("rtds produce", 6), ("rtds process", 7)):
        values = [float(r[index]) for r in after_minute]
        if values:
            middle, low, high = spread(values)
            print(f"{name} RSS after the first minute: median {middle:.1f} MiB, {low:+.1f} % to {high:+.1f} %; "
                  f"within ±10 %: {'yes' if -10 <= low and high <= 10 else 'no'}")
    lags = [r[3] for r in rows]
    half = len(lags) // 2
    print(f"lag: max {max(lags):,} records; max of the first half {max(lags[:half] or [0]):,}, "
          f"of the second half {max(lags[half:] or [0]):,}")
    p99s = [p for p in soak.minutes if p is not None]
    if p99s:
        print(f"end-to-end p99 per minute: median {statistics.median(p99s):.1f} ms, lowest {min(p99s):.1f}, "
              f"highest {max(p99s):.1f} ms over {len(p99s)} minutes")
    busy = [r for r in rows if r[1]]
    if busy:
        print(f"mean produced {statistics.mean(r[1] for r in busy):,.0f}/s, written "
              f"{statistics.mean(r[2] for r in busy):,.0f}/s while producing")


def bench_soak(records, rate, directory):
    soak = Soak(records, rate)
    log(f"soak: {records} records at {rate}/s into {soak.topic}, processed at once into {soak.keyspace}; "
        f"a line each minute")
    acked, in_table = soak.run()
    csv_path = write_series(soak, directory)
    png_path = os.path.join(directory, "soak.png")
    draw(csv_path, png_path, f"rtds soak: {records:,} records at {rate:,}/s, produced and processed at once")
    report_soak(soak, acked, in_table)
    print(f"series: {csv_path}; chart: {png_path}")


# ------------------------------------------------------------------- cron

CRON_PORT = 19123


def slots_of(log_text):
    """The slots produced, in order, and the records each run acknowledged."""
    slots = re.findall(r"produce run starting.*?slot=(\S+(?: \S+ UTC)?)", log_text)
    acked = [int(m) for m in re.findall(r"produced (\d+) of \d+ records", log_text)]
    return slots, acked


def bench_cron(minutes, every, count, directory):
    topic, keyspace = unique("cron"), unique("ks")
    os.makedirs(directory, exist_ok=True)
    state = os.path.join(tempfile.mkdtemp(), "run-state.json")
    log_path = os.path.join(directory, "cron.log")
    schedule = f"*/{every} * * * *"
    log(f"cron: rtds run --schedule '{schedule}', {count} users a slot, for {minutes} min into {topic}")
    with open(log_path, "w") as log_file:
        job = subprocess.Popen(rtds("run", "--schedule", schedule, "--topic", topic, "--keyspace", keyspace,
                                    "--source", "builtin", "--count", str(count), "--metrics-listen",
                                    f"127.0.0.1:{CRON_PORT}", "--json"),
                               stdout=subprocess.PIPE, stderr=log_file, text=True,
                               env={**os.environ, "RTDS_KAFKA_GROUP_ID": unique("group"),
                                    "RTDS_RUN_STATE_FILE": state})
    started, usage, series = time.time(), Usage(job.pid), []
    while time.time() < started + minutes * 60:
        time.sleep(10)
        rss, cpu = usage.look() or (None, None)
        series.append((round(time.time() - started), rss, cpu))
        if len(series) % 30 == 0:
            log(f"cron: {len(series) // 6} min, {len(slots_of(open(log_path).read())[0])} slots, RSS {rss:.1f} MiB")
    period = every * 60
    expected = int(started + minutes * 60) // period - int(started) // period
    settled = lambda text: text.count("next produce run") == len(slots_of(text)[0]) + 1
    deadline = time.time() + 600
    while not settled(open(log_path).read()) and time.time() < deadline:
        time.sleep(1)
    slots, acked = slots_of(open(log_path).read())
    while stored(keyspace) < sum(acked) and time.time() < deadline:
        time.sleep(1)
    job.send_signal(signal.SIGTERM)
    summary = last_json(job.communicate()[0])
    report_cron(series, expected, slots, acked, summary, stored(keyspace), count, every, directory)


def report_cron(series, expected, slots, acked, summary, in_table, count, every, directory):
    with open(os.path.join(directory, "cron.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["second", "rss_mib", "cpu_pct"])
        writer.writerows(series)
    print(f"\ncron: rtds run for {series[-1][0] / 60:.0f} min, {count:,} users a slot")
    print(f"slots: {len(slots)} produced, {expected} due; each once: "
          f"{'yes' if len(set(slots)) == len(slots) == expected else 'NO'}")
    print(f"records: {sum(acked):,} acknowledged over the runs, {summary['produced']:,} in the run's summary, "
          f"{summary['process']['written']:,} written, {in_table:,} in the table; nothing lost: "
          f"{'yes' if in_table == sum(acked) == expected * count else 'NO'}")
    # From a minute after the first slot, which comes within the first period.
    rss = [r for second, r, _ in series if r and second > (every + 1) * 60]
    if rss:
        middle, low, high = spread(rss)
        half = len(rss) // 2
        print(f"RSS from a minute after the first slot: median {middle:.1f} MiB, {low:+.1f} % to {high:+.1f} %; "
              f"median of the first half {statistics.median(rss[:half]):.1f} MiB, of the second "
              f"{statistics.median(rss[half:]):.1f} MiB")
