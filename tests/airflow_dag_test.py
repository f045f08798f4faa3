"""The Airflow DAG dags/user_automation.py, run by a real Airflow against the real local Kafka.

Run with scripts/test-airflow (it brings up the stack and the Airflow venvs, and runs
this file once per Airflow line: 3, then 2 with RTDS_AIRFLOW=2). Needs
target/release/rtds (`cargo build --release`) and Kafka on 127.0.0.1:9092.

- the DAG imports without errors, is scheduled daily without catch-up, and has the
  one task stream_data_from_api;
- `airflow dags test user_automation` with the local Random User API stand-in as
  source publishes records to Kafka (counted and read back with Kafka's own tools);
- with an unreachable broker the task fails with rtds's own error message;
- a SASL password from an Airflow Variable reaches rtds, and neither it nor one from
  the environment shows in the task log;
- with the Connection rtds_kafka, the task publishes to the secure stack's Kafka over
  SASL_SSL (scripts/stack up --secure), and its password shows nowhere in the log.

Every run's outcome is read from the metadata database (`airflow tasks
states-for-dag-run`), and `airflow dags test`'s exit status must agree: older
Airflow 2 releases exit 0 even when the task fails.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
import socket
import subprocess
import time
import urllib.request
import uuid
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW = ROOT / "scripts" / "airflow"
STACK = ROOT / "scripts" / "stack"
RTDS = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "rtds"
KAFKA = "127.0.0.1:9092"
SECURE = Path(os.environ.get("RTDS_STACK_DIR", ROOT / ".stack")) / "secure"
SECURE_KAFKA = "127.0.0.1:9192"  # SASL_SSL
DEAD_KAFKA = "127.0.0.1:1"  # nothing listens on port 1
USER_FIELDS = {
    "id", "first_name", "last_name", "gender", "address", "post_code", "email",
    "username", "dob", "registered_date", "phone", "picture",
}


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without rtds settings or rtds Variables, plus `extra`."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RTDS_KAFKA_", "RTDS_PRODUCE_", "AIRFLOW_VAR_RTDS_", "AIRFLOW_CONN_RTDS_"))
        and k != "RTDS_BIN"
    }
    env.update(extra)
    return env


def run(cmd: list, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in cmd], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def airflow(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return run([AIRFLOW, *args], env=env or clean_env())


@functools.cache
def airflow_major() -> int:
    """The major version of the Airflow that scripts/airflow runs (RTDS_AIRFLOW picks it)."""
    proc = airflow("version")
    assert proc.returncode == 0, f"airflow version failed:\n{proc.stdout}\n{proc.stderr}"
    return int(proc.stdout.split()[-1].split(".")[0])


def dags_test(env: dict) -> tuple[str, str]:
    """Runs `airflow dags test user_automation` for a logical date of its own; returns
    the output and the task's state as the metadata database has it."""
    # Runs take seconds, so the current second names this run alone.
    logical_date = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    proc = airflow("dags", "test", "user_automation", logical_date, env=env)
    log = proc.stdout + proc.stderr
    states = airflow("tasks", "states-for-dag-run", "user_automation", logical_date, "-o", "json")
    [task] = json_output(states)
    assert task["task_id"] == "stream_data_from_api", task
    # The exit status agrees on both tested lines (older Airflow 2 releases, such as
    # the tutorial's 2.6, exit 0 on a failed run: hence the state from the database).
    assert (proc.returncode == 0) == (task["state"] == "success"), (proc.returncode, task, log)
    return log, task["state"]


def json_output(proc: subprocess.CompletedProcess):
    """The JSON document an `airflow ... -o json` printed (warnings may precede it on stdout)."""
    assert proc.returncode == 0, f"airflow failed:\n{proc.stdout}\n{proc.stderr}"
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(("[", "{")):
            return json.loads(line)
    raise AssertionError(f"no JSON in airflow's output:\n{proc.stdout}")


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def rtds() -> Path:
    if not RTDS.is_file():
        pytest.fail(f"{RTDS} is missing: build it first with `cargo build --release`")
    return RTDS


@pytest.fixture(scope="session")
def kafka_tools() -> list[str]:
    """`java -cp <Kafka jars>`, after checking the tool classes the tests use are there."""
    java = run([STACK, "java"]).stdout.strip() or "java"
    classpath = run([STACK, "classpath", "kafka"]).stdout.strip()
    classes = set()
    for jar in Path(classpath.rstrip("*")).glob("kafka-tools-*.jar"):
        classes.update(zipfile.ZipFile(jar).namelist())
    for cls in ("GetOffsetShell", "TopicCommand", "consumer/ConsoleConsumer"):
        assert f"org/apache/kafka/tools/{cls}.class" in classes, f"no {cls} in {classpath}"
    return [java, "-cp", classpath]


@pytest.fixture(scope="session")
def randomuser_api(rtds: Path):
    """URL of a local `rtds randomuser-server` (the real API is out of reach in tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [rtds, "randomuser-server", "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/api/"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, f"rtds randomuser-server exited with {server.returncode}"
            try:
                with urllib.request.urlopen(url + "?results=1", timeout=2) as reply:
                    assert json.load(reply)["results"], "the stand-in answered no user"
                break
            except OSError:
                assert time.monotonic() < deadline, f"rtds randomuser-server does not answer on {url}"
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture
def topic(kafka_tools: list[str]):
    """A topic name of this test alone, deleted afterwards (the broker is shared)."""
    name = f"airflow_test_{uuid.uuid4().hex[:12]}"
    yield name
    run([*kafka_tools, "org.apache.kafka.tools.TopicCommand",
         "--bootstrap-server", KAFKA, "--delete", "--if-exists", "--topic", name])


@pytest.fixture
def secure_kafka(kafka_tools: list[str]):
    """The secure stack's Kafka: Kafka's tools flags for it (the admin's login), and a
    topic of this test, with the ACLs that let the producer login rtds_producer write it."""
    client = SECURE / "kafka-client.properties"
    if not client.is_file():
        pytest.fail(f"{client} is missing: start the secure stack with `scripts/stack up --secure`")
    flags = ["--bootstrap-server", SECURE_KAFKA, "--command-config", str(client)]
    name = f"airflow_test_{uuid.uuid4().hex[:12]}"
    granted = run([STACK, "grant", "--secure", name, f"{name}-group"])
    assert granted.returncode == 0, granted.stderr
    yield flags, name
    for topic in (name, f"{name}.dlq"):
        run([*kafka_tools, "org.apache.kafka.tools.TopicCommand", *flags, "--delete", "--if-exists",
             "--topic", topic])


def end_offsets(kafka_tools: list[str], flags: list[str], topic: str) -> list[int]:
    """The end offset of each partition of `topic` (none when it does not exist)."""
    offsets = run([*kafka_tools, "org.apache.kafka.tools.GetOffsetShell", *flags, "--topic", topic])
    assert offsets.returncode == 0, offsets.stderr
    # One "topic:partition:end offset" line per partition.
    return [int(line.rsplit(":", 1)[1]) for line in offsets.stdout.split()
            if line.startswith(topic + ":")]


# ---------------------------------------------------------------- tests


def test_dag_imports_and_is_the_tutorials_schedule():
    if airflow_major() >= 3:
        # --local parses dags/ now; without it Airflow 3 reads what a DAG processor stored.
        local, schedule = ["--local"], "timetable_summary"
    else:  # Airflow 2 always parses dags/, and calls the schedule schedule_interval
        local, schedule = [], "schedule_interval"
    assert json_output(airflow("dags", "list-import-errors", *local, "-o", "json")) == []

    dags = json_output(airflow(
        "dags", "list", *local, "-o", "json",
        "--columns", f"dag_id,fileloc,{schedule},timetable_description",
    ))
    [dag] = [d for d in dags if d["dag_id"] == "user_automation"]
    assert Path(dag["fileloc"]) == ROOT / "dags" / "user_automation.py"
    # Airflow 3 shows the cron expression @daily stands for, Airflow 2 the expression
    # itself: as is when it parsed dags/ just now, as {"__type": "CronExpression",
    # "value": ...} when the DAG is already in its database (from an earlier run).
    if airflow_major() >= 3:
        assert dag[schedule] == "0 0 * * *", dag
    else:
        value = dag[schedule]["value"] if isinstance(dag[schedule], dict) else dag[schedule]
        assert value == "@daily", dag
    assert dag["timetable_description"] == "At 00:00", dag

    tasks = airflow("tasks", "list", "user_automation")
    assert tasks.returncode == 0, tasks.stderr
    assert tasks.stdout.split() == ["stream_data_from_api"], tasks.stdout

    # catchup=False: the next run is today's, not one for every day since start_date.
    assert airflow("dags", "reserialize").returncode == 0
    [details] = json_output(airflow("dags", "details", "user_automation", "-o", "json"))
    next_run = dt.datetime.fromisoformat(
        details["next_dagrun_logical_date" if airflow_major() >= 3 else "next_dagrun"])
    now = dt.datetime.now(dt.timezone.utc)
    assert now - dt.timedelta(days=2) < next_run <= now + dt.timedelta(days=1), details


def test_dag_run_publishes_users_to_kafka(rtds, randomuser_api, kafka_tools, topic):
    env = clean_env(
        AIRFLOW_VAR_RTDS_BIN=str(rtds),
        AIRFLOW_VAR_RTDS_SOURCE=randomuser_api,
        AIRFLOW_VAR_RTDS_TOPIC=topic,
        AIRFLOW_VAR_RTDS_DURATION="3s",
        AIRFLOW_VAR_RTDS_BOOTSTRAP_SERVERS=KAFKA,
        # A Variable wins over the environment: were this used, the run would fail.
        RTDS_KAFKA_BOOTSTRAP_SERVERS=DEAD_KAFKA,
        RTDS_KAFKA_TIMEOUT="3s",
    )
    log, state = dags_test(env)
    assert state == "success", f"the task ended {state}:\n{log}"
    command = (f"produce --duration 3s --bootstrap-servers {KAFKA} "
               f"--topic {topic} --source {randomuser_api}")
    assert command in log, f"task did not run `rtds {command}`:\n{log}"

    ends = end_offsets(kafka_tools, ["--bootstrap-server", KAFKA], topic)
    assert ends and sum(ends) > 0, f"no records on {topic}: {ends}"

    consumed = run([*kafka_tools, "org.apache.kafka.tools.consumer.ConsoleConsumer",
                    "--bootstrap-server", KAFKA, "--topic", topic, "--from-beginning",
                    "--max-messages", "5", "--timeout-ms", "20000"], timeout=120)
    messages = consumed.stdout.splitlines()
    assert len(messages) == 5, f"read {len(messages)} of 5 messages:\n{consumed.stdout}{consumed.stderr}"
    for message in messages:
        user = json.loads(message)
        assert set(user) == USER_FIELDS, message
        assert all(isinstance(v, str) and v for v in user.values()), message
        uuid.UUID(user["id"])


def test_dag_run_fails_with_rtds_error_when_kafka_is_unreachable(rtds, topic):
    # The broker comes from the environment this time (no Variable): the fallback path.
    env = clean_env(
        AIRFLOW_VAR_RTDS_BIN=str(rtds),
        AIRFLOW_VAR_RTDS_SOURCE="builtin",
        AIRFLOW_VAR_RTDS_TOPIC=topic,
        AIRFLOW_VAR_RTDS_DURATION="3s",
        RTDS_KAFKA_BOOTSTRAP_SERVERS=DEAD_KAFKA,
        RTDS_KAFKA_TIMEOUT="3s",
    )
    log, state = dags_test(env)
    assert state == "failed", f"the task ended {state} against {DEAD_KAFKA}:\n{log}"
    assert f"--bootstrap-servers {DEAD_KAFKA} " in log, log
    # The task's exception carries rtds's own words (they follow the status line,
    # up to the next timestamped log line: "2026-..." on Airflow 3, "[2026-..." on 2).
    error = re.search(r"rtds produce exited with status [1-9]\d*:\n(.*?)(?=^\[?\d{4}-\d\d-\d\d[T ]|\Z)",
                      log, re.S | re.M)
    assert error, f"no failure of rtds in the task log:\n{log}"
    assert DEAD_KAFKA in error.group(1) and "error" in error.group(1).lower(), error.group(0)


def test_dag_run_keeps_passwords_out_of_the_task_log(tmp_path):
    # A stand-in for rtds that shows what a careless program would: the passwords it
    # was given, on its output, which the task copies into its log.
    fake_rtds = tmp_path / "rtds"
    fake_rtds.write_text(
        "#!/bin/sh\n"
        'echo "sasl password: $RTDS_KAFKA_SASL_PASSWORD; cassandra password: $RTDS_CASSANDRA_PASSWORD"\n'
        "exit 3\n"
    )
    fake_rtds.chmod(0o755)
    sasl_password, cassandra_password = f"sasl-{uuid.uuid4().hex}", f"cql-{uuid.uuid4().hex}"
    env = clean_env(
        AIRFLOW_VAR_RTDS_BIN=str(fake_rtds),
        AIRFLOW_VAR_RTDS_KAFKA_SASL_PASSWORD=sasl_password,  # the Variable way
        RTDS_CASSANDRA_PASSWORD=cassandra_password,  # already in the worker's environment
    )
    log, state = dags_test(env)
    assert state == "failed", f"the task ended {state}, not failed with the stand-in's status 3:\n{log}"
    assert "rtds produce exited with status 3" in log, log
    assert sasl_password not in log and cassandra_password not in log, log
    # Both reached the program (the Variable through its environment) and were masked,
    # in its output and in the task's exception.
    shown = "sasl password: ***; cassandra password: ***"
    assert log.count(shown) >= 2, log


def test_dag_run_reaches_a_secured_kafka_through_a_connection(rtds, randomuser_api, kafka_tools,
                                                            secure_kafka):
    flags, topic = secure_kafka
    password = (SECURE / "secrets" / "kafka-rtds_producer").read_text().strip()
    connection = {
        "conn_type": "generic",
        "host": "127.0.0.1",
        "port": int(SECURE_KAFKA.rsplit(":", 1)[1]),
        "login": "rtds_producer",
        "password": password,
        "extra": {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-512",
            "ssl_ca_location": str(SECURE / "tls" / "ca.crt"),
        },
    }
    env = clean_env(
        AIRFLOW_VAR_RTDS_BIN=str(rtds),
        AIRFLOW_VAR_RTDS_SOURCE=randomuser_api,
        AIRFLOW_VAR_RTDS_TOPIC=topic,
        AIRFLOW_VAR_RTDS_DURATION="3s",
        # The Connection's brokers win over this Variable: were it used, the run would fail.
        AIRFLOW_VAR_RTDS_BOOTSTRAP_SERVERS=DEAD_KAFKA,
        RTDS_KAFKA_TIMEOUT="10s",
        AIRFLOW_CONN_RTDS_KAFKA=json.dumps(connection),
    )
    log, state = dags_test(env)
    assert state == "success", f"the task ended {state}:\n{log}"
    assert f"--bootstrap-servers {SECURE_KAFKA} " in log, log
    assert password not in log, "the Connection's password shows in the task log"
    ends = end_offsets(kafka_tools, flags, topic)
    assert ends and sum(ends) > 0, f"no records on {topic} at {SECURE_KAFKA}: {ends}"
