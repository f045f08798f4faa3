"""The tutorial's ``user_automation`` DAG, as a thin wrapper around ``rtds produce``.

The original DAG fetched users from the Random User API and published them to
Kafka inside its one Airflow task. Here the work is done by the ``rtds`` binary
(batching, retries, delivery checks, progress, a clear error when it fails), so
Airflow only schedules it: one task, ``stream_data_from_api``, runs

    rtds produce --duration D --bootstrap-servers B --topic T --source S

and fails with rtds's own error message when rtds exits non-zero. Keeping the
logic out of the DAG means it is tested once, in Rust, and behaves the same
whether Airflow, cron or a person starts it.

Each setting is the Airflow Variable named below, else the environment variable,
else rtds's own default:

    rtds_bin                RTDS_BIN                       rtds (found on PATH)
    rtds_bootstrap_servers  RTDS_KAFKA_BOOTSTRAP_SERVERS   127.0.0.1:9092
    rtds_topic              RTDS_KAFKA_TOPIC               users_created
    rtds_source             RTDS_PRODUCE_SOURCE            https://randomuser.me/api/
    rtds_duration           RTDS_PRODUCE_DURATION          60s

(Variables can also come from ``AIRFLOW_VAR_RTDS_TOPIC``-style environment
variables.) The environment is passed on to rtds, so its other settings
(``RTDS_KAFKA_*`` security options, ``rtds.toml`` in the task's working
directory) apply too; the four values above are always passed as flags, which
take precedence over rtds.toml. ``RTDS_KAFKA_FORMAT=avro`` with
``RTDS_REGISTRY_URL`` publishes the users as Avro through a schema registry.

A secured Kafka is best described by the Airflow Connection ``rtds_kafka``, used
when it exists (Airflow keeps its password encrypted and masks it in task logs):

    host, port      the brokers (``host`` may list several, ``h1:9093,h2:9093``);
                    they win over ``rtds_bootstrap_servers``
    login           RTDS_KAFKA_SASL_USERNAME
    password        RTDS_KAFKA_SASL_PASSWORD
    extra (JSON)    any other ``[kafka]`` setting of rtds by name, e.g.
                    {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
                     "ssl_ca_location": "/etc/rtds/ca.crt"}, as RTDS_KAFKA_<NAME>

Secrets never go on the command line (it is logged): the SASL password is the
Connection's, or the Airflow Variable ``rtds_kafka_sasl_password``, handed to rtds
as ``RTDS_KAFKA_SASL_PASSWORD`` in its environment. Airflow masks the values of
Variables whose names contain "password" in the task logs of scheduled runs, but
not in ``airflow dags test`` on Airflow 2, so the task also replaces that value,
and any ``RTDS_*PASSWORD*`` or ``RTDS_*SECRET*`` value of the worker's
environment, by ``***`` in everything it logs. The task needs no Cassandra
password: ``rtds produce`` only talks to Kafka.

Works on Airflow 3 (``airflow.sdk``; tested with 3.3.2) and Airflow 2 (tested with 2.11.2).
"""

from __future__ import annotations

import collections
import logging
import os
import subprocess

import pendulum

try:  # Airflow 3
    from airflow.sdk import BaseHook, Variable, dag, task
    from airflow.sdk.exceptions import AirflowException, AirflowNotFoundException
except ImportError:  # Airflow 2.7+
    from airflow.decorators import dag, task
    from airflow.exceptions import AirflowException, AirflowNotFoundException
    from airflow.hooks.base import BaseHook
    from airflow.models import Variable

# Under "airflow.task" so that Airflow 2 also writes it to the task log (3 takes any logger).
log = logging.getLogger("airflow.task.rtds")

# (Airflow Variable, environment variable, rtds's default)
SETTINGS = {
    "bin": ("rtds_bin", "RTDS_BIN", "rtds"),
    "bootstrap_servers": ("rtds_bootstrap_servers", "RTDS_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
    "topic": ("rtds_topic", "RTDS_KAFKA_TOPIC", "users_created"),
    "source": ("rtds_source", "RTDS_PRODUCE_SOURCE", "https://randomuser.me/api/"),
    "duration": ("rtds_duration", "RTDS_PRODUCE_DURATION", "60s"),
}
# Airflow Variable -> environment variable of rtds, for secrets.
SECRETS = {"rtds_kafka_sasl_password": "RTDS_KAFKA_SASL_PASSWORD"}
# The Airflow Connection that describes a secured Kafka, when there is one.
KAFKA_CONNECTION = "rtds_kafka"


def kafka_connection():
    """The Connection ``rtds_kafka``, or None when it is not defined."""
    try:
        return BaseHook.get_connection(KAFKA_CONNECTION)
    except AirflowNotFoundException:
        return None


def setting(name: str) -> str:
    variable, env, default = SETTINGS[name]
    # Positional default: the keyword is `default` on Airflow 3, `default_var` on 2.
    value = Variable.get(variable, None)
    return value or os.environ.get(env) or default


def rtds_environment(connection) -> tuple[dict[str, str], list[str]]:
    """The task's environment plus the secret Variables and the Kafka Connection's
    login and extras, and the secret values in it."""
    env = dict(os.environ)
    for variable, name in SECRETS.items():
        value = Variable.get(variable, None)
        if value:
            env[name] = value
    if connection is not None:
        if connection.login:
            env["RTDS_KAFKA_SASL_USERNAME"] = connection.login
        if connection.password:
            env["RTDS_KAFKA_SASL_PASSWORD"] = connection.password
        for key, value in connection.extra_dejson.items():
            env["RTDS_KAFKA_" + key.upper()] = str(value)
    secrets = [
        value
        for name, value in env.items()
        if name.startswith("RTDS_") and ("PASSWORD" in name or "SECRET" in name) and value
    ]
    # Longest first, so that a secret containing another is replaced whole.
    return env, sorted(secrets, key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


@dag(
    dag_id="user_automation",
    schedule="@daily",
    start_date=pendulum.datetime(2023, 9, 3, tz="UTC"),
    catchup=False,
    default_args={"owner": "rtds"},
    tags=["rtds"],
    doc_md=__doc__,
)
def user_automation():
    @task(task_id="stream_data_from_api")
    def stream_data_from_api() -> None:
        connection = kafka_connection()
        brokers = setting("bootstrap_servers")
        if connection is not None and connection.host:
            brokers = f"{connection.host}:{connection.port}" if connection.port else connection.host
        cmd = [setting("bin"), "produce", "--duration", setting("duration"),
               "--bootstrap-servers", brokers]
        for flag in ("topic", "source"):
            cmd += ["--" + flag.replace("_", "-"), setting(flag)]
        env, secrets = rtds_environment(connection)
        log.info("running %s", redact(subprocess.list2cmdline(cmd), secrets))

        # rtds's progress lines and errors go to the task log as they come; the
        # last lines are kept for the exception, where rtds says why it failed.
        tail: collections.deque[str] = collections.deque(maxlen=20)
        try:
            proc = subprocess.Popen(
                cmd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
        except OSError as e:
            raise AirflowException(
                f"cannot run {cmd[0]!r}: {e} (set the Airflow Variable rtds_bin or RTDS_BIN)"
            ) from e
        try:
            for line in proc.stdout:
                line = redact(line.rstrip("\n"), secrets)
                log.info("rtds: %s", line)
                tail.append(line)
            status = proc.wait()
        finally:
            # The task was stopped (timeout, mark failed): stop rtds with it;
            # SIGTERM lets rtds flush what it already sent.
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if status != 0:
            output = "\n".join(tail) or "(no output)"
            raise AirflowException(f"rtds produce exited with status {status}:\n{output}")

    stream_data_from_api()


user_automation()
