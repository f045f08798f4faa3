# Part of scripts/stack (sourced, not run): the three-node cluster: its addresses, its Kafka quorum, its rtds config.

# The cluster: node N of each kind listens on 127.0.1.N with the usual ports (JMX
# always binds 127.0.0.1, so each node has its own JMX port).
use_cluster() {
	[[ $1 == 3 ]] || die "--nodes takes 3 (the local cluster), not '$1'"
	NODES=$1
	SERVICES=(kafka-1 kafka-2 kafka-3 cassandra-1 cassandra-2 cassandra-3)
	STACK_DIR=$STACK_DIR/cluster
}

# The cluster's id, made once: every node is formatted with it.
cluster_id() {
	local file=$STACK_DIR/kafka-cluster-id
	[[ -s $file ]] || kafka_uuid >"$file"
	cat "$file"
}

voters() { # 1@127.0.1.1:9093,2@127.0.1.2:9093,...: the controller quorum
	local n out=()
	for n in $(seq "$NODES"); do out+=("$n@127.0.1.$n:$CONTROLLER_PORT"); done
	(IFS=,; echo "${out[*]}")
}

# The rtds settings for the cluster: every broker and contact point, replication
# 3 with 2 in sync, LOCAL_QUORUM in the one datacenter.
write_cluster_config() {
	cat >"$STACK_DIR/rtds.toml" <<TOML
# rtds settings for the local cluster (scripts/stack up --nodes 3):
# rtds --config $STACK_DIR/rtds.toml COMMAND
[kafka]
bootstrap_servers = "127.0.1.1:$KAFKA_PORT,127.0.1.2:$KAFKA_PORT,127.0.1.3:$KAFKA_PORT"
replication_factor = 3
min_insync_replicas = 2

[cassandra]
contact_points = ["127.0.1.1:$CQL_PORT", "127.0.1.2:$CQL_PORT", "127.0.1.3:$CQL_PORT"]
replication = "{'class': 'NetworkTopologyStrategy', 'dc1': 3}"
local_datacenter = "dc1"
write_consistency = "LOCAL_QUORUM"
read_consistency = "LOCAL_QUORUM"
TOML
}
