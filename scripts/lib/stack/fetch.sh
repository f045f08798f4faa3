# Part of scripts/stack (sourced, not run): the java it runs on, and the jars it fetches from Maven Central.

# ------------------------------------------------------------------ java and tools

java_major() { # java_major JAVA -> 17, 25, ... (empty if it does not run)
	"$1" -XshowSettings:properties -version 2>&1 |
		sed -n 's/^ *java\.specification\.version = \(1\.\)\{0,1\}\([0-9]*\).*/\2/p' | head -n1
}

# Kafka 4 needs JDK 17+, Cassandra 5.0 supports 11 and 17 and dies on 24+ (security
# manager removed), so JDK 17 is the one version both accept. Prefer the java on
# JAVA_HOME/PATH when it is 17, else any /usr/lib/jvm/*17*.
JAVA=
pick_java() {
	[[ -n $JAVA ]] && return 0
	local cand="" major="" j
	if [[ -n ${JAVA_HOME:-} && -x ${JAVA_HOME}/bin/java ]]; then
		cand=$JAVA_HOME/bin/java
	elif command -v java >/dev/null 2>&1; then
		cand=$(command -v java)
	fi
	[[ -n $cand ]] && major=$(java_major "$cand")
	if [[ $major == 17 ]]; then
		JAVA=$cand
		return 0
	fi
	for j in /usr/lib/jvm/*17*/bin/java; do
		if [[ -x $j && $(java_major "$j") == 17 ]]; then
			j=$(readlink -f "$j")
			[[ -n $cand ]] && say "using $j: $cand is Java ${major:-?}, the stack wants 17"
			JAVA=$j
			return 0
		fi
	done
	if [[ -z $cand ]]; then
		die "no java found. Install JDK 17: apt-get install openjdk-17-jdk-headless maven"
	fi
	if [[ -n $major ]] && ((major > 17 && major < 24)); then
		say "warning: $cand is Java $major; Cassandra 5.0 is only supported on 11 and 17"
		JAVA=$cand
		return 0
	fi
	die "$cand is Java ${major:-unknown}; Kafka 4 needs 17+ and Cassandra 5.0 fails on 24+." \
		"Install JDK 17 (apt-get install openjdk-17-jdk-headless) or set JAVA_HOME to a JDK 17."
}

need_python() {
	command -v python3 >/dev/null 2>&1 ||
		die "python3 not found (the readiness probes need it): apt-get install python3"
}

# ------------------------------------------------------------------ jars

# Fetch a service's runtime jars once into the cache. The marker holds the version and
# the pom's hash and is written last, so an interrupted or failed download, or an
# edited pom, is fetched again on the next run.
# maven WHAT LOG TMP ARGS...: Maven with ARGS into the empty folder TMP, its
# output in LOG; a failure dies naming WHAT, with the log's tail.
maven() {
	local what=$1 log=$2 tmp=$3
	shift 3
	command -v mvn >/dev/null 2>&1 ||
		die "mvn not found (it fetches $what from Maven Central): apt-get install maven"
	pick_java
	rm -rf "$tmp"
	mkdir -p "$tmp"
	# JAVA_HOME: run Maven on the same JDK 17 as Kafka and Cassandra.
	if ! JAVA_HOME=$(dirname "$(dirname "$(readlink -f "$JAVA")")") mvn -q -B "$@" 2>&1 |
		sed 's/\x1b\[[0-9;]*m//g' >"$log"; then # Maven 3.8 -q emits colour resets even with -B
		tail -n 20 "$log" >&2 || true
		die "fetching $what failed; Maven's output is in $log." \
			"Check that Maven Central (or the mirror in ~/.m2/settings.xml) is reachable."
	fi
}

fetch() {
	local svc dir version pom stamp log tmp
	svc=$(kind_of "$1")
	if [[ $svc == registry ]]; then # an app to unpack, not jars to copy: registry.sh
		fetch_registry
		return
	fi
	dir=$(jar_dir "$svc")
	pom=$SRC/$svc/pom.xml
	if [[ $svc == kafka ]]; then version=$KAFKA_VERSION; else version=$CASSANDRA_VERSION; fi
	stamp="$version $(sha256sum <"$pom" | cut -d' ' -f1)"
	if [[ -f $dir/.complete && $(<"$dir/.complete") == "$stamp" ]]; then
		return 0
	fi
	log=$LOGS/fetch-$svc.log
	tmp=$dir.partial
	say "fetching $svc $version jars from Maven Central into $dir (first time: a minute or more)"
	maven "the $svc jars" "$log" "$tmp" -f "$pom" "-D$svc.version=$version" \
		dependency:copy-dependencies -DincludeScope=runtime "-DoutputDirectory=$tmp"
	compgen -G "$tmp/*.jar" >/dev/null || die "Maven copied no jars for $svc; see $log"
	echo "$stamp" >"$tmp/.complete"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	say "fetched $svc: $(find "$dir" -name '*.jar' | wc -l) jars, $(du -sh "$dir" | cut -f1)"
}
