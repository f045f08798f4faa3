# rtds in a container: built in the Rust image, run from a slim Debian image as a
# non-root user. The runtime needs only OpenSSL (TLS to Kafka, Cassandra and the
# API) and the CA certificates; librdkafka is linked in statically.
#
#   docker build -t rtds .
#   docker run --rm rtds --help
#
# Checked in CI but not built there: no container engine runs on that machine.

FROM rust:1-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends cmake libssl-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The manifest names the benchmark targets, so cargo wants their files too.
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY benches benches
RUN cargo build --release --locked --bin rtds

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /var/lib/rtds rtds
COPY --from=build /src/target/release/rtds /usr/local/bin/rtds
USER rtds
WORKDIR /var/lib/rtds
ENTRYPOINT ["rtds"]
CMD ["--help"]
