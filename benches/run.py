#!/usr/bin/env python3
"""Benchmarks of rtds against baselines measured in the same run, on the
local stack. Prints figures and ratios; asserts nothing about speed.

    benches/run.py produce [--records N] [--rounds R]   rtds produce vs Kafka's ProducerPerformance
    benches/run.py process [--records N] [--rounds R]   rtds process vs a plain prepared-insert loop,
                                           plus end-to-end latency at a steady rate
    benches/run.py latency                 end-to-end latency at 1,000 and 5,000 records/s (also run by process)
    benches/run.py mapping [--records N] [--rounds R]   rtds process through [[mapping]] entries vs the
                                           users pipeline: the same users through the built-in mapping,
                                           and wiki edits of a similar record size
    benches/run.py formats [--records N] [--rounds R]   the users pipeline in Avro (through the schema
                                           registry) beside JSON, on the same users: produce and process
                                           rows/s, CPU s per 100k, and bytes per record on the topic
    benches/run.py scale [--records N]     on the local cluster: 1, 2 and 3 rtds process in one
                                           group on a topic of 6 partitions, rows/s for each
    benches/run.py soak [--records N] [--rate R]   produce and process at once, sampled each second
                                           into a CSV and a PNG (see benches/soak.py)
    benches/run.py cron [--minutes M] [--every E] [--count C]   rtds run on a cron schedule of every
                                           E minutes for M minutes: each slot once, nothing lost

Run through scripts/bench, which brings the stack up and builds first.
"""

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

import soak
from common import (KAFKA, ROOT, RTDS, PeakRss, growth, histogram, kafka_tool, last_json, log, quantiles, reap,
                    rtds, run_measured, table, unique)

# ------------------------------------------------------------------ produce

def sample_payloads():
    """Real rtds records, for the baseline to send the same bytes."""
    log("dumping a sample of real records for the baseline's payloads")
    sample_topic = unique("sample")
    run_measured(rtds("produce", "--topic", sample_topic, "--source", "builtin", "--count", "20000"))
    sample = kafka_tool("org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", KAFKA,
                        "--topic", sample_topic, "--from-beginning", "--max-messages", "20000",
                        "--timeout-ms", "20000")
    payloads = [line for line in sample.splitlines() if line.startswith("{")]
    payload_file = os.path.join(ROOT, "target", "bench-payloads.jsonl")
    with open(payload_file, "w") as f:
        f.write("\n".join(payloads))
    return payload_file, sum(len(p.encode()) for p in payloads) / len(payloads)


def producer_performance(records, payload_file, partitions, topic=None):
    """Kafka's own producer benchmark with rtds's producer settings, on a new
    topic (`topic`, or a name of its own); records/s."""
    topic = topic or unique("perf")
    kafka_tool("org.apache.kafka.tools.TopicCommand", "--bootstrap-server", KAFKA, "--create",
               "--topic", topic, "--partitions", str(partitions), "--replication-factor", "1")
    out = kafka_tool("org.apache.kafka.tools.ProducerPerformance", "--topic", topic,
                     "--num-records", str(records), "--payload-file", payload_file,
                     "--throughput", "-1", "--command-property", f"bootstrap.servers={KAFKA}",
                     "acks=all", "compression.type=lz4", "linger.ms=5", "batch.size=1000000",
                     "enable.idempotence=true")
    summary_line = [l for l in out.splitlines() if "records sent" in l][-1]
    return float(re.search(r"([\d.]+) records/sec", summary_line).group(1))


def bench_produce(records, rounds):
    partitions = 3
    payload_file, average = sample_payloads()
    rows = []
    # Baseline and rtds alternate, so that load from elsewhere on the machine
    # (compactions, other jobs) falls on both alike.
    for round in range(1, rounds + 1):
        log(f"round {round}: Kafka's ProducerPerformance, {records} records of the same payloads")
        perf_rate = producer_performance(records, payload_file, partitions)
        log(f"round {round}: rtds produce --source builtin, {records} records")
        out, measured = run_measured(rtds("produce", "--topic", unique("builtin"), "--source", "builtin",
                                          "--count", str(records), "--json"))
        builtin = last_json(out)
        rows += [
            [f"{round}: Kafka ProducerPerformance (baseline)", records, f"{perf_rate:,.0f}", "1.00", "-", "-"],
            [f"{round}: rtds produce --source builtin", builtin["acked"],
             f"{builtin['records_per_second']:,.0f}", f"{builtin['records_per_second'] / perf_rate:.2f}",
             f"{measured.mib():.1f}", f"{measured.per_100k(builtin['acked']):.2f}"],
        ]

    api_records = max(records // 2, 10000)
    log(f"rtds produce from the local API server (rtds randomuser-server), {api_records} records")
    server = subprocess.Popen([RTDS, "randomuser-server", "--listen", "127.0.0.1:18800"],
                              stderr=subprocess.DEVNULL)
    try:
        time.sleep(1)
        out, measured_api = run_measured(rtds("produce", "--topic", unique("api"), "--source",
                                              "http://127.0.0.1:18800/api/", "--count", str(api_records),
                                              "--json"))
        api = last_json(out)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait()
    rows.append([f"{rounds}: rtds produce --source local API server", api["acked"],
                 f"{api['records_per_second']:,.0f}", f"{api['records_per_second'] / perf_rate:.2f}",
                 f"{measured_api.mib():.1f}", f"{measured_api.per_100k(api['acked']):.2f}"])

    print(f"\nproduce: acks=all, lz4, idempotent, {partitions} partitions, average record {average:.0f} bytes; "
          f"ratio against the same round's baseline")
    table(rows, ["round: run", "records", "records/s", "ratio", "peak RSS MiB", "CPU s / 100k"])


# ------------------------------------------------------------------ process

def insert_loop(*args):
    """The command of benches/insert_ceiling.rs with `args` (count,
    keyspace, mode and, when paced, the rate)."""
    return ["cargo", "bench", "--quiet", "--bench", "insert_ceiling", "--", *map(str, args)]


def ceiling(records, mode):
    """The plain loop of benches/insert_ceiling.rs: `single` inserts or `batches`."""
    out = subprocess.run(insert_loop(records, unique("ceiling"), mode), cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return last_json(out)


# rtds as it wrote before batches and adaptive concurrency: one insert per
# row, 256 in flight whatever the node does.
AS_BEFORE = {"RTDS_CASSANDRA_BATCH_ROWS": "1", "RTDS_CASSANDRA_ADAPTIVE_CONCURRENCY": "false"}
# rtds with its batches and the limit held at its max (256 in flight): what
# adaptive concurrency is measured against on a healthy node.
FIXED = {"RTDS_CASSANDRA_ADAPTIVE_CONCURRENCY": "false"}


def bench_process(records, rounds):
    topic = unique("process")
    log(f"filling {topic} with {records} records")
    run_measured(rtds("produce", "--topic", topic, "--source", "builtin", "--count", str(records)))

    rows, of_loop, of_fixed, limits = [], [], [], []
    for round in range(1, rounds + 1):
        log(f"round {round}: the ceilings: the same prepared insert in a plain loop, same driver and "
            f"concurrency, one row per write and then in batches")
        single, batched = ceiling(records, "single"), ceiling(records, "batches")
        before = process_run(round, "rtds process, one insert per row (as before)", topic, AS_BEFORE)
        # Fixed and adaptive take turns going first: a run writes into a
        # node still flushing the run before it.
        pair = [("rtds process, fixed concurrency", FIXED), ("rtds process", LIMITER_TRACED)]
        done = {name: process_run(round, name, topic, env) for name, env in pair[::1 if round % 2 else -1]}
        runs = [before, *(done[name] for name, _ in pair)]
        limits.append(runs[-1][3])
        rate = lambda r: r["rows_per_second"]
        of_loop.append(rate(runs[-1][1]) / rate(batched))
        of_fixed.append(rate(runs[-1][1]) / rate(runs[-2][1]))
        loop_cpu = lambda r: f"{r['cpu_seconds'] * 100_000 / r['rows']:.2f}"
        rows += [
            [f"{round}: plain single-insert loop (ceiling)", single["rows"], f"{rate(single):,.0f}", "1.00",
             f"{rate(single) / rate(batched):.2f}", "-", loop_cpu(single)],
            [f"{round}: plain batch loop (ceiling of batches)", batched["rows"], f"{rate(batched):,.0f}",
             f"{rate(batched) / rate(single):.2f}", "1.00", "-", loop_cpu(batched)],
        ] + [
            [f"{round}: {name}", process["written"], f"{rate(process):,.0f}",
             f"{rate(process) / rate(single):.2f}", f"{rate(process) / rate(batched):.2f}",
             f"{measured.mib():.1f}", f"{measured.per_100k(process['written']):.2f}"]
            for name, process, measured, _ in runs
        ]
    print(f"\nprocess: {records} records already in Kafka, Cassandra concurrency {single['concurrency']}, "
          f"batches of {records / batched['writes']:.1f} rows on average; "
          f"ratios against the same round's ceilings")
    table(rows, ["round: run", "rows", "rows/s", "x single", "x batches", "peak RSS MiB",
                 "CPU s / 100k (the loops: their writes alone)"])
    print(f"rtds process against the plain batch loop: best {max(of_loop):.2f}, median "
          f"{statistics.median(of_loop):.2f}; adaptive against fixed concurrency: best {max(of_fixed):.2f}, "
          f"median {statistics.median(of_fixed):.2f} (over {rounds} rounds)")
    print("the adaptive limit (its median over the run's windows, its lowest after the six windows of "
          "doubling from 4, its decreases): " + "; ".join(f"round {round}: {limit}" for round, limit in enumerate(limits, 1)))
    bench_slowed(topic, records)
    bench_latency()


# The adaptive run logs its limiter's windows, read back by `limit_windows`.
LIMITER_TRACED = {"RUST_LOG": "info,rtds::process::limiter=debug"}


def process_run(round, name, topic, env):
    """One `rtds process` of the whole topic (a new group and keyspace):
    its name, summary, measurements and, when traced, its limit's course."""
    log(f"round {round}: {name} (a new group and keyspace)")
    with tempfile.TemporaryFile("w+") as stderr:
        out, measured = run_measured(rtds("process", "--topic", topic, "--keyspace", unique("ks"), "--group",
                                          unique("group"), "--until-idle", "3s", "--json"), env, stderr)
        stderr.seek(0)
        return name, last_json(out), measured, limit_windows(stderr.read())


def limit_windows(log_text):
    """The limit's median over the windows, its lowest after the six
    windows that double it from 4 to 256, and how often it fell."""
    windows = [(int(m[1]), int(m[2])) for m in re.finditer(r"write window limit=(\d+) next=(\d+)", log_text)]
    if not windows:
        return "-"
    after_start = [limit for limit, _ in windows[6:]] or [windows[-1][0]]
    falls = sum(after < before for before, after in windows)
    return (f"{statistics.median(limit for limit, _ in windows):.0f}, lowest {min(after_start)}, "
            f"{falls} decreases in {len(windows)} windows")


def bench_slowed(topic, records):
    """rtds process on a node slowed by a second writer (a loop of single
    inserts at 256 in flight), writes timing out after 1 s: fixed concurrency
    against adaptive."""
    rows = []
    for name, env in (("fixed 256 in flight", {"RTDS_CASSANDRA_ADAPTIVE_CONCURRENCY": "false"}),
                      ("adaptive", {})):
        log(f"slowed node: rtds process, {name}, while another writer loads the node")
        load = subprocess.Popen(insert_loop(records * 4, unique("load"), "single"), cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        port = 19101
        processor = subprocess.Popen(rtds("process", "--topic", topic, "--keyspace", unique("ks"), "--group",
                                          unique("group"), "--until-idle", "3s", "--metrics-listen",
                                          f"127.0.0.1:{port}", "--json"),
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     env={**os.environ, "RTDS_CASSANDRA_TIMEOUT": "1s", **env})
        scraped, limits = None, []
        while processor.poll() is None:
            try:
                scraped = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
                limit = int(float(re.search(r"^rtds_write_concurrency_limit (\S+)", scraped, re.M)[1]))
                if limit:  # 0 until the job has its session and its limiter
                    limits.append(limit)
            except (OSError, TypeError):
                pass
            time.sleep(0.5)
        os.killpg(load.pid, signal.SIGTERM)
        load.wait()
        summary = last_json(processor.stdout.read())
        _, (p50, p99) = quantiles(histogram(scraped, "rtds_write_seconds"), [0.5, 0.99])
        rows.append([name, summary["written"], f"{summary['rows_per_second']:,.0f}", f"{p50 * 1000:.1f}",
                     f"{p99 * 1000:.1f}", summary["write_retries"],
                     f"{min(limits)}-{max(limits)}" if limits else "-"])
    print(f"\nslowed node: {records} records, while a second writer keeps 256 single inserts in flight on the "
          f"same node; writes time out after 1 s and are retried")
    table(rows, ["concurrency", "rows written", "rows/s", "write p50 ms", "write p99 ms", "write retries",
                 "limit seen"])


def record_times(topic):
    """The CreateTime (ms) of every record of a topic, read back by Kafka's
    console consumer."""
    out = kafka_tool("org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", KAFKA,
                     "--topic", topic, "--from-beginning", "--timeout-ms", "10000", "--property",
                     "print.timestamp=true", "--property", "print.value=false")
    return sorted(int(m) for m in re.findall(r"CreateTime:(\d+)", out))


def evenness(times, rate):
    """The fullest 100 ms window of a run's records against its share
    (rate / 10), the run's first and last windows left out (partial)."""
    windows = {}
    for t in times:
        windows[t // 100] = windows.get(t // 100, 0) + 1
    inner = [count for window, count in windows.items() if min(windows) < window < max(windows)]
    return max(inner) / (rate / 10) if inner else float("nan")


def share_under(buckets, limit):
    """The share of observations under the largest bucket bound <= limit
    (seconds), exact where a quantile is interpolated: (bound, share)."""
    bound, count = max((b, c) for b, c in buckets if b <= limit)
    return bound, count / max(buckets[-1][1], 1)


def latency_run(rate, seconds, extra):
    """One steady-rate run: the processor first, then `rtds produce
    --max-rate` plus `extra`; the end-to-end histogram over the whole run,
    first second included, and how evenly the records left."""
    topic, port, keyspace = unique("latency"), 19100, unique("ks")
    # The topic and the table first, as a running pipeline has them: the
    # processor starts on them at once, and a new table's first writes
    # (its first seconds on the node) are not what is measured.
    run_measured(rtds("produce", "--topic", topic, "--source", "builtin", "--count", "1"))
    run_measured(rtds("schema", "--keyspace", keyspace))
    processor = subprocess.Popen(rtds("process", "--topic", topic, "--keyspace", keyspace,
                                      "--metrics-listen", f"127.0.0.1:{port}", "--group", unique("group"),
                                      "--json"),
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    processor_rss = PeakRss(processor.pid)
    scrape = lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode()
    e2e = lambda text: histogram(text, "rtds_end_to_end_seconds")
    while True:
        try:
            if (at_start := scrape()) and e2e(at_start)[-1][1] >= 1:
                break
        except OSError:
            pass
        time.sleep(0.2)
    out, _ = run_measured(rtds("produce", "--topic", topic, "--source", "builtin", "--max-rate", str(rate),
                               "--count", str(rate * seconds), "--json", *extra))
    acked = last_json(out)["acked"]
    deadline = time.time() + 30
    while e2e(at_end := scrape())[-1][1] - e2e(at_start)[-1][1] < acked and time.time() < deadline:
        time.sleep(0.1)
    processor.send_signal(signal.SIGTERM)
    processor.communicate()
    between = lambda name: growth(at_end, at_start, name)
    whole = between("rtds_end_to_end_seconds")
    observed, (p50, p99, slowest) = quantiles(whole, [0.5, 0.99, 1.0])
    _, writes = quantiles(between("rtds_write_seconds"), [0.5, 0.99])
    _, received = quantiles(between("rtds_received_seconds"), [0.5, 0.99])
    return (observed, p50, p99, slowest, whole, writes, received, evenness(record_times(topic)[1:], rate),
            processor_rss.mib())


def kafka_latency(records=5000):
    """Kafka's own end-to-end latency tool: one 420-byte record at a time,
    acks=all, produced and consumed; (p50, p99) ms, whole milliseconds."""
    topic = unique("kafka_latency")
    kafka_tool("org.apache.kafka.tools.TopicCommand", "--bootstrap-server", KAFKA, "--create", "--topic", topic,
               "--partitions", "1", "--replication-factor", "1")
    out = kafka_tool("org.apache.kafka.tools.EndToEndLatency", "--bootstrap-server", KAFKA, "--topic", topic,
                     "--num-records", str(records), "--producer-acks", "all", "--record-size", "420")
    found = re.search(r"50th = (\d+), 99th = (\d+)", out)
    return int(found[1]), int(found[2])


def paced_inserts(rate, seconds):
    """The node's own write latency at `rate`: single inserts at that pace
    into a table written for a while already (benches/insert_ceiling.rs
    paced); (p50, p99) ms."""
    keyspace = unique("paced")
    for _ in range(2):  # the first run makes the table and warms it
        out = subprocess.run(insert_loop(rate * seconds, keyspace, "paced", rate), cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout
    paced = last_json(out)
    return paced["p50_ms"], paced["p99_ms"]


def kafka_latency_beside_inserts(rate, seconds):
    """Kafka's own latency (as `kafka_latency`) while the node takes single
    inserts at `rate` on the same cores, as it does in rtds's runs; the
    inserts stop when the tool is done. (p50, p99) ms."""
    inserts = subprocess.Popen(insert_loop(rate * seconds, unique("paced"), "paced", rate), cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(3)  # the inserts under way before the first record
        return kafka_latency()
    finally:
        os.killpg(inserts.pid, signal.SIGTERM)
        inserts.wait()


def bench_latency(seconds=30):
    """End-to-end latency at 1,000 and 5,000 records/s with default
    settings, beside pages of 10 users (how this bench ran before `--max-rate`
    spaced records): the goal is p99 under 10 and 50 ms, and no 100 ms window
    over twice its share."""
    rows = []
    log("the hops' own latency: Kafka's EndToEndLatency tool, one record at a time")
    kafka_p50, kafka_p99 = kafka_latency()
    for rate, goal in ((1000, 0.010), (5000, 0.050)):
        log(f"the hops' own latency: single inserts at {rate} rows/s on a table of their own")
        insert_p50, insert_p99 = paced_inserts(rate, seconds // 3)
        log(f"the hops' own latency: Kafka's tool while the node takes {rate} single inserts/s")
        beside_p50, beside_p99 = kafka_latency_beside_inserts(rate, seconds)
        rows.append([rate, "baselines: Kafka alone / the node's single inserts", "-",
                     f"{kafka_p50} / {insert_p50:.1f}", f"{kafka_p99} / {insert_p99:.1f}", "-", "-", "-", "-", "-", "-"])
        rows.append([rate, "baseline: Kafka alone, the node taking those inserts", "-", f"{beside_p50}",
                     f"{beside_p99}", "-", "-", "-", "-", "-", "-"])
        for name, extra in (("pages of 10 (before)", ["--batch-size", "10"]), ("default settings", [])):
            log(f"end-to-end latency at {rate} records/s for {seconds}s, {name}")
            observed, p50, p99, slowest, whole, writes, received, even, rss = latency_run(rate, seconds, extra)
            bound, share = share_under(whole, goal)
            rows.append([rate, name, observed, f"{p50 * 1000:.1f}", f"{p99 * 1000:.1f}",
                         f"{100 * share:.2f} % under {bound * 1000:.1f} ms", f"{slowest * 1000:.0f}",
                         f"{received[0] * 1000:.1f} / {received[1] * 1000:.1f}",
                         f"{writes[0] * 1000:.1f} / {writes[1] * 1000:.1f}", f"{even:.2f}", f"{rss:.1f}"])
    print(f"\nend-to-end latency (Kafka record timestamp -> Cassandra write acknowledged) over whole runs of "
          f"{seconds}s, first second included; p50/p99 interpolated in the histogram's buckets, the share under "
          f"a bucket's bound exact; received: record timestamp -> the processor receiving it (the time spent "
          f"before rtds process); fullest 100 ms window of the topic against its share (rate / 10)")
    table(rows, ["records/s", "producer", "records", "p50 ms", "p99 ms", "goal's bound", "slowest under ms",
                 "received p50 / p99 ms", "write p50 / p99 ms", "fullest 100 ms / share", "processor peak RSS MiB"])


# ------------------------------------------------------------------ mapping

def topic_partitions(topic):
    """A topic's partition count, so that the mapped dataset's topic is cut
    like the users topic and neither run gets more consumer parallelism."""
    out = kafka_tool("org.apache.kafka.tools.TopicCommand", "--bootstrap-server", KAFKA, "--describe",
                     "--topic", topic)
    return int(re.search(r"PartitionCount:\s*(\d+)", out).group(1))


def mean_record_bytes(topic, count):
    """The mean UTF-8 size of the first `count` records of a topic: what the
    mapped dataset's records are sized against."""
    out = kafka_tool("org.apache.kafka.tools.consumer.ConsoleConsumer", "--bootstrap-server", KAFKA,
                     "--topic", topic, "--from-beginning", "--max-messages", str(count),
                     "--timeout-ms", "20000")
    sizes = [len(line.encode()) for line in out.splitlines() if line.startswith("{")]
    return sum(sizes) / len(sizes)


# The edits table is keyed ((wiki, id)): one partition a row, as the users
# table has, so that both write the same kind of batches (keyed ((wiki), id),
# as the settings page's example, its rows would fall into a dozen
# partitions, which Cassandra writes faster).
WIKIS = ["en", "fr", "ja", "de", "es", "it", "pt", "ru", "zh", "pl", "nl", "sv"]
PLACES = ["Zürich", "東京", "Ελλάδα", "São Paulo", "Kraków", "Reykjavík"]
WORDS = "fix typo link cite source infobox revert layout merge image section category".split()


def wiki_edit(n, rng, target_bytes):
    """Edit `n` as one JSON line: nested objects, a list, numbers, booleans, a
    uuid and a time as epoch seconds, epoch milliseconds or RFC 3339 in turn;
    a free-text comment brings it near `target_bytes` (within +-10 %)."""
    seconds = 1_700_000_000 + n * 7
    at = [seconds, seconds * 1000,
          time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))][n % 3]
    length = {"new": rng.randrange(100, 90_000)}
    if n % 4:
        length["old"] = rng.randrange(100, 90_000)
    edit = {"wiki": WIKIS[n % len(WIKIS)], "id": 1_000_000 + n,
            "title": f"{PLACES[n % len(PLACES)]} {n}", "user": {"name": f"editor-{n % 977}",
                                                               "bot": n % 5 == 0},
            "timestamp": at, "length": length, "tags": rng.sample(WORDS, n % 3),
            "meta": {"request_id": str(uuid.UUID(int=rng.getrandbits(128), version=4))},
            "minor": n % 2 == 0, "comment": ""}
    line = lambda: json.dumps(edit, ensure_ascii=False, separators=(",", ":"))
    wanted = int(target_bytes * rng.uniform(0.9, 1.1)) - len(line().encode())
    words = []
    while len(" ".join(words)) < wanted:
        words.append(rng.choice(WORDS))
    edit["comment"] = " ".join(words)[:max(wanted, 0)]
    return line()


def edits_payloads(records, target_bytes, directory):
    """`records` distinct edits (distinct ids), one a line, for Kafka's
    producer tool to send; returns the file and its records' mean bytes."""
    rng = random.Random(7)
    lines = [wiki_edit(n, rng, target_bytes) for n in range(records)]
    payload_file = os.path.join(directory, "edits.jsonl")
    with open(payload_file, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    return payload_file, sum(len(line.encode()) for line in lines) / len(lines)


EDITS_MAPPING = """
[[mapping]]
name = "edits"
topic = "{topic}"
table = "{table}"
primary_key = "((wiki, id))"
[mapping.columns]
wiki       = {{ path = "wiki", type = "text" }}
id         = {{ path = "id", type = "bigint" }}
title      = {{ path = "title", type = "text" }}
editor     = {{ path = "user.name", type = "text" }}
bot        = {{ path = "user.bot", type = "boolean" }}
at         = {{ path = "timestamp", type = "timestamp" }}
new_length = {{ path = "length.new", type = "int" }}
old_length = {{ path = "length.old", type = "int" }}
request_id = {{ path = "meta.request_id", type = "uuid" }}
tags       = {{ path = "tags", type = "list<text>" }}
minor      = {{ path = "minor", type = "boolean" }}
comment    = {{ path = "comment", type = "text" }}
"""


def builtin_entry(topic, table):
    """The users pipeline as `rtds config --builtin-mapping` prints it, on
    another topic and table: the same work through the mapping code."""
    entry = subprocess.run(rtds("config", "--builtin-mapping"), check=True, capture_output=True,
                           text=True).stdout
    entry = re.sub(r'^topic = ".*"$', f'topic = "{topic}"', entry, count=1, flags=re.M)
    return re.sub(r'^table = ".*"$', f'table = "{table}"', entry, count=1, flags=re.M)


def run_users(topic):
    """rtds process as the users pipeline runs today, without a settings
    file: the baseline of every round."""
    out, measured = run_measured(rtds("process", "--topic", topic, "--keyspace", unique("ks"), "--group",
                                      unique("group"), "--until-idle", "3s", "--json"))
    return last_json(out), measured


def run_mapped(directory, entry):
    """rtds process on a settings file of one `[[mapping]]` entry, with a
    group and DLQ topic of its own so that it starts from the beginning."""
    config = os.path.join(directory, f"{unique('settings')}.toml")
    with open(config, "w", encoding="utf-8") as f:
        f.write(f'[kafka]\nbootstrap_servers = "{KAFKA}"\ngroup_id = "{unique("group")}"\n'
                f'dlq_topic = "{unique("dlq")}"\n\n[cassandra]\ncontact_points = ["127.0.0.1:9042"]\n'
                f"{entry}")
    out, measured = run_measured([RTDS, "--config", config, "process", "--until-idle", "3s", "--json"])
    return last_json(out), measured


def fill_mapping_topics(records, directory):
    """The two topics every round reads: N users from rtds produce, and N
    wiki edits of about the users' mean size on as many partitions."""
    users_topic, edits_topic = unique("users"), unique("edits")
    log(f"filling {users_topic} with {records} users")
    run_measured(rtds("produce", "--topic", users_topic, "--source", "builtin", "--count", str(records)))
    partitions = topic_partitions(users_topic)
    users_bytes = mean_record_bytes(users_topic, min(records, 5000))
    payload_file, edits_bytes = edits_payloads(records, users_bytes, directory)
    # ProducerPerformance sends lines of its payload file picked at random
    # (it has no option to send them in order), so some edits repeat and
    # others are left out: the table holds fewer rows than records, and the
    # rows counted are the writes of the summary's `written`.
    log(f"filling {edits_topic} with {records} wiki edits ({partitions} partitions)")
    producer_performance(records, payload_file, partitions, topic=edits_topic)
    return users_topic, edits_topic, partitions, users_bytes, edits_bytes


def mapping_round(round, users_topic, edits_topic, directory):
    """One round: the users pipeline, the built-in mapping on the same topic
    and the wiki edits, each with a fresh group and keyspace; the order
    turns around every other round so that neither side always goes first."""
    runs = [
        ("users pipeline (baseline)", lambda: run_users(users_topic)),
        ("built-in mapping as [[mapping]]", lambda: run_mapped(directory, builtin_entry(
            users_topic, f"{unique('ks')}.created_users"))),
        ("wiki edits [[mapping]]", lambda: run_mapped(directory, EDITS_MAPPING.format(
            topic=edits_topic, table=f"{unique('ks')}.edits"))),
    ]
    results = {}
    for name, run in runs if round % 2 else reversed(runs):
        log(f"round {round}: rtds process, {name}")
        summary, measured = run()
        if summary["dead_lettered"]:
            log(f"round {round}: {name}: {summary['dead_lettered']} records went to the DLQ")
        results[name] = (summary, measured)
    return [(name, *results[name]) for name, _ in runs]


def mapping_checks(totals):
    """The issue's two checks over all rounds (rows / busy seconds, CPU per
    100k rows): the built-in mapping within 10 % of the users pipeline, the
    wiki edits at least 90 % of its rows/s. Figures, not an exit code."""
    rate = lambda name: totals[name][0] / max(totals[name][1], 1e-9)
    cpu = lambda name: 100_000 * totals[name][2] / max(totals[name][0], 1)
    base, builtin, edits = list(totals)
    rate_ratio, cpu_ratio = rate(builtin) / rate(base), cpu(builtin) / cpu(base)
    within = rate_ratio >= 0.90 and cpu_ratio <= 1.10
    print(f"built-in mapping within 10 % of the users pipeline (rows/s >= 90 %, CPU s / 100k <= 110 %): "
          f"{'yes' if within else 'no'} (rows/s {rate(builtin):,.0f} vs {rate(base):,.0f}, x{rate_ratio:.2f}; "
          f"CPU s / 100k {cpu(builtin):.2f} vs {cpu(base):.2f}, x{cpu_ratio:.2f})")
    edits_ratio = rate(edits) / rate(base)
    print(f"wiki edits mapping >= 90 % of the users pipeline's rows/s: {'yes' if edits_ratio >= 0.90 else 'no'} "
          f"({rate(edits):,.0f} vs {rate(base):,.0f}, x{edits_ratio:.2f}; "
          f"CPU s / 100k {cpu(edits):.2f})")


def bench_mappings(records, rounds):
    """rtds process through `[[mapping]]` entries against the users pipeline
    on the same node in one run: the same users through the built-in
    mapping, and a dataset of another shape but a similar record size."""
    with tempfile.TemporaryDirectory(prefix="rtds-bench-") as directory:
        users_topic, edits_topic, partitions, users_bytes, edits_bytes = fill_mapping_topics(records, directory)
        rows, totals = [], {}
        for round in range(1, rounds + 1):
            runs = mapping_round(round, users_topic, edits_topic, directory)
            base = runs[0][1]["rows_per_second"]
            for name, summary, measured in runs:
                written, busy, cpu = totals.get(name, (0, 0.0, 0.0))
                totals[name] = (written + summary["written"], busy + summary["busy_seconds"],
                                cpu + measured.cpu_seconds)
                rows.append([f"{round}: {name}", summary["written"], f"{summary['rows_per_second']:,.0f}",
                             f"{summary['rows_per_second'] / base:.2f}", f"{measured.mib():.1f}",
                             f"{measured.per_100k(summary['written']):.2f}"])
    print(f"\nmapping: {records} records already in Kafka on {partitions} partitions each; users average "
          f"{users_bytes:.0f} bytes, wiki edits {edits_bytes:.0f} bytes; ratio against the same round's "
          f"users pipeline")
    table(rows, ["round: run", "rows", "rows/s", "ratio", "peak RSS MiB", "CPU s / 100k"])
    mapping_checks(totals)


# ------------------------------------------------------------------ formats

REGISTRY = "http://127.0.0.1:8081/apis/ccompat/v7"
REGISTRY_VENV = os.environ.get("RTDS_STACK_REGISTRY_VENV", os.path.join(ROOT, ".venv-registry"))

# Sums the value sizes of a topic's first N records (uncompressed, as a
# consumer receives them), with Confluent's client from the venv that
# scripts/registry-produce makes.
VALUE_BYTES = """
import sys
from confluent_kafka import Consumer
topic, count = sys.argv[1], int(sys.argv[2])
consumer = Consumer({"bootstrap.servers": "%s", "group.id": "rtds-bench-sizes",
                     "auto.offset.reset": "earliest", "enable.auto.commit": False})
consumer.subscribe([topic])
seen, total, idle = 0, 0, 0
while seen < count and idle < 20:
    message = consumer.poll(1.0)
    if message is None:
        idle += 1
        continue
    if message.error() is None and message.value() is not None:
        seen, total, idle = seen + 1, total + len(message.value()), 0
consumer.close()
print(total / max(seen, 1))
""" % KAFKA


def value_bytes(topic, count):
    """The mean value size of a topic's first `count` records."""
    subprocess.run([os.path.join(ROOT, "scripts", "registry-produce"), "--help"], check=True,
                   capture_output=True)  # makes the venv when it is not there
    out = subprocess.run([os.path.join(REGISTRY_VENV, "bin", "python"), "-c", VALUE_BYTES, topic, str(count)],
                         check=True, capture_output=True, text=True).stdout
    return float(out.strip())


def disk_bytes(topic):
    """The topic's log size on the broker's disk (lz4 batches, as rtds
    produces them), summed over its partitions."""
    out = kafka_tool("org.apache.kafka.tools.LogDirsCommand", "--bootstrap-server", KAFKA, "--describe",
                     "--topic-list", topic)
    report = json.loads(next(line for line in out.splitlines() if line.startswith("{")))
    return sum(p["size"] for broker in report["brokers"] for d in broker["logDirs"] for p in d["partitions"])


def format_round(round, records, seed):
    """One round: the same users (one seed) produced and processed as JSON
    and as Avro, each on a topic, group and keyspace of its own; the order
    turns around every other round."""
    results = {}
    for fmt in (["json", "avro"] if round % 2 else ["avro", "json"]):
        flags = ["--format", fmt, "--registry-url", REGISTRY]
        topic = unique(f"users_{fmt}")
        log(f"round {round}: rtds produce {records} users as {fmt} into {topic}")
        out, produced = run_measured(rtds("produce", "--topic", topic, "--source", "builtin", "--seed", seed,
                                          "--count", str(records), "--json", *flags))
        produce = last_json(out)
        log(f"round {round}: rtds process {topic}")
        out, processed = run_measured(rtds("process", "--topic", topic, "--keyspace", unique("ks"), "--group",
                                           unique("group"), "--until-idle", "3s", "--json", *flags))
        process = last_json(out)
        if process["written"] != records or process["dead_lettered"]:
            sys.exit(f"bench: {fmt}: {process['written']} of {records} written, "
                     f"{process['dead_lettered']} dead-lettered")
        sizes = (value_bytes(topic, min(records, 5000)), disk_bytes(topic) / records)
        results[fmt] = (produce, produced, process, processed, sizes)
    return results


def bench_formats(records, rounds):
    """The users pipeline in Avro beside JSON on the same node in one run."""
    seed = uuid.uuid4().hex[:16]
    rows, totals = [], {}
    for round in range(1, rounds + 1):
        results = format_round(round, records, seed)
        base = results["json"]
        for fmt, (produce, produced, process, processed, (value, disk)) in results.items():
            rate_p, rate_w = produce["records_per_second"], process["rows_per_second"]
            cpu_p, cpu_w = produced.per_100k(records), processed.per_100k(records)
            rows.append([f"{round}: {fmt}", f"{rate_p:,.0f}", f"{rate_p / base[0]['records_per_second']:.2f}",
                         f"{cpu_p:.2f}", f"{rate_w:,.0f}", f"{rate_w / base[2]['rows_per_second']:.2f}",
                         f"{cpu_w:.2f}", f"{value:.0f}", f"{disk:.0f}"])
            total = totals.setdefault(fmt, [0.0, 0.0, 0.0, 0.0])
            for i, figure in enumerate((cpu_p, cpu_w, value, disk)):
                total[i] += figure / rounds
    print(f"\nformats: {records} built-in users (one seed) a run, produced then processed; ratio against "
          f"the same round's JSON; bytes: the mean value a consumer receives, and the log on disk (lz4) per record")
    table(rows, ["round: format", "produce rec/s", "ratio", "CPU s / 100k", "process rows/s", "ratio",
                 "CPU s / 100k", "value bytes", "disk bytes"])
    json_, avro = totals["json"], totals["avro"]
    print(f"Avro against JSON over {rounds} rounds: produce CPU x{avro[0] / json_[0]:.2f}, process CPU "
          f"x{avro[1] / json_[1]:.2f}, value bytes x{avro[2] / json_[2]:.2f}, disk bytes x{avro[3] / json_[3]:.2f}")


# ------------------------------------------------------------------ scale

CLUSTER_CONFIG = os.path.join(ROOT, ".stack", "cluster", "rtds.toml")


def cpu_ticks():
    """(busy, total) clock ticks of the whole machine, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(f) for f in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def bench_scale(records):
    on_cluster = lambda *args: [RTDS, "--config", CLUSTER_CONFIG, *args]
    topic = unique("scale")
    log(f"filling {topic} (6 partitions, 3 replicas) with {records} records")
    subprocess.run(on_cluster("produce", "--topic", topic, "--source", "builtin", "--count", str(records)),
                   check=True, capture_output=True, env={**os.environ, "RTDS_KAFKA_PARTITIONS": "6"})
    rows, single = [], None
    for processors in (1, 2, 3):
        group, keyspace = unique("group"), unique("ks")
        log(f"{processors} rtds process in group {group}")
        # The keyspace first, by one processor alone, so that the timed run
        # measures writes, not several processors racing to create a table.
        subprocess.run(on_cluster("schema", "--keyspace", keyspace), check=True, capture_output=True)
        busy_before, total_before = cpu_ticks()
        started = [subprocess.Popen(on_cluster("process", "--topic", topic, "--keyspace", keyspace,
                                               "--group", group, "--until-idle", "5s", "--json"),
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                   for _ in range(processors)]
        cpu, summaries = 0.0, []
        for process in started:
            stdout = process.stdout.read()
            cpu += reap(process)
            if process.returncode:
                sys.exit(f"bench: rtds process failed with status {process.returncode}")
            summaries.append(last_json(stdout))
        busy_after, total_after = cpu_ticks()
        written = sum(s["written"] for s in summaries)
        # The group's rate: every row over the longest busy span of its members.
        rate = written / max(s["busy_seconds"] for s in summaries)
        single = single or rate
        machine = 100 * (busy_after - busy_before) / max(total_after - total_before, 1)
        rows.append([processors, written, f"{rate:,.0f}", f"{rate / single:.2f}",
                     f"{100_000 * cpu / written:.2f}", f"{machine:.0f}%"])
    print(f"\nscale: {records} records on 6 partitions, 3 brokers and 3 Cassandra nodes (RF 3, LOCAL_QUORUM) "
          f"on this one machine of {os.cpu_count()} cores; ratio against one processor")
    table(rows, ["processors", "rows", "rows/s", "ratio", "rtds CPU s / 100k rows", "machine CPU busy"])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("which", choices=["produce", "process", "latency", "mapping", "formats", "all", "scale",
                                          "soak", "cron"])
    parser.add_argument("--records", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=2, help="baseline/rtds pairs, alternated")
    parser.add_argument("--rate", type=int, default=4000, help="soak: records/s, about half the node's rate")
    parser.add_argument("--minutes", type=int, default=60, help="cron: how long rtds run runs")
    parser.add_argument("--every", type=int, default=5, help="cron: minutes between slots")
    parser.add_argument("--count", type=int, default=10000, help="cron: users a slot")
    parser.add_argument("--out", default=os.path.join(ROOT, "target", "bench"),
                        help="soak, cron: where the series (CSV), the chart and the log go")
    args = parser.parse_args()
    if args.which in ("produce", "all"):
        bench_produce(args.records or 1_000_000, args.rounds)
    if args.which in ("process", "all"):
        bench_process(args.records or 200_000, args.rounds)
    if args.which == "latency":
        bench_latency()
    if args.which in ("mapping", "all"):
        bench_mappings(args.records or 200_000, args.rounds)
    if args.which in ("formats", "all"):
        bench_formats(args.records or 200_000, args.rounds)
    if args.which == "scale":
        bench_scale(args.records or 300_000)
    if args.which == "soak":
        soak.bench_soak(args.records or 5_000_000, args.rate, args.out)
    if args.which == "cron":
        soak.bench_cron(args.minutes, args.every, args.count, args.out)


if __name__ == "__main__":
    main()
