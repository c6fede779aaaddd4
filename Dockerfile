# Multi-stage: build the release binary, ship it on a small Debian runtime.
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin baylanys

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/baylanys --create-home baylanys
COPY --from=build /src/target/release/baylanys /usr/local/bin/baylanys
USER baylanys
WORKDIR /var/lib/baylanys
VOLUME ["/var/lib/baylanys/data"]
ENV BAYLANYS_LISTEN=0.0.0.0:8080 \
    BAYLANYS_DATABASE_URL=sqlite://data/baylanys.db
EXPOSE 8080
# Asks GET /healthz on the configured listen address (dash has no /dev/tcp).
HEALTHCHECK --interval=30s --timeout=5s CMD ["/usr/local/bin/baylanys", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/baylanys"]
CMD ["serve"]
