# Part of scripts/stack (sourced, not run): the secure stack: its CA and certificates, Cassandra roles, Kafka ACLs, rtds configs.

# The secure stack: its own ports and state folder, so it runs beside the plain one.
use_secure() {
	SECURE=1
	KAFKA_PORT=9192 CONTROLLER_PORT=9193 SSL_PORT=9194
	CQL_PORT=9142 STORAGE_PORT=7010 JMX_PORT=7299
	STACK_DIR=$STACK_DIR/secure
}

# ------------------------------------------------------------------ the secure stack

secret() { # secret NAME: the password in secrets/NAME, made at random the first time
	local file=$SECRETS/$1
	if [[ ! -s $file ]]; then
		mkdir -p "$SECRETS"
		chmod 700 "$SECRETS"
		(umask 077 && openssl rand -hex 16 >"$file")
	fi
	cat "$file"
}

sign() { # sign NAME SUBJECT EXTENDED_KEY_USAGE [SUBJECT_ALT_NAME]: a certificate of the CA
	local ext="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=$3"
	[[ -n ${4:-} ]] && ext+=$'\n'"subjectAltName=$4"
	openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$TLS/$1.key" -out "$TLS/$1.csr" &&
		openssl x509 -req -days 825 -in "$TLS/$1.csr" -CA "$TLS/ca.crt" -CAkey "$TLS/ca.key" \
			-CAcreateserial -out "$TLS/$1.crt" -extfile <(printf '%s\n' "$ext") &&
		rm "$TLS/$1.csr"
}

keystore() { # keystore NAME: NAME.p12, a PKCS12 keystore of NAME's key and certificate
	openssl pkcs12 -export -name "$1" -in "$TLS/$1.crt" -inkey "$TLS/$1.key" \
		-certfile "$TLS/ca.crt" -out "$TLS/$1.p12" -passout "file:$SECRETS/keystore"
}

# The stack's own CA, the servers' certificate (both servers are 127.0.0.1: the IP
# address is in its subjectAltName, which is what the clients check) and their PKCS12
# keystore, the controller's own certificate (a super user: see secure.properties),
# Kafka client certificates whose CN is the principal they log in as (rtds,
# rtds_producer), a client certificate for Cassandra, and Cassandra's truststore.
TLS_FILES=(ca.crt server.p12 controller.p12 truststore.p12 client.crt kafka-rtds.crt kafka-rtds_producer.crt)
make_tls() {
	local file missing=0 keytool
	for file in "${TLS_FILES[@]}"; do [[ -f $TLS/$file ]] || missing=1; done
	((missing)) || return 0
	command -v openssl >/dev/null 2>&1 ||
		die "openssl not found (the secure stack makes its certificates with it): apt-get install openssl"
	keytool=$(dirname "$(readlink -f "$JAVA")")/keytool
	local log=$LOGS/tls.log
	secret keystore >/dev/null
	rm -rf "$TLS"
	mkdir -p "$TLS"
	{
		openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=rtds local stack CA" \
			-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
			-keyout "$TLS/ca.key" -out "$TLS/ca.crt" &&
			sign server "/CN=localhost" "serverAuth,clientAuth" "IP:127.0.0.1,DNS:localhost" &&
			sign controller "/CN=rtds-controller" "serverAuth,clientAuth" "IP:127.0.0.1,DNS:localhost" &&
			sign client "/CN=rtds-cassandra-client" clientAuth &&
			sign kafka-rtds "/CN=rtds" clientAuth &&
			sign kafka-rtds_producer "/CN=rtds_producer" clientAuth &&
			keystore server && keystore controller &&
			"$keytool" -importcert -noprompt -storetype PKCS12 -alias ca -file "$TLS/ca.crt" \
				-keystore "$TLS/truststore.p12" -storepass:file "$SECRETS/keystore"
	} >"$log" 2>&1 || die "making the certificates failed; see $log"
	chmod 600 "$TLS"/*.key "$TLS"/*.p12
	say "made a CA and certificates in $TLS"
}

as_role() { # as_role ROLE SECRET [-]: log in to the secure node; with -, run stdin's statements
	python3 "$SRC/probe.py" -q -t 10 --tls "$TLS/ca.crt" "${CLIENT_CERT[@]}" \
		--user "$1" --password-file "$SECRETS/$2" \
		cql "127.0.0.1:$CQL_PORT" ${3:+-e -}
}

# Once per node: an admin role replaces the default superuser cassandra/cassandra
# (which then may not log in), the keyspace, and the least-privilege roles.
make_roles() {
	local made=$STACK_DIR/cassandra/roles-made start=$SECONDS log=$LOGS/roles.log
	[[ -f $made ]] && return 0
	(umask 077 && echo cassandra >"$SECRETS/cassandra-default")
	# The default superuser appears a few seconds after the node first serves.
	until as_role rtds_admin cassandra-admin 2>/dev/null; do
		as_role cassandra cassandra-default - <<<"CREATE ROLE IF NOT EXISTS rtds_admin WITH PASSWORD = '$(secret cassandra-admin)' AND LOGIN = true AND SUPERUSER = true" \
			2>>"$log" && continue
		((SECONDS - start < TIMEOUT)) ||
			die "could not create the Cassandra admin role within $TIMEOUT s; see $log"
		sleep 1
	done
	as_role rtds_admin cassandra-admin - <<CQL 2>>"$log" || die "creating the Cassandra roles failed; see $log"
ALTER ROLE cassandra WITH SUPERUSER = false AND LOGIN = false
CREATE KEYSPACE IF NOT EXISTS spark_streams WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}
CREATE ROLE IF NOT EXISTS rtds_writer WITH PASSWORD = '$(secret cassandra-writer)' AND LOGIN = true
CREATE ROLE IF NOT EXISTS rtds_reader WITH PASSWORD = '$(secret cassandra-reader)' AND LOGIN = true
GRANT SELECT ON KEYSPACE spark_streams TO rtds_writer
GRANT MODIFY ON KEYSPACE spark_streams TO rtds_writer
GRANT SELECT ON KEYSPACE spark_streams TO rtds_reader
CQL
	rm -f "$SECRETS/cassandra-default"
	touch "$made"
	say "made the Cassandra roles rtds_admin, rtds_writer and rtds_reader ($((SECONDS - start)) s)"
}

# The Kafka ACLs of a pipeline's topic, DLQ and group (see stack/kafka/Grant.java),
# made as the admin; the topics are made too, since neither login may create them.
grant() { # grant TOPIC GROUP
	"$JAVA" -cp "$(jar_dir kafka)/*" "$SRC/kafka/Grant.java" "$STACK_DIR/kafka-client.properties" \
		"127.0.0.1:$KAFKA_PORT" "$1" "$2" 2>>"$LOGS/acls.log" >&2 ||
		die "granting the Kafka ACLs of $1 failed; see $LOGS/acls.log"
}

# Once: the ACLs of the default pipeline (topic users_created, group rtds-processor).
make_acls() {
	local made=$STACK_DIR/kafka/acls-made
	[[ -f $made ]] && return 0
	grant users_created rtds-processor
	touch "$made"
	say "granted the Kafka ACLs of topic users_created and group rtds-processor (stack/kafka/Grant.java)"
}

# rtds config files, one per Cassandra role (with the Kafka login rtds, the processor),
# producer.toml (the Kafka login rtds_producer), and the admin's login for Kafka's own
# command-line tools.
write_configs() {
	local role
	for role in writer reader admin; do
		cat >"$STACK_DIR/$role.toml" <<TOML
# rtds settings for the secure local stack (scripts/stack up --secure) as the Cassandra
# role rtds_$role: rtds --config $STACK_DIR/$role.toml COMMAND
# Passwords are read from the files named here, never written into this file.
[kafka]
bootstrap_servers = "127.0.0.1:$KAFKA_PORT"
security_protocol = "SASL_SSL"
sasl_mechanism = "SCRAM-SHA-512"
sasl_username = "rtds"
sasl_password_file = "$SECRETS/kafka-rtds"
ssl_ca_location = "$TLS/ca.crt"

[cassandra]
contact_points = ["127.0.0.1:$CQL_PORT"]
username = "rtds_$role"
password_file = "$SECRETS/cassandra-$role"
tls_ca_file = "$TLS/ca.crt"
tls_cert_file = "$TLS/client.crt"
tls_key_file = "$TLS/client.key"
TOML
	done
	cat >"$STACK_DIR/producer.toml" <<TOML
# rtds settings for the secure local stack (scripts/stack up --secure) as the Kafka
# login rtds_producer, which may write the topic and nothing else:
# rtds --config $STACK_DIR/producer.toml produce
[kafka]
bootstrap_servers = "127.0.0.1:$KAFKA_PORT"
security_protocol = "SASL_SSL"
sasl_mechanism = "SCRAM-SHA-512"
sasl_username = "rtds_producer"
sasl_password_file = "$SECRETS/kafka-rtds_producer"
ssl_ca_location = "$TLS/ca.crt"
TOML
	(
		umask 077
		cat >"$STACK_DIR/kafka-client.properties" <<PROPERTIES
# For Kafka's own tools against the secure stack, as the admin (a super user: it
# may create topics and ACLs): --command-config $STACK_DIR/kafka-client.properties
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$(secret kafka-admin)";
ssl.truststore.type=PEM
ssl.truststore.location=$TLS/ca.crt
PROPERTIES
	)
}
