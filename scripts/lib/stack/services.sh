# Part of scripts/stack (sourced, not run): its processes: whose they are, starting Kafka and Cassandra, waiting until they serve.

# ------------------------------------------------------------------ processes

# A pid counts as ours only if it is alive and its command line names our main class
# and the service's config folder in our state folder: a stale pid file must never make
# us signal somebody else's process (nor the plain stack's the secure one's).
is_ours() { # is_ours SVC PID
	local args=() cmd
	{ mapfile -d '' -t args <"/proc/$2/cmdline"; } 2>/dev/null || return 1
	cmd=${args[*]+"${args[*]}"} # empty for a zombie: that one is gone too
	[[ $cmd == *"$(main_class "$1")"* && $cmd == *"$STACK_DIR/$1/"* ]]
}

running_pid() { # running_pid SVC -> pid of our live process, else status 1
	local f pid
	f=$(pid_file "$1")
	[[ -f $f ]] || return 1
	pid=$(<"$f")
	if [[ $pid =~ ^[0-9]+$ ]] && is_ours "$1" "$pid"; then
		echo "$pid"
		return 0
	fi
	return 1
}

stray_pids() { # pids of any live kafka/cassandra JVM of this state folder
	local d args=() cmd out=() svc
	for d in /proc/[0-9]*; do
		{ mapfile -d '' -t args <"$d/cmdline"; } 2>/dev/null || continue
		cmd=${args[*]+"${args[*]}"}
		for svc in "${SERVICES[@]}"; do
			if [[ $cmd == *"$(main_class "$svc")"* && $cmd == *"$STACK_DIR/$svc/"* ]]; then
				out+=("${d#/proc/}")
			fi
		done
	done
	echo "${out[*]+"${out[*]}"}"
}

serves() { # serves SVC: real protocol probe (an open port is not enough)
	local tls=()
	if ((SECURE)); then
		tls=(--tls "$TLS/ca.crt")
		if [[ $1 == kafka ]]; then tls+=(--sasl); else tls+=("${CLIENT_CERT[@]}"); fi
	fi
	# shellcheck disable=SC2046 # probe_addr yields two words on purpose
	python3 "$SRC/probe.py" -q -t 3 "${tls[@]}" $(probe_addr "$1") 2>/dev/null
}

port_busy() { # something accepts connections on HOST:PORT
	(exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null
}

check_ports_free() { # fail before starting SVC if one of its ports is someone else's
	local svc=$1 port who
	for port in $(ports_of "$svc"); do
		if port_busy "$port"; then
			who=$(ss -ltnpH "sport = :${port##*:}" 2>/dev/null | grep -o 'users:.*' | head -n1 || true)
			die "port $port (needed by $svc) is already in use by another process${who:+: $who}." \
				"Stop that process (e.g. another Kafka/Cassandra or a Docker container) and run 'scripts/stack up' again."
		fi
	done
}

# Start in a new session (setsid) so that Ctrl-C or a closed terminal during 'up' does not
# kill the services; nohup for the same reason on shells that send SIGHUP on exit.
launch() { # launch SVC CMD...
	local svc=$1 out pid
	shift
	out=$(out_file "$svc")
	echo "=== $(date '+%F %T') scripts/stack starting $svc" >>"$out"
	setsid nohup "$@" >>"$out" 2>&1 </dev/null 9>&- & # 9>&-: must not hold the stack lock
	pid=$!
	echo "$pid" >"$(pid_file "$svc")"
	say "started $svc (pid $pid)"
}

render() { # render TEMPLATE OUT NAME=VALUE...: replace @NAME@ placeholders
	local text kv name value
	text=$(<"$1")
	for kv in "${@:3}"; do
		name=${kv%%=*} value=${kv#*=}
		text=${text//"@$name@"/"$value"} # quoted: no '&' expansion (bash 5.2)
	done
	printf '%s\n' "$text" >"$2"
}

kafka_uuid() { "$JAVA" -cp "$(jar_dir kafka)/*" kafka.tools.StorageTool random-uuid 2>/dev/null; }

SCRAM_USERS="admin rtds rtds_producer" # the secure Kafka's logins, made at format time

start_kafka() { # start_kafka SVC
	local svc=$1 conf=$STACK_DIR/$1 data=$STACK_DIR/$1/data cp cluster_id scram=() format_out
	local host heap=512m
	host=$(host_of "$svc")
	cp="$(jar_dir kafka)/*"
	mkdir -p "$conf" "$data"
	render "$SRC/kafka/server.properties" "$conf/server.properties" \
		"HOST=$host" "KAFKA_PORT=$KAFKA_PORT" "CONTROLLER_PORT=$CONTROLLER_PORT" "DATA_DIR=$data"
	format_out=$LOGS/$svc-format.log
	if ((NODES)); then
		render "$SRC/kafka/cluster.properties" "$conf/cluster.properties" \
			"NODE=$(node_of "$svc")" "HOST=$host" "KAFKA_PORT=$KAFKA_PORT" \
			"VOTERS=$(voters)"
		cat "$conf/cluster.properties" >>"$conf/server.properties"
		rm "$conf/cluster.properties"
		heap=384m
	fi
	if ((SECURE)); then
		render "$SRC/kafka/secure.properties" "$conf/secure.properties" \
			"KAFKA_PORT=$KAFKA_PORT" "SSL_PORT=$SSL_PORT" "CONTROLLER_PORT=$CONTROLLER_PORT" \
			"TLS_DIR=$TLS" "KEYSTORE_PASSWORD=$(secret keystore)" \
			"ADMIN_PASSWORD=$(secret kafka-admin)" "USER_PASSWORD=$(secret kafka-rtds)" \
			"PRODUCER_PASSWORD=$(secret kafka-rtds_producer)"
		cat "$conf/secure.properties" >>"$conf/server.properties"
		rm "$conf/secure.properties"
		chmod 600 "$conf/server.properties" # it holds passwords
		# The SCRAM users live in the cluster metadata, written at format time.
		scram=(--add-scram "SCRAM-SHA-512=[name=admin,password=$(secret kafka-admin)]"
			--add-scram "SCRAM-SHA-512=[name=rtds,password=$(secret kafka-rtds)]"
			--add-scram "SCRAM-SHA-512=[name=rtds_producer,password=$(secret kafka-rtds_producer)]")
		format_out=/dev/null # the tool prints the salted credentials: not for a log
		if [[ -f $data/meta.properties && $(cat "$conf/scram-users" 2>/dev/null) != "$SCRAM_USERS" ]]; then
			die "the secure Kafka in $data was formatted by an older scripts/stack, not with all the" \
				"SCRAM users $SCRAM_USERS (they are written at format time only): start it afresh" \
				"with 'scripts/stack down --secure' and 'rm -rf $STACK_DIR', then 'scripts/stack up --secure'"
		fi
	fi
	cp "$SRC/kafka/log4j2.properties" "$conf/log4j2.properties"
	local logging=(-Dkafka.logs.dir="$LOGS" -Dkafka.log.name="$svc" -Dlog4j2.configurationFile="file:$conf/log4j2.properties")
	# KRaft: the log dir must be formatted with a cluster id once, before the first start.
	if [[ ! -f $data/meta.properties ]]; then
		if ((NODES)); then cluster_id=$(cluster_id); else cluster_id=$(kafka_uuid); fi
		"$JAVA" "${logging[@]}" -cp "$cp" kafka.tools.StorageTool format \
			-t "$cluster_id" -c "$conf/server.properties" ${scram[@]+"${scram[@]}"} \
			>>"$format_out" 2>>"$LOGS/$svc-format.log" ||
			die "formatting Kafka storage failed; see $LOGS/$svc-format.log"
		((SECURE)) && echo "$SCRAM_USERS" >"$conf/scram-users"
		say "formatted $svc storage in $data (cluster id $cluster_id)"
	fi
	# Flags as in Kafka's kafka-run-class.sh, with a small heap for a dev machine.
	launch "$svc" "$JAVA" -Xms256m "-Xmx$heap" \
		-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
		-XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true \
		"${logging[@]}" -cp "$cp" kafka.Kafka "$conf/server.properties"
}

# JDK 17 module flags from Cassandra's conf/jvm17-server.options: without them it stops
# with "unable to access required classes" (the daemon and nodetool alike).
cassandra_jdk17_opts() {
	local m
	JDK17_OPTS=(-Djdk.attach.allowAttachSelf=true -Dio.netty.tryReflectionSetAccessible=true)
	for m in java.base/jdk.internal.misc java.management.rmi/com.sun.jmx.remote.internal.rmi \
		java.management/com.sun.jmx.remote.security java.rmi/sun.rmi.registry \
		java.rmi/sun.rmi.server java.sql/java.sql java.base/java.lang.ref jdk.unsupported/sun.misc; do
		JDK17_OPTS+=("--add-exports=$m=ALL-UNNAMED")
	done
	for m in java.base/java.lang.module java.base/jdk.internal.loader java.base/jdk.internal.ref \
		java.base/jdk.internal.reflect java.base/jdk.internal.math java.base/jdk.internal.module \
		java.base/jdk.internal.util.jar jdk.management/com.sun.management.internal \
		java.base/sun.nio.ch java.base/java.io java.base/java.lang.reflect java.base/java.lang \
		java.base/java.util java.base/java.nio; do
		JDK17_OPTS+=("--add-opens=$m=ALL-UNNAMED")
	done
}

start_cassandra() { # start_cassandra SVC
	local svc=$1 conf=$STACK_DIR/$1 jars opts=() jamm host heap=1g
	host=$(host_of "$svc")
	jars=$(jar_dir cassandra)
	mkdir -p "$conf/data" "$conf/tmp" "$conf/triggers"
	local auth=(CLUSTER_NAME=rtds-local AUTHENTICATOR=AllowAllAuthenticator AUTHORIZER=AllowAllAuthorizer)
	((SECURE)) && auth=(CLUSTER_NAME=rtds-secure AUTHENTICATOR=PasswordAuthenticator AUTHORIZER=CassandraAuthorizer)
	local ring=(NUM_TOKENS=1 SNITCH=SimpleSnitch "SEEDS=$host:$STORAGE_PORT")
	if ((NODES)); then
		auth[0]=CLUSTER_NAME=rtds-cluster
		# Node 1 is the seed: the others join through it, so it starts first (two
		# nodes starting as seeds together took tokens apart and never met).
		ring=(NUM_TOKENS=16 SNITCH=GossipingPropertyFileSnitch "SEEDS=127.0.1.1:$STORAGE_PORT")
		printf 'dc=dc1\nrack=rack1\n' >"$conf/cassandra-rackdc.properties"
		opts+=("-Dcassandra-rackdc.properties=file://$conf/cassandra-rackdc.properties")
		heap=768m
	fi
	render "$SRC/cassandra/cassandra.yaml" "$conf/cassandra.yaml" "ADDRESS=$host" \
		"CQL_PORT=$CQL_PORT" "STORAGE_PORT=$STORAGE_PORT" "${auth[@]}" "${ring[@]}"
	((NODES)) && cat "$SRC/cassandra/cluster.yaml" >>"$conf/cassandra.yaml"
	if ((SECURE)); then
		render "$SRC/cassandra/secure.yaml" "$conf/secure.yaml" \
			"TLS_DIR=$TLS" "KEYSTORE_PASSWORD=$(secret keystore)"
		cat "$conf/secure.yaml" >>"$conf/cassandra.yaml"
		rm "$conf/secure.yaml"
		chmod 600 "$conf/cassandra.yaml"
	fi
	cp "$SRC/cassandra/logback.xml" "$conf/logback.xml"
	cassandra_jdk17_opts
	opts+=("${JDK17_OPTS[@]}")
	# jamm measures object sizes for memtable accounting; Cassandra's scripts load it as agent.
	jamm=$(compgen -G "$jars/jamm-*.jar" | head -n1 || true)
	[[ -n $jamm ]] && opts+=("-javaagent:$jamm")
	# Startup speedups that do not touch durability: a single node has no gossip to wait for.
	opts+=(-Dcassandra.skip_wait_for_gossip_to_settle=0 -Dcassandra.ring_delay_ms=1000
		-Dcassandra.superuser_setup_delay_ms=0)
	if [[ $FAST == 1 ]]; then
		# Test-only: no fsync of commitlog/system tables. Data may be lost on a crash.
		say "RTDS_STACK_FAST=1: Cassandra runs WITHOUT fsync (unsafesystem, skip_sync): not durable"
		opts+=(-Dcassandra.unsafesystem=true -Dcassandra.skip_sync=true)
	fi
	# ExitOnOutOfMemoryError: a node limping on after an OOM can corrupt data (Cassandra warns).
	# Small initial heap: as root Cassandra mlockall()s what is mapped at start, so -Xms
	# becomes resident at once (Xms=Xmx=1g: ~1.5 GB RSS right after start).
	launch "$svc" "$JAVA" -Xms256m "-Xmx$heap" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
		-Djava.net.preferIPv4Stack=true \
		"${opts[@]}" \
		-Dcassandra.config="file://$conf/cassandra.yaml" \
		-Dcassandra-foreground=yes \
		-Dcassandra.storagedir="$conf/data" \
		-Dcassandra.logdir="$LOGS" -Dcassandra.log.name="$svc" \
		-Dlogback.configurationFile="file://$conf/logback.xml" \
		-Dcassandra.jmx.local.port="$(jmx_port_of "$svc")" \
		-Dcassandra.triggers_dir="$conf/triggers" \
		-Djna.tmpdir="$conf/tmp" -Djava.io.tmpdir="$conf/tmp" \
		-cp "$jars/*" org.apache.cassandra.service.CassandraDaemon
}

show_tail() { # show_tail SVC N: the service's log, plus the JVM's stdout when it has content
	local svc=$1 n=$2 f
	for f in "$(log_file "$svc")" "$(out_file "$svc")"; do
		[[ -s $f ]] || continue
		echo "----- $f (last $n lines)"
		tail -n "$n" "$f"
	done
}

fail_start() { # fail_start REASON SVC...: show each one's log tail, name the logs, exit 1
	local reason=$1 svc logs=()
	shift
	for svc in "$@"; do
		show_tail "$svc" 20 | cut -c1-400 >&2 # Cassandra logs some kilobyte-long lines
		logs+=("$svc: $(log_file "$svc") (JVM output: $(out_file "$svc"))")
	done
	die "$* $reason. Logs: ${logs[*]}." \
		"Whatever did start is left running for a look: 'scripts/stack down' stops it."
}

wait_serving() { # wait_serving SVC...: until each answers its protocol, or TIMEOUT
	local pending=("$@") still dead svc start=$SECONDS
	while ((${#pending[@]})); do
		still=() dead=()
		for svc in "${pending[@]}"; do
			if serves "$svc"; then
				say "$svc serves on $(probe_addr "$svc" | cut -d' ' -f2) ($((SECONDS - start)) s)"
			elif ! running_pid "$svc" >/dev/null; then
				rm -f "$(pid_file "$svc")"
				dead+=("$svc")
			else
				still+=("$svc")
			fi
		done
		((${#dead[@]} == 0)) || fail_start "exited during startup" "${dead[@]}"
		pending=("${still[@]+"${still[@]}"}")
		((${#pending[@]})) || break
		if ((SECONDS - start >= TIMEOUT)); then
			fail_start "did not serve within $TIMEOUT s (RTDS_STACK_TIMEOUT)" "${pending[@]}"
		fi
		sleep 1
	done
}
