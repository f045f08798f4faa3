//! The session: contact points, routing, consistency levels, TLS and
//! logins, and failures told in words that say what to do.

use std::time::Duration;

use anyhow::Context;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::{OpenSsl010Config, Session, TlsContext};
use scylla::client::session_builder::SessionBuilder;
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::statement::Consistency;

use crate::config::CassandraSettings;

/// How often each connection asks a node whether it is there.
const KEEPALIVE: Duration = Duration::from_secs(3);

/// Opens a session to the contact points, failing within a bound (a few
/// timeouts, see below) with a message that names them and, when the driver's words
/// tell, the cause: a refused login, an untrusted certificate, TLS on one
/// side only.
pub async fn connect(settings: &CassandraSettings) -> anyhow::Result<Session> {
    // Token-aware (each request to a replica of its row), and kept in the
    // local datacenter when one is named.
    let mut routing = DefaultPolicy::builder().token_aware(true);
    if !settings.local_datacenter.is_empty() {
        routing = routing
            .prefer_datacenter(settings.local_datacenter.clone())
            .permit_dc_failover(false);
    }
    let profile = ExecutionProfile::builder()
        .load_balancing_policy(routing.build())
        .consistency(consistency(&settings.read_consistency))
        .build();
    // A node that takes connections but never answers (frozen, a stalled
    // disk) would hold the session's start for good: the driver sets a
    // connection up without a deadline, and waits for every node's. A
    // keepalive every few seconds, with the timeout as its deadline, closes
    // such a connection, and the start goes on with the nodes that answer.
    let mut builder = SessionBuilder::new()
        .known_nodes(&settings.contact_points)
        .connection_timeout(settings.timeout)
        .keepalive_interval(KEEPALIVE)
        .keepalive_timeout(settings.timeout)
        .default_execution_profile_handle(profile.into_handle());
    if !settings.username.is_empty() {
        builder = builder.user(&settings.username, &settings.password);
    }
    if !settings.tls_ca_file.is_empty() {
        builder = builder.tls_context(Some(tls_context(settings)?));
    }
    // The driver tries the contact points one after another, and a silent
    // one takes a keepalive's round to give up on.
    let tries = settings.contact_points.len().max(1) as u32;
    let within = (KEEPALIVE + settings.timeout) * tries + Duration::from_secs(1);
    let built = tokio::time::timeout(within, builder.build())
        .await
        .map_err(|_| anyhow::anyhow!("timed out after {within:?}"))
        .and_then(|built| built.map_err(anyhow::Error::from));
    built.map_err(|error| told(settings, error))
}

/// A failure to connect, told in words that say what to do.
fn told(settings: &CassandraSettings, error: anyhow::Error) -> anyhow::Error {
    let cause = format!("{error:#}");
    let at = settings.contact_points.join(",");
    error.context(match connect_failure(&cause) {
        Some(SessionFailure::BadLogin) => format!(
            "Cassandra at {at} refused the login of role `{}`: authentication failed \
             (bad credentials). Check cassandra.username and the password \
             (cassandra.password_file, RTDS_CASSANDRA_PASSWORD or cassandra.password)",
            settings.username
        ),
        Some(SessionFailure::LoginNeeded) => format!(
            "Cassandra at {at} wants a login: set cassandra.username and its password \
             (cassandra.password_file or RTDS_CASSANDRA_PASSWORD)"
        ),
        Some(SessionFailure::Untrusted) => format!(
            "the certificate of the Cassandra node at {at} is not trusted: \
             cassandra.tls_ca_file ({}) must be the CA that signed it, and the certificate \
             must name the node's IP address in its subjectAltName",
            settings.tls_ca_file
        ),
        Some(SessionFailure::NotTls) => format!(
            "Cassandra at {at} does not speak TLS, but cassandra.tls_ca_file is set: \
             is this the node's TLS port? Empty cassandra.tls_ca_file for a plain one"
        ),
        Some(SessionFailure::ClientCert | SessionFailure::Broken) if settings.tls_cert_file.is_empty() => {
            format!(
                "Cassandra at {at} wants a client certificate (it broke off the connection \
                 once TLS was set up; client_encryption_options.require_client_auth): set \
                 cassandra.tls_cert_file and cassandra.tls_key_file to a certificate signed \
                 by a CA the node trusts"
            )
        }
        Some(SessionFailure::ClientCert) => format!(
            "Cassandra at {at} refused the client certificate: cassandra.tls_cert_file ({}) \
             must be signed by a CA in the node's client_encryption_options.truststore",
            settings.tls_cert_file
        ),
        Some(SessionFailure::WantsTls) if settings.tls_ca_file.is_empty() => format!(
            "Cassandra at {at} closed the connection at once: if the node wants TLS \
             (client_encryption_options), set cassandra.tls_ca_file to the CA of its certificate"
        ),
        _ => format!(
            "cannot connect to Cassandra at {at}; is it running? \
             (`scripts/stack up` starts a local one; --contact-points or RTDS_CASSANDRA_CONTACT_POINTS points elsewhere)"
        ),
    })
}

/// The driver's consistency of a level as the settings spell it (checked
/// against [`crate::config::CONSISTENCIES`] when they are read).
pub(super) fn consistency(level: &str) -> Consistency {
    match level {
        "ANY" => Consistency::Any,
        "ONE" => Consistency::One,
        "TWO" => Consistency::Two,
        "THREE" => Consistency::Three,
        "QUORUM" => Consistency::Quorum,
        "ALL" => Consistency::All,
        "EACH_QUORUM" => Consistency::EachQuorum,
        "LOCAL_ONE" => Consistency::LocalOne,
        _ => Consistency::LocalQuorum,
    }
}

/// The consistency level as CQL (and the settings) spell it.
fn cql_name(level: Consistency) -> String {
    crate::config::CONSISTENCIES
        .into_iter()
        .find(|name| consistency(name) == level)
        .map_or_else(|| format!("{level:?}"), str::to_string)
}

/// What a write failed on when too few replicas answer: the consistency it
/// asked for and how many replicas it had of those it needs. Nothing for
/// any other failure. This is the failure of a cluster with nodes down, and
/// the one way out is to bring them back (or to ask for less).
pub fn unmet_consistency(error: &scylla::errors::ExecutionError) -> Option<String> {
    use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
    let ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, _)) = error else {
        return None;
    };
    match db {
        DbError::Unavailable {
            consistency,
            required,
            alive,
        } => Some(format!(
            "consistency {} cannot be met: {alive} replica(s) alive of the {required} it needs",
            cql_name(*consistency)
        )),
        DbError::WriteTimeout {
            consistency,
            received,
            required,
            ..
        } => Some(format!(
            "consistency {} was not met in time: {received} replica(s) acknowledged of the {required} it needs",
            cql_name(*consistency)
        )),
        _ => None,
    }
}

/// Why a session could not be opened, as far as the driver's words tell:
/// each has its own advice.
#[derive(Debug, Clone, Copy, PartialEq)]
enum SessionFailure {
    BadLogin,
    LoginNeeded,
    Untrusted,
    NotTls,
    WantsTls,
    /// The node's TLS alert for a client certificate missing or refused.
    ClientCert,
    /// Broken right after the TLS handshake, before any reply: what a node
    /// that wants a client certificate does to a client without one (the
    /// TLS 1.3 alert that says so is lost in the driver's words).
    Broken,
}

fn connect_failure(cause: &str) -> Option<SessionFailure> {
    let cause = cause.to_ascii_lowercase();
    let has = |words: &str| cause.contains(words);
    if has("bad credentials") || has("password are incorrect") {
        Some(SessionFailure::BadLogin)
    } else if has("authentication is required") {
        Some(SessionFailure::LoginNeeded)
    } else if has("certificate verify failed") {
        Some(SessionFailure::Untrusted)
    } else if has("wrong version number") || has("packet length too long") {
        Some(SessionFailure::NotTls)
    } else if has("alert certificate required")
        || has("alert bad certificate")
        || has("alert unknown ca")
    {
        Some(SessionFailure::ClientCert)
    } else if has("connection reset by peer") || has("failed to read the frame header") {
        Some(SessionFailure::WantsTls)
    } else if has("connection setup request") && has("connection broken") {
        Some(SessionFailure::Broken)
    } else {
        None
    }
}

/// The driver's TLS: the nodes' CA, and the client certificate for nodes
/// that want one (`require_client_auth`), checked against its key here so
/// that a mismatched pair is named, not a handshake the node breaks off.
fn tls_context(settings: &CassandraSettings) -> anyhow::Result<TlsContext> {
    let ca_file = &settings.tls_ca_file;
    let mut builder = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls())
        .context("cannot set up TLS for Cassandra")?;
    builder.set_ca_file(ca_file).with_context(|| {
        format!("cannot read the Cassandra CA file {ca_file} (cassandra.tls_ca_file)")
    })?;
    if !settings.tls_cert_file.is_empty() {
        let (cert, key) = (&settings.tls_cert_file, &settings.tls_key_file);
        builder.set_certificate_chain_file(cert).with_context(|| {
            format!("cannot read the client certificate {cert} (cassandra.tls_cert_file) as PEM")
        })?;
        builder
            .set_private_key_file(key, openssl::ssl::SslFiletype::PEM)
            .with_context(|| {
                format!(
                    "cannot read the client key {key} (cassandra.tls_key_file) as an unencrypted PEM key"
                )
            })?;
        builder.check_private_key().with_context(|| {
            format!(
                "cassandra.tls_key_file ({key}) is not the key of cassandra.tls_cert_file ({cert})"
            )
        })?;
    }
    Ok(TlsContext::OpenSsl010Config(OpenSsl010Config::new(builder)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The driver's words, as seen from a node that wants a client
    /// certificate and got none: the TLS 1.3 alert when it shows, else the
    /// broken connection setup it leaves behind.
    #[test]
    fn a_missing_client_certificate_is_told_from_other_failures() {
        let alert = "Failed to perform a connection setup request. Request: OPTIONS, reason: \
                     Connection broken, reason: Failed to deserialize frame: Failed to read the \
                     frame header: error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert \
                     certificate required";
        assert_eq!(connect_failure(alert), Some(SessionFailure::ClientCert));
        let broken = "Failed to perform a connection setup request. Request: OPTIONS, reason: \
                      Connection broken, reason: Failed to send/receive data needed to perform \
                      a request via tokio channel.";
        assert_eq!(connect_failure(broken), Some(SessionFailure::Broken));
        let reset = "Failed to read the frame header: Connection reset by peer (os error 104)";
        assert_eq!(connect_failure(reset), Some(SessionFailure::WantsTls));
    }

    #[test]
    fn an_unmet_consistency_names_the_level_and_the_replicas() {
        use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
        let failed =
            |db| ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, String::new()));
        let unavailable = failed(DbError::Unavailable {
            consistency: Consistency::LocalQuorum,
            required: 2,
            alive: 1,
        });
        assert_eq!(
            unmet_consistency(&unavailable).unwrap(),
            "consistency LOCAL_QUORUM cannot be met: 1 replica(s) alive of the 2 it needs"
        );
        assert!(unmet_consistency(&failed(DbError::Overloaded)).is_none());
    }
}
