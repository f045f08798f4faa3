"""The Airflow DAG dags/user_automation.py, run by a real Airflow against the real local Kafka.

Run with scripts/test-airflow (it brings up the stack and the Airflow venv). Needs
target/release/rtds (`cargo build --release`) and Kafka on 127.0.0.1:9092.

- the DAG imports without errors, is scheduled daily without catch-up, and has the
  one task stream_data_from_api;
- `airflow dags test user_automation` with the local Random User API stand-in as
  source publishes records to Kafka (counted and read back with Kafka's own tools);
- with an unreachable broker the task fails with rtds's own error message.
"""

from __future__ import annotations

import datetime as dt
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
        if not k.startswith(("RTDS_KAFKA_", "RTDS_PRODUCE_", "AIRFLOW_VAR_RTDS_")) and k != "RTDS_BIN"
    }
    env.update(extra)
    return env


def run(cmd: list, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in cmd], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def airflow(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return run([AIRFLOW, *args], env=env or clean_env())


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


# ---------------------------------------------------------------- tests


def test_dag_imports_and_is_the_tutorials_schedule():
    # --local parses dags/ now; without it Airflow 3 reads what a DAG processor stored.
    assert json_output(airflow("dags", "list-import-errors", "--local", "-o", "json")) == []

    dags = json_output(airflow(
        "dags", "list", "--local", "-o", "json",
        "--columns", "dag_id,fileloc,timetable_summary,timetable_description",
    ))
    [dag] = [d for d in dags if d["dag_id"] == "user_automation"]
    assert Path(dag["fileloc"]) == ROOT / "dags" / "user_automation.py"
    # Airflow 2 shows "@daily", Airflow 3 the cron expression it stands for.
    assert dag["timetable_summary"] in ("@daily", "0 0 * * *"), dag
    assert dag["timetable_description"] == "At 00:00", dag

    tasks = airflow("tasks", "list", "user_automation")
    assert tasks.returncode == 0, tasks.stderr
    assert tasks.stdout.split() == ["stream_data_from_api"], tasks.stdout

    # catchup=False: the next run is today's, not one for every day since start_date.
    assert airflow("dags", "reserialize").returncode == 0
    [details] = json_output(airflow("dags", "details", "user_automation", "-o", "json"))
    next_run = dt.datetime.fromisoformat(details["next_dagrun_logical_date"])
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
    proc = airflow("dags", "test", "user_automation", env=env)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"airflow dags test failed:\n{log}"
    assert "running task" in log and "stream_data_from_api" in log, log
    command = (f"produce --duration 3s --bootstrap-servers {KAFKA} "
               f"--topic {topic} --source {randomuser_api}")
    assert command in log, f"task did not run `rtds {command}`:\n{log}"
    assert "state=success" in log, log

    offsets = run([*kafka_tools, "org.apache.kafka.tools.GetOffsetShell",
                   "--bootstrap-server", KAFKA, "--topic", topic])
    assert offsets.returncode == 0, offsets.stderr
    # One "topic:partition:end offset" line per partition.
    ends = [int(line.rsplit(":", 1)[1]) for line in offsets.stdout.split()
            if line.startswith(topic + ":")]
    assert ends and sum(ends) > 0, f"no records on {topic}: {offsets.stdout!r}"

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
    proc = airflow("dags", "test", "user_automation", env=env)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, f"airflow dags test succeeded against {DEAD_KAFKA}:\n{log}"
    assert f"--bootstrap-servers {DEAD_KAFKA} " in log, log
    assert "state=failed" in log, log
    # The task's exception carries rtds's own words (they follow the status line,
    # up to the next timestamped log line).
    error = re.search(r"rtds produce exited with status [1-9]\d*:\n(.*?)(?=^\d{4}-\d\d-\d\dT|\Z)",
                      log, re.S | re.M)
    assert error, f"no failure of rtds in the task log:\n{log}"
    assert DEAD_KAFKA in error.group(1) and "error" in error.group(1).lower(), error.group(0)
