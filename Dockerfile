# Multi-stage build of a static continuum-operator binary on a minimal, non-root base image.
# Build: docker build -t continuum-operator:dev .
FROM rust:1.95-bookworm AS build
# Builds natively for the image's platform (docker buildx --platform linux/amd64,linux/arm64).
RUN apt-get update && apt-get install -y --no-install-recommends musl-tools && rm -rf /var/lib/apt/lists/* \
 && rustup target add "$(uname -m)-unknown-linux-musl"
WORKDIR /src
COPY Cargo.toml Cargo.lock rustfmt.toml ./
COPY crates crates
COPY tests tests
RUN target="$(uname -m)-unknown-linux-musl" \
 && cargo build --release --locked -p continuum-operator --target "$target" \
 && cp "target/$target/release/continuum-operator" /continuum-operator

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /continuum-operator /usr/local/bin/continuum-operator
USER 65532:65532
# /metrics, /healthz, /readyz
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/continuum-operator"]
CMD ["run"]
