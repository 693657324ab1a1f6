# Multi-stage build: compile in the Rust image, run from a slim Debian with only the binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin gateway

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/gateway --create-home gateway
COPY --from=build /src/target/release/gateway /usr/local/bin/gateway
USER gateway
WORKDIR /var/lib/gateway
ENV GATEWAY_LISTEN=0.0.0.0:8000
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:8000/healthz || exit 1
ENTRYPOINT ["gateway"]
CMD ["serve"]
