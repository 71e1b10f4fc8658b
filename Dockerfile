# The native runner's image: `canary` on PATH, for
#   canary apply --runner native --runner-image REGISTRY/canary:VERSION ...
# Build and push it where the cluster's agents can pull from:
#   docker build -t registry.example.com/canary:0.1.0 .
#   docker push registry.example.com/canary:0.1.0
# The jobs run `sh -c CMD` in it (Metronome's cmd replaces any entrypoint):
# they need sh and base64 (coreutils), and CA certificates for HTTPS to
# Admin Router when no sandbox CA bundle is used.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p canary-cli \
 && strip target/release/canary

FROM debian:12.8-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/canary /usr/local/bin/canary
CMD ["canary", "--help"]
