# The operator image: a static (musl) binary on distroless/static, which has CA certificates and
# runs as the non-root user 65532. Build it from the repository root:
#
#   docker build -t ghcr.io/vinacis/htx-operator:0.1.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/vinacis/htx-operator:0.1.0 --push .
#
# The tag is the chart's appVersion (charts/htx-operator/Chart.yaml), which is the crate version.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY benches ./benches
COPY src ./src
# --locked: exactly the dependency versions of Cargo.lock. ring's C parts are compiled by musl-gcc.
RUN target="$(uname -m)-unknown-linux-musl" \
 && rustup target add "$target" \
 && export "CC_$(uname -m)_unknown_linux_musl=musl-gcc" \
 && cargo build --release --locked --target "$target" --bin htx-operator \
 && cp "target/$target/release/htx-operator" /htx-operator

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /htx-operator /usr/local/bin/htx-operator
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/htx-operator"]
CMD ["run"]
