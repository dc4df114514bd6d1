# The operator image for registries with base images. It holds the same files as the image that
# hack/image.sh builds without a Docker engine (the build stage runs hack/image.sh --rootfs): the
# operator as a static binary, CA certificates, /etc/passwd with the non-root user 65532, no shell.
#
#   docker build -t ghcr.io/vinacis/htx-operator:0.1.0 .
#   docker buildx build --platform linux/amd64,linux/arm64 -t ghcr.io/vinacis/htx-operator:0.1.0 --push .
#
# The tag is the chart's appVersion (charts/htx-operator/Chart.yaml), which is the crate version.
# Releases are built by .github/workflows/image.yml.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY benches ./benches
COPY src ./src
COPY hack/image.sh hack/packages.sh ./hack/
RUN hack/image.sh --rootfs /rootfs

FROM scratch
COPY --from=build /rootfs /
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/htx-operator"]
CMD ["run"]
